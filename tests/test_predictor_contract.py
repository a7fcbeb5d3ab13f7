"""One contract for every Predictor: every backend, the eager baseline, the HTTP clients and the fakes pass it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import edge_infer as ei
from edge_infer.predictors import ImageClassifier, Predictor, TabularPredictor, task_base
from edge_infer.result import Prediction, Result, TabularPrediction
from edge_infer.testing import FakeClassifier, FakeTabular, fake_features, write_fake_artifact

from conftest import needs_torch

Opener = Callable[[int | None], Predictor]


@pytest.fixture(scope="module")
def served(default_onnx: Path, iris_artifacts: dict[str, Path]) -> Iterator[dict[str, str]]:
    from edge_infer.serve.testing import serve_in_thread

    with serve_in_thread(default_onnx) as image, serve_in_thread(iris_artifacts["onnx"]) as rows:
        yield {"image": image.url, "features": rows.url}


def _remote(url: str, threads: int | None) -> Predictor:
    from edge_infer.serve.client import RemotePredictor

    return RemotePredictor.connect(url)


def _eager(path: Path, threads: int | None) -> Predictor:
    from edge_infer.backends.eager import EagerClassifier

    return EagerClassifier(ei.Artifact.read(path), threads=threads)


KINDS = ["onnxruntime", "openvino", "executorch", "litert", "litert-int8", "onnxruntime-tabular", "sklearn", "torchscript", "lite", "eager", "http", "http-tabular",
         "fake", "fake-file", "fake-tabular"]  # fmt: skip


@pytest.fixture(params=[k if k.startswith("fake") else pytest.param(k, marks=pytest.mark.integration) for k in KINDS])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    kind = request.param
    if kind in ("torchscript", "lite", "eager"):
        pytest.importorskip("torch")
    if kind == "executorch":
        pytest.importorskip("executorch")
    if kind.startswith("litert"):
        pytest.importorskip("ai_edge_litert")
    if kind == "openvino":
        pytest.importorskip("openvino")
        request.getfixturevalue("monkeypatch").setenv("EDGE_INFER_CACHE_DIR", str(tmp_path / "cache"))
    fx = request.getfixturevalue
    table: dict[str, Opener] = {
        "onnxruntime": lambda t: ei.load(fx("default_onnx"), threads=t, backend="onnxruntime"),
        "openvino": lambda t: ei.load(fx("default_onnx"), threads=t, backend="openvino"),
        "executorch": lambda t: ei.load(fx("tiny_executorch")["executorch"], threads=t),
        "litert": lambda t: ei.load(fx("tiny_litert")["tflite"], threads=t),
        "litert-int8": lambda t: ei.load(fx("tiny_litert")["tflite-int8"], threads=t),
        "onnxruntime-tabular": lambda t: ei.load(fx("iris_artifacts")["onnx"], threads=t),
        "sklearn": lambda t: ei.load(fx("iris_artifacts")["joblib"], threads=t, trust=True),
        "torchscript": lambda t: ei.load(fx("tiny_torchscript")["torchscript"], threads=t),
        "lite": lambda t: ei.load(fx("tiny_torchscript")["torchscript-mobile"], threads=t),
        "eager": lambda t: _eager(fx("default_onnx"), t),
        "http": lambda t: _remote(fx("served")["image"], t),
        "http-tabular": lambda t: _remote(fx("served")["features"], t),
        "fake": lambda t: FakeClassifier.create(threads=t),
        "fake-file": lambda t: ei.load(write_fake_artifact(tmp_path), threads=t),
        "fake-tabular": lambda t: FakeTabular.create(threads=t),
    }
    return table[kind]


def _inputs(p: Predictor, photo: Path) -> list[object]:
    if isinstance(p, ImageClassifier):
        return [photo, np.full((48, 64, 3), 90, dtype=np.uint8)]
    names = p.features.names if isinstance(p, TabularPredictor) else ()
    if len(names) == 4:  # iris
        return [[5.1, 3.5, 1.4, 0.2], dict(zip(names, [6.7, 3.0, 5.2, 2.3]))]
    return list(fake_features(2))


def test_predictor_contract(opener: Opener, photo: Path) -> None:
    with opener(None) as p:
        assert isinstance(p, Predictor) and isinstance(p, task_base(p.task)), type(p)
        assert p.backend and p.threads >= 1 and p.name and p.manifest.task == p.task.name
        assert p.max_batch is None or p.max_batch >= 1
        assert p.describe().startswith(p.name) and p.backend in p.describe()
        items = _inputs(p, photo)
        x = p.preprocess(items[0])
        assert len(x) == 1
        scores = p.scores(p.run(x))
        assert scores.shape[0] == 1
        one = p.predict(items[0], top_k=2)
        assert isinstance(one, (Prediction, TabularPrediction)) and isinstance(one.to_dict(), dict)
        kind = Prediction if isinstance(p, ImageClassifier) else TabularPrediction
        assert isinstance(one, kind)
        many = p.predict_batch(items, top_k=2)
        assert len(many) == 2 and all(isinstance(r, Result) for r in many)
        assert many[0].to_dict().get("label", many[0].to_dict().get("prediction")) == one.to_dict().get(
            "label", one.to_dict().get("prediction")
        )
        bad: object = [1.0] if isinstance(p, TabularPredictor) else b"definitely not an image"
        with pytest.raises(ei.InputError):
            p.predict(bad)
    p.close()  # closing twice is safe


def test_threads_below_one_are_the_same_error_everywhere(opener: Opener) -> None:
    try:
        p = opener(0)
    except ei.SpecError as exc:
        assert "threads must be at least 1" in str(exc)
        return
    with p:  # the HTTP clients and in-memory fakes take the server's / no threads
        assert p.threads >= 1


@needs_torch
def test_one_backend_class_per_row_is_what_load_returns(tiny_torchscript: dict[str, Path]) -> None:
    from edge_infer.backends.torchscript import LiteClassifier, TorchScriptClassifier

    with ei.load(tiny_torchscript["torchscript"]) as a, ei.load(tiny_torchscript["torchscript-mobile"]) as b:
        assert type(a) is TorchScriptClassifier and type(b) is LiteClassifier
