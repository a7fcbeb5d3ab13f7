"""Device vs server: the same prediction in-process and through the HTTP shim (FastAPI, Flask), per request form,
at 1 and N clients, with the server's split of each request into stages.

    python benchmarks/http_overhead.py out/lite0/efficientnet_lite0.onnx --threads 1 --clients 1,8 \
        --forms multipart,raw,json,tutorial,health --out benchmarks/results/amd-epyc-2c-x86-64/http_overhead.json

Prints p50/p99 per request, throughput, the difference and ratio to in-process prediction of the same bytes, and
the stage table (read, parse, queue, predict = decode + preprocess + inference, encode, outside = client + HTTP +
loopback); see ``edge_infer.bench.overhead`` for what exactly is timed. Default photo: china.jpg (427x640 JPEG, from
scikit-learn's sample images).

Before/after in one interleaved run: ``--baseline before:SRC[:MODULE,...[:FRAMEWORK,...]]`` also serves the
artifact from the edge-infer source tree SRC (e.g. the previous commit: ``git archive main | tar -x -C /tmp/before``)
as the targets ``fastapi@before`` and ``flask@before`` (or only the FRAMEWORKs given); the MODULEs are hidden from
those servers, so a dependency the change added (``uvloop,httptools``) is not picked up by the old code. Repeatable,
with any label: ``--baseline h11:.:uvloop,httptools:fastapi`` is this tree on uvicorn's pure-Python loop and parser.

The client before/after, likewise: ``--client-baseline before:FILE`` loads FILE (``edge_infer/serve/client.py`` of
another commit: ``git show main:edge_infer/serve/client.py > /tmp/before_client.py``) and adds the request form
``remote@before``, its ``RemotePredictor``, next to ``remote`` (this tree's).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("artifact")
    p.add_argument("--frameworks", default="fastapi,flask", help="comma-separated: fastapi, flask")
    p.add_argument("--forms", default="multipart", help="request forms: multipart, raw, json, tutorial, health, "
                   "socket, socket-multipart, session, stdlib, remote")
    p.add_argument("--clients", default="1,8", help="concurrent client counts, e.g. 1,8,32")
    p.add_argument("--requests", type=int, default=200, help="requests per target, form and client count")
    p.add_argument("--rounds", type=int, default=10, help="interleaved rounds the requests are split into")
    p.add_argument("--threads", type=int, default=None, help="model intra-op threads (default: all cores)")
    p.add_argument("--concurrency", type=int, default=1, help="model calls in flight (server and local alike)")
    p.add_argument("--image", default=None, help="photo to send (default: scikit-learn's china.jpg)")
    p.add_argument("--baseline", action="append", default=[], metavar="LABEL:SRC[:MODULES[:FRAMEWORKS]]",
                   help="also serve from the source tree SRC, as FRAMEWORK@LABEL, with MODULES hidden")
    p.add_argument("--client-baseline", action="append", default=[], metavar="LABEL:FILE",
                   help="also send with the RemotePredictor of FILE (a client.py), as the form remote@LABEL")
    p.add_argument("--out", default=None, help="save the JSON report here")
    args = p.parse_args(argv)

    from edge_infer.bench.overhead import Server, measure_http_overhead, overhead_table
    from edge_infer.errors import EdgeInferError

    image = Path(args.image) if args.image else _default_photo()
    frameworks = [f for f in args.frameworks.split(",") if f]
    forms = [f for f in args.forms.split(",") if f]
    for spec in args.client_baseline:
        label, _, file = spec.partition(":")
        if not label or not file:
            p.error(f"--client-baseline {spec!r}: give LABEL:FILE")
        from support.client_baseline import register_client_form  # benchmarks/ is on the path of its scripts

        try:
            forms.append(register_client_form(label, file))
        except EdgeInferError as exc:
            p.error(str(exc))
    with tempfile.TemporaryDirectory() as tmp:
        servers = [Server(fw) for fw in frameworks]
        for i, spec in enumerate(args.baseline):
            label, src, hide, only = (spec.split(":") + ["", ""])[:4]
            if not label or not src:
                p.error(f"--baseline {spec!r}: give LABEL:SRC[:MODULE,...[:FRAMEWORK,...]]")
            env = _baseline_env(Path(src), [m for m in hide.split(",") if m], Path(tmp) / f"hidden{i}")
            servers += [Server(fw, f"{fw}@{label}", env) for fw in (only.split(",") if only else frameworks)]
        try:
            report = measure_http_overhead(
                args.artifact, frameworks, servers=servers, forms=forms,
                clients=[int(c) for c in args.clients.split(",") if c], requests=args.requests, rounds=args.rounds,
                image=image, threads=args.threads, concurrency=args.concurrency,
                progress=lambda m: print(f"http_overhead: {m}", file=sys.stderr),
            )  # fmt: skip
        except EdgeInferError as exc:
            print(f"http_overhead: error: {exc}", file=sys.stderr)
            return 2
    print(overhead_table(report))
    if args.out:
        report.save(args.out)  # edge-infer bench JSON, kind http-overhead: `edge-infer compare` reads it
    return 0


def _baseline_env(src: Path, hide: list[str], folder: Path) -> dict[str, str]:
    """The environment of a server run from ``src``: its tree first on the path (and not the working directory,
    PYTHONSAFEPATH), and a stub that fails to import for each hidden module."""
    folder.mkdir(parents=True)
    for module in hide:
        (folder / f"{module}.py").write_text(f"raise ModuleNotFoundError('{module} is hidden from this baseline')\n")
    return {"PYTHONPATH": f"{folder}:{src.resolve()}", "PYTHONSAFEPATH": "1"}


def _default_photo() -> Path:
    from exporters.samples import DEMO_PHOTOS

    return DEMO_PHOTOS["china.jpg"]()


if __name__ == "__main__":
    sys.exit(main())
