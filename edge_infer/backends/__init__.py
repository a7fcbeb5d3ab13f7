"""The table of backends: what runs artifacts, what provides it, which extra installs it, and ``load()``.

A backend row names its Python import (what "installed" means), the distributions that provide it (any one will do),
the edge-infer extra that installs it (None: a core dependency) and its predictor class per task. ``load()``,
``doctor``, the memory probe, install hints and the ``pyproject.toml`` extras all read these rows
(``tests/test_tables.py`` checks that they agree). Backend modules are imported only when an artifact of theirs is
loaded. Adding a backend is one predictor class and one row here (docs/architecture.md shows the steps).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata

from edge_infer.artifact import Artifact
from edge_infer.errors import ArtifactError, BackendUnavailableError, SpecError, install_command
from edge_infer.formats import FormatInfo
from edge_infer.images import DEFAULT_MAX_PIXELS
from edge_infer.predictors import Predictor
from edge_infer.registry import Registry
from edge_infer.tasks import IMAGE_CLASSIFICATION, TABULAR_CLASSIFICATION, TABULAR_REGRESSION


@dataclass(frozen=True, kw_only=True)
class BackendInfo:
    """One backend: its import, the distributions providing it, the extra installing it, its predictor classes."""

    name: str
    module: str
    distributions: tuple[str, ...]
    extra: str | None
    predictors: Mapping[str, str]  # task -> "module:Class"
    description: str
    # int8 on AVX2 / AVX-512 without VNNI (edge_infer.arithmetic): does it add u8 x s8 products in pairs in 16 bits
    # (saturating), and which runtime configuration (ONNX Runtime session config entries) makes its sums exact there
    int8_pairs16_on_avx2: bool = False
    int8_exact_config: Mapping[str, str] = field(default_factory=dict)

    @property
    def installed(self) -> bool:
        """Its Python module can be imported here (checked without importing it)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    def distribution(self) -> tuple[str, str | None]:
        """The installed distribution that provides it and its version (from package metadata), or the first one that
        would provide it and None."""
        for dist in self.distributions:
            try:
                return dist, metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
        return self.distributions[0], None

    @property
    def install_hint(self) -> str:
        return install_command(self.extra, self.distributions[0])

    def unavailable(self, what: str) -> BackendUnavailableError:
        return BackendUnavailableError(what, self.module, self.extra)

    def predictor_class(self, task: str) -> type[Predictor]:
        try:
            ref = self.predictors[task]
        except KeyError as exc:
            tasks = ", ".join(self.predictors)
            raise SpecError(f"backend {self.name!r} runs {tasks} models, not {task}") from exc
        module, _, cls = ref.partition(":")
        found: type[Predictor] = getattr(importlib.import_module(module), cls)
        return found


_IMAGE = "edge_infer.backends"
BACKENDS: Registry[str, BackendInfo] = Registry("backend")
for _b in (
    BackendInfo(
        name="onnxruntime", module="onnxruntime", extra=None,
        distributions=("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"),
        predictors={IMAGE_CLASSIFICATION: f"{_IMAGE}.onnxrt:OnnxRuntimeClassifier",
                    TABULAR_CLASSIFICATION: f"{_IMAGE}.onnxrt:OnnxRuntimeTabular",
                    TABULAR_REGRESSION: f"{_IMAGE}.onnxrt:OnnxRuntimeTabular"},
        description="ONNX Runtime, CPU execution provider",
        int8_pairs16_on_avx2=True, int8_exact_config={"session.x64quantprecision": "1"},
    ),
    BackendInfo(
        name="openvino", module="openvino", distributions=("openvino",), extra="openvino",
        predictors={IMAGE_CLASSIFICATION: f"{_IMAGE}.openvino:OpenVinoClassifier"},
        description="OpenVINO, CPU plugin (latency hint, f32 precision, compiled-model cache)",
        int8_pairs16_on_avx2=True,
    ),
    BackendInfo(
        name="executorch", module="executorch", distributions=("executorch",), extra="executorch",
        predictors={IMAGE_CLASSIFICATION: f"{_IMAGE}.executorch:ExecuTorchClassifier"},
        description="ExecuTorch's Python runtime (XNNPACK-delegated .pte programs)",
    ),
    BackendInfo(
        name="litert", module="ai_edge_litert", distributions=("ai-edge-litert",), extra="litert",
        predictors={IMAGE_CLASSIFICATION: f"{_IMAGE}.litert:LiteRtClassifier"},
        description="LiteRT interpreter (ai-edge-litert), XNNPACK delegate (.tflite)",
    ),
    BackendInfo(
        name="torchscript", module="torch", distributions=("torch",), extra="torchscript",
        predictors={IMAGE_CLASSIFICATION: f"{_IMAGE}.torchscript:TorchScriptClassifier"},
        description="PyTorch's TorchScript interpreter (torch.jit.load)",
        int8_pairs16_on_avx2=True,
    ),
    BackendInfo(
        name="lite", module="torch", distributions=("torch",), extra="torchscript",
        predictors={IMAGE_CLASSIFICATION: f"{_IMAGE}.torchscript:LiteClassifier"},
        description="PyTorch's lite interpreter (PyTorch Mobile bytecode)",
        int8_pairs16_on_avx2=True,
    ),
    BackendInfo(
        name="sklearn", module="sklearn", distributions=("scikit-learn",), extra="tabular",
        predictors={TABULAR_CLASSIFICATION: f"{_IMAGE}.sklearn:SklearnTabular",
                    TABULAR_REGRESSION: f"{_IMAGE}.sklearn:SklearnTabular"},
        description="scikit-learn estimator unpickled with joblib",
    ),
    BackendInfo(
        name="torch", module="torch", distributions=("torch",), extra="export",
        predictors={IMAGE_CLASSIFICATION: f"{_IMAGE}.eager:EagerClassifier"},
        description="PyTorch eager: the artifact's source model, rebuilt (the bench baseline)",
    ),
    BackendInfo(
        name="fake", module="edge_infer", distributions=("edge-infer",), extra=None,
        predictors={IMAGE_CLASSIFICATION: "edge_infer.testing:FakeClassifier",
                    TABULAR_CLASSIFICATION: "edge_infer.testing:FakeTabular",
                    TABULAR_REGRESSION: "edge_infer.testing:FakeTabular"},
        description="no model: deterministic scores for fast tests (edge_infer.testing)",
    ),
):  # fmt: skip
    BACKENDS.register(_b.name, _b)


