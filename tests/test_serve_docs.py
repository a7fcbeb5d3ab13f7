"""/docs and /redoc render in a real browser with the network off: Debian's Chromium, headless, against
``edge-infer serve`` (both frameworks) in a subprocess. Every host but 127.0.0.1 is unresolvable and every request off
the machine goes to a dead proxy, so a page that needs a CDN stays blank (as it did before the pages shipped their own
files). ``bash scripts/test.sh`` installs Chromium when it is missing (scripts/chromium.sh)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi_offline")
pytest.importorskip("waitress")

from edge_infer.serve.server import ServerProcess  # noqa: E402
from serve_support import FRAMEWORKS  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed and scripts/chromium.sh could not install it (it needs root "
    "and apt-get: apt-get install chromium)",
)  # fmt: skip
OFFLINE = [  # no DNS but for 127.0.0.1, and anything that still tries to leave goes to a closed port (discard)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
]
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]  # fmt: skip
# What each page shows once it rendered the spec: the operation POST /predict
RENDERED = {"docs": 'data-path="/predict"', "redoc": 'id="operation/predict_predict_post"'}


@pytest.fixture(scope="module", params=FRAMEWORKS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from edge_infer.testing import write_fake_artifact

    fake = write_fake_artifact(tmp_path_factory.mktemp("docs-model"))
    with ServerProcess(fake, request.param) as srv:  # `edge-infer serve fake.fake --framework ...`
        yield srv


def rendered_dom(url: str, profile: Path) -> str:
    """The DOM of ``url`` after its scripts ran (Chromium's --dump-dom, with virtual time to let them finish)."""
    assert CHROMIUM is not None
    cmd = [CHROMIUM, *HEADLESS, *OFFLINE, f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom",
           url]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_docs_render_offline(served: ServerProcess, page: str, tmp_path: Path) -> None:
    dom = rendered_dom(f"{served.url}/{page}", tmp_path / "profile")
    assert RENDERED[page] in dom, f"/{page} did not render POST /predict offline; DOM starts: {dom[:1500]}"
    assert "cdn." not in dom and "fonts.googleapis" not in dom
