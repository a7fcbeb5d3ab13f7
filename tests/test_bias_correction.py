"""Bias correction for int8 weights: BatchNorm folding keeps the outputs; after the correction, a model with the
weights rounded as int8 rounds them has the float model's mean outputs on the calibration data (it did not before)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import fx, nn  # noqa: E402

from exporters.bias_correction import correct_biases, fold_batchnorm, quantize_dequantize  # noqa: E402
from exporters.torch_quant import _weight_observer  # noqa: E402


def _net() -> fx.GraphModule:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )  # fmt: skip
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics, as after training
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.05, 2.0)
            m.weight.data.uniform_(0.5, 3.0)
    return fx.symbolic_trace(model.eval())


def _rounded(gm: fx.GraphModule, observer: object) -> fx.GraphModule:
    out = copy.deepcopy(gm)
    with torch.no_grad():
        for m in out.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(quantize_dequantize(m.weight, observer))  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("per_channel", [True, False])
def test_correction_restores_the_mean_output(per_channel: bool) -> None:
    gm = _net()
    rng = np.random.default_rng(0)
    batches = [rng.uniform(-1, 1, (8, 3, 16, 16)).astype(np.float32) for _ in range(4)]
    x = torch.from_numpy(np.concatenate(batches))
    folded = fold_batchnorm(gm)
    assert not any(n.op == "call_module" and isinstance(folded.get_submodule(str(n.target)), nn.BatchNorm2d)
                   for n in folded.graph.nodes)  # fmt: skip
    with torch.inference_mode():
        want = gm(x)
        assert torch.allclose(folded(x), want, atol=1e-5)
    observer = _weight_observer(per_channel)
    with torch.inference_mode():
        before = (_rounded(folded, observer)(x).mean(0) - want.mean(0)).abs().max().item()
    report = correct_biases(folded, batches, observer)
    assert report["layers"] == 3
    with torch.inference_mode():
        after = (_rounded(folded, observer)(x).mean(0) - want.mean(0)).abs().max().item()
    assert before > 1e-3 and after < before / 3, (before, after)


def test_layers_kept_float_are_not_corrected() -> None:
    folded = fold_batchnorm(_net())
    biases = {n: m.bias.detach().clone() for n, m in folded.named_modules() if isinstance(m, nn.Conv2d)}
    batches = [np.random.default_rng(1).uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)]
    report = correct_biases(folded, batches, _weight_observer(True), skip=["0"])
    assert report["layers"] == 2
    assert torch.equal(folded.get_submodule("0").bias, biases["0"])
