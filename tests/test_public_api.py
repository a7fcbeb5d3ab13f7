"""The public front door is pinned: changing it is a decision, not an accident."""

from __future__ import annotations

import edge_infer


def test_all_is_pinned() -> None:
    assert sorted(edge_infer.__all__) == sorted(
        [
            "Artifact", "ArtifactError", "BackendUnavailableError", "BenchError", "ClassScore", "ClusterError",
            "EdgeInferError", "ExportError", "ImageClassifier", "InputError", "InputSpec", "Manifest", "ModelSpec",
            "Prediction", "Predictor", "PreprocessSpec", "Result", "SourceError", "SpecError", "Status",
            "TabularPrediction", "TabularPredictor", "TargetError", "UnknownNameError", "VerificationError",
            "__version__", "export", "load",
        ]  # fmt: skip
    )
    for name in edge_infer.__all__:
        assert hasattr(edge_infer, name), name


def test_one_exception_tree() -> None:
    for name in edge_infer.__all__:
        obj = getattr(edge_infer, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, edge_infer.EdgeInferError), name
    import targets

    assert issubclass(edge_infer.TargetError, targets.ProfileError), "a target error is also the targets' own"


def test_unknown_name_lists_valid_and_closest() -> None:
    err = edge_infer.UnknownNameError("format", "onxx", ["onnx", "ort", "torchscript"])
    assert "did you mean 'onnx'" in str(err) and "valid: onnx, ort, torchscript" in str(err)


def test_first_line_of_library_errors() -> None:
    from edge_infer.errors import first_line

    assert first_line(ValueError("bad shape\n  long library detail")) == "bad shape"
    assert first_line(ValueError("bad shape\ndetail"), with_type=True) == "ValueError: bad shape"
    assert first_line(RuntimeError("")) == "RuntimeError"  # some loaders raise with no message
    assert first_line(RuntimeError("  \n "), with_type=True) == "RuntimeError"
