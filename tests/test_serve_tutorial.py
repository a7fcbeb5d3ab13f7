"""The classic tutorial benchmark client works unchanged against ``edge-infer serve``: a ``requests.post`` loop of
100 multipart JPEGs in the field ``file`` (a new connection per call, the part's type left to requests), every
answer a 200 with the label in-process prediction gives the same file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

requests = pytest.importorskip("requests")
pytest.importorskip("fastapi")
pytest.importorskip("flask")

from edge_infer.serve.server import ServerProcess  # noqa: E402
from serve_support import FRAMEWORKS  # noqa: E402

JPEGS = ("china.jpg", "flower.jpg", "rocket.jpg")


@pytest.fixture(scope="module")
def fake_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edge_infer.testing import write_fake_artifact

    return write_fake_artifact(tmp_path_factory.mktemp("tutorial-model"))


@pytest.fixture(scope="module", params=FRAMEWORKS)
def served(request: pytest.FixtureRequest, fake_model: Path) -> Iterator[ServerProcess]:
    with ServerProcess(fake_model, request.param) as srv:  # `edge-infer serve fake.fake --framework ...`
        yield srv


def test_tutorial_client_100_jpegs(served: ServerProcess, fake_model: Path, samples_dir: Path) -> None:
    import edge_infer as ei

    paths = [samples_dir / JPEGS[i % len(JPEGS)] for i in range(100)]
    with ei.load(fake_model) as local:
        want = {p.name: local.predict(p).label for p in paths[: len(JPEGS)]}
    url = f"{served.url}/predict"
    answers = []
    for p in paths:  # the tutorial's loop, as written there
        with open(p, "rb") as f:
            r = requests.post(url, files={"file": f})
        answers.append((p.name, r.status_code, r.json()))
    assert [status for _, status, _ in answers] == [200] * 100, [a for a in answers if a[1] != 200][:3]
    assert all(body["label"] == want[name] and body["input"] == name for name, _, body in answers)
    stages = answers[-1][2]["server_timings_ms"]
    assert {"read", "queue", "parse", "predict", "total"} <= set(stages)


def test_server_timing_header_and_keep_alive(served: ServerProcess, samples_dir: Path) -> None:
    """Each answer names its stages in a Server-Timing header (encode included), and one keep-alive session sends
    every request over one connection."""
    ports: list[int] = []  # the client's port of the connection each answer came on
    with requests.Session() as session:
        for _ in range(5):
            with open(samples_dir / "china.jpg", "rb") as f:
                r = session.post(f"{served.url}/predict", files={"file": f}, hooks={
                    "response": lambda resp, **_: ports.append(resp.raw.connection.sock.getsockname()[1])})  # fmt: skip
            assert r.status_code == 200 and r.headers.get("connection", "").lower() != "close", r.headers
    timing = dict(part.strip().split(";dur=") for part in r.headers["server-timing"].split(","))
    assert {"read", "queue", "parse", "predict", "encode", "total"} <= set(timing), timing
    assert all(float(v) >= 0 for v in timing.values())
    assert len(set(ports)) == 1, f"the server closed the keep-alive connection: client ports {ports}"
