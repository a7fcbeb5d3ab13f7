"""``edge-infer serve ARTIFACT``: the local HTTP shim (FastAPI + uvicorn, or ``--framework flask``)."""

from __future__ import annotations

import argparse
from typing import Any

from edge_infer.cli.options import add_backend_argument, note_choice
from edge_infer.images import DEFAULT_MAX_PIXELS
from edge_infer.threads import check_threads


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve an artifact over HTTP on this machine (/health, /model, /predict, /docs, /redoc)")
    p.add_argument("artifact", help="model file or its manifest (.json), or a bundle folder (auto picks its artifact)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="server processes, each with its own model (fastapi only)")
    p.add_argument("--framework", default="fastapi", help="fastapi (default, uvicorn) or flask (waitress, threaded)")
    p.add_argument("--max-body-mb", type=float, default=20.0, help="largest request body in MiB (default 20)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help=f"largest image, width x height, checked before decoding (default {DEFAULT_MAX_PIXELS:,})")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a request may take, queueing included (30)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="model calls in flight at once per worker; more requests queue (default 1)")
    p.add_argument("--max-batch", type=int, default=64, help="most images or rows in one /predict/batch (default 64)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads of the model (default: all cores)")
    p.add_argument("--trust", action="store_true", help="allow pickle-based artifacts (joblib): they run code on load")
    add_backend_argument(p)
    p.add_argument("--no-access-log", dest="access_log", action="store_false", help="do not log every request")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from edge_infer.choice import resolve
    from edge_infer.errors import SpecError
    from edge_infer.serve.core import MB, ServeConfig
    from edge_infer.serve.server import check_framework, serve

    check_framework(args.framework)
    if not 0 <= args.port <= 65535:
        raise SpecError(f"--port must be between 0 and 65535, got {args.port}")
    if not args.max_body_mb > 0:
        raise SpecError(f"--max-body-mb must be positive, got {args.max_body_mb}")
    check_threads(args.threads, what="--threads")
    resolved = resolve(args.artifact, args.backend, args.threads)  # once, here: every worker process runs the same
    note_choice("serve", resolved.choice)
    config = ServeConfig(
        max_body_bytes=max(1, int(args.max_body_mb * MB)),
        max_pixels=args.max_pixels,
        timeout_s=args.timeout,
        concurrency=args.concurrency,
        max_batch_items=args.max_batch,
        threads=args.threads,
        trust=args.trust,
        backend=resolved.backend,
    )
    serve(str(resolved.artifact.path), host=args.host, port=args.port, workers=args.workers, framework=args.framework,
          config=config, access_log=args.access_log)  # fmt: skip
    return 0
