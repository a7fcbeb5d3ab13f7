"""Real predictions on real photos through the ONNX artifact, and the torch-free device path."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import edge_infer as ei

CATS = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def predictor(default_onnx: Path):  # type: ignore[no-untyped-def]
    with ei.load(default_onnx) as p:
        yield p


@pytest.mark.parametrize(("photo", "expected"), [("flower.jpg", {"daisy"}), ("coffee.png", {"espresso"}),
                                                  ("chelsea.png", CATS)])  # fmt: skip
def test_known_photos(predictor, samples_dir: Path, photo: str, expected: set[str]) -> None:  # type: ignore[no-untyped-def]
    r = predictor.predict(samples_dir / photo, top_k=5)
    assert r.label in expected, r.to_dict()
    assert len(r.top_k) == 5 and r.top_k[0].label == r.label
    assert all(a.score >= b.score for a, b in zip(r.top_k, r.top_k[1:]))
    assert 0 < r.score <= 1 and set(r.timings_ms) == {"preprocess", "inference", "total"}
    assert r.timings_ms["total"] >= r.timings_ms["inference"] > 0


def test_every_input_kind_gives_the_same_answer(predictor, samples_dir: Path) -> None:  # type: ignore[no-untyped-def]
    path = samples_dir / "coffee.png"
    rgb = np.asarray(Image.open(path).convert("RGB"))
    results = [
        predictor.predict(path),
        predictor.predict(str(path)),
        predictor.predict(path.read_bytes()),
        predictor.predict(Image.open(path)),
        predictor.predict(rgb),
        predictor.predict(cv2.imread(str(path)), color_order="bgr"),
    ]
    assert {r.label for r in results} == {"espresso"}
    np.testing.assert_allclose([r.score for r in results], results[0].score, atol=1e-5)


def test_batch_matches_single(predictor, samples_dir: Path) -> None:  # type: ignore[no-untyped-def]
    paths = sorted(samples_dir.iterdir())
    batch = predictor.predict_batch(paths, top_k=3)
    single = [predictor.predict(p, top_k=3) for p in paths]
    assert [b.label for b in batch] == [s.label for s in single]
    np.testing.assert_allclose([b.score for b in batch], [s.score for s in single], atol=1e-4)


def test_top_k_bounds(predictor, samples_dir: Path) -> None:  # type: ignore[no-untyped-def]
    assert len(predictor.predict(samples_dir / "flower.jpg", top_k=5000).top_k) == 1000
    with pytest.raises(ei.InputError, match="top_k"):
        predictor.predict(samples_dir / "flower.jpg", top_k=0)


def test_threads_are_explicit(default_onnx: Path) -> None:
    with ei.load(default_onnx, threads=1, backend="onnxruntime") as p:  # its session options are read
        assert p.threads == 1 and p.session.get_session_options().intra_op_num_threads == 1
    with pytest.raises(ei.SpecError, match="threads must be at least 1"):
        ei.load(default_onnx, threads=0)


def test_onnx_path_never_imports_torch(default_onnx: Path, samples_dir: Path) -> None:
    code = textwrap.dedent(
        f"""
        import json, sys
        import edge_infer as ei
        with ei.load({str(default_onnx)!r}) as p:
            r = p.predict({str(samples_dir / "flower.jpg")!r})
        heavy = sorted(m for m in ("torch", "torchvision", "onnx", "sklearn", "skimage") if m in sys.modules)
        print(json.dumps({{"label": r.label, "heavy": heavy}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"label": "daisy", "heavy": []}
