"""Shared fixtures: real artifacts exported once per test session, real sample photos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


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
