"""LiteRT backend: ``.tflite`` flatbuffers (fp32 or int8) on ``ai_edge_litert.interpreter`` (the ``litert`` extra).

The interpreter is built with the built-in op resolver, which applies LiteRT's default delegate, XNNPACK, to every
operator it supports, and with ``num_threads`` set explicitly (``threads``; the interpreter and its XNNPACK pool are
per instance, not process-wide). No torch: ``ai-edge-litert`` needs only numpy.

A ``.tflite`` has static shapes: the files edge-infer exports take batch 1, channels last (NHWC, what a LiteRT user's
code already feeds), as their manifest says; ``run`` feeds a larger batch one image at a time. An int8 file takes and
returns int8 tensors: ``run`` quantizes the float input with the file's own scale and zero point and dequantizes the
output, so every caller sees float32 in and out, as with every other backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edge_infer.errors import ArtifactError, InputError, first_line
from edge_infer.native_log import native_stderr_filtered
from edge_infer.predictors import ImageClassifier


def import_interpreter() -> Any:
    """``ai_edge_litert.interpreter``, or a BackendUnavailableError naming the extra that installs it."""
    try:
        from ai_edge_litert import interpreter
    except ImportError as exc:
        from edge_infer.backends import get_backend

        raise get_backend("litert").unavailable("running LiteRT (.tflite) artifacts") from exc
    return interpreter


# LiteRT's C++ side prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." when a process first builds an
# interpreter; warnings and errors are passed on.
NATIVE_CHATTER = (r"^INFO: ",)


@dataclass(frozen=True)
class TensorIO:
    """One input or output tensor of the interpreter: index, shape, dtype, and its (scale, zero point) if quantized."""

    index: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scale: float
    zero_point: int

    @classmethod
    def from_details(cls, d: dict[str, Any]) -> TensorIO:
        scale, zero_point = d.get("quantization", (0.0, 0))
        return cls(index=int(d["index"]), shape=tuple(int(v) for v in d["shape"]), dtype=np.dtype(d["dtype"]),
                   scale=float(scale), zero_point=int(zero_point))  # fmt: skip

    @property
    def quantized(self) -> bool:
        return self.dtype.kind in "iu" and self.scale > 0

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float -> this tensor's dtype (round to nearest, saturate), or float32 as is."""
        if not self.quantized:
            return np.ascontiguousarray(x, dtype=self.dtype)
        info = np.iinfo(self.dtype)
        q = np.rint(np.asarray(x, dtype=np.float32) / np.float32(self.scale)) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return np.asarray(q, dtype=np.float32)
        return ((q.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)).astype(np.float32)


class LiteRtClassifier(ImageClassifier):
    """Image classifier on a LiteRT interpreter (XNNPACK delegate, explicit threads)."""

    backend: ClassVar[str] = "litert"

    def _load(self) -> None:
        lib = import_interpreter()
        try:
            with native_stderr_filtered(NATIVE_CHATTER):
                self.interpreter = lib.Interpreter(
                    model_path=str(self.path), num_threads=self.threads,
                    experimental_op_resolver_type=lib.OpResolverType.BUILTIN,  # built-in kernels + XNNPACK delegate
                )  # fmt: skip
                self.interpreter.allocate_tensors()
            inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        except (ValueError, RuntimeError) as exc:
            raise ArtifactError(f"{self.path}: LiteRT cannot load this model ({first_line(exc)})") from exc
        if len(inputs) != 1 or len(outputs) != 1:
            raise ArtifactError(f"{self.path}: an image classifier takes one input and returns one output; this "
                                f"model has {len(inputs)} and {len(outputs)}")  # fmt: skip
        self.input, self.output = TensorIO.from_details(inputs[0]), TensorIO.from_details(outputs[0])
        ops: list[dict[str, Any]] = getattr(self.interpreter, "_get_ops_details", list)()
        self.delegated: bool = "DELEGATE" in {op.get("op_name") for op in ops}  # XNNPACK took (part of) the graph
        self._check_manifest_shape()

    def _check_manifest_shape(self) -> None:
        """The file takes what its manifest says (else the preprocessing would feed it the wrong tensor)."""
        declared = tuple(self.manifest.input.shape) if self.manifest.input else ()
        takes = self.input.shape
        if len(declared) != len(takes) or any(d is not None and d != s for d, s in zip(declared, takes)):
            raise ArtifactError(f"{self.path}: the model takes {list(takes)}, its manifest says {list(declared)}")

    @property
    def max_batch(self) -> int | None:
        return self.input.shape[0] if self.input.shape else None

    def run(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch)
        one = self.input.shape
        if x.ndim != len(one) or x.shape[1:] != one[1:]:
            raise InputError(f"{self.where}: the model takes {list(one)} ({self.preprocessor.spec.layout}); got a batch "
                             f"of shape {list(x.shape)}")  # fmt: skip
        step = one[0]
        if len(x) % step:
            raise InputError(f"{self.where}: the model takes batches of {step}; got {len(x)} images")
        outs = [self._invoke(x[i : i + step]) for i in range(0, len(x), step)]
        return np.concatenate(outs) if len(outs) > 1 else outs[0]

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input.index, self.input.quantize(x))
        self.interpreter.invoke()
        return self.output.dequantize(self.interpreter.get_tensor(self.output.index))

    def close(self) -> None:
        self.interpreter = None
