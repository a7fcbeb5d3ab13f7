"""Tabular models: the seed's iris RandomForest through joblib and ONNX, safe loading, input validation, CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edge_infer as ei
from edge_infer.artifact import Artifact, write_artifact
from edge_infer.backends.onnxrt import OnnxRuntimeTabular as TabularOnnxPredictor
from edge_infer.backends.sklearn import SklearnTabular as SklearnPredictor
from edge_infer.predictors import TabularPredictor
from edge_infer.result import TabularPrediction
from edge_infer.cli.main import main
from edge_infer.manifest import Manifest

SEED_ROW = [5.1, 3.5, 1.4, 0.2]
IRIS_FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
IRIS_LABELS = ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="module")
def iris_xy() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


# -- export ----------------------------------------------------------------------------------------------------------
def test_iris_manifests_carry_features_classes_rules_and_verification(iris_artifacts: dict[str, Path]) -> None:
    for fmt, path in iris_artifacts.items():
        art = Artifact.read(path)
        m = art.manifest.to_dict()
        assert m["format"] == fmt and m["task"] == "tabular-classification"
        assert m["features"] == {"names": IRIS_FEATURES, "count": 4, "rules": {n: {"min": 0} for n in IRIS_FEATURES}}
        assert m["labels"] == IRIS_LABELS and m["classes"] == [0, 1, 2]
        assert len(m["sha256"]) == 64 and m["size_bytes"] == path.stat().st_size
        assert {"scikit-learn", "skl2onnx", "joblib", "onnxruntime"} <= set(m["export"]["versions"])
        v = m["verification"]
        assert v["status"] == "verified" and v["rows"] == 150 and v["top1_agreement"] == 1.0
        assert v["max_abs_diff"] <= 1e-4
        assert m["model"]["test_accuracy"] == 1.0 and m["model"]["train_rows"] == 120
    onnx_manifest = Artifact.read(iris_artifacts["onnx"]).manifest
    assert onnx_manifest.provenance.details["zipmap"] is False and onnx_manifest.input.shape == (None, 4)


def test_iris_is_the_seed_model(iris_artifacts: dict[str, Path], iris_xy: tuple[np.ndarray, np.ndarray]) -> None:
    """Retrain exactly as the seed chapter does; the exported joblib model gives the same probabilities."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    X, y = iris_xy
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=42)
    seed = RandomForestClassifier(n_estimators=100, random_state=42).fit(X_train, y_train)
    with ei.load(iris_artifacts["joblib"], trust=True) as p:
        assert isinstance(p, SklearnPredictor) and p.estimator.n_estimators == 100
        np.testing.assert_array_equal(p.run(X), seed.predict_proba(X))


