"""``edge-infer predict ARTIFACT INPUT...``: classify files, folders or globs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from dataclasses import replace

from edge_infer.backends import load
from edge_infer.batch import BatchConfig, ResultsFile, input_key, run_batch
from edge_infer.choice import resolve
from edge_infer.cli.options import add_backend_argument, note_choice
from edge_infer.cli.tabular_predict import add_tabular_arguments, is_tabular_request, run_tabular
from edge_infer.engines import ENGINES
from edge_infer.errors import InputError, SpecError
from edge_infer.predictors import ImageClassifier
from edge_infer.sources.paths import InputItem, expand_inputs
from edge_infer.table import render


def add_parser(sub: Any) -> None:
    p = sub.add_parser("predict", help="classify image files, folders or globs with an artifact")
    p.add_argument("artifact", help="model file or its manifest (.json)")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders (recursive) or glob patterns")
    p.add_argument("--top-k", type=int, default=5, help="how many classes to report per image (default 5)")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads (default: all cores; --workers: cores / workers; --engine ray: 1 per actor)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--out", metavar="FILE.jsonl",
                   help="write one JSON line per input as it is produced, not a table (--engine ray: a folder "
                   "NAME.jsonl or NAME.parquet of part files)")
    p.add_argument("--resume", action="store_true", help="with --out: skip inputs already in the file, append the rest")
    p.add_argument("--workers", type=int, default=1, help="worker processes sharing the inputs (default 1)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal and tqdm is installed)")
    add_backend_argument(p)
    add_engine_arguments(p)
    add_tabular_arguments(p)
    p.set_defaults(run=run)


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engines (--engine ray: a Ray cluster, local or joined; needs the ray extra)")
    g.add_argument("--engine", default="local", choices=list(ENGINES),
                   help="; ".join(f"{e.name}: {e.description}" for e in ENGINES.values()) + " (default local)")
    g.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                   help="join the Ray cluster there (what `ray start --head` printed; default: start a local Ray "
                   "with this machine's cores)")
    g.add_argument("--actors", type=int, default=None,
                   help="Ray actors, each loading the artifact once (default: cluster CPUs / --threads)")
    g.add_argument("--batch-size", type=int, default=None,
                   help="images per model call in each actor (default 16)")  # fmt: skip


RAY_ONLY_OPTIONS = ("ray_address", "actors", "batch_size")


def run(args: argparse.Namespace) -> int:
    if args.engine == "ray":
        return _run_ray(args)
    ray_only = [f"--{o.replace('_', '-')}" for o in RAY_ONLY_OPTIONS if getattr(args, o) is not None]
    if ray_only:
        raise SpecError(f"{', '.join(ray_only)}: options of --engine ray")
    if is_tabular_request(args):  # scikit-learn artifacts: --features / --features-file
        return run_tabular(args)
    if not args.inputs:
        raise InputError("give at least one image INPUT (file, folder or glob)")
    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")
    if args.resume and not args.out:
        raise SpecError("--resume needs --out FILE.jsonl (the results file to continue)")
    config = BatchConfig(artifact=args.artifact, top_k=args.top_k, threads=args.threads, workers=args.workers,
                         backend=args.backend)  # fmt: skip
    items = expand_inputs(args.inputs)
    config = _resolved_once(config)
    if args.out:
        return _run_to_file(args, config, items)
    results: list[dict[str, Any]] = []
    with _predictor(config) as (predictor, header):
        _, failures = run_batch(
            config, items, sink=results.append, predictor=predictor, progress=args.progress, on_error=_stderr
        )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(format_table(results, header, args.top_k))
    return _exit_code(failures, len(items))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _exit_code(failures: int, total: int) -> int:
    if failures and failures >= total:
        return 2
    return 1 if failures else 0


def _resolved_once(config: BatchConfig) -> BatchConfig:
    """With several workers, the artifact and backend decided here, once (auto measures at most once, in this
    process), and named to every worker; one worker resolves as it loads."""
    if config.workers == 1:
        return config
    resolved = resolve(config.artifact, config.backend, config.worker_threads())
    note_choice("predict", resolved.choice)
    return replace(config, artifact=str(resolved.artifact.path), backend=resolved.backend)


@contextmanager
def _predictor(config: BatchConfig) -> Iterator[tuple[ImageClassifier | None, str]]:
    """The loaded predictor and the table header; with several workers only the artifact is checked here (each
    worker process loads its own predictor)."""
    if config.workers == 1:
        with load(config.artifact, threads=config.threads, backend=config.backend) as predictor:
            note_choice("predict", predictor.choice)
            if not isinstance(predictor, ImageClassifier):
                raise SpecError(f"{config.artifact} is a {predictor.manifest.task} model: give --features or "
                                "--features-file, not image inputs")  # fmt: skip
            yield predictor, predictor.describe()
        return
    resolved = resolve(config.artifact, config.backend, config.worker_threads())  # named by _resolved_once: no measuring
    manifest = resolved.artifact.manifest
    yield None, (f"{manifest.name} [{manifest.format}, {resolved.backend}, "
                 f"{config.workers} workers x {config.worker_threads()} threads]")  # fmt: skip


def _run_to_file(args: argparse.Namespace, config: BatchConfig, items: list[InputItem]) -> int:
    start = time.monotonic()
    try:  # a Ctrl-C at any point once the results file exists leaves a file that only --resume continues
        with ResultsFile(args.out, resume=args.resume) as out, _predictor(config) as (predictor, _):
            if out.repaired:
                _stderr(f"edge-infer predict: {args.out}: removed a partial last line left by an interrupted run")
            done = sum(input_key(item.path) in out.done for item in items)
            produced, errors = run_batch(config, items, sink=out.write, skip=out.done, predictor=predictor,
                                         progress=args.progress, on_error=_stderr)  # fmt: skip
    except KeyboardInterrupt:
        hint = (f"; results so far are in {args.out}; run the same command with --resume to continue"
                if Path(args.out).exists() else "")  # fmt: skip
        _stderr(f"edge-infer predict: interrupted{hint}")
        return 130
    _stderr(
        f"edge-infer predict: wrote {produced} result(s) to {args.out} ({produced - errors} ok, {errors} error(s)) "
        f"in {time.monotonic() - start:.1f} s" + (f"; {done} input(s) were already in the file" if done else "")
    )
    return _exit_code(errors + out.previous_errors, len(items))


def _run_ray(args: argparse.Namespace) -> int:
    """``--engine ray``: the job in ``edge_infer.scale``; the same summary line and exit codes as ``--out``."""
    from edge_infer.scale.dataset import DEFAULT_BATCH_SIZE
    from edge_infer.scale.job import RayJobConfig, run_ray_job

    if args.features is not None or args.features_file is not None:
        raise SpecError("--engine ray takes image INPUTs; run feature rows on Ray with "
                        "edge_infer.scale.predict_dataset(artifact, ray.data.read_csv(...))")  # fmt: skip
    if not args.inputs:
        raise InputError("give at least one image INPUT (file, folder, glob or URI)")
    if not args.out:
        raise SpecError("--engine ray needs --out NAME.jsonl or --out NAME.parquet (a folder Ray's writers fill)")
    if args.workers != 1:
        raise SpecError("--workers is for --engine local; with --engine ray use --actors N")
    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")
    config = RayJobConfig(
        artifact=args.artifact, out=args.out, top_k=args.top_k, threads=1 if args.threads is None else args.threads,
        actors=args.actors, batch_size=DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size, backend=args.backend, trust=args.trust,
        address=args.ray_address, resume=args.resume, progress=args.progress,
    )  # fmt: skip
    try:
        s = run_ray_job(config, args.inputs, log=lambda m: _stderr(f"edge-infer predict: {m}"))
    except KeyboardInterrupt:
        _stderr(f"edge-infer predict: interrupted; results so far are in {args.out}; "
                "run the same command with --resume to continue")  # fmt: skip
        return 130
    for message in s.error_messages:
        _stderr(f"edge-infer predict: error: {message}")
    if s.errors > len(s.error_messages):
        _stderr(f"edge-infer predict: ... and {s.errors - len(s.error_messages)} more error(s) in {args.out}")
    ray_note = f" ({s.ray_note()})" if s.actors else ""
    _stderr(
        f"edge-infer predict: wrote {s.produced} result(s) to {args.out} ({s.produced - s.errors} ok, "
        f"{s.errors} error(s)) in {s.total_s:.1f} s{ray_note}"
        + (f"; {s.already_done} input(s) were already in the output" if s.already_done else "")
    )
    return _exit_code(s.errors + s.previous_errors, s.produced + s.already_done)


def format_table(results: list[dict[str, Any]], header: str, top_k: int) -> str:
    rows = []
    ok = [r for r in results if "error" not in r]
    for r in results:
        if "error" in r:
            rows.append([r["input"], "ERROR", "", "", "", "", r["error"].split(": ", 1)[-1]])
            continue
        others = ", ".join(f"{c['label']} {c['score']:.2f}" for c in r["top_k"][1:top_k])
        t = r["timings_ms"]
        rows.append(
            [r["input"], r["label"], f"{r['score']:.3f}", f"{t['preprocess']:.1f}", f"{t['inference']:.1f}",
             f"{t['total']:.1f}", others]
        )  # fmt: skip
    table = render(["input", "top-1", "score", "pre ms", "infer ms", "total ms", "next"], rows, align="lllrrrl")
    lines = [header, table]
    if ok:
        inf = np.array([r["timings_ms"]["inference"] for r in ok])
        tot = np.array([r["timings_ms"]["total"] for r in ok])
        lines.append(
            f"{len(ok)} image(s): inference p50 {np.median(inf):.1f} ms (first {inf[0]:.1f} ms, includes warm-up); "
            f"total p50 {np.median(tot):.1f} ms. For careful latency numbers use `edge-infer bench`."
        )
    return "\n".join(lines)
