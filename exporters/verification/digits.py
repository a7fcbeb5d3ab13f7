"""Labelled-set accuracy before/after int8: a small CNN trained on scikit-learn's digits at export time.

ImageNet labels are not available offline, so the quantization *recipe* (the same settings, calibration method and
float-node policy as the artifact) is checked on a labelled task instead: the CNN has the building blocks of the
default model (3x3 stem, 1x1 expand, depthwise 3x3, 1x1 project with a residual add, ReLU6, global average pool,
linear head), is quantized the same way, and both versions are scored on the 450 held-out test digits.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.errors import BackendUnavailableError
from targets.profiles import OnnxQuantSettings

MAX_DROP_POINTS = 1.0
SIDE = 8  # the 8x8 digits as they are
CALIBRATION_DIGITS = 256


def digits_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): 1x8x8 float32 in [0, 1], a stratified 75/25 split."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise BackendUnavailableError("the labelled accuracy check", "scikit-learn", "export") from exc
    d = load_digits()
    x = (d.images / 16.0)[:, None].astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=0.25, random_state=seed, stratify=d.target)
    return x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64)


def build_cnn() -> Any:
    from torch import nn

    def cbr(cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                                   nn.BatchNorm2d(cout)]  # fmt: skip
        return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)

    class Residual(nn.Module):
        def __init__(self, body: nn.Module) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: Any) -> Any:
            return x + self.body(x)

    return nn.Sequential(
        cbr(1, 16, 3),
        cbr(16, 64), cbr(64, 64, 3, 2, groups=64), cbr(64, 24, act=False),
        Residual(nn.Sequential(cbr(24, 96), cbr(96, 96, 3, groups=96), cbr(96, 24, act=False))),
        cbr(24, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
    )  # fmt: skip


def train_cnn(x: np.ndarray, y: np.ndarray, *, epochs: int = 15, seed: int = 0) -> Any:
    """Adam, batches of 128, one thread (tiny tensors: more threads only contend on a shared machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(x, y, epochs=epochs, seed=seed)
    finally:
        torch.set_num_threads(threads)


def _train(x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int) -> Any:
    import torch

    torch.manual_seed(seed)
    model = build_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def _export(model: Any, path: Path) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, SIDE, SIDE),), str(path), dynamo=False, opset_version=18,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})  # fmt: skip


def _accuracy(path: Path, x: np.ndarray, y: np.ndarray, config: dict[str, str]) -> float:
    from edge_infer.backends.onnxrt import make_session

    sess = make_session(str(path), 1, config=config)
    out = sess.run(None, {"input": x})[0]
    return float((out.argmax(1) == y).mean())


@functools.lru_cache(maxsize=8)
def _digits_accuracy(
    settings: OnnxQuantSettings, mode: str, session: tuple[tuple[str, str], ...], keep_float: tuple[str, ...]
) -> dict[str, Any]:
    import onnx

    from exporters.onnx_int8 import keep_float_nodes, pre_process, quantize_onnx

    x_tr, y_tr, x_te, y_te = digits_data()
    model = train_cnn(x_tr, y_tr)
    with tempfile.TemporaryDirectory(prefix="edge-infer-digits-") as tmp:
        fp32, pre, int8 = Path(tmp) / "digits.onnx", Path(tmp) / "pre.onnx", Path(tmp) / "digits.int8.onnx"
        _export(model, fp32)
        pre_process(fp32, pre)
        keep = keep_float_nodes(onnx.load(str(pre)), keep_float, strict=False)
        calib = x_tr[np.random.default_rng(0).permutation(len(x_tr))[:CALIBRATION_DIGITS]]
        quantize_onnx(pre, int8, settings, mode=mode, calibration=calib, keep_float=keep)
        acc_fp32 = _accuracy(fp32, x_te, y_te, {})
        acc_int8 = _accuracy(int8, x_te, y_te, dict(session))
    return {
        "dataset": f"scikit-learn digits, {len(x_te)} held-out test images ({len(x_tr)} train)",
        "model": "small CNN (stem, inverted residual with depthwise conv, ReLU6, GAP, linear) trained at export",
        "calibration_images": int(len(calib)),
        "fp32_accuracy": acc_fp32,
        "int8_accuracy": acc_int8,
        "drop_points": round((acc_fp32 - acc_int8) * 100, 2),
        "max_drop_points": MAX_DROP_POINTS,
    }


def digits_accuracy(
    settings: OnnxQuantSettings,
    *,
    mode: str = "static",
    session: dict[str, str] | None = None,
    keep_float: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Accuracy of the digits CNN in fp32 and after quantization with ``settings`` (cached per recipe).

    ``keep_float`` op types (e.g. ``"Gemm"``) are left in float as in the artifact; node names do not carry over.
    """
    return dict(_digits_accuracy(settings, mode, tuple(sorted((session or {}).items())), keep_float))
