"""Frozen specs shared by the build side and the device side: preprocessing, input, model."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from edge_infer.errors import SpecError

Interpolation = Literal["bilinear", "bicubic", "nearest", "area"]
ChannelOrder = Literal["RGB", "BGR"]
Layout = Literal["NCHW", "NHWC"]
PixelDtype = Literal["float32", "uint8"]


@dataclass(frozen=True, kw_only=True)
class PreprocessSpec:
    """How a decoded image becomes the model's input tensor.

    Resize the shorter side to ``resize`` (keeping aspect), center-crop ``crop`` x ``crop``,
    reorder channels to ``channel_order``, multiply by ``scale``, subtract ``mean``, divide by ``std``,
    and lay out as ``layout``.
    """

    resize: int = 256
    crop: int = 224
    interpolation: Interpolation = "bilinear"
    channel_order: ChannelOrder = "RGB"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    layout: Layout = "NCHW"

    def __post_init__(self) -> None:
        if self.crop <= 0 or self.resize <= 0:
            raise SpecError(f"resize and crop must be positive, got resize={self.resize} crop={self.crop}")
        if self.crop > self.resize:
            raise SpecError(f"crop ({self.crop}) cannot be larger than resize ({self.resize})")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise SpecError("mean and std need three values (one per channel)")
        if any(s <= 0 for s in self.std):
            raise SpecError(f"std values must be positive, got {self.std}")
        if self.interpolation not in ("bilinear", "bicubic", "nearest", "area"):
            raise SpecError(f"unknown interpolation {self.interpolation!r}")
        if self.channel_order not in ("RGB", "BGR"):
            raise SpecError(f"channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")
        if self.layout not in ("NCHW", "NHWC"):
            raise SpecError(f"layout must be 'NCHW' or 'NHWC', got {self.layout!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PreprocessSpec:
        try:
            return cls(
                resize=int(d["resize"]),
                crop=int(d["crop"]),
                interpolation=d.get("interpolation", "bilinear"),
                channel_order=d.get("channel_order", "RGB"),
                scale=float(d.get("scale", 1.0 / 255.0)),
                mean=tuple(float(v) for v in d["mean"]),  # type: ignore[arg-type]
                std=tuple(float(v) for v in d["std"]),  # type: ignore[arg-type]
                layout=d.get("layout", "NCHW"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"invalid preprocess spec: {exc}") from exc

    def input_shape(self, batch: int | None = None) -> tuple[int | None, ...]:
        if self.layout == "NCHW":
            return (batch, 3, self.crop, self.crop)
        return (batch, self.crop, self.crop, 3)


@dataclass(frozen=True, kw_only=True)
class ImageInputSpec:
    """What the runtime hands an image model file (the manifest's ``image_input``).

    ``float32``: the finished tensor, preprocessed in numpy/OpenCV as ``PreprocessSpec`` says (every format).
    ``uint8``: the resized and center-cropped RGB pixels, untouched (``crop`` x ``crop`` x 3 in ``layout``); the
    cast, scale, mean/std, channel order and layout change run inside the model graph (ONNX artifacts exported with
    ``image_input="uint8"``), so the runtime makes no float copy.
    """

    dtype: PixelDtype = "float32"
    layout: Layout = "NCHW"

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "uint8"):
            raise SpecError(f"image_input dtype must be 'float32' or 'uint8', got {self.dtype!r}")
        if self.layout not in ("NCHW", "NHWC"):
            raise SpecError(f"image_input layout must be 'NCHW' or 'NHWC', got {self.layout!r}")

    @property
    def pixels(self) -> bool:
        """True when the model takes raw uint8 pixels (preprocessing inside the graph)."""
        return self.dtype == "uint8"

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "layout": self.layout}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageInputSpec:
        if not isinstance(d, Mapping):
            raise SpecError(f"image_input must be an object, got {type(d).__name__}")
        return cls(dtype=d.get("dtype", "float32"), layout=d.get("layout", "NCHW"))

    @classmethod
    def tensor(cls, preprocess: PreprocessSpec) -> ImageInputSpec:
        """The float tensor ``preprocess`` makes (what every artifact before schema 3 takes)."""
        return cls(dtype="float32", layout=preprocess.layout)


UINT8_NHWC = ImageInputSpec(dtype="uint8", layout="NHWC")


IMAGENET_PREPROCESS = PreprocessSpec()
TF_PREPROCESS = PreprocessSpec(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """The model's input tensor: name, shape (None = dynamic), dtype and layout."""

    name: str = "input"
    shape: tuple[int | None, ...] = (None, 3, 224, 224)
    dtype: str = "float32"
    layout: str = "NCHW"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "layout": self.layout}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSpec:
        try:
            return cls(
                name=str(d["name"]),
                shape=tuple(None if v is None else int(v) for v in d["shape"]),
                dtype=str(d.get("dtype", "float32")),
                layout=str(d.get("layout", "NCHW")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"invalid input spec: {exc}") from exc


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A model that can be exported: how to build it (returns an eval-mode ``torch.nn.Module``) and its facts."""

    name: str
    build: Callable[[], Any]
    preprocess: PreprocessSpec = IMAGENET_PREPROCESS
    labels: Sequence[str] = field(default_factory=tuple)
    source: str = ""
    weights: str = ""
    task: str = "image-classification"
    output: Literal["logits", "probabilities"] = "logits"

    @property
    def input(self) -> InputSpec:
        return InputSpec(shape=self.preprocess.input_shape(None), layout=self.preprocess.layout)

    def manifest_fields(self) -> dict[str, Any]:
        """The manifest sections that come from the model (task, model, input, output, preprocess, labels)."""
        from edge_infer.manifest import ModelInfo, OutputSpec

        return {
            "task": self.task,
            "model": ModelInfo(name=self.name, source=self.source, weights=self.weights, num_classes=len(self.labels)),
            "input": self.input,
            "output": OutputSpec(kind=self.output, name="output"),
            "preprocess": self.preprocess,
            "labels": tuple(self.labels),
        }
