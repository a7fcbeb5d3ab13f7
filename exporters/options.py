"""``ExportOptions``: every tuning knob of an export, frozen and checked, so a misspelled option is an error that
names the valid ones (``export(..., calibraton_count=3)`` -> unknown export option 'calibraton_count'; did you mean
'calibration_count'?)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from edge_infer.errors import SpecError, UnknownNameError

Int8Mode = Literal["auto", "static", "dynamic"]
ImageInputDtype = Literal["float32", "uint8"]


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """How to export. Defaults are what ``edge-infer export`` does.

    ``verify``: reload every artifact with the device runtime and compare with the reference (eager / scikit-learn).
    ``strict``: a failed verification raises ``VerificationError`` (with every outcome) instead of being returned.
    ``calibration_count``: int8 calibration images (None: each format's default: 128 ONNX, 128 TorchScript).
    ``int8_mode``: static (calibrated activations), dynamic (weights only) or auto (chosen from the model).
    ``int8_keep_float``: ONNX node names or op types left in float. ``int8_float_modules``: TorchScript module names
    left in float. ``int8_per_channel``: per-channel weight scales (TorchScript). ``int8_bias_correction``:
    subtract the mean int8 weight error from each bias (TorchScript).
    ``image_input``: what an ``onnx`` image artifact takes: ``float32`` (the preprocessed tensor, what every format
    takes) or ``uint8`` (the cropped RGB pixels NHWC; scale, mean/std and layout run inside the graph; docs/formats.md).
    Other formats always take the float tensor.
    """

    verify: bool = True
    strict: bool = False
    calibration_count: int | None = None
    int8_mode: Int8Mode = "auto"
    int8_keep_float: tuple[str, ...] = ()
    int8_float_modules: tuple[str, ...] = ()
    int8_per_channel: bool = True
    int8_bias_correction: bool = True
    image_input: ImageInputDtype = "float32"

    def __post_init__(self) -> None:
        if self.image_input not in ("float32", "uint8"):
            raise SpecError(f"image_input must be 'float32' or 'uint8', got {self.image_input!r}")
        if self.int8_mode not in ("auto", "static", "dynamic"):
            raise SpecError(f"int8_mode must be 'auto', 'static' or 'dynamic', got {self.int8_mode!r}")
        count = self.calibration_count
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise SpecError(f"calibration_count must be a whole number of at least 1, got {count!r}")
        for name in ("int8_keep_float", "int8_float_modules"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise SpecError(f"{name} must be a sequence of names, got {value!r}")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def build(cls, base: ExportOptions | None = None, **given: Any) -> ExportOptions:
        """``base`` (or the defaults) with ``given`` options; an unknown name raises UnknownNameError. Comma strings
        are accepted for the name lists (``int8_keep_float="Gemm,Conv_0"``)."""
        unknown = [k for k in given if k not in cls.names()]
        if unknown:
            raise UnknownNameError("export option", unknown[0], cls.names())
        for name in ("int8_keep_float", "int8_float_modules"):
            if isinstance(given.get(name), str):
                given[name] = tuple(p.strip() for p in given[name].split(",") if p.strip())
            elif given.get(name) is not None:
                given[name] = tuple(given[name])
        return replace(base or cls(), **given)

    def to_dict(self) -> Mapping[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
