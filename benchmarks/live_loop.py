"""The live loop against the model alone: does a 640x480 video run at the model's own speed?

    python benchmarks/live_loop.py out/lite0/efficientnet_lite0.onnx                 # 2 threads, 2 repeats
    python benchmarks/live_loop.py MODEL --video clip.mp4 --threads 2 --turns 6 --frames 120

Issue 17's goal: on a 640x480 video at 2 threads, the loop's FPS >= 0.9x of 1000 / model p50. Per repeat, one
predictor is loaded and three things take turns, ``--turns`` times (A, B, C, A, B, C, ...), so a busy machine slows
them alike:

- A, the model alone: ``predictor.run`` on the video's first frame, preprocessed (``--model-runs`` calls);
- B, the pipelined live loop (``edge_infer.live.run_live``, what ``edge-infer run --pace fast`` does): capture and
  decode, preprocessing and the model on three threads, every frame of the video as fast as possible;
- C, the same frames one after the other in one thread (read, ``predictor.predict``), as a plain script does;
- then, for ONNX Runtime, A and B again on a second session of the same artifact whose intra-op threads sleep
  instead of spin-waiting when idle (``session.intra_op.allow_spinning = 0``): spinning threads hold both cores
  between the model's parallel sections and between frames, CPU the decode and preprocess threads need;
- then A and B on a session with half the threads and two frames in the model at once (``--streams 2``, throughput
  mode): its own A is the half-thread model, so its goal ratio is ``ratio_vs_default_model`` (its FPS against the
  default session's model alone, at the full thread count, in the same turn).

Per turn, B's FPS (first result to last) times the p50 of the A right before it, over 1000, is the ratio; the report
gives its median over turns. CPU time per frame per thread (capture, preprocess, the model's threads and the rest)
is the profile that says where the time goes when the goal is not met. The video defaults to the sample photos panned
across at 640x480 (``edge-infer samples --video``), 8 s at 30 FPS.

Writes ``benchmarks/results/DEVICE/live_loop.json`` (edge-infer bench schema, kind ``live-loop``: one result per
repeat, session and loop, ``samples_ms`` = the time per frame, FPS, ratios and the CPU profile in ``extra``).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_infer.backends import load  # noqa: E402
from edge_infer.bench import BenchReport, BenchResult  # noqa: E402
from edge_infer.bench.timing import paused_gc, settle, timed  # noqa: E402
from edge_infer.live import LiveOptions, LiveResult, run_live  # noqa: E402
from edge_infer.live_report import percentiles  # noqa: E402
from edge_infer.machine import load_average, machine_info  # noqa: E402
from edge_infer.predictors import ImageClassifier  # noqa: E402
from edge_infer.sources import open_source  # noqa: E402

HERE = Path(__file__).resolve().parent
GOAL = 0.9
STREAMS = {"2 streams": 2}  # session name -> frames in the model at once


def device_slug() -> str:
    """The results folder of this machine (as benchmarks/default_model.py names it)."""
    m = machine_info()
    name = m.device_model or f"{m.cpu_model} {m.cores_logical}c"
    return re.sub(r"[^a-z0-9]+", "-", f"{name} {m.arch}".lower()).strip("-")


def model_only(p: ImageClassifier, x: np.ndarray, n: int) -> tuple[list[float], float]:
    """``n`` model calls: their latencies (ms) and the process CPU time per call (ms, all threads)."""
    cpu0 = time.process_time()
    with paused_gc():
        samples = timed(lambda: p.run(x), n)
    return samples, (time.process_time() - cpu0) * 1e3 / n


def pipelined(p: ImageClassifier, video: str, frames: int, streams: int = 1) -> dict[str, Any]:
    """The pipelined loop over the first ``frames`` frames, every frame, as fast as possible; ``streams`` frames in
    the model at once."""
    done: list[float] = []

    def on_result(_: LiveResult) -> None:
        done.append(time.perf_counter())

    summary = run_live(p, open_source(video), LiveOptions(realtime=False, max_frames=frames, top_k=1,
                                                          streams=streams), on_result=on_result)  # fmt: skip
    return {"fps": summary.fps_steady, "per_frame_ms": list(np.diff(done) * 1e3), "summary": summary.to_dict()}


def sequential(p: ImageClassifier, video: str, frames: int) -> dict[str, Any]:
    """Read, preprocess and run each frame in turn on one thread, as a plain script does."""
    done: list[float] = []
    cpu0 = time.process_time()
    with open_source(video) as source:
        for frame in source:
            p.predict(frame.image, color_order=frame.color_order, top_k=1)
            done.append(time.perf_counter())
            if len(done) >= frames:
                break
    cpu_ms = (time.process_time() - cpu0) * 1e3 / max(1, len(done))
    fps = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 else 0.0
    return {"fps": fps, "per_frame_ms": list(np.diff(done) * 1e3), "cpu_ms_per_frame": round(cpu_ms, 3)}


def no_spin(p: ImageClassifier) -> ImageClassifier | None:
    """A second session of the same ONNX Runtime artifact whose intra-op threads sleep instead of spin-waiting
    between parallel sections (``session.intra_op.allow_spinning = 0``); None for other backends."""
    if p.backend != "onnxruntime":
        return None
    from edge_infer.backends.onnxrt import make_session

    q = load(p.path, threads=p.threads, backend="onnxruntime")
    config = {**p.manifest.runtime.onnxruntime_session_config, "session.intra_op.allow_spinning": "0"}
    q.session = make_session(str(p.path), p.threads, config=config)  # type: ignore[attr-defined]
    return q if isinstance(q, ImageClassifier) else None


def one_turn(p: ImageClassifier, x: np.ndarray, video: str, frames: int, model_runs: int,
             with_sequential: bool, streams: int = 1) -> dict[str, Any]:  # fmt: skip
    a, a_cpu = model_only(p, x, model_runs)
    b = pipelined(p, video, frames, streams)
    p50 = float(np.median(a))
    turn = {"model_p50_ms": round(p50, 3), "model_cpu_ms_per_call": round(a_cpu, 3),
            "pipelined_fps": round(b["fps"], 2), "ratio": round(b["fps"] * p50 / 1e3, 4),
            "cpu_ms_per_frame": b["summary"]["cpu_ms_per_frame"],
            "stages_p50_ms": {k: v.get("p50") for k, v in b["summary"]["stages_ms"].items()},
            "latency_ms": b["summary"]["latency_ms"], "dropped": b["summary"]["dropped"],
            "frames": b["summary"]["frames"], "model_samples_ms": [round(v, 4) for v in a],
            "pipelined_per_frame_ms": [round(v, 4) for v in b["per_frame_ms"]]}  # fmt: skip
    if with_sequential:
        c = sequential(p, video, frames)
        turn |= {"sequential_fps": round(c["fps"], 2), "sequential_ratio": round(c["fps"] * p50 / 1e3, 4),
                 "sequential_cpu_ms_per_frame": c["cpu_ms_per_frame"],
                 "sequential_per_frame_ms": [round(v, 4) for v in c["per_frame_ms"]]}  # fmt: skip
    return turn


def one_repeat(artifact: str, video: str, threads: int, turns: int, frames: int, model_runs: int,
               say: Any, backend: str = "onnxruntime") -> dict[str, Any]:  # fmt: skip
    """Per turn: the default session (model alone, pipelined, sequential), then the no-spin session (model alone,
    pipelined; ONNX Runtime only), then two streams (a session with threads / 2 threads, two frames in the model
    at once, ``--streams 2``; its model alone is that session's, so compare it by ``ratio_vs_default_model``)."""
    with load(artifact, threads=threads, backend=backend) as p:
        if not isinstance(p, ImageClassifier):
            raise SystemExit(f"{artifact}: not an image classifier")
        q = no_spin(p)
        half = load(artifact, threads=threads // 2, backend=backend) if threads >= 2 and p.concurrent_runs else None
        variants = {"default": p, **({"no-spin": q} if q is not None else {})}
        if isinstance(half, ImageClassifier):
            variants["2 streams"] = half
        streams = STREAMS
        with open_source(video) as source:
            first = source.read()
            size = getattr(source, "frame_size", None)
        if first is None:
            raise SystemExit(f"{video}: no frames")
        x = p.preprocess(first.image, color_order=first.color_order)
        for name, v in variants.items():  # warm-up
            model_only(v, x, 10)
            pipelined(v, video, 10, streams.get(name, 1))
        out: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        try:
            for t in range(turns):
                for name, v in variants.items():
                    settle()  # until the other session's threads stop spinning (50-100 ms after a run)
                    turn = one_turn(v, x, video, frames, model_runs, with_sequential=name == "default",
                                    streams=streams.get(name, 1))
                    out[name].append(turn)
                    say(f"turn {t + 1}/{turns} {name}: model p50 {turn['model_p50_ms']:.2f} ms, pipelined "
                        f"{turn['pipelined_fps']:.1f} FPS ({turn['ratio']:.2f}x)"
                        + (f", sequential {turn['sequential_fps']:.1f} FPS ({turn['sequential_ratio']:.2f}x)"
                           if "sequential_fps" in turn else ""))  # fmt: skip
        finally:
            if q is not None:
                q.close()
            if half is not None:
                half.close()
    facts = {"format": p.manifest.format, "backend": p.backend, "threads": p.threads}
    return {"frame_size": list(size) if size else None, "variants": out, "facts": facts}


def summarize(t: list[dict[str, Any]], reference: list[dict[str, Any]] | None = None,
              goal_vs_default: bool = False) -> dict[str, Any]:  # fmt: skip
    """Medians over turns; with ``reference`` (the default session's turns), also this loop's FPS against the
    default session's model alone in the same turn (``ratio_vs_default_model``), which is what ``goal_met`` judges
    when ``goal_vs_default`` (a session whose own model alone runs on fewer threads: the streams)."""

    def med(key: str) -> float:
        return round(float(np.median([x[key] for x in t])), 4)

    def med_of(key: str, sub: str) -> float:
        return round(float(np.median([x[key][sub] for x in t])), 3)

    out: dict[str, Any] = {
        "ratio": med("ratio"), "model_p50_ms": med("model_p50_ms"), "pipelined_fps": med("pipelined_fps"),
        "model_cpu_ms_per_call": med("model_cpu_ms_per_call"),
        "cpu_ms_per_frame": {k: med_of("cpu_ms_per_frame", k) for k in t[0]["cpu_ms_per_frame"]},
        "stages_p50_ms": {k: med_of("stages_p50_ms", k) for k in t[0]["stages_p50_ms"]},
        "latency_p50_ms": med_of("latency_ms", "p50"), "latency_p90_ms": med_of("latency_ms", "p90"),
        "goal_met": med("ratio") >= GOAL,
    }  # fmt: skip
    if "sequential_fps" in t[0]:
        out |= {"sequential_fps": med("sequential_fps"), "sequential_ratio": med("sequential_ratio"),
                "sequential_cpu_ms_per_frame": med("sequential_cpu_ms_per_frame")}  # fmt: skip
    if reference is not None:
        pairs = [b["pipelined_fps"] * a["model_p50_ms"] / 1e3 for a, b in zip(reference, t)]
        out["ratio_vs_default_model"] = round(float(np.median(pairs)), 4)
        if goal_vs_default:
            out["goal_met"] = out["ratio_vs_default_model"] >= GOAL
    return out


def results_of(artifact: str, facts: dict[str, Any], r: int, name: str, t: list[dict[str, Any]],
               summary: dict[str, Any]) -> list[BenchResult]:  # fmt: skip
    """Per repeat and session: the model alone, the pipelined loop and (default session) the sequential loop;
    ``samples_ms`` is each one's time per frame (the model alone: its latency)."""

    def result(label: str, key: str, extra: dict[str, Any]) -> BenchResult:
        return BenchResult(
            artifact=artifact, label=f"{label}, {name} (repeat {r})", format=facts["format"],
            backend=facts["backend"], threads=facts["threads"], batch=1, via="local", load_ms=0.0, cold_ms=0.0,
            rounds=len(t),
            samples_ms=tuple(v for x in t for v in x[key]), extra={"repeat": r, "session": name, **extra},
        )  # fmt: skip

    out = [result("model alone", "model_samples_ms", {}), result("pipelined loop", "pipelined_per_frame_ms", summary)]
    if "sequential_per_frame_ms" in t[0]:
        out.append(result("sequential loop", "sequential_per_frame_ms",
                          {"ratio": summary["sequential_ratio"], "fps": summary["sequential_fps"]}))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("artifact", help="an image classifier artifact (default model: efficientnet_lite0.onnx)")
    p.add_argument("--video", default=None, help="a video file (default: the sample photos panned, 640x480)")
    p.add_argument("--threads", type=int, default=2, help="model intra-op threads (default 2)")
    p.add_argument("--backend", default="onnxruntime",
                   help="engine to run the artifact on (default onnxruntime; 'auto' lets edge-infer choose)")
    p.add_argument("--repeat", type=int, default=2, help="independent repeats, each with its own predictor")
    p.add_argument("--turns", type=int, default=6, help="A/B/C turns per repeat")
    p.add_argument("--frames", type=int, default=120, help="frames per loop turn")
    p.add_argument("--model-runs", type=int, default=60, help="model-only calls per turn")
    p.add_argument("--device", default=None, help="results folder name (default: from the CPU model)")
    p.add_argument("--out", default=None, help="JSON path (default: results/DEVICE/live_loop.json)")
    args = p.parse_args(argv)

    def say(msg: str) -> None:
        print(f"live_loop: {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if video is None:
            from edge_infer.build import write_sample_video

            video = str(write_sample_video(Path(tmp) / "pan.mp4", frames_per_photo=60))
        before = load_average()
        reps, results = [], []
        for r in range(1, args.repeat + 1):
            say(f"repeat {r}/{args.repeat}")
            rep = one_repeat(args.artifact, video, args.threads, args.turns, args.frames, args.model_runs, say,
                             args.backend)
            default = rep["variants"]["default"]
            for name, turns in rep["variants"].items():
                summary = summarize(turns, None if name == "default" else default, goal_vs_default=name in STREAMS)
                reps.append({"repeat": r, "session": name, **summary})
                results += results_of(args.artifact, rep["facts"], r, name, turns, summary)
        after = load_average()
    config = {"threads": args.threads, "backend": args.backend, "repeat": args.repeat, "turns": args.turns, "frames": args.frames,
              "model_runs": args.model_runs, "pace": "fast", "goal": GOAL}  # fmt: skip
    report = BenchReport.now(
        kind="live-loop", config=config, results=results, load_average=(before, after),
        source={"spec": args.video or "sample photos panned (edge-infer samples --video), 640x480, 30 FPS",
                "kind": "video"},
        extra={"repeats": reps}, command=" ".join(["python", "benchmarks/live_loop.py", *(argv or sys.argv[1:])]),
    )  # fmt: skip
    out = Path(args.out) if args.out else HERE / "results" / (args.device or device_slug()) / "live_loop.json"
    report.save(out)
    for rep in reps:
        seq = (f"; sequential {rep['sequential_fps']:.1f} FPS = {rep['sequential_ratio']:.2f}x"
               if "sequential_fps" in rep else "")
        vs = (f" ({rep['ratio_vs_default_model']:.2f}x of the default session's model alone)"
              if "ratio_vs_default_model" in rep else "")
        print(f"repeat {rep['repeat']}, {rep['session']} session: pipelined {rep['pipelined_fps']:.1f} FPS = "
              f"{rep['ratio']:.2f}x of 1000 / model p50 ({rep['model_p50_ms']:.2f} ms){vs}{seq}; goal >= {GOAL}x "
              f"{'met' if rep['goal_met'] else 'NOT met'}; CPU ms per frame {rep['cpu_ms_per_frame']} (model alone "
              f"{rep['model_cpu_ms_per_call']} per call); latency p50 {rep['latency_p50_ms']:.1f} ms")  # fmt: skip
    print(f"load average before {before}, after {after}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
