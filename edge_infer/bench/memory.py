"""Peak memory of one target, measured alone in a fresh process.

Why a subprocess: the timed targets share one process so they can be interleaved, and inside one process the RSS
of the second model is blurred by the first (allocator arenas are reused, freed pages are not returned). A fresh
interpreter per target gives an honest, comparable number: ``peak_rss_mb`` is the whole process at its peak (Python +
runtime library + model + buffers: what the device must have free), ``model_rss_mb`` is that peak minus the RSS
after importing the runtime library and before loading (what this model adds). Run as::

    python -m edge_infer.bench.memory --artifact model.onnx --threads 2 --batch 1
    python -m edge_infer.bench.memory --eager model.onnx --threads 2     # the PyTorch eager baseline
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from typing import Any

METHOD = "fresh subprocess per target: peak RSS (VmHWM / ru_maxrss) after load + cold run + 10 warm runs"


def current_rss_mb() -> float | None:
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:
        pass
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _vm_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_mb() -> float | None:
    """Peak RSS of this process. Linux: VmHWM (reset by exec; ru_maxrss is not, a child would inherit its
    parent's peak); macOS/BSD: ru_maxrss; Windows: psutil's peak working set."""
    hwm = _vm_hwm_mb()
    if hwm is not None:
        return hwm
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return float(peak) / (2**20 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB elsewhere
    except ImportError:  # Windows
        try:
            import psutil

            return float(getattr(psutil.Process().memory_info(), "peak_wset", 0)) / 2**20 or None
        except ImportError:
            return None


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    from edge_infer.artifact import Artifact
    from edge_infer.backends import BACKENDS, choose_backend, load
    from edge_infer.bench.frames import artifact_features, load_frames, load_rows
    from edge_infer.predictors import Predictor
    from edge_infer.tasks import get_task

    art = Artifact.read(args.artifact or args.eager)
    backend = BACKENDS["torch"] if args.eager else choose_backend(art.format, args.backend, task=art.manifest.task)
    importlib.import_module(backend.module)  # the runtime library itself counts as baseline, not as the model
    if args.eager:
        from edge_infer.build import source_model  # noqa: F401 - torchvision & co: the eager runtime, not the model
    tabular = get_task(art.manifest.task).tabular
    frames = load_rows("synthetic", artifact_features(art)) if tabular else load_frames("synthetic")
    baseline = current_rss_mb()
    predictor: Predictor
    if args.eager:
        from edge_infer.backends.eager import EagerClassifier

        predictor = EagerClassifier(art, threads=args.threads)
    else:
        predictor = load(art, threads=args.threads, trust=args.trust, backend=backend.name)
    xs = [predictor.preprocess(frames.images[0]) for _ in range(args.batch)]
    import numpy as np

    x = np.concatenate(xs)
    for _ in range(11):
        predictor.run(x)
    peak = peak_rss_mb()
    return {
        "peak_rss_mb": None if peak is None else round(peak, 1),
        "baseline_rss_mb": None if baseline is None else round(baseline, 1),
        "model_rss_mb": None if peak is None or baseline is None else round(peak - baseline, 1),
        "method": METHOD,
    }


def probe(memory_args: tuple[str, ...], threads: int, batch: int, *, timeout: float = 300.0) -> dict[str, Any]:
    """Run the measurement in a fresh interpreter; ``{"error": ...}`` instead of numbers if it fails."""
    cmd = [sys.executable, "-m", "edge_infer.bench.memory", *memory_args, "--threads", str(threads),
           "--batch", str(batch)]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"memory probe took longer than {timeout:g} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"memory probe failed: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_infer.bench.memory", description=__doc__.split("\n")[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--artifact", help="artifact to load with edge_infer.load")
    g.add_argument("--eager", help="artifact whose source model to build in PyTorch eager")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--trust", action="store_true", help="allow a joblib/pickle artifact")
    p.add_argument("--backend", default=None, help="one of the backends that can run the artifact")
    args = p.parse_args(argv)
    try:
        out = _measure(args)
    except Exception as exc:  # reported to the parent as one line
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
