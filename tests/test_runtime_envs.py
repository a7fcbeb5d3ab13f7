"""Each engine in a fresh virtualenv with only its runtime extra (``scripts/runtime_envs.py``): LiteRT runs a
``.tflite`` and OpenVINO a ``.onnx`` with no torch installed; ExecuTorch's Python runtime brings torch. Slow: three
``pip install`` runs (pip's cache is reused; torch comes from the local wheel files)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_each_runtime_extra_runs_its_artifact_in_a_fresh_venv(
    tiny_litert: dict[str, Path], tiny_executorch: dict[str, Path], tmp_path: Path, samples_dir: Path
) -> None:
    from conftest import tiny_net

    import edge_infer as ei
    from exporters.api import export

    folder = tmp_path / "artifacts"
    folder.mkdir()
    for path in (tiny_litert["tflite"], tiny_executorch["executorch"]):
        for p in (path, Path(f"{path}.json")):
            shutil.copyfile(p, folder / p.name)
    [onnx] = export(tiny_net(), formats="onnx", out=folder, name="tiny", labels=list("abcd"),
                    preprocess=ei.PreprocessSpec(resize=40, crop=32))  # fmt: skip
    assert onnx.status == "verified", onnx.to_dict()
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "runtime_envs.py"), "--artifacts", str(folder),
                        "--photo", str(samples_dir / "flower.jpg"), "--keep", str(tmp_path / "envs"), "--json"],
                       capture_output=True, text=True, timeout=3600)  # fmt: skip
    outcomes = {o["engine"]: o for o in json.loads(r.stdout)}
    assert r.returncode == 0, outcomes or r.stderr
    assert outcomes["litert"]["torch_installed"] is False and outcomes["openvino"]["torch_installed"] is False
    assert outcomes["executorch"]["torch_installed"] is True
    assert all(o["prediction"] and o["ok"] for o in outcomes.values())
