"""Format -> exporter table. Each format is one small function, registered for the task inputs it handles (images,
feature rows); the modules that register are imported on the first lookup."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge_infer.errors import SpecError, UnknownNameError
from edge_infer.formats import get_format
from edge_infer.registry import Registry
from edge_infer.tasks import InputKind, get_task
from exporters.context import ExportContext, ExportedFile

ExportFn = Callable[[ExportContext], ExportedFile]

# Modules that register exporters; imported on first lookup (each imports torch/onnx/sklearn lazily inside).
EXPORTER_MODULES: tuple[str, ...] = (
    "exporters.onnx_fp32",
    "exporters.onnx_int8",
    "exporters.ort_format",
    "exporters.torchscript",
    "exporters.torch_quant",
    "exporters.tabular",
    "exporters.executorch",
    "exporters.litert",
)


@dataclass(frozen=True, kw_only=True)
class Tolerance:
    """When a format counts as verified against its reference: max |diff| of outputs (None: not checked) and top-1
    agreement."""

    max_abs_diff: float | None = 1e-3
    min_top1_agreement: float = 1.0


@dataclass(frozen=True, kw_only=True)
class Exporter:
    format: str
    takes: InputKind
    fn: ExportFn
    tolerance: Tolerance


def _import_all() -> None:
    for module in EXPORTER_MODULES:
        importlib.import_module(module)


# key: "FORMAT/INPUT" (e.g. "onnx/image", "onnx/features"): one format can have an exporter per kind of model.
EXPORTERS: Registry[str, Exporter] = Registry("exporter", loader=_import_all)


def register_exporter(
    fmt: str, *, tolerance: Tolerance = Tolerance(), takes: InputKind = "image"
) -> Callable[[ExportFn], ExportFn]:
    """Register the decorated function as the exporter of format ``fmt`` for models that take ``takes``."""
    get_format(fmt)  # a format must be in the format table before it can have an exporter

    def deco(fn: ExportFn) -> ExportFn:
        EXPORTERS.register(f"{fmt}/{takes}", Exporter(format=fmt, takes=takes, fn=fn, tolerance=tolerance))
        return fn

    return deco


def exporter_names(task: str = "image-classification") -> list[str]:
    """Formats that can be exported for models of ``task``, in registration order."""
    takes = get_task(task).takes
    return [e.format for e in EXPORTERS.values() if e.takes == takes]


def get_exporter(fmt: str, task: str = "image-classification") -> Exporter:
    e = EXPORTERS.get(f"{fmt}/{get_task(task).takes}")
    if e is None:
        raise UnknownNameError("format", fmt, exporter_names(task))
    return e


def parse_formats(formats: str | Sequence[str], task: str = "image-classification") -> list[str]:
    """``"all"``, a comma list, or a sequence -> de-duplicated format names in order (each is checked when it is
    exported, so an unknown name fails alone)."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names: list[str] = []
    for raw in items:
        name = raw.strip()
        if not name:
            continue
        names.extend(exporter_names(task) if name == "all" else [name])  # checked per format: one bad name fails alone
    if not names:
        raise SpecError("no formats given")
    return list(dict.fromkeys(names))