def get_backend(name: str) -> BackendInfo:
    """The backend called ``name``; an unknown name lists the valid ones."""
    return BACKENDS[name]


def choose_backend(fmt: FormatInfo, backend: str | None = None, *, task: str | None = None) -> BackendInfo:
    """The backend that will run a ``fmt`` artifact (of ``task``, if given): ``backend`` if given (it must be able
    to), else (None or ``"auto"``: the static default, nothing measured) the first installed one of the format's
    backends that runs the task. A missing library raises
    BackendUnavailableError naming the extra."""
    if backend is not None and backend != "auto":
        info = get_backend(backend)
        able = [b for b in fmt.backends if task is None or task in get_backend(b).predictors]
        if info.name not in able:
            what = f"{fmt.name} {task} artifacts" if task and info.name in fmt.backends else f"{fmt.name} artifacts"
            raise SpecError(f"backend {backend!r} cannot run {what}; backends that can: {', '.join(able)}")
        if not info.installed:
            raise info.unavailable(f"running {fmt.name} artifacts on {info.name}")
        return info
    candidates = [get_backend(name) for name in fmt.backends]
    candidates = [b for b in candidates if task is None or task in b.predictors] or candidates
    for info in candidates:
        if info.installed:
            return info
    raise candidates[0].unavailable(f"running {fmt.name} artifacts")


def runnable_backends(fmt: FormatInfo, task: str | None = None) -> list[str]:
    """The installed backends able to run ``fmt`` artifacts of ``task``, in the format's order of preference."""
    return [b for b in fmt.backends
            if get_backend(b).installed and (task is None or task in get_backend(b).predictors)]  # fmt: skip


def load(
    path: str | os.PathLike[str] | Artifact,
    *,
    backend: str | None = "auto",
    threads: int | None = None,
    trust: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Predictor:
    """Load an artifact (model file or its manifest; with auto, also a bundle folder) and return a ready Predictor.

    The backend comes from the manifest's format (never the file suffix): ``backend`` names one of the backends that
    can run it; ``"auto"`` (the default; None means the same) takes the fastest configuration verified for this device,
    from a short measurement cached per machine (``edge_infer.choice``; what it chose is ``predictor.choice``). The
    model file's sha256 must match its manifest. ``threads`` sets the backend's intra-op threads (default: the cores
    this process may use). ``trust=True`` is required to load pickle-based artifacts (joblib), which run code while
    loading; other formats ignore it. ``max_pixels`` bounds the images an image classifier decodes.
    """
    from edge_infer.choice import is_auto, resolve

    if not is_auto(backend):
        return _load_on(path, backend=backend, threads=threads, trust=trust, max_pixels=max_pixels)
    resolved = resolve(path, backend, threads)
    predictor = _load_on(resolved.artifact, backend=resolved.backend, threads=threads, trust=trust,
                         max_pixels=max_pixels)  # fmt: skip
    predictor.choice = resolved.choice
    return predictor


def check_engine(artifact: Artifact) -> None:
    """Refuse an artifact whose quantized engine cannot run on this CPU (a TorchScript int8 model built with the
    x86 engine, on an ARM device): raised before anything else, as no package installed here would help."""
    from targets import engine_problem

    from edge_infer.machine import normalize_arch

    manifest = artifact.manifest
    problem = engine_problem(manifest.runtime.torch_qengine, normalize_arch(platform.machine()), where=str(artifact.path))
    if problem:
        raise ArtifactError(problem)


def _load_on(
    path: str | os.PathLike[str] | Artifact, *, backend: str | None, threads: int | None, trust: bool, max_pixels: int
) -> Predictor:
    """``load()`` on a named backend (None: the format's default)."""
    from edge_infer.recheck import check_on_load

    artifact = path if isinstance(path, Artifact) else Artifact.read(path)
    manifest = artifact.manifest
    check_engine(artifact)  # first: installing the backend's package would not help
    info = choose_backend(artifact.format, backend, task=manifest.task)
    cls = info.predictor_class(manifest.task)
    predictor = cls(artifact, threads=threads, max_pixels=max_pixels, trust=trust)
    check_on_load(predictor, artifact, info.name)  # int8 judged in another arithmetic than this device's: re-check
    return predictor


__all__ = ["BACKENDS", "BackendInfo", "Predictor", "choose_backend", "get_backend", "load", "runnable_backends"]
