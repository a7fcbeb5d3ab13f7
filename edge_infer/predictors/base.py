"""``Predictor``: the one interface of every way to run a model (a backend on a file, the eager model, a server).

    Predictor                     load, run, close, threads, max batch, manifest, context manager
    ├── ImageClassifier           images in, ``Prediction`` out     (edge_infer.predictors.image)
    │   ├── OnnxRuntimeClassifier, OpenVinoClassifier, ExecuTorchClassifier, LiteRtClassifier,
    │   │   TorchScriptClassifier, LiteClassifier, EagerClassifier                          (edge_infer.backends)
    │   ├── RemoteImageClassifier                                                            (edge_infer.serve.client)
    │   └── FakeClassifier                                                                   (edge_infer.testing)
    └── TabularPredictor          feature rows in, ``TabularPrediction`` out   (edge_infer.predictors.tabular)
        ├── OnnxRuntimeTabular, SklearnTabular                                               (edge_infer.backends)
        ├── RemoteTabularPredictor                                                           (edge_infer.serve.client)
        └── FakeTabular                                                                      (edge_infer.testing)

Every subclass passes the same contract test (``tests/test_predictor_contract.py``). What the bench times is the
pair ``preprocess(input) -> batch`` (once) and ``run(batch) -> raw outputs`` (many times); ``predict`` is the whole
path, with a timing breakdown.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from edge_infer.artifact import Artifact
from edge_infer.closing import ClosesOnExit
from edge_infer.errors import ArtifactError
from edge_infer.images import DEFAULT_MAX_PIXELS
from edge_infer.manifest import Manifest
from edge_infer.result import Result
from edge_infer.tasks import TaskInfo, get_task
from edge_infer.threads import resolve_threads

if TYPE_CHECKING:
    from edge_infer.choice import Choice


def untrusted_message(path: Path | str, fmt: str) -> str:
    """Why a pickle-based artifact is refused without trust, and what to use instead."""
    onnx = Path(path).with_suffix(".onnx")
    alternative = (
        f"use the ONNX artifact beside it ({onnx.name}), which runs without pickle and without scikit-learn"
        if onnx.exists()
        else "export the model to ONNX (edge-infer export ... --formats onnx) and run that instead: it needs no "
        "pickle and no scikit-learn"
    )
    return (
        f"{path}: refusing to load a {fmt} file without trust: joblib/pickle files run code while they load, so a "
        "tampered or malicious file could do anything this process can. The sha256 check only proves the file "
        "matches its manifest. If you made this file or trust where it came from, pass trust=True (CLI: --trust); "
        f"otherwise {alternative}"
    )


class Predictor(ClosesOnExit, ABC):
    """A loaded model. ``source`` is the artifact on disk, or only its manifest (a remote or fake predictor).

    Every predictor takes the same options: ``threads`` (the backend's intra-op threads; default: the cores this
    process may use), ``max_pixels`` (the largest image an image model decodes; tabular models ignore it) and
    ``trust`` (required by backends whose files run code when loaded, i.e. pickles; ignored by the others). Use as a
    context manager, or call ``close()``; closing twice is safe.
    """

    backend: ClassVar[str] = ""
    takes: ClassVar[str] = ""  # the task input kind the subclass handles ("image" / "features")
    needs_trust: ClassVar[bool] = False  # loading the file runs code (pickle): refused without trust=True
    concurrent_runs: ClassVar[bool] = False  # run() may be called from several threads at once (live --streams)
    choice: Choice | None = None  # what backend="auto" chose (set by load()); None when the backend was named

    def __init__(
        self, source: Artifact | Manifest, *, threads: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
        trust: bool = False,
    ) -> None:  # fmt: skip
        self.artifact: Artifact | None = source if isinstance(source, Artifact) else None
        self.manifest: Manifest = source.manifest if isinstance(source, Artifact) else source
        self.threads: int = resolve_threads(threads)
        self.max_pixels = max_pixels
        if self.needs_trust and trust is not True:
            raise ArtifactError(untrusted_message(self.artifact.path if self.artifact else self.where,
                                                  self.manifest.format))  # fmt: skip
        self.task: TaskInfo = get_task(self.manifest.task)
        if self.takes and self.task.takes != self.takes:
            raise ArtifactError(
                f"{self.where}: a {self.manifest.task} model ({self.task.takes} in) cannot run on "
                f"{type(self).__name__} (for models that take {self.takes})"
            )
        self.labels: tuple[str, ...] = self.manifest.labels
        self._setup()
        self._load()

    # -- what subclasses provide ---------------------------------------------------------------------------------
    def _setup(self) -> None:
        """Task-level set-up from the manifest, before ``_load`` (the task bases use it)."""

    @abstractmethod
    def _load(self) -> None:
        """Create the session / module / connection."""

    @abstractmethod
    def run(self, batch: np.ndarray) -> np.ndarray:
        """Model only: a preprocessed batch in (from ``preprocess``), raw outputs (N, ...) out."""

    @abstractmethod
    def preprocess(self, item: Any) -> np.ndarray:
        """One input (image or feature row) -> the model's input batch of one."""

    @abstractmethod
    def scores(self, raw: np.ndarray) -> np.ndarray:
        """Raw outputs of ``run`` -> per-class scores (N, classes), or a regressor's values (N,)."""

    @abstractmethod
    def predict(self, item: Any, *, top_k: int | None = None, name: str | None = None) -> Result | Sequence[Result]:
        """One input -> its result, with ``timings_ms``. ``top_k=None``: the task's default. (A tabular model also
        takes several rows at once and then returns a list.)"""

    @abstractmethod
    def predict_batch(self, items: Sequence[Any], *, top_k: int | None = None) -> Sequence[Result]:
        """Several inputs in one model call (split into chunks if the model has a fixed batch), in order."""

    def close(self) -> None:
        """Release the session. Safe to call twice."""

    def stage_timings(self) -> dict[str, float]:
        """Where the last ``run()`` on this thread spent its time outside this process, in ms, when the predictor
        knows: the HTTP client reports the ``hop`` (round trip minus the server's prediction) and the server's
        ``server_preprocess`` and ``server_inference``. Empty for a model run in this process."""
        return {}

    # -- facts -------------------------------------------------------------------------------------------------
    @property
    def max_batch(self) -> int | None:
        """Largest batch the model accepts in one call (None: any)."""
        shape = self.manifest.input.shape if self.manifest.input else (None,)
        return shape[0] if shape and shape[0] else None

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def where(self) -> str:
        """How to name this model in messages: its file, or the model name."""
        return str(self.artifact.path) if self.artifact is not None else self.name

    @property
    def path(self) -> Path:
        """The model file (backends that load one)."""
        if self.artifact is None:
            raise ArtifactError(f"{type(self).__name__} needs an artifact on disk, not only a manifest")
        return self.artifact.path

    def describe(self) -> str:
        """``name [format, backend, N threads]``: the header line of CLI tables (``backend (auto)``: auto chose it)."""
        backend = f"{self.backend} (auto)" if self.choice is not None else self.backend
        return f"{self.name} [{self.manifest.format}, {backend}, {self.threads} threads]"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where!r}, format={self.manifest.format!r}, threads={self.threads})"