# -- the seed's example, locally -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["onnx", "joblib"])
def test_seed_example(iris_artifacts: dict[str, Path], fmt: str) -> None:
    with ei.load(iris_artifacts[fmt], trust=fmt == "joblib") as p:
        assert isinstance(p, ei.Predictor) and isinstance(p, TabularPredictor)
        d = p.predict(SEED_ROW).to_dict()  # type: ignore[union-attr]
    assert list(d) == ["prediction", "class_id", "probabilities"]
    assert d["prediction"] == "setosa" and d["class_id"] == 0
    assert list(d["probabilities"]) == IRIS_LABELS
    assert d["probabilities"]["setosa"] == pytest.approx(1.0, abs=1e-5)
    assert sum(d["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    json.dumps(d)  # plain JSON types


def test_onnx_and_joblib_agree_on_all_150_rows(iris_artifacts: dict[str, Path], iris_xy: tuple) -> None:
    X, y = iris_xy
    with ei.load(iris_artifacts["onnx"]) as onnx_p, ei.load(iris_artifacts["joblib"], trust=True) as job_p:
        a, b = onnx_p.predict(X), job_p.predict(X.tolist())
        assert np.abs(onnx_p.run(X) - job_p.run(X)).max() < 1e-5
        single = [onnx_p.predict(row) for row in X[::10]]
    assert len(a) == len(b) == 150
    assert [r.prediction for r in a] == [r.prediction for r in b]
    assert [r.class_id for r in a] == [r.class_id for r in b]
    assert np.mean(np.array([r.class_id for r in a]) == y) > 0.95
    assert [r.class_id for r in single] == [r.class_id for r in a[::10]]  # one row at a time == batched


def test_row_shapes_and_top_k(iris_artifacts: dict[str, Path]) -> None:
    with ei.load(iris_artifacts["onnx"], threads=1) as p:
        named = dict(zip(reversed(IRIS_FEATURES), reversed(SEED_ROW)))  # any key order
        assert p.predict(named).prediction == "setosa"  # type: ignore[union-attr]
        assert isinstance(p.predict(np.array(SEED_ROW)), TabularPrediction)
        many = p.predict([SEED_ROW, [6.3, 2.9, 5.6, 1.8]])
        assert [r.prediction for r in many] == ["setosa", "virginica"]  # type: ignore[union-attr]
        assert [r.prediction for r in p.predict_batch([named])] == ["setosa"]
        top = p.predict([6.3, 2.9, 5.6, 1.8], top_k=1).to_dict()  # type: ignore[union-attr]
        assert list(top["probabilities"]) == ["virginica"]
        with pytest.raises(ei.InputError, match="top_k"):
            p.predict(SEED_ROW, top_k=0)
        with pytest.raises(ei.InputError, match="tabular model .* not images"):  # e.g. edge-infer bench's frames
            p.preprocess(np.zeros((8, 8, 3), np.uint8))


# -- bad input -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4}, "missing.*'petal width"),
        ({**dict(zip(IRIS_FEATURES, SEED_ROW)), "colour": 1}, "unknown feature.*'colour'"),
        ([5.1, 3.5, 1.4], "expected 4 features.*got 3"),
        ([5.1, 3.5, 1.4, 0.2, 9.9], "expected 4 features.*got 5"),
        ([5.1, "abc", 1.4, 0.2], "'sepal width \\(cm\\)' is not a number"),
        ([5.1, None, 1.4, 0.2], "'sepal width \\(cm\\)' is not a number"),
        ([5.1, 3.5, True, 0.2], "'petal length \\(cm\\)' is not a number"),
        ([5.1, 3.5, float("nan"), 0.2], "'petal length \\(cm\\)' is NaN"),
        ([5.1, 3.5, 1.4, float("inf")], "'petal width \\(cm\\)' is infinite"),
        ([-5.1, 3.5, 1.4, 0.2], "'sepal length \\(cm\\)' is -5.1, below its minimum 0"),
        ([SEED_ROW, [5.1, 3.5, -1.4, 0.2]], "row 2: feature 'petal length \\(cm\\)' is -1.4, below its minimum"),
        (np.array([SEED_ROW, [5.1, np.nan, 1.4, 0.2]]), "row 2: feature 'sepal width \\(cm\\)' is NaN"),
        (np.array([SEED_ROW, [5.1, 3.5, 1.4, -0.2]]), "row 2: feature 'petal width \\(cm\\)' is -0.2, below"),
        (np.zeros((2, 3)), "expected 4 features.*got 3"),
        (np.zeros((1, 2, 4)), "shape"),
        ([], "no feature rows"),
        ("5.1,3.5,1.4,0.2", "features must be"),
    ],
)
def test_bad_features_name_the_feature(iris_artifacts: dict[str, Path], features: object, message: str) -> None:
    with ei.load(iris_artifacts["onnx"], threads=1) as p:
        with pytest.raises(ei.InputError, match=message):
            p.predict(features)


# -- safe loading ----------------------------------------------------------------------------------------------------
def test_joblib_refused_without_trust_and_points_to_onnx(iris_artifacts: dict[str, Path]) -> None:
    with pytest.raises(ei.ArtifactError) as err:
        ei.load(iris_artifacts["joblib"])
    text = str(err.value)
    assert "without trust" in text and "run code" in text and "trust=True" in text and "iris.onnx" in text


def test_changed_joblib_refused_even_with_trust(iris_artifacts: dict[str, Path], tmp_path: Path) -> None:
    for suffix in (".joblib", ".joblib.json"):
        shutil.copy(iris_artifacts["joblib"].with_name("iris" + suffix), tmp_path / ("iris" + suffix))
    model = tmp_path / "iris.joblib"
    with model.open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ei.ArtifactError, match="sha256 mismatch"):
        ei.load(model, trust=True)
    unchecked = Artifact.read(model, check_sha256=False)  # the backend checks the bytes it would unpickle, too
    with pytest.raises(ei.ArtifactError, match="sha256 mismatch.*even with trust"):
        ei.load(unchecked, trust=True)


