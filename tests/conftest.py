"""Shared fixtures: real artifacts exported once per test session, real sample photos, the fake model.

Two tiers. The logic tier runs on fakes and real photos in seconds: ``pytest -m "not integration"``. The
integration tier is every test that exports or loads a real model or starts a Ray cluster (it uses a
real-artifact fixture, or lives in a module that exports or starts Ray): marked ``integration`` here, at
collection, so no test can forget its mark. The default run (``bash scripts/test.sh``, CI) runs both; ``slow``
tests (minutes each) only with ``EDGE_INFER_SLOW=1``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
# A fresh cache per test session (auto's choices, OpenVINO's compiled models): tests never see a user's cache, and
# the subprocesses they start (the CLI, servers, workers) inherit it.
os.environ["EDGE_INFER_CACHE_DIR"] = tempfile.mkdtemp(prefix="edge-infer-test-cache-")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# A test that uses one of these fixtures (directly or through another fixture) exports or loads a real model.
REAL_MODEL_FIXTURES = frozenset({"artifacts_dir", "default_onnx", "iris_artifacts", "local", "tiny_torchscript",
                                 "tiny_executorch", "tiny_litert"})  # fmt: skip
# Modules whose tests export models themselves (the build side: exporters, quantization, verification) or start a
# real cluster (Ray).
INTEGRATION_MODULES = frozenset({"test_export_models", "test_onnx_int8", "test_torchscript", "test_bias_correction",
                                 "test_tabular", "test_arm64", "test_benchmark_scripts", "test_scale", "test_scale_cluster",
                                 "test_executorch", "test_litert", "test_runtime_envs", "test_pixel_input", "test_recheck"})  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())) or module in INTEGRATION_MODULES:
            item.add_marker(pytest.mark.integration)


needs_torch = pytest.mark.skipif(not _has("torch"), reason="needs the export extra (torch)")


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from exporters.samples import write_samples

    d = tmp_path_factory.mktemp("samples")
    write_samples(d)
    return d


@pytest.fixture(scope="session")
def default_onnx(artifacts_dir: Path) -> Path:
    """The default model (EfficientNet-Lite0) exported to fp32 ONNX once per session; returns the model path."""
    from exporters.api import export

    [outcome] = export("efficientnet_lite0", formats="onnx", out=artifacts_dir / "lite0")
    assert outcome.status == "verified", outcome.to_dict()
    assert outcome.artifact is not None
    return outcome.artifact.path


@pytest.fixture(scope="session")
def iris_artifacts(artifacts_dir: Path) -> dict[str, Path]:
    """The seed's iris RandomForest exported to ONNX and joblib once per session: {"onnx": path, "joblib": path}."""
    from exporters.api import export

    outcomes = export("iris", formats="onnx,joblib", out=artifacts_dir / "iris")
    assert [o.status for o in outcomes] == ["verified", "verified"], [o.to_dict() for o in outcomes]
    return {o.format: o.artifact.path for o in outcomes if o.artifact is not None}


# name of each photo in `sample_video`, in order; each is shown for SAMPLE_VIDEO_REPEAT frames at 320x240, 30 FPS
SAMPLE_VIDEO_PHOTOS = ("flower.jpg", "coffee.png", "chelsea.png", "china.jpg")
SAMPLE_VIDEO_REPEAT = 6


def write_photo_video(
    path: Path, samples: Path, *, fps: float, repeat: int, size: tuple[int, int] = (320, 240)
) -> Path:
    """An mp4 (mp4v) made of the sample photos, each held for ``repeat`` frames."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for name in SAMPLE_VIDEO_PHOTOS:
        image = cv2.resize(cv2.imread(str(samples / name)), size, interpolation=cv2.INTER_AREA)
        for _ in range(repeat):
            writer.write(image)
    writer.release()
    return path


@pytest.fixture(scope="session")
def sample_video(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24-frame 30 FPS video of real photos (flower, coffee, cat, palace), written with OpenCV."""
    out = tmp_path_factory.mktemp("video") / "photos.mp4"
    return write_photo_video(out, samples_dir, fps=30.0, repeat=SAMPLE_VIDEO_REPEAT)


@pytest.fixture(scope="module")
def photo(samples_dir: Path) -> Path:
    """A real photo file (china.jpg)."""
    return samples_dir / "china.jpg"


@pytest.fixture(scope="module")
def local(default_onnx: Path) -> Iterator[object]:
    """The default model's ONNX artifact loaded in this process."""
    import edge_infer as ei

    with ei.load(default_onnx) as p:
        yield p


@pytest.fixture(scope="session")
def fake_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model-free image classifier artifact (``edge_infer.testing``), loadable by path here, in workers and in
    ``edge-infer serve``: for the logic of batch runs, the live loop and the server, in milliseconds."""
    from edge_infer.testing import write_fake_artifact

    return write_fake_artifact(tmp_path_factory.mktemp("fake"))


@pytest.fixture(scope="session")
def tiny_executorch(artifacts_dir: Path) -> dict[str, Path]:
    """A tiny conv net exported to ExecuTorch fp32 once per session (not the default model's minute and a half):
    {"executorch": path}. int8 (PT2E calibration) is exported in a slow test."""
    pytest.importorskip("executorch")
    import edge_infer as ei
    from exporters.api import export

    outcomes = export(tiny_net(), formats="executorch", out=artifacts_dir / "tiny-et", name="tiny",
                      labels=list("abcd"), preprocess=ei.PreprocessSpec(resize=40, crop=32))  # fmt: skip
    found = {o.format: o.artifact.path for o in outcomes if o.artifact is not None}
    assert set(found) == {"executorch"}, [o.to_dict() for o in outcomes]
    return found


@pytest.fixture(scope="session")
def tiny_litert(artifacts_dir: Path) -> dict[str, Path]:
    """The tiny conv net converted with litert-torch once per session, fp32 and int8 (PT2E, 8 calibration images):
    {"tflite": path, "tflite-int8": path}. A few seconds of conversion after litert-torch's import (~15 s)."""
    pytest.importorskip("litert_torch")
    import edge_infer as ei
    from exporters.api import export

    outcomes = export(tiny_net(), formats="tflite,tflite-int8", out=artifacts_dir / "tiny-litert", name="tiny",
                      labels=list("abcd"), preprocess=ei.PreprocessSpec(resize=40, crop=32),
                      calibration_count=8)  # fmt: skip
    found = {o.format: o.artifact.path for o in outcomes if o.artifact is not None}
    assert set(found) == {"tflite", "tflite-int8"}, [o.to_dict() for o in outcomes]
    return found


@pytest.fixture(scope="session")
def tiny_torchscript(artifacts_dir: Path) -> dict[str, Path]:
    """The tiny conv net exported to TorchScript and the lite interpreter: {"torchscript": path, ...}."""
    pytest.importorskip("torch")
    import edge_infer as ei
    from exporters.api import export

    outcomes = export(tiny_net(), formats="torchscript,torchscript-mobile", out=artifacts_dir / "contract",
                      name="tiny", labels=list("abcd"), preprocess=ei.PreprocessSpec(resize=40, crop=32))  # fmt: skip
    assert all(o.status == "verified" for o in outcomes), [o.to_dict() for o in outcomes]
    return {o.format: o.artifact.path for o in outcomes if o.artifact is not None}


def tiny_net() -> Any:
    """A tiny conv net (3 -> 4 classes), the same weights every time."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(8, 4))  # fmt: skip
    return net.eval()
