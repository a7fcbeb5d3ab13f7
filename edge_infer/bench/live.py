"""``edge-infer bench --source VIDEO``: every target also runs the pipelined live loop on the video.

After the model-only and end-to-end rounds, each target (at each thread count) plays the video through
``edge_infer.live.run_live``, the loop ``edge-infer run`` uses: capture (FFmpeg decode), preprocessing and the model
on three threads. Targets take turns, ``ROUNDS`` times, the first target rotating, so a busy machine slows them alike.
Each turn plays up to ``runs`` frames (or ``duration`` seconds) from the start of the video, ``fast`` (every frame, as
fast as the loop goes: FPS is the loop's throughput) or ``native`` (at the file's frame rate, dropping what the model
cannot keep up with, as a camera would).

Per target it reports FPS (from the first result to the last of each turn, the median over turns), drops,
capture-to-result latency, CPU per frame per thread, the split of each frame's time (``edge_infer.bench.split``)
from the frames it labelled, and FPS against the model alone: ``MODEL_RUNS`` model-only calls on the video's first
frame just before each turn give ``model_p50_ms``, and ``fps_x_model`` = FPS / (1000 / that p50): 1.0 means the loop
runs at the model's own speed, with decoding and preprocessing fully hidden beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edge_infer.bench.config import BenchConfig
from edge_infer.bench.result import BenchResult, TargetFailure
from edge_infer.bench.split import add_split, frame_split
from edge_infer.bench.target import MeasureTarget
from edge_infer.bench.timing import paused_gc, round_order, settle, timed
from edge_infer.errors import BenchError, EdgeInferError
from edge_infer.predictors import ImageClassifier, Predictor

ROUNDS = 2
MODEL_RUNS = 20  # model-only runs before each turn: the model's own speed at that moment, for ``fps_x_model``
PACES = ("fast", "native")
Progress = Any  # Callable[[str], None]; kept loose to avoid importing the runner


def is_video(spec: str) -> bool:
    """``spec`` names a video file (what the live phase plays)."""
    if spec in ("samples", "synthetic") or spec.startswith("synthetic:"):
        return False
    from edge_infer.sources import open_source
    from edge_infer.sources.video import VideoFileSource

    try:
        return isinstance(open_source(spec), VideoFileSource)
    except EdgeInferError:
        return False


def check_pace(pace: str) -> str:
    if pace not in PACES:
        raise BenchError(f"live pace must be one of {', '.join(PACES)}, got {pace!r}")
    return pace


@dataclass
class _Cell:
    """One target at one thread count while its turns are played."""

    target: MeasureTarget
    predictor: ImageClassifier  # at the full thread count: the model-only reference
    streaming: ImageClassifier | None = None  # at threads / streams, for the loop's concurrent runs (streams > 1)
    latency: list[float] = field(default_factory=list)
    split: dict[str, list[float]] = field(default_factory=dict)
    fps: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"frames": 0, "captured": 0, "dropped": 0, "failed": 0})
    cpu: list[dict[str, float]] = field(default_factory=list)
    model: list[float] = field(default_factory=list)  # model-only runs right before each turn
    x: np.ndarray | None = None  # the video's first frame, preprocessed, for those runs
    failure: str | None = None
    streams: int = 1

    def to_dict(self, pace: str) -> dict[str, Any]:
        from edge_infer.live_report import percentiles

        frames = max(1, self.counts["frames"])
        cpu_keys = self.cpu[0].keys() if self.cpu else ()
        weights = [c.get("frames", 0.0) for c in self.cpu]
        cpu = {k: round(sum(c[k] * w for c, w in zip(self.cpu, weights)) / max(1.0, sum(weights)), 3)
               for k in cpu_keys if k != "frames"}  # fmt: skip
        return {
            "pace": pace, "streams": self.streams, "rounds": len(self.fps), **self.counts,
            "fps": round(float(np.median(self.fps)), 2) if self.fps else 0.0,
            "fps_rounds": [round(f, 2) for f in self.fps],
            "latency_ms": percentiles(self.latency), "cpu_ms_per_frame": cpu,
            "model_p50_ms": round(float(np.median(self.model)), 3) if self.model else None,
            "drop_rate": round(self.counts["dropped"] / max(1, self.counts["captured"]), 4),
            "frames_per_round": round(frames / max(1, len(self.fps)), 1),
            "latency_samples_ms": [round(v, 4) for v in self.latency],
        }  # fmt: skip


def _turn(cell: _Cell, spec: str, config: BenchConfig, pace: str) -> None:
    from edge_infer.live import LiveOptions, LiveResult, run_live
    from edge_infer.sources import open_source

    def collect(result: LiveResult) -> None:
        t = result.timings_ms
        cell.latency.append(t["latency"])
        add_split(cell.split, {"decode": t.get("capture", 0.0), **frame_split(t["preprocess"], t["inference"], t)})

    predictor = cell.predictor
    if cell.x is None:
        with open_source(spec) as source:
            first = source.read()
        if first is None:
            raise BenchError(f"{spec}: the video has no frames")
        cell.x = predictor.preprocess(first.image, color_order=first.color_order, name=first.name)
    x = cell.x
    with paused_gc():
        cell.model += timed(lambda: predictor.run(x), MODEL_RUNS)
    options = LiveOptions(top_k=1, max_frames=config.runs, duration_s=config.duration_s, realtime=pace == "native",
                          streams=config.live_streams)  # fmt: skip
    summary = run_live(cell.streaming or cell.predictor, open_source(spec), options, on_result=collect)
    if summary.error:
        raise BenchError(f"{spec}: {summary.error}")
    if summary.frames == 0:
        raise BenchError(f"{spec}: the live loop labelled no frame ({summary.failed} failed)")
    cell.fps.append(summary.fps_steady or summary.fps)
    for key in cell.counts:
        cell.counts[key] += int(getattr(summary, key))
    cell.cpu.append({**summary.cpu_ms_per_frame, "frames": float(summary.frames)})
    cell.streams = summary.streams


def measure_live(
    targets: Sequence[MeasureTarget], config: BenchConfig, spec: str, *, pace: str = "fast",
    progress: Progress | None = None,
) -> tuple[dict[tuple[str, str, int], dict[str, Any]], list[TargetFailure]]:  # fmt: skip
    """Play ``spec`` through the live loop for every target and thread count; returns, per (label, via, threads),
    the live summary (``_Cell.to_dict``) with the frames' split samples under ``"split"``, and the failures."""
    check_pace(pace)
    say = progress or (lambda _msg: None)
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    failures: list[TargetFailure] = []
    for threads in config.threads:
        cells: list[_Cell] = []
        for target in targets:
            predictor: Predictor | None = None
            try:
                predictor = target.open(threads)
                if not isinstance(predictor, ImageClassifier):
                    raise BenchError(f"{target.label}: the live loop classifies images; this is a "
                                     f"{predictor.manifest.task} model")  # fmt: skip
                cell = _Cell(target, predictor)
                if config.live_streams > 1:
                    from edge_infer.live import threads_per_stream

                    streaming = target.open(threads_per_stream(threads, config.live_streams))
                    cell.streaming = streaming if isinstance(streaming, ImageClassifier) else None
                cells.append(cell)  # only once it has all it needs: a failure above is listed, not played
            except Exception as exc:  # reported; the other targets still play
                if predictor is not None:
                    predictor.close()
                failures.append(_failure(target, threads, exc))
        say(f"live loop on {spec} ({pace}), {len(cells)} target(s) taking turns, {threads} thread(s)")
        try:
            for r in range(ROUNDS):
                for i in round_order(len(cells), r):
                    cell = cells[i]
                    if cell.failure is not None:
                        continue
                    if threads > 1 and len(cells) > 1:
                        settle(config.settle_ms)  # until the previous runtime's spinning threads sleep
                    try:
                        _turn(cell, spec, config, pace)
                    except Exception as exc:  # noqa: BLE001 - a target that breaks is reported, the others go on
                        cell.failure = str(exc) if isinstance(exc, EdgeInferError) else f"{type(exc).__name__}: {exc}"
        finally:
            for cell in cells:
                cell.predictor.close()
                if cell.streaming is not None:
                    cell.streaming.close()
        for cell in cells:
            t = cell.target
            if cell.failure is not None:
                failures.append(TargetFailure(artifact=t.artifact, label=t.label, via=t.via, threads=threads,
                                              error=f"live loop: {cell.failure}"))  # fmt: skip
                continue
            out[(t.label, t.via, threads)] = {**cell.to_dict(pace), "split": cell.split}
    return out, failures


