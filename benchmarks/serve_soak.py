"""Soak the HTTP shim: N concurrent clients for a fixed time, posting a JPEG in the field ``file``.

    python benchmarks/serve_soak.py out/lite0/efficientnet_lite0.onnx --clients 32 --seconds 60 \
        --out benchmarks/results/serve_soak.json

Passes when every request got a 200 (no 5xx, no dropped connection) and the server's memory is flat: resident
memory sampled every second, compared between the first and the last third of the run (after warm-up).
Exit 0 on pass, 1 on fail. Runs the server as ``edge-infer serve`` in a subprocess on loopback; the clients are
``edge_infer.bench.timing.timed_concurrent`` for ``--seconds``. ``--out`` writes edge-infer bench JSON (kind
``serve-soak``: the answered requests' latencies as the result, statuses, memory and the verdict in ``extra``).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_infer.bench import BenchReport, BenchResult  # noqa: E402
from edge_infer.bench.timing import timed_concurrent  # noqa: E402

KIND = "serve-soak"


def _watch_rss(pid: int, stop: threading.Event, out: list[float]) -> None:
    import psutil

    proc = psutil.Process(pid)
    while not stop.wait(1.0 if out else 0.0):
        out.append(proc.memory_info().rss / 2**20)


def soak(artifact: str, framework: str, clients: int, seconds: float, image: bytes, timeout_s: float) -> BenchReport:
    import httpx

    from edge_infer.artifact import Artifact
    from edge_infer.backends import choose_backend
    from edge_infer.machine import load_average
    from edge_infer.serve.core import ServeConfig
    from edge_infer.serve.server import ServerProcess
    from edge_infer.threads import resolve_threads

    rss: list[float] = []
    stop = threading.Event()
    before = load_average()
    with ServerProcess(artifact, framework, config=ServeConfig(timeout_s=timeout_s)) as srv:
        sessions = [httpx.Client(base_url=srv.url, timeout=timeout_s + 30) for _ in range(clients)]

        def call(i: int) -> str:
            try:
                return str(sessions[i].post("/predict", files={"file": ("photo.jpg", image, "image/jpeg")}).status_code)
            except httpx.HTTPError as exc:
                return f"dropped ({type(exc).__name__})"

        if srv.pid is None:
            raise SystemExit(f"serve_soak: the {framework} server exited at start:\n{srv.output()}")
        watcher = threading.Thread(target=_watch_rss, args=(srv.pid, stop, rss), daemon=True)
        watcher.start()
        try:
            run = timed_concurrent(call, None, clients, duration_s=seconds)
        finally:
            stop.set()
            watcher.join()
            for s in sessions:
                s.close()
    after = load_average()
    statuses: dict[str, int] = {}
    for status in run.values:
        statuses[status] = statuses.get(status, 0) + 1
    mem = np.array(rss)
    third = max(1, len(mem) // 3)
    first, last = float(np.median(mem[:third])), float(np.median(mem[-third:]))
    verdict = {"all_200": set(statuses) == {"200"}, "memory_flat": last - first < max(50.0, 0.1 * first)}
    art = Artifact.read(artifact)
    result = BenchResult(
        artifact=str(artifact), label=framework, format=art.manifest.format, backend=choose_backend(art.format, None).name,
        threads=resolve_threads(None), batch=1, via=framework, load_ms=0.0, cold_ms=0.0,
        samples_ms=tuple(ms for ms, st in zip(run.samples, run.values) if st == "200"), clients=clients,
        wall_s=run.wall_s, extra={"statuses": statuses, "requests": len(run.samples)},
    )  # fmt: skip
    return BenchReport.now(
        kind=KIND, results=[result], load_average=(before, after), source={"kind": "encoded image", "bytes": len(image)},
        config={"framework": framework, "clients": clients, "seconds": seconds, "timeout_s": timeout_s},
        extra={"server_rss_mb": {"first_third_median": round(first, 1), "last_third_median": round(last, 1),
                                 "max": round(float(mem.max()), 1), "samples": [round(m, 1) for m in mem]},
               "pass": verdict},
    )  # fmt: skip


def summary(report: BenchReport) -> dict[str, Any]:
    (r,) = report.results
    lat = r.latency
    return {"framework": r.label, "clients": r.clients, "seconds": round(r.wall_s or 0.0, 1),
            "requests": r.extra["requests"], "throughput_rps": round(r.throughput_ips, 2), "statuses": r.extra["statuses"],
            "latency_ms": {"p50": round(lat.p50, 1), "p99": round(lat.p99, 1), "max": round(lat.max, 1)},
            "server_rss_mb": {k: v for k, v in report.extra["server_rss_mb"].items() if k != "samples"},
            "pass": report.extra["pass"]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("artifact")
    p.add_argument("--framework", default="fastapi")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--timeout", type=float, default=120.0, help="server request timeout (queueing included)")
    p.add_argument("--image", default=None, help="photo to send (default: scikit-learn's china.jpg)")
    p.add_argument("--out", default=None, help="save the JSON result here")
    args = p.parse_args(argv)
    if args.image:
        image = Path(args.image).read_bytes()
    else:
        from exporters.samples import DEMO_PHOTOS

        image = DEMO_PHOTOS["china.jpg"]().read_bytes()
    report = soak(args.artifact, args.framework, args.clients, args.seconds, image, args.timeout)
    print(json.dumps(summary(report), indent=2))
    if args.out:
        report.save(args.out)
    return 0 if all(report.extra["pass"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
