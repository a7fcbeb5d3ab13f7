"""``backend="auto"``: the trust rule, the decision, the cache (atomic, corrupt, unwritable), and the choice on the
default model's real artifacts (load, CLI, ``bench --pick``, ``doctor``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

import edge_infer as ei
from edge_infer import choice as ch
from edge_infer import choice_store
from edge_infer.artifact import Artifact
from edge_infer.cache import cache_folder, cache_root
from edge_infer.choice import AUTO, Candidate, Choice, Measured, decide, trust_problem
from edge_infer.manifest import Status, Verification
from edge_infer.testing import fake_manifest, write_fake_artifact


def _cand(name: str, backend: str = "onnxruntime", fmt: str = "onnx", quantized: bool = False) -> Candidate:
    return Candidate(path=Path(f"/x/{name}"), format=fmt, backend=backend, threads=1, sha256=name, quantized=quantized)


REF = _cand("m.onnx")


def _m(c: Candidate, ratio: float | None, error: str | None = None) -> Measured:
    return Measured(candidate=c, p50_ms=10 * (ratio or 1), p90_ms=11.0, ratio=ratio, runs=40, error=error)


# -- the trust rule ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [Status.FAILED, Status.SKIPPED, Status.NOT_RECORDED, Status.ERROR])
def test_only_verified_artifacts_are_trusted(status: Status) -> None:
    manifest = fake_manifest(status=status)
    assert trust_problem(manifest, "fake") == f"not verified ({status})"
    assert trust_problem(fake_manifest(status=Status.VERIFIED), "fake") is None


def test_a_quantized_artifact_is_trusted_only_on_the_backend_it_was_verified_on() -> None:
    int8 = fake_manifest().with_updates(format="onnx-int8", verification=Verification(status=Status.VERIFIED))
    assert trust_problem(int8, "onnxruntime") is None  # verified by the exporter on the format's default backend
    assert "verified on onnxruntime only" in str(trust_problem(int8, "openvino"))
    on_ov = int8.with_updates(verification=Verification(status=Status.VERIFIED, details={"backend": "openvino"}))
    assert trust_problem(on_ov, "openvino") is None and trust_problem(on_ov, "onnxruntime") is not None
    fp32 = int8.with_updates(format="onnx")
    assert trust_problem(fp32, "openvino") is None  # float: any engine, cross-checked when measured


def test_an_int8_artifact_with_per_arithmetic_verdicts_is_trusted_where_its_verdict_holds() -> None:
    """The verdict for the arithmetic the backend computes on this device decides, on any engine; one judged in
    another arithmetic only is not chosen (it would need a re-check here first)."""
    import json

    from edge_infer.manifest import Manifest

    d = fake_manifest().with_updates(format="onnx-int8", verification=Verification(status=Status.VERIFIED)).to_dict()
    d["verification"]["by_arithmetic"] = {"exact32": {"status": "verified", "how": "exact QDQ reference"}}
    exact_only = Manifest.from_dict(json.loads(json.dumps(d)))
    assert trust_problem(exact_only, "onnxruntime", device="exact32") is None
    assert trust_problem(exact_only, "openvino", device="exact32") is None
    assert "not re-checked on this device" in str(trust_problem(exact_only, "onnxruntime", device="pairs16"))
    d["verification"]["by_arithmetic"]["pairs16"] = {"status": "failed", "how": "onnxruntime kernels"}
    both = Manifest.from_dict(d)
    assert str(trust_problem(both, "onnxruntime", device="pairs16")).startswith("int8 failed in pairs16")


# -- the decision -----------------------------------------------------------------------------------------------------
def test_decide_keeps_the_reference_unless_another_is_faster_by_the_margin() -> None:
    ov = _cand("m.onnx", "openvino")
    best, why = decide([_m(REF, 1.0), _m(ov, 0.98)], REF)
    assert best is not None and best.candidate == REF and "3%" in why
    best, why = decide([_m(REF, 1.0), _m(ov, 1 - ch.MARGIN)], REF)
    assert best is not None and best.candidate == ov and "faster than m.onnx (onnxruntime)" in why
    best, _ = decide([_m(REF, 1.0), _m(ov, 1.4)], REF)
    assert best is not None and best.candidate == REF


def test_decide_never_takes_a_failed_or_mismatching_candidate() -> None:
    fast = _cand("m.tflite", "litert", "tflite")
    best, why = decide([_m(REF, 1.0), _m(fast, 0.5, error="outputs differ")], REF)
    assert best is not None and best.candidate == REF and "failed" in why
    slow = Measured(candidate=_cand("b"), p50_ms=30.0, runs=40)
    best, why = decide([_m(REF, None, error="cannot load"), slow, _m(fast, None)], REF)
    assert best is not None and best.candidate == fast and "could not be measured" in why  # no reference: fastest p50
    assert decide([], REF)[0] is None and decide([_m(REF, None, error="cannot load")], REF)[0] is None


def test_reference_is_onnxruntime_on_the_fp32_onnx() -> None:
    cands = [_cand("m.tflite", "litert", "tflite"), _cand("m.onnx", "openvino"), REF,
             _cand("m.int8.onnx", fmt="onnx-int8", quantized=True)]  # fmt: skip
    assert ch.reference_of(cands) == REF
    assert ch.reference_of(cands[:2]) == cands[0]  # no ONNX Runtime fp32: a float artifact on its default backend
    assert ch.reference_of([]) is None


# -- the cache --------------------------------------------------------------------------------------------------------
def test_cache_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_INFER_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c" and cache_folder("choices") == tmp_path / "c" / "choices"
    monkeypatch.delenv("EDGE_INFER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert cache_root() == tmp_path / "xdg" / "edge-infer"
    from edge_infer.backends.openvino import cache_dir

    assert cache_dir() == cache_root() / "openvino"


def _two_fakes(folder: Path, **b: object) -> list[Artifact]:
    a = write_fake_artifact(folder, name="a")
    other = write_fake_artifact(folder, name="b", latency_ms=0.5, **b)
    return [Artifact.read(a), Artifact.read(other)]


class Counting:
    """A measure function that says ``fast`` is 0.5 of the reference, and counts its calls."""

    def __init__(self, fast: str = "b.fake") -> None:
        self.calls, self.fast = 0, fast

    def __call__(self, cands: Sequence[Candidate], reference: Candidate, threads: int) -> list[Measured]:
        self.calls += 1
        return [_m(c, 1.0 if c == reference else 0.5 if c.path.name == self.fast else 1.2) for c in cands]


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDGE_INFER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(choice_store, "_MEMO", {})
    return tmp_path / "cache" / "choices"


def test_choice_is_cached_per_machine_artifacts_and_threads(tmp_path: Path, cache: Path) -> None:
    arts = _two_fakes(tmp_path / "bundle")
    measure = Counting()
    first = ch.choose(arts, 1, measure=measure)
    assert (first.path.name, first.backend, first.cached, measure.calls) == ("b.fake", "fake", False, 1)
    assert first.reference == "a.fake (fake)" and "2.00x faster" in first.reason
    [stored] = list(cache.glob("*.json"))
    assert json.loads(stored.read_text())["file"] == "b.fake" and not list(cache.glob(".choice-*"))
    again = ch.choose(arts, 1, measure=measure)
    assert (again.path.name, again.cached, measure.calls) == ("b.fake", True, 1)  # read back, not measured again
    assert again.measured == first.measured and again.key == first.key
    ch.choose(arts, 2, measure=measure)
    assert measure.calls == 2 and len(list(cache.glob("*.json"))) == 2  # another thread count: its own entry
    ch.choose(arts, 1, measure=measure, refresh=True)
    assert measure.calls == 3


def test_a_corrupt_cache_file_is_measured_again_and_rewritten(tmp_path: Path, cache: Path) -> None:
    arts = _two_fakes(tmp_path / "bundle")
    measure = Counting()
    first = ch.choose(arts, 1, measure=measure)
    path = cache / f"{first.key}.json"
    for junk in ("{not json", json.dumps({"schema_version": 99}), json.dumps({"schema_version": 1}), ""):
        path.write_text(junk)
        assert ch.choose(arts, 1, measure=measure).cached is False
        assert Choice.from_dict(json.loads(path.read_text())).path.name == "b.fake"
    assert measure.calls == 5


def test_an_unwritable_cache_keeps_the_choice_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arts = _two_fakes(tmp_path / "bundle")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be: no one can create folders in it, root included")
    monkeypatch.setenv("EDGE_INFER_CACHE_DIR", str(blocker))
    monkeypatch.setattr(choice_store, "_MEMO", {})
    measure = Counting()
    assert ch.choose(arts, 1, measure=measure).cached is False
    assert ch.choose(arts, 1, measure=measure).cached is True and measure.calls == 1
    assert blocker.is_file()


def test_the_cache_file_is_replaced_atomically(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while writing leaves the previous file whole (the new one goes to a temporary file first)."""
    arts = _two_fakes(tmp_path / "bundle")
    first = ch.choose(arts, 1, measure=Counting())
    path = cache / f"{first.key}.json"
    before = path.read_text()

    def crash(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(choice_store.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        ch.choose(arts, 1, measure=Counting("a.fake"), refresh=True)
    assert path.read_text() == before and not list(cache.glob(".choice-*"))


def test_untrusted_candidates_are_rejected_with_the_reason(tmp_path: Path, cache: Path) -> None:
    arts = _two_fakes(tmp_path / "bundle", status=Status.FAILED)
    measure = Counting()
    c = ch.choose(arts, 1, measure=measure)
    assert (c.path.name, measure.calls) == ("a.fake", 0)  # one trusted candidate: nothing to measure
    assert [(r.what, r.reason) for r in c.rejected] == [("b.fake (fake)", "not verified (failed)")]
    with pytest.raises(ei.ArtifactError, match="no configuration is verified to run on this device"):
        ch.choose(arts[1:], 1, measure=measure)


def test_resolve_runs_an_unverified_single_file_on_its_default_backend(tmp_path: Path, cache: Path) -> None:
    path = write_fake_artifact(tmp_path, status=Status.SKIPPED)
    r = ch.resolve(path, AUTO, 1)
    assert r.backend == "fake" and r.choice is not None and "not verified (skipped)" in r.choice.reason
    with ei.load(path) as p:
        assert p.choice is not None and "(auto)" in p.describe()
    with ei.load(path, backend="fake") as p:
        assert p.choice is None and "(auto)" not in p.describe()


def test_a_bundle_folder_resolves_to_one_of_its_artifacts(tmp_path: Path, cache: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    folder = tmp_path / "bundle"
    _two_fakes(folder)
    monkeypatch.setattr("edge_infer.bench.pick.measure_candidates", Counting())
    r = ch.resolve(folder, AUTO, 1)
    assert r.artifact.path.name == "b.fake" and r.backend == "fake" and r.choice is not None
    with ei.load(folder, threads=1) as p:
        assert p.path.name == "b.fake" and p.choice is not None and p.choice.cached
    assert ch.stored_choice(folder, 1) is not None and ch.stored_choice(folder, 2) is None


def test_measure_candidates_times_with_the_bench_core_and_rejects_mismatching_outputs(tmp_path: Path) -> None:
    """Real measurement on the fake model: structure only (no timing is asserted)."""
    from edge_infer.bench.pick import RUNS, measure_candidates

    a = write_fake_artifact(tmp_path, name="a")
    same = write_fake_artifact(tmp_path, name="same", latency_ms=0.2)  # same seed: same outputs
    other = write_fake_artifact(tmp_path, name="other", seed=3)  # other weights: other outputs
    arts = [Artifact.read(p) for p in (a, same, other)]
    cands, _ = ch.candidates(arts, 1)
    measured = {m.candidate.path.name: m for m in measure_candidates(cands, cands[0], 1)}
    assert measured["a.fake"].ratio == 1.0 and measured["a.fake"].max_prob_diff == 0.0
    assert measured["same.fake"].error is None and measured["same.fake"].runs == RUNS
    assert (measured["same.fake"].ratio or 0) > 0 and measured["same.fake"].max_prob_diff == 0.0
    assert "outputs differ from a.fake (fake)'s" in str(measured["other.fake"].error)


def test_a_choice_round_trips_through_json(tmp_path: Path) -> None:
    c = Choice(path=tmp_path / "m.onnx", sha256="s", format="onnx", backend="openvino", threads=2, reason="r",
               reference="m.onnx (onnxruntime)", measured=(_m(REF, 1.0),),
               rejected=(ch.Rejected(what="x", reason="y"),), key="k", created="t")  # fmt: skip
    back = Choice.from_dict(json.loads(json.dumps(c.to_dict())))
    assert replace(back, cached=False) == c


# -- on the default model's real artifact (ONNX Runtime and OpenVINO both run its .onnx) ------------------------------
def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_infer", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip


def _engines(art: Path) -> list[str]:
    from edge_infer.backends import runnable_backends

    return runnable_backends(Artifact.read(art).format, "image-classification")


def test_load_picks_a_verified_backend_once_and_then_reads_the_cache(
    default_onnx: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ei.load(default_onnx, threads=1) as p:
        c = p.choice
        assert c is not None and p.backend == c.backend and c.backend in _engines(default_onnx)
        assert "(auto)" in p.describe() and not c.cached
    if len(_engines(default_onnx)) > 1:  # OpenVINO installed: both measured, against ONNX Runtime
        assert c.reference == "efficientnet_lite0.onnx (onnxruntime)"
        assert {m.candidate.backend for m in c.measured} == set(_engines(default_onnx))
        ref = next(m for m in c.measured if m.candidate.backend == "onnxruntime")
        assert ref.ratio == 1.0 and all(m.error is None and (m.max_prob_diff or 0) <= 1e-3 for m in c.measured)

        def no_measuring(*args: object, **kwargs: object) -> None:
            raise AssertionError("measured again although the choice is cached")

        monkeypatch.setattr("edge_infer.bench.pick.measure_candidates", no_measuring)
        with ei.load(default_onnx, threads=1) as again:
            assert again.choice is not None and again.choice.cached and again.backend == c.backend
    with ei.load(default_onnx, threads=1, backend="onnxruntime") as named:
        assert named.choice is None and named.describe().endswith("[onnx, onnxruntime, 1 threads]")


def test_cli_bench_pick_doctor_and_the_backend_override(default_onnx: Path, cache: Path, photo: Path) -> None:
    engines = _engines(default_onnx)
    r = cli("doctor", default_onnx)
    assert r.returncode == 0, r.stderr
    if len(engines) > 1:
        assert "not measured on this machine yet" in r.stdout and "--pick --threads" in r.stdout
    r = cli("bench", default_onnx, "--pick", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "auto choice, 1 thread(s)" in r.stdout and "chosen: efficientnet_lite0.onnx on " in r.stdout
    stored = ch.stored_choice(default_onnx, 1)
    if len(engines) > 1:
        assert stored is not None and "(reference)" in r.stdout and "p50 ms" in r.stdout
        assert f"stored choice: auto chose {stored.backend}" in cli("doctor", default_onnx, "--threads", "1").stdout
        again = cli("bench", default_onnx, "--pick", "--threads", "1")
        assert "(cached " in again.stdout and again.stdout.count("->") == 1
        [doc] = json.loads(cli("bench", default_onnx, "--pick", "--threads", "1", "--json").stdout)
        assert doc["cached"] and doc["backend"] == stored.backend and len(doc["measured"]) == len(engines)
        assert all(m["load_ms"] is not None and m["runs"] == 40 for m in doc["measured"])
        assert "(cached " not in cli("bench", default_onnx, "--pick", "--refresh", "--threads", "1").stdout
        stored = ch.stored_choice(default_onnx, 1)  # the fresh measurement may choose differently on a noisy machine
        assert stored is not None
        r = cli("predict", default_onnx, photo, "--threads", "1", "--top-k", "1")
        assert r.returncode == 0 and f"[onnx, {stored.backend} (auto), 1 threads]" in r.stdout
        assert f"edge-infer predict: auto chose {stored.backend}" in r.stderr
    r = cli("predict", default_onnx, photo, "--threads", "1", "--backend", engines[-1], "--top-k", "1")
    assert r.returncode == 0 and f"[onnx, {engines[-1]}, 1 threads]" in r.stdout and "auto chose" not in r.stderr
    r = cli("bench", default_onnx, "--runs", "2", "--warmup", "0", "--threads", "1", "--no-memory", "--json")
    [row] = json.loads(r.stdout)["results"]
    assert row["backend"] == (stored.backend if stored else engines[0])  # the backend actually timed
    assert "auto" in row["target"] or len(engines) == 1
    r = cli("bench", default_onnx, "--refresh")
    assert r.returncode == 2 and "--refresh goes with --pick" in r.stderr
    r = cli("bench", default_onnx, "--pick", "--backend", "onnxruntime")
    assert r.returncode == 2 and "--pick chooses the backend itself" in r.stderr


def test_predict_workers_and_serve_resolve_a_bundle_folder_once(tmp_path: Path, cache: Path, photo: Path) -> None:
    """The choice is made in the parent (one note on stderr) and every worker / server process is named it."""
    from edge_infer.serve.server import ServerProcess

    folder = tmp_path / "bundle"
    _two_fakes(folder)
    r = cli("predict", folder, photo, photo, "--workers", "2", "--threads", "1", "--top-k", "1")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("edge-infer predict: auto chose fake on ") == 1
    assert "[fake, fake, 2 workers x 1 threads]" in r.stdout
    [stored] = list(cache.glob("*.json"))
    chosen = json.loads(stored.read_text())["file"]
    with ServerProcess(folder) as server:
        assert server.health["backend"] == "fake" and server.health["format"] == "fake"
        assert "auto chose fake on " in server.output() or "(measured" in server.output()
    from edge_infer.threads import default_threads

    # serve measured at its default thread count: a second entry, unless that is 1 thread too
    assert chosen in {"a.fake", "b.fake"} and len(list(cache.glob("*.json"))) == (1 if default_threads() == 1 else 2)
