"""The closed set of artifact formats, and which backend runs each. Stdlib only."""

from __future__ import annotations

from dataclasses import dataclass

from edge_infer.errors import UnknownNameError


@dataclass(frozen=True, kw_only=True)
class FormatInfo:
    """One artifact format: its file suffix, the runtime backend that loads it, and a one-line description."""

    name: str
    suffix: str
    backend: str
    description: str
    quantized: bool = False


_FORMATS: dict[str, FormatInfo] = {}


def register_format(info: FormatInfo) -> FormatInfo:
    if info.name in _FORMATS:
        raise ValueError(f"format {info.name!r} is already registered")
    _FORMATS[info.name] = info
    return info


for _info in (
    FormatInfo(name="onnx", suffix=".onnx", backend="onnxruntime", description="ONNX fp32, one self-contained file"),
    FormatInfo(
        name="onnx-int8", suffix=".int8.onnx", backend="onnxruntime", description="ONNX int8 (QDQ)", quantized=True
    ),
    FormatInfo(name="ort", suffix=".ort", backend="onnxruntime", description="ONNX Runtime mobile format"),
    FormatInfo(name="torchscript", suffix=".pt", backend="torchscript", description="TorchScript, frozen"),
    FormatInfo(
        name="torchscript-mobile", suffix=".ptl", backend="lite", description="TorchScript lite-interpreter bytecode"
    ),
    FormatInfo(
        name="torchscript-int8",
        suffix=".int8.pt",
        backend="torchscript",
        description="TorchScript int8 (static PTQ)",
        quantized=True,
    ),
    FormatInfo(name="joblib", suffix=".joblib", backend="sklearn", description="scikit-learn estimator (pickle)"),
):
    register_format(_info)


def get_format(name: str) -> FormatInfo:
    try:
        return _FORMATS[name]
    except KeyError:
        raise UnknownNameError("format", name, _FORMATS) from None


def format_names() -> list[str]:
    return list(_FORMATS)
