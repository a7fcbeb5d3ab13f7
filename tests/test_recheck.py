"""``load()`` re-checks an int8 artifact on the bundle's sample photos when this device computes an arithmetic the
manifest has no verdict for; it trusts a recorded verdict for its own arithmetic; old manifests load as before."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edge_infer as ei
from edge_infer import recheck
from edge_infer.errors import VerificationError
from edge_infer.images import read_path
from edge_infer.manifest import manifest_path_for
from edge_infer.preprocess import Preprocessor
from edge_infer.recheck import Int8RecheckWarning

torch = pytest.importorskip("torch")


class TinyNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, 2, 1)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x: Any) -> Any:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def tiny_int8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real onnx-int8 export of a tiny net, without the ONNX Runtime exactness option, with the sample photos."""
    from edge_infer.spec import PreprocessSpec
    from exporters.api import export
    from exporters.samples import write_samples

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("recheck") / "bundle"
    [o] = export(TinyNet().eval(), formats="onnx-int8", out=out, name="tiny",
                 preprocess=PreprocessSpec(resize=96, crop=96), labels=["a", "b", "c", "d"])  # fmt: skip
    assert o.artifact is not None, o.to_dict()
    v = o.artifact.manifest.verification.details
    assert set(v["by_arithmetic"]) >= {"exact32"} and v["target_arithmetic"] == "exact32"
    assert {"flower.jpg", "coffee.png"} <= set(v["recheck"]["photos"])
    write_samples(out / "samples")
    return o.artifact.path


def _variant(src: Path, dest: Path, *, wrong: bool = False, samples: bool = True, **verification: Any) -> Path:
    """A copy of the tiny artifact whose recorded verdicts and fp32 answers are set by the test: the recorded answers
    are this int8 model's own top-1s at probability 0.9 (so a faithful run here passes), or wrong ones."""
    dest.mkdir(parents=True)
    shutil.copy2(src, dest / src.name)
    if samples:
        shutil.copytree(src.parent / "samples", dest / "samples")
    m = json.loads(manifest_path_for(src).read_text())
    m["runtime"] = {}  # no session.x64quantprecision: ONNX Runtime computes pairs16 on AVX2 without VNNI
    pre = Preprocessor(ei.Manifest.from_dict(m).preprocess)  # type: ignore[arg-type]
    with ei.load(src) as p:
        for name, rec in m["verification"]["recheck"]["photos"].items():
            top = int(np.asarray(p.run(pre(read_path(src.parent / "samples" / name)))).argmax())
            rec.update(top=[(top + 1) % 4 if wrong else top], top1_probability=0.9)
    m["verification"].update(verification)
    manifest_path_for(dest / src.name).write_text(json.dumps(m))
    return dest / src.name


EXACT_ONLY = {"by_arithmetic": {"exact32": {"status": "verified", "how": "exact QDQ reference"}}}


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recheck, "_PASSED", {})


def test_same_arithmetic_trusts_the_recorded_verdict(tiny_int8: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("EDGE_INFER_INT8_ARITHMETIC", "exact32")
    path = _variant(tiny_int8, tmp_path / "b", wrong=True, **EXACT_ONLY)  # wrong answers are never looked at
    with ei.load(path) as p:
        assert p.predict(tmp_path / "b" / "samples" / "coffee.png").label in "abcd"


def test_other_arithmetic_rechecks_and_passes(tiny_int8: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_INFER_INT8_ARITHMETIC", "pairs16")  # an AVX2 laptop without VNNI
    path = _variant(tiny_int8, tmp_path / "b", **EXACT_ONLY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ei.load(path).close()
    [(sha, arithmetic, backend)] = recheck._PASSED
    assert arithmetic == "pairs16" and backend == "onnxruntime" and sha == ei.Manifest.read(
        manifest_path_for(path)).sha256  # fmt: skip
    assert recheck._PASSED[(sha, arithmetic, backend)].images == 7


def test_other_arithmetic_that_fails_the_recheck_is_refused(tiny_int8: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("EDGE_INFER_INT8_ARITHMETIC", "pairs16")
    path = _variant(tiny_int8, tmp_path / "b", wrong=True, **EXACT_ONLY)
    with pytest.raises(VerificationError) as err:
        ei.load(path)
    msg = str(err.value)
    assert "judged in exact32 arithmetic only" in msg and "fails the int8 rule" in msg and "fp32 artifact" in msg
    assert len(msg.splitlines()) == 1


def test_exact_config_or_exact_backend_needs_no_recheck(tiny_int8: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("EDGE_INFER_INT8_ARITHMETIC", "pairs16")
    path = _variant(tiny_int8, tmp_path / "b", wrong=True, **EXACT_ONLY)
    m = json.loads(manifest_path_for(path).read_text())
    m["runtime"] = {"onnxruntime_session_config": {"session.x64quantprecision": "1"}}
    manifest_path_for(path).write_text(json.dumps(m))
    ei.load(path).close()  # ONNX Runtime sums exactly under that option: the exact32 verdict holds


def test_no_sample_photos_warns(tiny_int8: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_INFER_INT8_ARITHMETIC", "pairs16")
    path = _variant(tiny_int8, tmp_path / "b", wrong=True, samples=False, **EXACT_ONLY)
    with pytest.warns(Int8RecheckWarning, match="no sample photos beside it"):
        ei.load(path).close()


def test_a_recorded_pairs16_verdict_is_used_as_is(tiny_int8: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("EDGE_INFER_INT8_ARITHMETIC", "pairs16")
    both = {"by_arithmetic": {"exact32": {"status": "verified"}, "pairs16": {"status": "failed"}}}
    path = _variant(tiny_int8, tmp_path / "b", wrong=True, **both)
    ei.load(path).close()  # a recorded failure is the manifest's status to report, not a reason to re-check
    here = ei.Manifest.read(manifest_path_for(path))
    from edge_infer.arithmetic import verification_here

    assert not verification_here(here).holds and not verification_here(here).needs_recheck


def test_predictor_applies_the_exactness_switch_only_on_pairs16(tiny_int8: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """ONNX Runtime's u8 x u8 switch is kept for AVX2 without VNNI and dropped where the sums are exact anyway."""
    import edge_infer.backends.onnxrt as onnxrt

    seen: list[dict[str, str]] = []
    real = onnxrt.make_session

    def spy(path: str, threads: int, **kw: Any) -> Any:
        seen.append(dict(kw.get("config") or {}))
        return real(path, threads, **kw)

    monkeypatch.setattr(onnxrt, "make_session", spy)
    assert ei.Manifest.read(manifest_path_for(tiny_int8)).runtime.onnxruntime_session_config == {
        "session.x64quantprecision": "1"}  # fmt: skip
    for device, expected in (("pairs16", {"session.x64quantprecision": "1"}), ("exact32", {})):
        monkeypatch.setenv("EDGE_INFER_INT8_ARITHMETIC", device)
        ei.load(tiny_int8).close()
        assert seen[-1] == expected