def _failure(target: MeasureTarget, threads: int, exc: BaseException) -> TargetFailure:
    msg = str(exc) if isinstance(exc, EdgeInferError) else f"{type(exc).__name__}: {exc}"
    return TargetFailure(artifact=target.artifact, label=target.label, via=target.via, threads=threads,
                         error=f"live loop: {msg}")  # fmt: skip


def with_live(results: Sequence[BenchResult], live: dict[tuple[str, str, int], dict[str, Any]]) -> list[BenchResult]:
    """Each single-client result with its target's live run: ``live`` filled, the split taken from the live frames,
    and ``fps_x_model``: the loop's FPS over 1000 / the model-only p50 measured right before each of its turns
    (``model_p50_ms``: the model alone, the same minutes, so a busy machine slows both sides alike)."""
    out = []
    for r in results:
        found = live.get((r.label, r.via, r.threads)) if (r.clients, r.batch) == (1, 1) else None
        if found is None:
            out.append(r)
            continue
        info = {k: v for k, v in found.items() if k != "split"}
        p50 = info.get("model_p50_ms") or r.latency.p50
        info["fps_x_model"] = round(info["fps"] * p50 / 1e3, 3) if p50 > 0 else None
        split = {k: tuple(v) for k, v in found["split"].items()}
        out.append(replace(r, live=info, split_samples_ms=split, split_from="live loop"))
    return out
