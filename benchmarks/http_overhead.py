"""Device vs server: the same prediction in-process and through the HTTP shim (FastAPI, Flask), 1 and N clients.

    python benchmarks/http_overhead.py out/lite0/efficientnet_lite0.onnx --clients 1,8 --requests 200 \
        --out benchmarks/results/http_overhead.json

Prints p50/p99 per request, throughput and the difference to in-process prediction (serialization + HTTP +
framework) for each client count; see ``edge_infer.bench.overhead`` for what exactly is timed. Default photo:
china.jpg (427x640 JPEG, from scikit-learn's sample images).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("artifact")
    p.add_argument("--frameworks", default="fastapi,flask", help="comma-separated: fastapi, flask")
    p.add_argument("--clients", default="1,8", help="concurrent client counts, e.g. 1,8,32")
    p.add_argument("--requests", type=int, default=200, help="requests per target and client count")
    p.add_argument("--rounds", type=int, default=10, help="interleaved rounds the requests are split into")
    p.add_argument("--threads", type=int, default=None, help="model intra-op threads (default: all cores)")
    p.add_argument("--concurrency", type=int, default=1, help="model calls in flight (server and local alike)")
    p.add_argument("--image", default=None, help="photo to send (default: scikit-learn's china.jpg)")
    p.add_argument("--out", default=None, help="save the JSON report here")
    args = p.parse_args(argv)

    from edge_infer.errors import EdgeInferError
    from edge_infer.bench.overhead import measure_http_overhead, overhead_table

    image = Path(args.image) if args.image else _default_photo()
    try:
        report = measure_http_overhead(
            args.artifact, [f for f in args.frameworks.split(",") if f],
            clients=[int(c) for c in args.clients.split(",") if c],
            requests=args.requests, rounds=args.rounds, image=image, threads=args.threads,
            concurrency=args.concurrency, progress=lambda m: print(f"http_overhead: {m}", file=sys.stderr),
        )  # fmt: skip
    except EdgeInferError as exc:
        print(f"http_overhead: error: {exc}", file=sys.stderr)
        return 2
    print(overhead_table(report))
    if args.out:
        report.save(args.out)  # edge-infer bench JSON, kind http-overhead: `edge-infer compare` reads it
    return 0


def _default_photo() -> Path:
    from exporters.samples import DEMO_PHOTOS

    return DEMO_PHOTOS["china.jpg"]()


if __name__ == "__main__":
    sys.exit(main())
