"""Fakes for fast tests, shipped with the library (as httpx ships ``MockTransport``): predictors without a model.

``FakeClassifier`` and ``FakeTabular`` are real ``Predictor`` subclasses (the ``fake`` backend of the ``fake``
format) whose scores are a fixed, seeded function of the input: the same image always gets the same label, different
images usually different ones. ``latency_ms`` makes each model call sleep that long (the GIL is released, as in a
real runtime), so bench, live loop, batch and serve logic can be tested in milliseconds, and timing code against a
known model time.

    path = write_fake_artifact(tmp_path, latency_ms=2.0)        # model file + manifest, loadable by path
    with ei.load(path) as p:                                    # in this process, a worker, or `edge-infer serve`
        print(p.predict("photo.jpg").label)
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edge_infer.artifact import Artifact, write_artifact
from edge_infer.errors import ArtifactError
from edge_infer.features import FeatureSpec
from edge_infer.manifest import Manifest, ModelInfo, OutputSpec, Provenance, Status, Verification
from edge_infer.predictors import ImageClassifier, TabularPredictor
from edge_infer.spec import InputSpec, PreprocessSpec
from edge_infer.tasks import IMAGE_CLASSIFICATION, TABULAR_CLASSIFICATION, get_task

FAKE_LABELS = ("daisy", "palace", "espresso", "tabby cat", "rocket", "moped", "brick", "gravel")
FAKE_PREPROCESS = PreprocessSpec(resize=36, crop=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
FAKE_FEATURES = FeatureSpec(names=("a", "b", "c"), rules={"a": {"min": 0.0}})


@dataclass(frozen=True, kw_only=True)
class FakeBehaviour:
    """What a fake model does: ``latency_ms`` per input (a sleep), ``seed`` of its scoring function, and
    ``kill_after``: on that model call the process kills itself with SIGKILL, as an out-of-memory kill or a pulled
    plug would (for resume and retry tests; None: never). ``kill_once``: a file path; then only the first process
    to reach that call dies (it creates the file, holding its pid), and every other process, or the one started
    in its place, goes on (a retry test: one worker dies mid-run, at a known point)."""

    latency_ms: float = 0.0
    seed: int = 0
    kill_after: int | None = None
    kill_once: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "seed": self.seed, "kill_after": self.kill_after,
                "kill_once": self.kill_once}  # fmt: skip

    @classmethod
    def read(cls, path: Path) -> FakeBehaviour:
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            kill, once = d.get("kill_after"), d.get("kill_once")
            return cls(latency_ms=float(d.get("latency_ms", 0.0)), seed=int(d.get("seed", 0)),
                       kill_after=None if kill is None else int(kill),
                       kill_once=None if once is None else str(once))  # fmt: skip
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise ArtifactError(f"{path}: not a fake model file ({exc})") from exc


def fake_manifest(
    *, task: str = IMAGE_CLASSIFICATION, labels: Sequence[str] | None = None, name: str = "fake",
    preprocess: PreprocessSpec = FAKE_PREPROCESS, features: FeatureSpec = FAKE_FEATURES,
    status: Status = Status.VERIFIED,
) -> Manifest:  # fmt: skip
    """The manifest of a fake model of ``task`` (image models: small input, for speed)."""
    info = get_task(task)
    if info.takes == "image":
        labels = tuple(labels or FAKE_LABELS)
        shape: tuple[int | None, ...] = preprocess.input_shape(None)
        extra: dict[str, Any] = {"preprocess": preprocess, "output": OutputSpec(kind="logits")}
    else:
        labels = tuple(labels or (("low", "high") if info.classes else ()))
        shape = (None, features.count)
        extra = {"features": features, "classes": tuple(range(len(labels))) if info.classes else None,
                 "output": OutputSpec(kind="probabilities" if info.classes else "value", name=None)}  # fmt: skip
    return Manifest(
        format="fake", model_file=f"{name}.fake", task=task, labels=labels,
        model=ModelInfo(name=name, source="edge_infer.testing", num_classes=len(labels)),
        input=InputSpec(name="input", shape=shape, layout="NCHW" if info.takes == "image" else "NC"),
        provenance=Provenance(exporter="edge_infer.testing"),
        verification=Verification(status=status, reference="none (a fake model)"), **extra,
    )  # fmt: skip


def write_fake_artifact(
    folder: str | os.PathLike[str], *, name: str = "fake", latency_ms: float = 0.0, seed: int = 0,
    kill_after: int | None = None, kill_once: str | os.PathLike[str] | None = None, **manifest: Any,
) -> Path:  # fmt: skip
    """Write a fake model file and its manifest into ``folder``; returns the model file's path (load it by path).
    ``latency_ms``, ``seed``, ``kill_after``, ``kill_once`` are the ``FakeBehaviour``; ``manifest`` options are
    those of ``fake_manifest`` (task, labels, preprocess, features, status). Two fakes with one seed predict alike."""
    path = Path(folder) / f"{name}.fake"
    path.parent.mkdir(parents=True, exist_ok=True)
    behaviour = FakeBehaviour(latency_ms=latency_ms, seed=seed, kill_after=kill_after,
                              kill_once=None if kill_once is None else str(kill_once))  # fmt: skip
    path.write_text(json.dumps(behaviour.to_dict()) + "\n", encoding="utf-8")
    return write_artifact(path, fake_manifest(name=name, **manifest)).path


class _Fake:
    """Shared by the fakes: the behaviour (from the model file, or given) and the sleep that stands for the model."""

    behaviour: FakeBehaviour
    calls: int

    def _read_behaviour(self, artifact: Artifact | None) -> None:
        self.behaviour = FakeBehaviour.read(artifact.path) if artifact is not None else FakeBehaviour()
        self.calls = 0

    def _first_to_die(self) -> bool:
        """True unless ``kill_once`` names a file that exists (another process died already); creates it."""
        if self.behaviour.kill_once is None:
            return True
        try:
            fd = os.open(self.behaviour.kill_once, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        return True

    def _pretend(self, n: int) -> None:
        self.calls += 1
        if self.behaviour.kill_after is not None and self.calls >= self.behaviour.kill_after and self._first_to_die():
            os.kill(os.getpid(), signal.SIGKILL)
        if self.behaviour.latency_ms > 0:
            time.sleep(self.behaviour.latency_ms * n / 1e3)


class FakeClassifier(_Fake, ImageClassifier):
    """An image classifier whose logits are a seeded linear function of a 4x4 pooled thumbnail of the input."""

    backend: ClassVar[str] = "fake"
    concurrent_runs: ClassVar[bool] = True

    @classmethod
    def create(cls, *, latency_ms: float = 0.0, threads: int | None = None, **manifest: Any) -> FakeClassifier:
        """A fake classifier in memory (no files); ``manifest`` options as for ``fake_manifest``."""
        p = cls(fake_manifest(**manifest), threads=threads)
        p.behaviour = FakeBehaviour(latency_ms=latency_ms)
        return p

    def _load(self) -> None:
        self._read_behaviour(self.artifact)
        rng = np.random.default_rng(self.behaviour.seed)
        self._weights = rng.standard_normal((48, len(self.labels))).astype(np.float32) * 8.0

    def run(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, dtype=np.float32)
        if x.ndim != 4:
            raise ArtifactError(f"fake model takes (N, C, H, W) batches, got shape {x.shape}")
        n, c, h, w = x.shape
        pooled = x[:, :, : h - h % 4, : w - w % 4].reshape(n, c, 4, h // 4, 4, w // 4).mean(axis=(3, 5))
        self._pretend(n)
        return pooled.reshape(n, -1)[:, :48] @ self._weights  # type: ignore[no-any-return]


class FakeTabular(_Fake, TabularPredictor):
    """A tabular model: a classifier picks the class of a seeded linear score; a regressor returns the row sum."""

    backend: ClassVar[str] = "fake"

    @classmethod
    def create(
        cls, *, task: str = TABULAR_CLASSIFICATION, latency_ms: float = 0.0, threads: int | None = None, **manifest: Any
    ) -> FakeTabular:
        """A fake tabular model in memory (no files)."""
        p = cls(fake_manifest(task=task, **manifest), threads=threads)
        p.behaviour = FakeBehaviour(latency_ms=latency_ms)
        return p

    def _load(self) -> None:
        self._read_behaviour(self.artifact)
        rng = np.random.default_rng(self.behaviour.seed)
        self._weights = rng.standard_normal((self.features.count, max(1, len(self.labels))))

    def _infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        self._pretend(len(x))
        if not self.is_classifier:
            return x.sum(axis=1), None
        z = x @ self._weights
        e = np.exp(z - z.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
        return np.asarray([self.classes[i] for i in probs.argmax(axis=1)]), probs


def fake_features(rows: int, seed: int = 0, spec: FeatureSpec = FAKE_FEATURES) -> list[Mapping[str, float]]:
    """``rows`` valid feature rows for a fake tabular model, as ``{name: value}`` mappings."""
    rng = np.random.default_rng(seed)
    return [{n: float(abs(v)) for n, v in zip(spec.names, rng.standard_normal(spec.count))} for _ in range(rows)]
