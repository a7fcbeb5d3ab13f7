"""The table of artifact formats: suffix, tasks, and the backends that can run each (first = default). Stdlib only.

Adding a format is one row here, one exporter (``exporters/``) and, if no existing backend runs it, one backend row
(``edge_infer.backends``). ``tests/test_tables.py`` walks the rows: every public format has an exporter and a
backend, every backend it names exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_infer.registry import Registry
from edge_infer.tasks import IMAGE_CLASSIFICATION, TABULAR_CLASSIFICATION, TABULAR_REGRESSION

IMAGE = (IMAGE_CLASSIFICATION,)
TABULAR = (TABULAR_CLASSIFICATION, TABULAR_REGRESSION)


@dataclass(frozen=True, kw_only=True)
class FormatInfo:
    """One artifact format.

    ``backends``: the backends able to run it, in order of preference (``load()`` takes the first installed one
    unless ``backend=`` names another). ``testing``: a format for tests only (``edge_infer.testing``), hidden from
    ``--formats all`` and listings.
    """

    name: str
    suffix: str
    tasks: tuple[str, ...]
    backends: tuple[str, ...]
    description: str
    quantized: bool = False
    testing: bool = False

    @property
    def backend(self) -> str:
        """The default backend."""
        return self.backends[0]


FORMATS: Registry[str, FormatInfo] = Registry("format")
for _info in (
    FormatInfo(name="onnx", suffix=".onnx", tasks=IMAGE + TABULAR, backends=("onnxruntime", "openvino"),
               description="ONNX fp32, one self-contained file"),
    FormatInfo(name="onnx-int8", suffix=".int8.onnx", tasks=IMAGE, backends=("onnxruntime", "openvino"),
               description="ONNX int8 (QDQ, static quantization)", quantized=True),
    FormatInfo(name="ort", suffix=".ort", tasks=IMAGE, backends=("onnxruntime",),
               description="ONNX Runtime mobile format"),
    FormatInfo(name="torchscript", suffix=".pt", tasks=IMAGE, backends=("torchscript",),
               description="TorchScript, frozen"),
    FormatInfo(name="torchscript-mobile", suffix=".ptl", tasks=IMAGE, backends=("lite",),
               description="TorchScript lite-interpreter bytecode (PyTorch Mobile)"),
    FormatInfo(name="torchscript-int8", suffix=".int8.pt", tasks=IMAGE, backends=("torchscript",),
               description="TorchScript int8 (static post-training quantization)", quantized=True),
    FormatInfo(name="executorch", suffix=".pte", tasks=IMAGE, backends=("executorch",),
               description="ExecuTorch program, fp32, lowered to XNNPACK (batch 1)"),
    FormatInfo(name="executorch-int8", suffix=".int8.pte", tasks=IMAGE, backends=("executorch",),
               description="ExecuTorch program, int8 (PT2E, XNNPACK quantizer), lowered to XNNPACK (batch 1)",
               quantized=True),
    FormatInfo(name="tflite", suffix=".tflite", tasks=IMAGE, backends=("litert",),
               description="LiteRT flatbuffer, fp32, channels-last input (batch 1)"),
    FormatInfo(name="tflite-int8", suffix=".int8.tflite", tasks=IMAGE, backends=("litert",),
               description="LiteRT flatbuffer, int8 (PT2E, symmetric per-channel weights), int8 input and output "
                           "(batch 1)", quantized=True),
    FormatInfo(name="joblib", suffix=".joblib", tasks=TABULAR, backends=("sklearn",),
               description="scikit-learn estimator (pickle: loads only with trust)"),
    FormatInfo(name="fake", suffix=".fake", tasks=IMAGE + TABULAR, backends=("fake",),
               description="a model-free artifact for fast tests (edge_infer.testing)", testing=True),
):  # fmt: skip
    FORMATS.register(_info.name, _info)


def get_format(name: str) -> FormatInfo:
    """The format called ``name``; an unknown name lists the valid ones and the closest match."""
    return FORMATS[name]


def format_names(*, task: str | None = None, include_testing: bool = False) -> list[str]:
    """Format names in table order (those for ``task`` only, if given); test-only formats on request."""
    return [
        n for n, f in FORMATS.items()
        if (include_testing or not f.testing) and (task is None or task in f.tasks)
    ]  # fmt: skip


def model_suffixes() -> list[str]:
    """Every model-file suffix, longest first (so ``.int8.onnx`` is tried before ``.onnx``)."""
    return sorted({f.suffix for f in FORMATS.values()}, key=len, reverse=True)