class _Evil:
    """Unpickling this creates the marker file: the attack an untrusted pickle can carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def test_malicious_pickle_never_runs(iris_artifacts: dict[str, Path], tmp_path: Path) -> None:
    import joblib

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.joblib"
    joblib.dump(_Evil(marker), evil)
    joblib.load(evil)  # the control: the payload is real and works when unpickled
    assert marker.exists()
    marker.unlink()

    good = Manifest.read(iris_artifacts["joblib"].with_name("iris.joblib.json"))
    write_artifact(evil, good)  # a manifest whose sha256 matches the malicious file
    with pytest.raises(ei.ArtifactError, match="without trust"):
        ei.load(evil)
    assert main(["predict", str(evil), "--features", "5.1,3.5,1.4,0.2"]) == 2
    evil.write_bytes(evil.read_bytes() + b"\0")  # now changed after its manifest was written
    with pytest.raises(ei.ArtifactError, match="sha256 mismatch"):
        ei.load(evil, trust=True)
    with pytest.raises(ei.ArtifactError, match="sha256 mismatch"):
        ei.load(Artifact.read(evil, check_sha256=False), trust=True)
    assert not marker.exists()


def test_image_predictors_accept_trust(default_onnx: Path) -> None:
    with ei.load(default_onnx, trust=True, threads=1) as p:
        assert not isinstance(p, TabularPredictor)


def test_onnx_path_imports_neither_sklearn_nor_torch(iris_artifacts: dict[str, Path]) -> None:
    code = (
        "import sys, json, edge_infer as ei\n"
        f"p = ei.load({str(iris_artifacts['onnx'])!r})\n"
        "d = p.predict([5.1, 3.5, 1.4, 0.2]).to_dict()\n"
        "from edge_infer.cli.main import main\n"
        f"assert main(['predict', {str(iris_artifacts['onnx'])!r}, '--features', '5.1,3.5,1.4,0.2', '--json']) == 0\n"
        "bad = sorted(m for m in ('sklearn', 'torch', 'skl2onnx', 'joblib', 'exporters') if m in sys.modules)\n"
        "print(json.dumps({'prediction': d['prediction'], 'imported': bad, 'backend': type(p).__name__}))\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"prediction": "setosa", "imported": [], "backend": TabularOnnxPredictor.__name__}


# -- CLI -------------------------------------------------------------------------------------------------------------
def test_cli_export_iris_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["export", "--model", "iris", "--formats", "joblib,onnx", "--out", str(tmp_path), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert [(a["format"], a["status"]) for a in doc["artifacts"]] == [("joblib", "verified"), ("onnx", "verified")]
    assert (tmp_path / "iris.onnx.json").exists() and (tmp_path / "iris.joblib.json").exists()
    # as for image models, an unknown format fails alone (exit 1), naming the formats this kind of model has
    assert main(["export", "--model", "iris", "--formats", "torchscript", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "unknown format 'torchscript'" in out and "joblib, onnx" in out


def test_cli_predict_features(iris_artifacts: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    onnx, job = str(iris_artifacts["onnx"]), str(iris_artifacts["joblib"])
    assert main(["predict", onnx, "--features", "5.1,3.5,1.4,0.2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["prediction"] == "setosa" and d["class_id"] == 0 and list(d["probabilities"]) == IRIS_LABELS
    assert main(["predict", job, "--features", "5.1,3.5,1.4,0.2", "--json"]) == 2
    assert "pickle" in capsys.readouterr().err
    assert main(["predict", job, "--features", "5.1,3.5,1.4,0.2", "--trust", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == d
    assert main(["predict", onnx, "--features=-5.1,3.5,1.4,0.2"]) == 2
    assert "'sepal length (cm)' is -5.1, below its minimum 0" in capsys.readouterr().err
    assert main(["predict", onnx, "--features", "5.1,3.5,1.4,0.2"]) == 0
    assert "setosa" in capsys.readouterr().out
    assert main(["predict", onnx]) == 2
    assert "--features" in capsys.readouterr().err
    assert main(["predict", onnx, "--features", "5.1 3.5 1.4 0.2", "--json"]) == 0  # spaces work too
    assert json.loads(capsys.readouterr().out) == d
    assert main(["predict", onnx, "--features", "5.1,,1.4,0.2"]) == 2
    assert "'sepal width (cm)' is not a number" in capsys.readouterr().err
    assert main(["predict", onnx, "--features", "5.1,3.5,1.4,0.2", "--workers", "2"]) == 2
    assert "for image inputs only" in capsys.readouterr().err


def test_cli_predict_features_file(
    iris_artifacts: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.csv"
    header = ",".join(reversed(IRIS_FEATURES))  # header in another order: columns are matched by name
    rows.write_text(f"{header}\n0.2,1.4,3.5,5.1\n1.8,5.6,2.9,6.3\n\n1,2,x,4\n", encoding="utf-8")
    assert main(["predict", str(iris_artifacts["onnx"]), "--features-file", str(rows), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [r.get("prediction") for r in out] == ["setosa", "virginica", None]
    assert out[2]["row"] == 3 and "'sepal width (cm)' is not a number" in out[2]["error"]
    plain = tmp_path / "plain.csv"
    plain.write_text("5.1,3.5,1.4,0.2\n6.3,2.9,5.6,1.8\n", encoding="utf-8")
    assert main(["predict", str(iris_artifacts["joblib"]), "--trust", "--features-file", str(plain)]) == 0
    table = capsys.readouterr().out
    assert "setosa" in table and "virginica" in table
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("a,b,c,d\n1,2,3,4\n", encoding="utf-8")
    assert main(["predict", str(iris_artifacts["onnx"]), "--features-file", str(bad_header)]) == 2
    assert "missing feature(s)" in capsys.readouterr().err
    typo = tmp_path / "typo.csv"  # no header, a bad cell in the first row: that row's error, the others predicted
    typo.write_text("5.1,abc,1.4,0.2\n6.3,2.9,5.6,1.8\n", encoding="utf-8")
    assert main(["predict", str(iris_artifacts["onnx"]), "--features-file", str(typo), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert "'sepal width (cm)' is not a number" in out[0]["error"] and out[1]["prediction"] == "virginica"


# -- a user's own estimators through the API -------------------------------------------------------------------------
def test_user_pipeline_classifier_and_regressor(tmp_path: Path, iris_xy: tuple) -> None:
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris_xy
    names = np.array(["small", "medium", "large"])[y]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, names)
    outcomes = ei.export(clf, formats="all", out=tmp_path, name="flowers", X=X, feature_names=["a", "b", "c", "d"],
                         rules={"a": {"min": 0, "max": 10}})  # fmt: skip
    assert [(o.format, o.status) for o in outcomes] == [("onnx", "verified"), ("joblib", "verified")]
    with ei.load(tmp_path / "flowers.onnx") as p:
        got = [r.prediction for r in p.predict(X)]
        assert p.labels == ("large", "medium", "small")
        with pytest.raises(ei.InputError, match="'a' is 11, above its maximum 10"):
            p.predict([11, 1, 1, 1])
    assert got == list(clf.predict(X))

    reg = Ridge().fit(X[:, :3], X[:, 3])
    outcomes = ei.export(reg, formats="onnx,joblib", out=tmp_path, name="petal", X=X[:, :3])
    assert [(o.format, o.status) for o in outcomes] == [("onnx", "verified"), ("joblib", "verified")]
    want = reg.predict([[5.1, 3.5, 1.4]])[0]
    for o in outcomes:
        assert o.artifact is not None and o.artifact.manifest.task == "tabular-regression"
        with ei.load(o.artifact.path, trust=True) as p:
            d = p.predict([5.1, 3.5, 1.4]).to_dict()
        assert list(d) == ["prediction"] and d["prediction"] == pytest.approx(want, abs=1e-4)

    with pytest.raises(ei.SpecError, match="needs X="):
        ei.export(reg, formats="onnx", out=tmp_path)


def test_verification_fails_for_a_different_model(iris_artifacts: dict[str, Path], iris_xy: tuple) -> None:
    """The check can fail: the iris artifacts compared with another forest are not 'verified'."""
    from sklearn.ensemble import RandomForestClassifier

    from exporters.tabular import TabularSpec
    from exporters.verification.rows import verify_tabular

    X, y = iris_xy
    other = RandomForestClassifier(n_estimators=3, max_depth=1, random_state=0).fit(X, y)
    spec = TabularSpec(name="other", estimator=other, X=X, feature_names=tuple(IRIS_FEATURES),
                       class_names=tuple(IRIS_LABELS))  # fmt: skip
    for path in iris_artifacts.values():
        report = verify_tabular(Artifact.read(path), spec)
        assert report.status == "failed" and report.max_abs_diff > 0.1 and report.top1_agreement < 1.0
