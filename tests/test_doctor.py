"""Bundles (export --target) and edge-infer doctor: real artifacts, real wheel, real CLI."""

from __future__ import annotations

import dataclasses
import json
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import needs_torch
from edge_infer.artifact import Artifact, write_artifact
from edge_infer.bundle import BUNDLE_INDEX, read_bundle
from targets import engine_problem
from edge_infer.cli.main import main
from edge_infer.doctor import backend_status, best_target, doctor_report, recommend
from edge_infer.errors import ArtifactError
from edge_infer.machine import MachineInfo, machine_info
from edge_infer.manifest import Manifest, RuntimeHints, Status, Verification, manifest_path_for, sha256_file
from edge_infer.spec import InputSpec, PreprocessSpec
from exporters.api import ExportOutcome
from exporters.bundle import write_bundle

RUNTIME_REQUIREMENTS = {"numpy", "onnxruntime", "opencv-python-headless", "pillow"}


@pytest.fixture(scope="module")
def rpi5_bundle(default_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle for rpi5 holding the session's verified fp32 ONNX (the int8 formats are tested by their issue)."""
    folder = tmp_path_factory.mktemp("bundles") / "efficientnet_lite0-rpi5"
    folder.mkdir()
    for p in (default_onnx, manifest_path_for(default_onnx)):
        shutil.copy2(p, folder / p.name)
    art = Artifact.read(folder / default_onnx.name)
    outcome = ExportOutcome("onnx", "verified", art, verification=art.manifest.verification)
    write_bundle(folder, "rpi5", "efficientnet_lite0", [outcome])
    return folder


def _copy(bundle: Path, dest: Path) -> Path:
    return Path(shutil.copytree(bundle, dest / bundle.name))


def _device(arch: str, flags: tuple[str, ...], system: str = "Linux") -> MachineInfo:
    """This machine's facts with another CPU: what a Pi 4 / Pi 5 / laptop would report."""
    return dataclasses.replace(machine_info(), arch=arch, cpu_flags=flags, isa={}, os=system, cores_usable=4)


PI5 = ("fp", "asimd", "evtstrm", "aes", "crc32", "atomics", "fphp", "asimdhp", "cpuid", "asimdrdm", "lrcpc", "dcpop",
       "asimddp")  # fmt: skip
PI4 = ("fp", "asimd", "evtstrm", "crc32", "cpuid")


def test_bundle_index_lists_artifacts_wheel_and_samples(rpi5_bundle: Path) -> None:
    index = json.loads((rpi5_bundle / BUNDLE_INDEX).read_text())
    assert index["kind"] == "edge-infer-bundle" and index["target"]["name"] == "rpi5"
    [rec] = index["artifacts"]
    assert rec["format"] == "onnx" and rec["status"] == "verified"
    assert rec["sha256"] == sha256_file(rpi5_bundle / rec["file"])
    assert index["recommended"] == "efficientnet_lite0.onnx"
    assert index["target"]["reasons"]["formats"] and index["target"]["onnx_quant"]["reduce_range"] is False
    assert len(index["samples"]) >= 5 and all((rpi5_bundle / s).is_file() for s in index["samples"])
    with zipfile.ZipFile(rpi5_bundle / index["wheel"]) as whl:
        names = set(whl.namelist())
        meta = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert {"edge_infer/__init__.py", "edge_infer/doctor.py", "targets/profiles.py"} <= names
    deps = [line.split(":", 1)[1] for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    required = {re.split(r"[<>=!~; \[]", d.strip(), maxsplit=1)[0] for d in deps if "extra ==" not in d}
    assert required == RUNTIME_REQUIREMENTS, "the wheel's unconditional dependencies are the runtime extra only"


def test_bundle_readme_has_install_and_run_commands(rpi5_bundle: Path) -> None:
    readme = (rpi5_bundle / "README.md").read_text()
    index = json.loads((rpi5_bundle / BUNDLE_INDEX).read_text())
    assert index["install"] == "python3 -m pip install ./wheels/edge_infer-0.1.0-py3-none-any.whl"
    assert index["run"] == "edge-infer predict efficientnet_lite0.onnx samples/ --threads 4 --top-k 3"
    for text in ("cd efficientnet_lite0-rpi5", "python3 -m venv .venv", index["install"], index["run"],
                 "edge-infer doctor .", "Raspberry Pi 5", "dot-product"):  # fmt: skip
        assert text in readme, text
    assert "torch" not in readme.split("## Install")[1].split("## Run")[0].replace("No torch", "")


def test_bundle_run_command_works(rpi5_bundle: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    index = json.loads((rpi5_bundle / BUNDLE_INDEX).read_text())
    monkeypatch.chdir(rpi5_bundle)
    argv = index["run"].split()[1:] + ["--json"]
    assert main(argv) == 0
    labels = {Path(r["input"]).name: r["label"] for r in json.loads(capsys.readouterr().out)}
    assert labels["flower.jpg"] == "daisy" and labels["coffee.png"] == "espresso"


def test_doctor_report_on_this_machine() -> None:
    r = doctor_report()
    d = r["device"]
    for key in ("cpu_model", "arch", "cores_physical", "cores_logical", "isa", "cpu_flags", "memory_total_mb", "os"):
        assert key in d
    assert r["backends"]["onnxruntime"]["available"] and r["backends"]["onnxruntime"]["version"]
    assert {t["name"] for t in r["targets"]} == {"laptop-x86", "laptop-x86-vnni", "rpi4", "rpi5", "mobile-arm64"}
    if platform.machine() == "x86_64" and d["isa"].get("avx2"):
        assert r["target"] == ("laptop-x86-vnni" if "avx512_vnni" in d["cpu_flags"] else "laptop-x86")


def test_doctor_cli_recommends_bundle_artifact(rpi5_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", str(rpi5_bundle)]) == 0
    out = capsys.readouterr().out
    assert "backend" in out and "onnxruntime" in out and "recommended: efficientnet_lite0.onnx" in out
    assert "built for rpi5" in out
    assert main(["doctor", str(rpi5_bundle), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)["recommended"]
    assert rec["file"] == "efficientnet_lite0.onnx" and rec["threads"] >= 1 and rec["why"]


def test_doctor_never_imports_torch(rpi5_bundle: Path) -> None:
    code = (
        "import sys; from edge_infer.cli.main import main; rc = main(['doctor', sys.argv[1]]); "
        "assert 'torch' not in sys.modules, 'doctor imported torch'; sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(rpi5_bundle)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_doctor_picks_the_profile_a_pi_would_match() -> None:
    assert best_target(_device("aarch64", PI5)).name == "rpi5"  # type: ignore[union-attr]
    assert best_target(_device("aarch64", PI4)).name == "rpi4"  # type: ignore[union-attr]
    laptop = best_target(_device("x86_64", ("sse4_2", "avx", "avx2", "fma"), "Windows"))
    assert laptop is not None and laptop.name == "laptop-x86"
    assert best_target(_device("riscv64", ())) is None


def test_bundle_without_manifest_is_a_clear_error(rpi5_bundle: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    copy = _copy(rpi5_bundle, tmp_path)
    (copy / "efficientnet_lite0.onnx.json").unlink()
    with pytest.raises(ArtifactError, match="copied without its manifest"):
        read_bundle(copy)
    assert main(["doctor", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "efficientnet_lite0.onnx.json" in err
    assert "copy the whole folder" in err and "edge-infer export --target rpi5" in err
    (copy / BUNDLE_INDEX).unlink()  # no index either: a bare model file
    with pytest.raises(ArtifactError, match=r"efficientnet_lite0\.onnx copied without manifest"):
        read_bundle(copy)


def _x86_int8_torchscript(folder: Path) -> Path:
    """A real int8 TorchScript model quantized with PyTorch's x86 engine, with its manifest."""
    import torch
    from torch import nn
    from torch.ao.quantization import DeQuantStub, QuantStub, convert, get_default_qconfig, prepare

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.quant, self.dequant = QuantStub(), DeQuantStub()
            self.conv, self.pool, self.fc = nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pool(torch.relu(self.conv(self.quant(x))))
            return self.dequant(self.fc(torch.flatten(x, 1)))

    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = "x86"
    try:
        m = Tiny().eval()
        m.qconfig = get_default_qconfig("x86")
        prepared = prepare(m)
        prepared(torch.randn(4, 3, 32, 32))
        traced = torch.jit.trace(convert(prepared), torch.randn(1, 3, 32, 32))
        path = folder / "tiny.int8.pt"
        torch.jit.save(traced, str(path))
    finally:
        torch.backends.quantized.engine = previous
    pre = PreprocessSpec(resize=32, crop=32)
    manifest = Manifest(format="torchscript-int8", model_file=path.name, sha256="", size_bytes=0, preprocess=pre,
                        input=InputSpec(name="input", shape=(1, 3, 32, 32), dtype="float32", layout="NCHW"),
                        labels=("a", "b", "c", "d"), runtime=RuntimeHints(torch_qengine="x86"),
                        verification=Verification(status=Status.VERIFIED))  # fmt: skip
    return write_artifact(path, manifest).path


@needs_torch
def test_engine_mismatch_is_rejected_with_what_to_do(rpi5_bundle: Path, tmp_path: Path) -> None:
    copy = _copy(rpi5_bundle, tmp_path)
    pt = _x86_int8_torchscript(copy)
    index = json.loads((copy / BUNDLE_INDEX).read_text())
    index["artifacts"].insert(0, {"format": "torchscript-int8", "status": "verified", "file": pt.name})
    (copy / BUNDLE_INDEX).write_text(json.dumps(index))
    bundle = read_bundle(copy)
    manifest = Artifact.read(pt).manifest
    engine = manifest.runtime.torch_qengine
    assert engine_problem(engine, "x86_64") is None, "x86-engine int8 runs on x86-64"
    problem = engine_problem(engine, "aarch64", target="rpi5")
    assert problem and "'x86' engine" in problem and "edge-infer export --target rpi5" in problem

    backends = backend_status()
    on_pi = recommend(bundle, _device("aarch64", PI5), backends)
    assert on_pi.entry is not None and on_pi.entry.format == "onnx", "falls back to the ONNX artifact"
    [(file, why)] = on_pi.rejected
    assert file == "tiny.int8.pt" and "does not exist on this aarch64 device" in why and "--target rpi5" in why

    index["artifacts"] = index["artifacts"][:1]  # only the x86 int8 model left: nothing runs on the Pi
    (copy / BUNDLE_INDEX).write_text(json.dumps(index))
    alone = recommend(read_bundle(copy), _device("aarch64", PI5), backends)
    assert alone.entry is None and "re-export it with `edge-infer export --target rpi5`" in alone.rejected[0][1]


def test_pi4_prefers_fp32_from_an_rpi5_bundle(rpi5_bundle: Path, tmp_path: Path) -> None:
    """A bundle with int8 and fp32 ONNX: a Pi 5 gets int8 first, a Pi 4 (no dot-product) fp32 first."""
    copy = _copy(rpi5_bundle, tmp_path)
    src = copy / "efficientnet_lite0.onnx"
    fake_int8 = copy / "efficientnet_lite0.int8.onnx"  # the fp32 bytes under the int8 format: ordering only
    shutil.copy2(src, fake_int8)
    m = Manifest.read(manifest_path_for(src)).with_updates(format="onnx-int8")
    write_artifact(fake_int8, m)
    index = json.loads((copy / BUNDLE_INDEX).read_text())
    index["artifacts"].insert(0, {"format": "onnx-int8", "status": "verified", "file": fake_int8.name})
    (copy / BUNDLE_INDEX).write_text(json.dumps(index))
    bundle, backends = read_bundle(copy), backend_status()
    assert recommend(bundle, _device("aarch64", PI5), backends).entry.format == "onnx-int8"  # type: ignore[union-attr]
    pi4 = recommend(bundle, _device("aarch64", PI4), backends)
    assert pi4.entry is not None and pi4.entry.format == "onnx" and any("rpi4" in r for r in pi4.reasons)
