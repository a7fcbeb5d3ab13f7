"""Graph rewrites that make a float model quantize well with PyTorch's FX post-training quantization.

Why they exist (found on EfficientNet-Lite0, whose naive FX quantization was ~7-30x slower than fp32 and agreed with
it on top-1 for a quarter to a half of the photos):

* TF-"SAME" padding is an explicit ``ZeroPad2d`` (asymmetric: 0 before, 1 after for a 3x3 stride-2 conv) in front of
  a conv with ``padding=0``. FBGEMM's fast depthwise kernels only take symmetric ``(k-1)/2`` padding, so those convs
  fell back to a generic path ~100x slower. We pad one zero row/column in front instead, let the conv pad
  symmetrically, and drop the first output row/column after the conv-bn-activation chain: the same numbers, exactly.
* ``ReLU6`` shares its input's quantization parameters in FX, so the conv before it was quantized over its raw
  output range (e.g. -50..50) and the activation kept ~10 of 256 levels. We observe the conv output after clamping it
  to [0, 6] instead, so the 8-bit range covers what ReLU6 lets through (``relu6_convs`` names those convs).
* ``qnnpack`` (ARM): its quantized clamp/hardtanh/ReLU6 kernel scrambles channels-last tensors, and qnnpack's convs
  return channels-last, so every ReLU6 turned the activations into noise (0% top-1 agreement). With
  ``relu6_as_relu`` those ReLU6 become ReLU, which FX fuses into the conv; the clamped observer's range is [0, <=6]
  with zero point 0, so the int8 conv output saturates exactly where ReLU6 would clamp.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn


@dataclass
class RewriteReport:
    pad_rewrites: list[str] = field(default_factory=list)  # convs whose asymmetric ZeroPad2d became symmetric
    relu6_convs: list[str] = field(default_factory=list)  # convs feeding a ReLU6 (clamped observers)
    relu6_modules: list[str] = field(default_factory=list)  # those ReLU6 modules
    relu6_as_relu: int = 0  # ReLU6 modules replaced by (fusable) ReLU

    def to_dict(self) -> dict[str, Any]:
        out = {"symmetric_padding_rewrites": len(self.pad_rewrites), "relu6_clamped_observers": len(self.relu6_convs)}
        if self.relu6_as_relu:
            out["relu6_fused_as_relu"] = self.relu6_as_relu
        return out


def _only_user(gm: fx.GraphModule, node: fx.Node, types: tuple[type, ...]) -> fx.Node | None:
    if len(node.users) != 1:
        return None
    (user,) = node.users
    if user.op == "call_module" and isinstance(gm.get_submodule(str(user.target)), types):
        return user
    return None


def _symmetric_plan(pad: nn.ZeroPad2d, conv: nn.Conv2d) -> tuple[int, int, int, int] | None:
    """(front, back, conv padding, outputs to drop) so that pad+conv = ZeroPad2d(front,back)+conv(p)+crop; or None."""
    left, right, top, bottom = pad.padding  # type: ignore[misc]
    k, s = conv.kernel_size[0], conv.stride[0]
    square = conv.kernel_size == (k, k) and conv.stride == (s, s) and conv.dilation == (1, 1)
    if not square or k % 2 == 0 or conv.padding != (0, 0) or (left, right) != (top, bottom):
        return None
    p = (k - 1) // 2
    drop = 0
    while s * drop + left - p < 0:
        drop += 1
    front, back = s * drop + left - p, right - p
    return None if back < 0 else (front, back, p, drop)


def _chain_end(gm: fx.GraphModule, node: fx.Node) -> fx.Node:
    """Last node of conv -> BatchNorm -> ReLU/ReLU6 (elementwise, so a crop commutes with them)."""
    while (nxt := _only_user(gm, node, (nn.BatchNorm2d, nn.ReLU, nn.ReLU6))) is not None:
        node = nxt
    return node


def _rewrite_padding(gm: fx.GraphModule, report: RewriteReport) -> None:
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(pad := gm.get_submodule(str(node.target)), nn.ZeroPad2d):
            continue
        conv_node = _only_user(gm, node, (nn.Conv2d,))
        if conv_node is None:
            continue
        conv = gm.get_submodule(str(conv_node.target))
        plan = _symmetric_plan(pad, conv)  # type: ignore[arg-type]
        if plan is None:
            continue
        front, back, p, drop = plan
        conv.padding = (p, p)
        end = _chain_end(gm, conv_node)
        if front or back:
            pad.padding = (front, back, front, back)
        else:
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
        if drop:
            index = (slice(None), slice(None), slice(drop, None), slice(drop, None))
            with gm.graph.inserting_after(end):
                crop = gm.graph.call_function(operator.getitem, (end, index))
            end.replace_all_uses_with(crop)
            crop.args = (end, index)
        report.pad_rewrites.append(str(conv_node.target))


def _find_relu6_convs(gm: fx.GraphModule, report: RewriteReport) -> None:
    for node in gm.graph.nodes:
        if node.op != "call_module" or not isinstance(gm.get_submodule(str(node.target)), nn.ReLU6):
            continue
        prev = node.args[0]
        if isinstance(prev, fx.Node) and prev.op == "call_module" and len(prev.users) == 1:
            if isinstance(gm.get_submodule(str(prev.target)), nn.BatchNorm2d):
                prev = prev.args[0]
        if not (isinstance(prev, fx.Node) and prev.op == "call_module" and len(prev.users) == 1):
            continue
        if isinstance(gm.get_submodule(str(prev.target)), nn.Conv2d):
            report.relu6_convs.append(str(prev.target))
            report.relu6_modules.append(str(node.target))


def _relu6_to_relu(gm: fx.GraphModule, report: RewriteReport) -> None:
    """ReLU6 after a clamped-observer conv -> ReLU (a module called elsewhere too is left alone)."""
    calls: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    for name in report.relu6_modules:
        if calls.get(name) == 1:
            parent, _, attr = name.rpartition(".")
            setattr(gm.get_submodule(parent) if parent else gm, attr, nn.ReLU())
            report.relu6_as_relu += 1


def prepare_for_quantization(model: nn.Module, relu6_as_relu: bool = False) -> tuple[fx.GraphModule, RewriteReport]:
    """A rewritten copy of ``model`` (float, same outputs) and what was rewritten. Raises if FX cannot trace it.

    ``relu6_as_relu`` (for qnnpack): ReLU6 after a conv becomes ReLU; outputs stay the same only once the conv's
    clamped observer (``ReLU6HistogramObserver``) is inserted by quantization.
    """
    gm = fx.symbolic_trace(copy.deepcopy(model).eval())
    report = RewriteReport()
    _rewrite_padding(gm, report)
    _find_relu6_convs(gm, report)
    if relu6_as_relu:
        _relu6_to_relu(gm, report)
    gm.graph.lint()
    gm.recompile()
    return gm.eval(), report


class ReLU6HistogramObserver(torch.ao.quantization.observer.HistogramObserver):
    """Histogram observer for a conv feeding ReLU6: observes (and passes on) the output clamped to [0, 6]."""

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        x = x_orig.clamp(0.0, 6.0)
        super().forward(x)
        return x
