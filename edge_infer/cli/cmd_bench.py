"""``edge-infer bench ARTIFACT...``: load, cold and warm latency, percentiles, memory, interleaved across artifacts."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edge_infer.bench.config import BenchConfig
from edge_infer.cli.options import add_backend_argument
from edge_infer.errors import BenchError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="measure latency of artifacts (interleaved, percentiles, cold start, memory)",
        description="Measure every ARTIFACT in one run, interleaved round by round so their ratios hold on a busy "
        "machine: load time, first (cold) inference, warm latency percentiles, end-to-end latency from a decoded "
        "frame, throughput, peak memory, with the machine and library versions.",
    )
    p.add_argument("artifacts", nargs="+", metavar="ARTIFACT",
                   help="model files or their manifests (.json); with --pick, also bundle folders")
    p.add_argument("--warmup", type=int, default=10, help="warm-up runs per target, kept apart (default 10)")
    n = p.add_mutually_exclusive_group()
    n.add_argument("--runs", type=int, default=None, help="warm runs per target (default 100)")
    n.add_argument("--duration", type=float, default=None, metavar="S", help="measure for S seconds per thread count")
    p.add_argument("--threads", default=None, metavar="N[,N...]", help="intra-op thread counts, e.g. 1,2 "
                   "(default: all usable cores)")  # fmt: skip
    p.add_argument("--batch", type=int, default=1, help="images per model call (default 1)")
    p.add_argument("--clients", default=None, metavar="N[,N...]", help="concurrent callers of each model, e.g. "
                   "1,8: each makes every run, throughput is calls over wall time (default 1)")  # fmt: skip
    p.add_argument("--source", default=None, metavar="SRC", help="frames for end-to-end timing: synthetic[:WxH] "
                   "(default, 640x480), samples, an image file/folder/glob, or a frame source; tabular models: "
                   "synthetic feature rows (default) or rows.csv")  # fmt: skip
    p.add_argument("--pace", choices=("fast", "native"), default="fast",
                   help="a video --source also plays through the live loop (FPS, drops, capture-to-result latency): "
                   "'fast' every frame as fast as possible (default), 'native' at the file's frame rate")
    p.add_argument("--trust", action="store_true", help="allow joblib/pickle artifacts (they run code when loaded)")
    p.add_argument("--streams", type=int, default=1,
                   help="the live loop of a video --source: frames in the model at once, each with threads/streams "
                   "threads (as edge-infer run --streams; default 1)")
    p.add_argument("--baseline", default=None, metavar="eager", help="also measure the source model in PyTorch eager")
    p.add_argument("--via", default="local", metavar="WAY[,WAY...]",
                   help="how predictions travel: local, http (FastAPI shim in a subprocess), flask (default local)")
    add_backend_argument(p)
    p.add_argument("--backends", default=None, metavar="all|NAME[,NAME...]",
                   help="each artifact on several engines side by side: 'all' (every installed backend that can run "
                   "it) or names, e.g. onnxruntime,openvino; adds top-1 agreement with the fp32 reference")  # fmt: skip
    p.add_argument("--pick", action="store_true",
                   help="make and show auto's choice for each ARTIFACT or bundle folder at each --threads count: the "
                   "verified configurations timed against ONNX Runtime fp32, cached per machine (docs/auto.md)")
    p.add_argument("--refresh", action="store_true", help="with --pick: measure again even if a choice is cached")
    p.add_argument("--round-size", type=int, default=5, help="runs per target per interleaved round (default 5)")
    p.add_argument("--no-memory", action="store_true", help="skip the per-target memory measurement subprocess")
    p.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    p.add_argument("--out", default=None, metavar="FILE.json", help="also save the JSON document here")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="draw latency distributions (matplotlib)")
    p.set_defaults(run=run)


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _config(args: argparse.Namespace) -> BenchConfig:
    from edge_infer.bench.config import parse_counts

    kwargs: dict[str, Any] = {}
    if args.threads is not None:
        kwargs["threads"] = parse_counts(args.threads, "--threads")
    if args.clients is not None:
        kwargs["clients"] = parse_counts(args.clients, "--clients")
    if args.runs is None and args.duration is None:
        args.runs = 100
    return BenchConfig(
        warmup=args.warmup, runs=args.runs, duration_s=args.duration, batch=args.batch, round_size=args.round_size,
        memory=not args.no_memory, live_streams=args.streams, **kwargs,
    )  # fmt: skip


def _pick(args: argparse.Namespace, config: BenchConfig) -> int:
    """``--pick``: auto's choice for every path at every thread count, measured unless cached (``--refresh``)."""
    import json

    from edge_infer.bench.pick import format_choice, pick

    if not args.pick:
        raise BenchError("--refresh goes with --pick (it re-measures auto's choice)")
    if args.backend != "auto":
        raise BenchError("--pick chooses the backend itself; drop --backend")
    if args.backends is not None or args.baseline or args.via != "local":
        raise BenchError("--pick measures auto's own candidates; it takes no --backends, --baseline or --via")
    say = (lambda msg: print(f"edge-infer bench: {msg}", file=sys.stderr))  # noqa: E731
    choices = [pick(path, t, refresh=args.refresh, progress=say) for path in args.artifacts for t in config.threads]
    if args.json:
        print(json.dumps([{**c.to_dict(), "cached": c.cached} for c in choices], indent=2))
    else:
        print("\n\n".join(format_choice(c) for c in choices))
    return 0


def run(args: argparse.Namespace) -> int:
    from edge_infer.bench.api import benchmark
    from edge_infer.bench.report import format_report

    from edge_infer.bench.engines import parse_backends

    config = _config(args)  # bad numbers fail here, before anything is loaded
    if args.pick or args.refresh:
        return _pick(args, config)
    backends = parse_backends(args.backends)
    vias = _csv(args.via)
    if not vias:
        raise BenchError("--via needs at least one way, e.g. local")
    report = benchmark(
        args.artifacts, config, source=args.source, baseline=_csv(args.baseline), vias=vias, trust=args.trust,
        backend=args.backend, backends=backends, progress=lambda msg: print(f"edge-infer bench: {msg}", file=sys.stderr),
        live_pace=args.pace,
    )  # fmt: skip
    for f in report.errors:
        where = "" if f.error.startswith(f.label) else f"{f.label}: "
        print(f"edge-infer bench: error: {where}{f.error}", file=sys.stderr)
    if args.out:
        report.save(args.out)
    if args.plot and report.results:
        from edge_infer.bench.plot import plot_latencies

        plot_latencies(report.results, args.plot, title=report.machine.get("cpu_model", ""))
    print(report.to_json() if args.json else format_report(report))
    if not report.results:
        return 2
    return 1 if report.errors else 0
