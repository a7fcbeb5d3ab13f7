"""uint8 pixel-input ONNX artifacts: exported, verified against eager, equal to the float artifact on ONNX Runtime and
OpenVINO, with the preprocessing ops inside the graph and the manifest saying what the file takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edge_infer as ei
from conftest import tiny_net
from edge_infer.backends import runnable_backends
from edge_infer.formats import get_format
from edge_infer.images import read_path
from exporters.api import export
from exporters.options import ExportOptions

PHOTOS = ("china.jpg", "flower.jpg", "coffee.png", "chelsea.png", "rocket.jpg")
SPECS = {
    "rgb": ei.PreprocessSpec(resize=40, crop=32),
    "bgr-tf": ei.PreprocessSpec(resize=40, crop=32, channel_order="BGR", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
}


@pytest.fixture(scope="module", params=list(SPECS))
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny net exported twice with the same preprocessing: (float tensor artifact, uint8 pixel artifact)."""
    out = tmp_path_factory.mktemp(f"pixels-{request.param}")
    spec = SPECS[request.param]
    [f] = export(tiny_net(), formats="onnx", out=out / "float", name="tiny", labels=list("abcd"), preprocess=spec)
    [u] = export(tiny_net(), formats="onnx", out=out / "uint8", name="tiny", labels=list("abcd"), preprocess=spec,
                 image_input="uint8")  # fmt: skip
    assert f.status == "verified" and u.status == "verified", (f.to_dict(), u.to_dict())
    assert f.artifact is not None and u.artifact is not None
    return f.artifact.path, u.artifact.path


def test_manifest_and_graph_say_uint8_pixels(pair: tuple[Path, Path]) -> None:
    import onnx

    float_path, pixel_path = pair
    m = json.loads(Path(f"{pixel_path}.json").read_text())
    assert m["schema_version"] == 3
    assert m["image_input"] == {"dtype": "uint8", "layout": "NHWC"}
    assert m["input"] == {"name": "input", "shape": [None, 32, 32, 3], "dtype": "uint8", "layout": "NHWC"}
    assert m["preprocess"]["layout"] == "NCHW", "preprocess keeps describing the tensor the graph makes"
    assert m["verification"]["max_abs_diff"] <= 1e-4 and m["verification"]["top1_agreement"] == 1.0
    assert json.loads(Path(f"{float_path}.json").read_text())["image_input"] == {"dtype": "float32", "layout": "NCHW"}
    graph = onnx.load(str(pixel_path)).graph
    [inp] = graph.input
    assert inp.name == "input" and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    ops = [n.op_type for n in graph.node if n.name.startswith("edge_infer_pixels")]
    bgr = m["preprocess"]["channel_order"] == "BGR"
    assert ops == (["Gather"] if bgr else []) + ["Transpose", "Cast", "Mul", "Add"]


@pytest.mark.parametrize("backend", runnable_backends(get_format("onnx")))
def test_uint8_artifact_equals_the_float_artifact(pair: tuple[Path, Path], samples_dir: Path, backend: str) -> None:
    float_path, pixel_path = pair
    images = [read_path(samples_dir / name) for name in PHOTOS]
    with ei.load(float_path, backend=backend) as f, ei.load(pixel_path, backend=backend) as u:
        for image in images:
            xf, xu = f.preprocess(image), u.preprocess(image)
            assert xf.dtype == np.float32 and xu.dtype == np.uint8 and xu.shape == (1, 32, 32, 3)
            np.testing.assert_allclose(u.run(xu), f.run(xf), rtol=0, atol=1e-5)
            a, b = f.predict(image), u.predict(image)
            assert a.label == b.label and abs(a.score - b.score) < 1e-5


def test_bad_image_input_option_is_refused() -> None:
    with pytest.raises(ei.SpecError, match="image_input must be 'float32' or 'uint8', got 'int8'"):
        ExportOptions.build(image_input="int8")
    run = subprocess.run([sys.executable, "-m", "edge_infer", "export", "--image-input", "int8"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 2 and "invalid choice: 'int8'" in run.stderr
