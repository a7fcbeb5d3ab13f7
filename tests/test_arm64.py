"""Proof on arm64: the rpi5 bundle gives the same top-1 on the sample photos under qemu aarch64 as on x86-64.

Slow (EDGE_INFER_SLOW=1): builds an arm64 Debian userland once (scripts/arm64/setup.sh, cached in .cache/arm64),
exports the rpi5 bundle, and runs the bundle's own wheel there with only the aarch64 runtime wheels on sys.path.
Emulated timings mean nothing (an emulated instruction costs 10-100x a native one); only results are compared.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import needs_torch
from edge_infer.bundle import BUNDLE_INDEX
from edge_infer.cli.main import main
from edge_infer.backends import load

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        platform.system() != "Linux" or platform.machine() != "x86_64", reason="emulates arm64 on a Linux x86-64 host"
    ),
]
REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "scripts" / "arm64" / "run.sh"
# Modules the device runtime must never need: if the emulated run imported one of these, the runtime is not lean.
FORBIDDEN = {"torch", "torchvision", "exporters", "onnx", "sklearn", "skimage", "scipy", "matplotlib", "fastapi"}


@pytest.fixture(scope="module")
def arm64_root() -> None:
    proc = subprocess.run(["bash", str(REPO / "scripts" / "arm64" / "setup.sh")], capture_output=True, text=True,
                          timeout=1800)  # fmt: skip
    assert proc.returncode == 0, f"arm64 setup failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert "aarch64" in proc.stdout


@pytest.fixture(scope="module")
def built_rpi5_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``edge-infer export --target rpi5``, exactly as a user runs it (formats the profile prefers)."""
    out = tmp_path_factory.mktemp("arm64") / "efficientnet_lite0-rpi5"
    rc = main(["export", "--target", "rpi5", "--out", str(out)])
    index = json.loads((out / BUNDLE_INDEX).read_text())
    assert rc == 0, index["artifacts"]  # the recommended artifact is verified for the target (issue 16, item 5)
    assert index["recommended"], index["artifacts"]
    return out


