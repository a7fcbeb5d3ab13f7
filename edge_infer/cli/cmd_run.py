"""``edge-infer run ARTIFACT --source SRC``: the live demo loop (camera, video, stream, folder) with an overlay."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from edge_infer.backends import load
from edge_infer.cli.options import add_backend_argument, note_choice
from edge_infer.errors import SpecError
from edge_infer.live import LiveOptions, LiveResult, LiveSummary, run_live, stream_threads
from edge_infer.predictors import ImageClassifier
from edge_infer.sources import Source, open_source

SOURCE_HELP = (
    "camera index (0) or device (/dev/video0), video file, image file, folder, glob, stream URL (rtsp://...), "
    "picamera2[:N] (Raspberry Pi camera), synthetic[:WxH[@FPS]] (default: 0)"
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="live loop: classify frames from a camera, video, stream or folder")
    p.add_argument("artifact", help="model file or its manifest (.json)")
    p.add_argument("--source", default="0", help=SOURCE_HELP)
    p.add_argument("--headless", action="store_true", help="never open a window")
    p.add_argument("--save", metavar="OUT.mp4", help="write the annotated video (.mp4, .avi, .mkv, .mov)")
    p.add_argument("--json", action="store_true", help="print one JSON line per frame, then a summary line")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--top-k", type=int, default=5, help="classes per frame in --json output (default 5)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for the model in all (default: all cores), shared by the --streams")
    p.add_argument("--streams", type=int, default=1,
                   help="frames in the model at once, each with threads/streams threads (throughput mode, as "
                   "OpenVINO's benchmark_app -nstreams; ONNX Runtime only; default 1: lowest latency)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--pace", choices=("native", "fast"), default="native",
                      help="video files: 'native' plays at the file's frame rate as a camera would, dropping frames "
                      "the model cannot keep up with (default); 'fast' processes every frame as fast as possible "
                      "(FPS is then the loop's throughput)")
    pace.add_argument("--no-realtime", dest="pace", action="store_const", const="fast",
                      help="the same as --pace fast")
    p.add_argument("--retries", type=int, default=5, help="reconnection attempts when a camera/stream drops out")
    add_backend_argument(p)
    p.set_defaults(run=run)  # fmt: skip


def _note(message: str) -> None:
    print(f"edge-infer run: {message}", file=sys.stderr, flush=True)


class _Sinks:
    """Window, annotated video, JSON lines and a once-a-second status line, as asked."""

    def __init__(self, args: argparse.Namespace, source: Source) -> None:
        from edge_infer.overlay import VideoSaver, open_window

        self.json = args.json
        self.saver = VideoSaver(args.save, source.fps or (30.0 if source.live else 1.0)) if args.save else None
        self.window = None
        if not args.headless:
            self.window, problem = open_window(f"edge-infer: {source.name}")
            if problem:
                _note(f"running headless: {problem}")
        self._last_status = 0.0

    def __call__(self, result: LiveResult) -> bool:
        if self.saver is not None or self.window is not None:
            from edge_infer.overlay import draw_overlay

            image = draw_overlay(result)
            if self.saver is not None:
                self.saver.write(image, result.frame.index)
            if self.window is not None and not self.window.show(image):
                return False
        if self.json:
            print(json.dumps(result.to_dict()), flush=True)
        elif time.monotonic() - self._last_status >= 1.0:
            self._last_status = time.monotonic()
            p, t = result.prediction, result.timings_ms
            _note(f"frame {result.frame.index}: {p.label} {p.score:.2f} | {result.fps:.1f} FPS | "
                  f"dropped {result.dropped} | infer {t.get('inference', 0):.1f} ms")  # fmt: skip
        return True

    def close(self) -> None:
        if self.saver is not None:
            self.saver.close()
        if self.window is not None:
            self.window.close()


def run(args: argparse.Namespace) -> int:
    options = LiveOptions(
        top_k=args.top_k, max_frames=args.max_frames, duration_s=args.duration, realtime=args.pace == "native",
        retries=args.retries, streams=args.streams,
    )  # fmt: skip
    threads = stream_threads(args.threads, options.streams)
    source = open_source(args.source).open()  # a missing camera / unreadable video fails here, before the model loads
    started = False
    try:
        with load(args.artifact, threads=threads, backend=args.backend) as predictor:
            note_choice("run", predictor.choice)
            if not isinstance(predictor, ImageClassifier):
                raise SpecError(f"{args.artifact} is a {predictor.manifest.task} model; the live loop classifies "
                                "images")  # fmt: skip
            sinks = _Sinks(args, source)
            try:
                started = True  # from here run_live owns the source and closes it
                summary = run_live(predictor, source, options, on_result=sinks, on_event=_note)
            finally:
                sinks.close()
    finally:
        if not started:
            source.close()
    _report(summary, args)
    return 1 if summary.error or (summary.frames == 0 and summary.failed) else 0


def _report(summary: LiveSummary, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps({"summary": summary.to_dict()}), flush=True)
    print(summary.format(), file=sys.stderr, flush=True)
    if args.save:
        print(f"  annotated video: {args.save}", file=sys.stderr)
