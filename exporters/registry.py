"""Format -> exporter table. Each format is one small function; modules register themselves on import."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge_infer.errors import UnknownNameError
from exporters.context import ExportContext, ExportedFile

ExportFn = Callable[[ExportContext], ExportedFile]


@dataclass(frozen=True, kw_only=True)
class Tolerance:
    """When a format counts as verified against eager: max |diff| of outputs (None: not checked) and top-1 agreement."""

    max_abs_diff: float | None = 1e-3
    min_top1_agreement: float = 1.0


@dataclass(frozen=True, kw_only=True)
class Exporter:
    format: str
    fn: ExportFn
    tolerance: Tolerance
    tasks: tuple[str, ...] = ("image-classification",)


EXPORTERS: dict[str, Exporter] = {}

# Modules that register exporters; imported on first lookup (each may import torch/onnx lazily inside).
EXPORTER_MODULES: list[str] = [
    "exporters.onnx_fp32",
    "exporters.onnx_int8",
    "exporters.ort_format",
    "exporters.torchscript",
    "exporters.torch_quant",
]


def register_exporter(
    fmt: str, *, tolerance: Tolerance = Tolerance(), tasks: tuple[str, ...] = ("image-classification",)
) -> Callable[[ExportFn], ExportFn]:
    def deco(fn: ExportFn) -> ExportFn:
        if fmt in EXPORTERS:
            raise ValueError(f"exporter for {fmt!r} is already registered")
        EXPORTERS[fmt] = Exporter(format=fmt, fn=fn, tolerance=tolerance, tasks=tasks)
        return fn

    return deco


def _import_all() -> None:
    for module in EXPORTER_MODULES:
        importlib.import_module(module)


def exporter_names(task: str = "image-classification") -> list[str]:
    _import_all()
    return [name for name, e in EXPORTERS.items() if task in e.tasks]


def get_exporter(fmt: str, task: str = "image-classification") -> Exporter:
    _import_all()
    e = EXPORTERS.get(fmt)
    if e is None or task not in e.tasks:
        raise UnknownNameError("format", fmt, exporter_names(task))
    return e


def parse_formats(formats: str | Sequence[str], task: str = "image-classification") -> list[str]:
    """``"all"``, a comma list, or a sequence -> validated, de-duplicated format names in order."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names: list[str] = []
    for raw in items:
        name = raw.strip()
        if not name:
            continue
        if name == "all":
            names.extend(exporter_names(task))
        else:
            names.append(name)
    return list(dict.fromkeys(names))