def run_arm64(bundle: Path, *args: str, modules_out: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QEMU_CPU": "cortex-a76"}
    if modules_out is not None:
        env["EDGE_INFER_MODULES_OUT"] = str(modules_out)
    return subprocess.run(["bash", str(RUN), str(bundle), *args], capture_output=True, text=True, env=env,
                          timeout=3600)  # fmt: skip


def test_rpi5_bundle_same_top1_on_arm64(arm64_root: None, built_rpi5_bundle: Path, tmp_path: Path) -> None:
    bundle = built_rpi5_bundle
    index = json.loads((bundle / BUNDLE_INDEX).read_text())
    samples = sorted((bundle / "samples").iterdir())
    # Every ONNX artifact in the bundle, verified or not: this compares arm64 with x86-64, not int8 with eager.
    onnx_files = [r for r in index["artifacts"] if r.get("file", "").endswith(".onnx")]
    assert any(r["status"] == "verified" for r in onnx_files), "no verified ONNX artifact in the rpi5 bundle"
    report = {}
    for rec in onnx_files:
        with load(bundle / rec["file"], threads=2, backend="onnxruntime") as p:  # what arm64 runs
            x86 = {s.name: p.predict(s, top_k=5) for s in samples}
        modules = tmp_path / f"{rec['format']}.modules.json"
        t0 = time.perf_counter()
        proc = run_arm64(bundle, "predict", str(bundle / rec["file"]), str(bundle / "samples"), "--json",
                         "--top-k", "5", "--threads", "2", modules_out=modules)  # fmt: skip
        emulated_s = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stderr[-3000:]
        arm = {Path(r["input"]).name: r for r in json.loads(proc.stdout)}
        assert set(arm) == set(x86)
        for name, pred in x86.items():
            got = arm[name]["label"]
            if "int8" in rec["format"] and (rec["status"] != "verified" or pred.score < 0.3):
                # int8 kernels round differently per CPU: an int8 file that failed the rule (docs/int8.md; on
                # 2026-12-06 chelsea.png flipped between tiger cat and Egyptian cat), or any int8 file where it is
                # unsure, may change its top-1; it must stay within x86's top 5
                assert got in [c.label for c in pred.top_k], f"{rec['format']} {name}: arm64 {got}, x86 {pred.top_k}"
                continue
            assert got == pred.label, f"{rec['format']} {name}: arm64 says {got}, x86 says {pred.label}"
        diffs = [abs(arm[n]["score"] - x86[n].score) for n in x86]
        loaded = set(json.loads(modules.read_text()))
        assert not (loaded & FORBIDDEN), f"the arm64 runtime imported {sorted(loaded & FORBIDDEN)}"
        assert {"onnxruntime", "numpy", "cv2", "edge_infer"} <= loaded
        report[rec["format"]] = {"status": rec["status"], "images": len(x86), "top1_same": True,
                                 "max_top1_score_diff": float(np.max(diffs)),
                                 "emulated_wall_s_meaningless": round(emulated_s, 1)}  # fmt: skip
        if rec["format"] == "onnx":
            assert max(diffs) < 1e-4, "fp32 ONNX on arm64 should match x86 to float rounding"
    print(f"\narm64 (qemu cortex-a76) vs x86-64: {json.dumps(report)}")


def test_rpi5_int8_verdict_holds_on_arm64(arm64_root: None, built_rpi5_bundle: Path, tmp_path: Path) -> None:
    """The rpi5 bundle's onnx-int8 on emulated arm64 (qemu cortex-a76, ONNX Runtime's ARM64 kernels), judged by the
    int8 rule on the held-out photos and crops against fp32 on x86-64: agreement only."""
    import cv2

    from edge_infer.int8_rule import DEFAULT_RULE
    from exporters.calibration import CALIBRATION_PHOTOS
    from exporters.samples import verification_images

    bundle = built_rpi5_bundle
    index = json.loads((bundle / BUNDLE_INDEX).read_text())
    [int8] = [r for r in index["artifacts"] if r["format"] == "onnx-int8"]
    [fp32] = [r for r in index["artifacts"] if r["format"] == "onnx"]
    folder = tmp_path / "held_out"
    folder.mkdir()
    for name, rgb in verification_images().items():
        if name.split("#", 1)[0] not in CALIBRATION_PHOTOS:  # PNG: the arm64 side decodes the very same pixels
            cv2.imwrite(str(folder / f"{name.replace('#', '_')}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    files = sorted(folder.iterdir())
    with load(bundle / fp32["file"], threads=2, backend="onnxruntime") as p:
        ref = [p.predict(f, top_k=1) for f in files]
    classes = len(json.loads((bundle / fp32["manifest"]).read_text())["labels"])
    reference = np.zeros((len(files), classes))
    for i, r in enumerate(ref):
        reference[i, r.class_id] = r.score
    proc = run_arm64(bundle, "predict", str(bundle / int8["file"]), str(folder), "--json", "--top-k", "5",
                     "--threads", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    arm = {Path(r["input"]).name: r for r in json.loads(proc.stdout)}
    outputs = np.zeros_like(reference)
    for i, f in enumerate(files):
        for rank, c in enumerate(arm[f.name]["top_k"]):
            outputs[i, c["class_id"]] = 5 - rank  # only the ranks matter: top-1 and top-5 membership
    verdict = DEFAULT_RULE.judge(reference, outputs, [f.name for f in files], reference_kind="probabilities")
    recorded = json.loads((bundle / int8["manifest"]).read_text())["verification"]["by_arithmetic"]["exact32"]
    print(f"\narm64 (qemu cortex-a76) int8 rule: {verdict.reason}; recorded exact32 verdict: {recorded['status']}")
    # The exact32 verdict recorded on x86-64 holds on ARM: the same judgement, on the same counts. It is computed with
    # ONNX Runtime's integer kernels, which give the same logits as its ARM64 kernels (bit-identical on 194 of 195
    # images, 2026-12-07); the float QDQ graph used until then moved counts by 2-4 images and flipped the verdict.
    assert verdict.passed == (recorded["status"] == "verified") == (int8["status"] == "verified"), verdict.reason
    for rate, images in (("confident_agreement", "confident_images"), ("top5_coverage", "images")):
        moved = abs(getattr(verdict, rate) - recorded[rate]) * recorded[images]
        assert moved < 1.5, f"{rate}: arm64 {getattr(verdict, rate):.4f}, recorded {recorded[rate]:.4f}"


PREPROCESS_DRIVER = """
import sys, numpy as np
from pathlib import Path
from edge_infer.backends import load
files = sorted(Path(sys.argv[2]).iterdir())
with load(sys.argv[1], threads=1) as p:
    np.save(sys.argv[3], np.concatenate([p.preprocess(f) for f in files]))
"""


def run_arm64_python(bundle: Path, code: str, *args: str, stage: Path) -> subprocess.CompletedProcess[str]:
    """``python -c code args`` on the arm64 userland with the bundle's edge-infer wheel (as scripts/arm64/run.sh)."""
    import zipfile

    cache = Path(os.environ.get("EDGE_INFER_ARM64_CACHE", REPO / ".cache" / "arm64"))
    with zipfile.ZipFile(sorted((bundle / "wheels").glob("edge_infer-*.whl"))[-1]) as wheel:
        wheel.extractall(stage)
    env = {**os.environ, "QEMU_CPU": "cortex-a76", "PYTHONPATH": f"{stage}:{cache / 'site'}", "PYTHONNOUSERSITE": "1"}
    cmd = ["qemu-aarch64-static", "-L", str(cache / "root"), str(cache / "root" / "usr" / "bin" / "python3.11"),
           "-c", code, *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)


def test_preprocessing_is_bit_identical_on_arm64(arm64_root: None, built_rpi5_bundle: Path, tmp_path: Path) -> None:
    """Every held-out verification image (shrunk 1-2x, 2x and more, and upscaled micrographs and small crops) gives the
    same model input, bit for bit, on arm64 as on x86-64: int8 turns a one-grey-level difference into a different
    answer on a near-tie (INTER_LINEAR's SIMD rounding did that to every upscaled image until 2026-12-07)."""
    import cv2

    from exporters.calibration import CALIBRATION_PHOTOS
    from exporters.samples import verification_images

    folder = tmp_path / "held_out"
    folder.mkdir()
    for name, rgb in verification_images().items():
        if name.split("#", 1)[0] not in CALIBRATION_PHOTOS:
            cv2.imwrite(str(folder / f"{name.replace('#', '_')}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    model = built_rpi5_bundle / "efficientnet_lite0.onnx"
    out = tmp_path / "arm64.npy"
    proc = run_arm64_python(built_rpi5_bundle, PREPROCESS_DRIVER, str(model), str(folder), str(out),
                            stage=tmp_path / "stage")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with load(model, threads=1) as p:
        x86 = np.concatenate([p.preprocess(f) for f in sorted(folder.iterdir())])
    arm = np.load(out)
    differ = [f.name for f, a, b in zip(sorted(folder.iterdir()), arm, x86) if not np.array_equal(a, b)]
    assert arm.shape == x86.shape and not differ, f"{len(differ)} of {len(x86)} images differ: {differ[:10]}"


def test_doctor_runs_on_arm64_without_torch(arm64_root: None, built_rpi5_bundle: Path, tmp_path: Path) -> None:
    modules = tmp_path / "doctor.modules.json"
    proc = run_arm64(built_rpi5_bundle, "doctor", str(built_rpi5_bundle), "--json", modules_out=modules)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["device"]["arch"] == "aarch64"
    # the features come from the auxiliary vector (qemu's emulated Cortex-A76), not the host's /proc/cpuinfo
    assert report["device"]["isa"]["dotprod"] and not report["device"]["isa"]["avx2"], report["device"]
    assert report["target"] == "rpi5", report["target"]
    assert report["backends"]["onnxruntime"]["available"] and report["backends"]["torchscript"]["version"] is None
    verified = {r["file"] for r in json.loads((built_rpi5_bundle / BUNDLE_INDEX).read_text())["artifacts"]
                if r["status"] == "verified"}  # fmt: skip
    assert report["recommended"]["file"] in verified
    assert not (set(json.loads(modules.read_text())) & FORBIDDEN)


@needs_torch
def test_x86_int8_bundle_refused_on_arm64(arm64_root: None, built_rpi5_bundle: Path, tmp_path: Path) -> None:
    """An int8 TorchScript model quantized with the x86 engine, copied to an arm64 device: a clear error."""
    from test_doctor import _x86_int8_torchscript

    folder = tmp_path / "laptop-bundle"
    folder.mkdir()
    shutil.copytree(built_rpi5_bundle / "wheels", folder / "wheels")
    pt = _x86_int8_torchscript(folder)
    index = {"kind": "edge-infer-bundle", "schema_version": 1, "target": {"name": "laptop-x86"},
             "artifacts": [{"format": "torchscript-int8", "status": "verified", "file": pt.name}]}  # fmt: skip
    (folder / BUNDLE_INDEX).write_text(json.dumps(index))
    proc = run_arm64(folder, "doctor", str(folder))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = [line for line in proc.stderr.splitlines() if line.startswith("edge-infer doctor: error:")]
    assert len(err) == 1 and "'x86' engine" in err[0] and "aarch64" in err[0] and "edge-infer export --target" in err[0]
    sample = next((built_rpi5_bundle / "samples").iterdir())
    proc = run_arm64(folder, "predict", str(pt), str(sample))  # loading it directly: the same error, before torch
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = [line for line in proc.stderr.splitlines() if line.startswith("edge-infer predict: error:")]
    assert len(err) == 1 and "'x86' engine" in err[0] and "does not exist on this aarch64 device" in err[0]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q", "-s"]))
