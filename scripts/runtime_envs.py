"""Each engine in a fresh virtualenv with only the runtime extra it needs, as a device would install it.

    .venv/bin/python scripts/runtime_envs.py --artifacts out/lite0 --photo samples/flower.jpg
    .venv/bin/python scripts/runtime_envs.py --artifacts out/lite0 --photo samples/flower.jpg --only litert --json

For every engine row below: ``python -m venv``, ``pip install -c constraints.txt -e '.[EXTRA]'`` (pip's cache is
reused), then in that environment: is torch installed, ``edge-infer predict`` on the engine's artifact, and
``edge-infer predict`` on an artifact of another engine (which must be one line naming that engine's extra). Prints a
table (or JSON) with the install time and the environment's size; exit code 1 when a check fails. Standard library
only: it runs from any Python, the checkout's own venv included.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Engine:
    """One runtime check: the extra to install, the artifact suffix it runs, the backend to name (None: the format's
    default), whether the runtime needs torch, and an artifact of another engine it must refuse in one line."""

    extra: str
    suffix: str
    backend: str | None
    needs_torch: bool
    other_suffix: str
    other_extra: str


ENGINES = {
    "litert": Engine("litert", ".tflite", None, False, ".pte", "executorch"),
    "openvino": Engine("openvino", ".onnx", "openvino", False, ".tflite", "litert"),
    "executorch": Engine("executorch", ".pte", None, True, ".tflite", "litert"),
}


@dataclass
class Outcome:
    engine: str
    artifact: str
    install_s: float = 0.0
    site_packages_mb: float = 0.0
    torch_installed: bool | None = None
    prediction: str = ""
    refusal: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def find_artifact(folder: Path, suffix: str) -> Path | None:
    """The fp32 artifact with ``suffix`` in ``folder`` (``x.onnx``, not ``x.int8.onnx``) that has a manifest."""
    for p in sorted(folder.glob(f"*{suffix}")):
        if ".int8." not in p.name and Path(f"{p}.json").is_file():
            return p
    return None


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800, **kw)  # type: ignore[call-overload]


def _size_mb(venv: Path) -> float:
    total = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
    return round(total / 1e6, 1)


def check(name: str, engine: Engine, artifacts: Path, photo: Path, base: Path) -> Outcome:
    art, other = find_artifact(artifacts, engine.suffix), find_artifact(artifacts, engine.other_suffix)
    out = Outcome(engine=name, artifact=str(art))
    if art is None:
        out.problems.append(f"no {engine.suffix} artifact in {artifacts}")
        return out
    venv = base / name
    _run([sys.executable, "-m", "venv", str(venv)]).check_returncode()
    py, cli = venv / "bin" / "python", venv / "bin" / "edge-infer"
    t0 = time.perf_counter()
    pip = _run([str(py), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
                "-e", f"{ROOT}[{engine.extra}]"])  # fmt: skip
    out.install_s = round(time.perf_counter() - t0, 1)
    if pip.returncode != 0:
        out.problems.append(f"pip install failed: {pip.stderr.strip().splitlines()[-1:]}")
        return out
    out.site_packages_mb = _size_mb(venv)
    probe = _run([str(py), "-c", "import importlib.util as u; print(u.find_spec('torch') is not None)"])
    out.torch_installed = probe.stdout.strip() == "True"
    if out.torch_installed != engine.needs_torch:
        out.problems.append(f"torch installed: {out.torch_installed}, expected {engine.needs_torch}")
    backend = ["--backend", engine.backend] if engine.backend else []
    r = _run([str(cli), "predict", str(art), str(photo), "--json", "--threads", "1", *backend])
    if r.returncode != 0:
        out.problems.append(f"predict failed ({r.returncode}): {r.stderr.strip()}")
    else:
        top = json.loads(r.stdout)[0]
        out.prediction = f"{top['label']} {top['score']:.3f}"
    if other is not None:
        r = _run([str(cli), "predict", str(other), str(photo)])
        out.refusal = r.stderr.strip()
        want = f"pip install 'edge-infer[{engine.other_extra}]'"
        if r.returncode != 2 or want not in out.refusal or "\n" in out.refusal:
            out.problems.append(f"{other.name} should be refused in one line naming {want}: {out.refusal!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--artifacts", type=Path, required=True, help="folder with .tflite, .onnx and .pte artifacts")
    ap.add_argument("--photo", type=Path, required=True, help="an image to classify")
    ap.add_argument("--only", default=",".join(ENGINES), help=f"engines to check (default {','.join(ENGINES)})")
    ap.add_argument("--keep", type=Path, default=None, help="create the venvs here and keep them")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        ap.error(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    with tempfile.TemporaryDirectory(prefix="edge-infer-envs-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        outcomes = [check(n, ENGINES[n], args.artifacts.resolve(), args.photo.resolve(), base) for n in names]
    if args.json:
        print(json.dumps([{**asdict(o), "ok": o.ok} for o in outcomes], indent=2))
    else:
        print("| extra | artifact | install s | env MB | torch | prediction | other engine's artifact | ok |")
        print("|---|---|---|---|---|---|---|---|")
        for o in outcomes:
            print(f"| {o.engine} | {Path(o.artifact).name} | {o.install_s} | {o.site_packages_mb} | "
                  f"{'yes' if o.torch_installed else 'no'} | {o.prediction} | {o.refusal} | "
                  f"{'yes' if o.ok else '; '.join(o.problems)} |")  # fmt: skip
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
