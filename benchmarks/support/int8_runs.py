"""Running one int8 ONNX file on a saved batch with a chosen set of ONNX Runtime kernels, natively or under qemu.

Shared by ``benchmarks/int8_frontier.py`` and ``benchmarks/int8_kernels.py``. Run as a script it is the child of an
emulated run (``python int8_runs.py MODEL X.npy OUT.npy CONFIG_JSON [off]``): it imports only numpy and onnxruntime,
so it runs on the arm64 userland of ``scripts/arm64/setup.sh`` as well as under ``qemu-x86_64 -cpu Haswell``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

EXACT = {"session.x64quantprecision": "1"}  # ONNX Runtime's exactness switch (u8 x u8 kernels on AVX2)
REPO = Path(__file__).resolve().parents[2]
ARM64_CACHE = Path(os.environ.get("EDGE_INFER_ARM64_CACHE", REPO / ".cache" / "arm64"))


def run_outputs(model: Path, x: np.ndarray, config: dict[str, str], *, optimize: bool = True) -> np.ndarray:
    """Logits of ``model`` on each row of ``x`` (batch 1, 1 thread); ``optimize=False`` is the float QDQ graph."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.log_severity_level = 1, 3
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for k, v in config.items():
        so.add_session_config_entry(k, v)
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])


def openvino_outputs(model: Path, x: np.ndarray) -> np.ndarray | None:
    """Logits from OpenVINO's CPU plugin running the QDQ file (its own int8 kernels), as edge-infer's backend compiles
    it (1 thread); None when openvino is not installed."""
    try:
        import openvino as ov
    except ImportError:
        return None
    from edge_infer.backends.openvino import compile_config

    compiled = ov.Core().compile_model(str(model), "CPU", compile_config(1, None))
    request = compiled.create_infer_request()
    return np.concatenate([np.asarray(request.infer({0: x[i : i + 1]})[compiled.output(0)]) for i in range(len(x))])


def _emulated(cmd_prefix: list[str], model: Path, x_path: Path, config: dict[str, str], out: Path,
              env: dict[str, str]) -> np.ndarray:  # fmt: skip
    cmd = [*cmd_prefix, __file__, str(model), str(x_path), str(out), json.dumps(config)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1", **env})
    if proc.returncode != 0:
        raise RuntimeError(f"emulated run failed: {proc.stderr[-500:]}")
    return np.load(out)  # type: ignore[no-any-return]


def emulated_pairs16(model: Path, x_path: Path, config: dict[str, str], work: Path) -> np.ndarray | None:
    """Outputs from ONNX Runtime's AVX2 kernels under ``qemu-x86_64 -cpu Haswell`` (None: no qemu here)."""
    qemu = shutil.which("qemu-x86_64-static") or shutil.which("qemu-x86_64")
    if qemu is None:
        return None
    tag = "exact" if config else "native"
    return _emulated([qemu, "-cpu", "Haswell", sys.executable], model, x_path, config,
                     work / f"{model.stem}.haswell-{tag}.npy", {})  # fmt: skip


def emulated_arm64(model: Path, x_path: Path, work: Path) -> np.ndarray | None:
    """Outputs from ONNX Runtime's ARM64 kernels on an emulated Cortex-A76 (None: no arm64 userland; build it with
    ``bash scripts/arm64/setup.sh``)."""
    qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    python = ARM64_CACHE / "root" / "usr" / "bin" / "python3.11"
    if qemu is None or not python.exists() or not (ARM64_CACHE / "site" / ".complete").exists():
        return None
    env = {"PYTHONPATH": str(ARM64_CACHE / "site"), "PYTHONNOUSERSITE": "1", "QEMU_CPU": "cortex-a76"}
    return _emulated([qemu, "-L", str(ARM64_CACHE / "root"), str(python)], model, x_path, {},
                     work / f"{model.stem}.arm64.npy", env)  # fmt: skip


def held_out(preprocess: Any) -> tuple[list[str], np.ndarray]:
    """The int8 rule's verification images (those calibration never sees), preprocessed: (names, NCHW batch)."""
    from edge_infer.preprocess import Preprocessor
    from exporters.calibration import CALIBRATION_PHOTOS
    from exporters.samples import verification_images

    images = {n: im for n, im in verification_images().items() if n.split("#", 1)[0] not in CALIBRATION_PHOTOS}
    pre = Preprocessor(preprocess)
    return list(images), np.concatenate([pre(im) for im in images.values()]).astype(np.float32)


def held_out_setup(fp32: Path, prefix: str) -> tuple[list[str], np.ndarray, Path, np.ndarray]:
    """The held-out images through ``fp32``'s manifest preprocessing: (names, batch, a work folder holding the batch as
    ``x.npy`` for emulated children, fp32's logits on it)."""
    import tempfile

    from edge_infer.artifact import Artifact

    spec = Artifact.read(fp32).manifest.preprocess
    if spec is None:
        raise SystemExit(f"{fp32}: an image model's manifest has preprocessing; this one has none")
    names, x = held_out(spec)
    work = Path(tempfile.mkdtemp(prefix=prefix))
    np.save(work / "x.npy", x)
    return names, x, work, run_outputs(fp32, x, {})


def speed_vs_fp32(targets: list[Any], runs: int, warmup: int) -> dict[str, tuple[float, float]]:
    """Time ``targets`` (``edge_infer.bench`` targets, one labelled ``fp32``) at 1 thread in one interleaved run:
    label -> (fp32's p50 / its p50, its p50 in ms)."""
    from edge_infer.bench import BenchConfig, measure

    bench = BenchConfig(runs=runs, warmup=warmup, threads=(1,), e2e=False, memory=False)
    report = measure(targets, bench, progress=lambda m: print(f"   {m}", file=sys.stderr))
    base = next(r for r in report.results if r.label == "fp32").latency.p50
    return {r.label: (round(base / r.latency.p50, 3), round(r.latency.p50, 2)) for r in report.results}


if __name__ == "__main__":  # the emulated child
    model_arg, x_arg, out_arg, config_arg = sys.argv[1:5]
    np.save(out_arg, run_outputs(Path(model_arg), np.load(x_arg), json.loads(config_arg)))
