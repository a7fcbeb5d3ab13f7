"""Bias correction of a QDQ ONNX model (exporters/onnx_bias_correction.py): the int8 weights stay as quantized, the
biases absorb the mean output shift of their rounding, so the int8 model's mean outputs on the calibration images
come closer to the float model's; the report is recorded; turning it off leaves ONNX Runtime's biases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from exporters.onnx_int8 import pre_process, quantize_onnx  # noqa: E402
from targets import OnnxQuantSettings  # noqa: E402


def _float_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU6(),
        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU6(),  # depthwise: 9 weights a channel round coarsely
        nn.Conv2d(16, 8, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5),
    ).eval()  # fmt: skip
    with torch.no_grad():
        model[2].weight.mul_(torch.linspace(0.2, 3.0, 16).reshape(16, 1, 1, 1))  # uneven channel ranges
    src, pre = tmp_path / "float.onnx", tmp_path / "pre.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(src), input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "n"}, "output": {0: "n"}}, dynamo=False)  # fmt: skip
    pre_process(src, pre)
    return pre


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # exact QDQ arithmetic
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]  # type: ignore[no-any-return]


def _weights(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer if i.data_type == 3}


def test_corrected_biases_bring_the_mean_output_back(tmp_path: Path) -> None:
    pre = _float_model(tmp_path)
    x = np.random.default_rng(0).uniform(-2, 2, (64, 3, 32, 32)).astype(np.float32)
    plain, corrected = tmp_path / "plain.onnx", tmp_path / "corrected.onnx"
    off = quantize_onnx(pre, plain, OnnxQuantSettings(bias_correction=False), mode="static", calibration=x)
    on = quantize_onnx(pre, corrected, OnnxQuantSettings(), mode="static", calibration=x)
    assert off["bias_correction"].startswith("off")
    report = on["bias_correction"]
    assert report["layers"] == 4 and report["images"] == 64 and report["max_abs_shift"] > 0
    int8_plain, int8_corrected = _weights(plain), _weights(corrected)
    assert int8_plain.keys() == int8_corrected.keys() and len(int8_plain) >= 4
    assert all(np.array_equal(w, int8_corrected[k]) for k, w in int8_plain.items())  # int8 weights unchanged
    want = _run(pre, x).mean(0)
    before = np.abs(_run(plain, x).mean(0) - want).max()
    after = np.abs(_run(corrected, x).mean(0) - want).max()
    assert after < 0.5 * before, (before, after)


def test_a_model_without_quantized_weights_is_left_alone(tmp_path: Path) -> None:
    from exporters.onnx_bias_correction import correct_qdq_biases

    pre = _float_model(tmp_path)
    x = np.zeros((2, 3, 32, 32), np.float32)
    report = correct_qdq_biases(pre, pre, tmp_path / "same.onnx", x)  # a float model: nothing is int8
    assert report["layers"] == 0
    np.testing.assert_array_equal(_run(tmp_path / "same.onnx", x), _run(pre, x))
