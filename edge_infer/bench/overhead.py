"""What the HTTP hop costs: the same prediction in-process and through the shim, at 1 and N concurrent clients.

    from edge_infer.bench.overhead import measure_http_overhead, overhead_table
    report = measure_http_overhead("m.onnx", ["fastapi", "flask"], clients=[1, 8], requests=200, image="photo.jpg")
    print(overhead_table(report)); report.save("overhead.json")      # edge-infer bench JSON, kind http-overhead

Every target answers the same request: one encoded photo in, top-5 out. ``local`` calls ``predictor.predict(bytes)``
in this process through a pool of ``concurrency`` threads (the server's bound on model calls), so N local callers
queue for the model exactly as N HTTP clients do. The HTTP targets are ``edge-infer serve`` subprocesses on loopback,
driven by one httpx client (keep-alive) per client thread, posting the photo in the multipart field ``file``. Targets
and client counts take turns round by round, so a busy machine slows them alike and the differences hold. The
difference to ``local`` at the same client count is the serialization + HTTP + framework overhead per request.
Requests are timed by ``edge_infer.bench.timing.timed_concurrent``, as every other measurement.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edge_infer.bench.result import BenchReport, BenchResult
from edge_infer.bench.stats import LatencyStats
from edge_infer.bench.timing import round_order, timed_concurrent
from edge_infer.errors import BenchError

KIND = "http-overhead"
Call = Callable[[int], tuple[int, float | None]]  # client index -> (status, server total ms)


@dataclass
class Cell:
    """Samples of one target at one client count: latency of each answered (200) request, the server's own time,
    status counts, wall time."""

    target: str
    clients: int
    latency_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def result(self, artifact: str, fmt: str, backend: str, threads: int) -> BenchResult:
        extra: dict[str, Any] = {"statuses": {str(k): v for k, v in sorted(self.statuses.items())}}
        if self.server_ms:  # the server's own time (queue + parse + predict), HTTP targets only
            extra["server_p50_ms"] = round(LatencyStats.from_samples(self.server_ms).p50, 3)
        return BenchResult(
            artifact=artifact, label=self.target, format=fmt, backend=backend, threads=threads, batch=1,
            via="local" if self.target == "local" else self.target, load_ms=0.0, cold_ms=0.0,
            samples_ms=tuple(self.latency_ms), clients=self.clients, wall_s=self.wall_s, extra=extra,
        )  # fmt: skip


def overhead_rows(report: BenchReport) -> list[dict[str, Any]]:
    """Per HTTP target and client count: its p50/p99 minus in-process prediction's at the same client count."""
    local = {r.clients: r for r in report.results if r.label == "local"}
    out = []
    for r in report.results:
        base = local.get(r.clients)
        if r.label == "local" or base is None or not r.samples_ms or not base.samples_ms:
            continue
        s, b = r.latency, base.latency
        out.append({
            "target": r.label, "clients": r.clients, "p50_ms": round(s.p50 - b.p50, 3), "p99_ms": round(s.p99 - b.p99, 3),
            "p50_ratio": round(s.p50 / b.p50, 3) if b.p50 else math.nan,
        })  # fmt: skip
    return out


def overhead_table(report: BenchReport) -> str:
    """The terminal table of an overhead report."""
    from edge_infer.table import render

    over = {(o["target"], o["clients"]): o for o in report.extra.get("overhead", [])}
    rows = []
    for r in report.results:
        o = over.get((r.label, r.clients))
        extra = [f"{o['p50_ms']:+.2f}", f"{o['p99_ms']:+.2f}", f"{o['p50_ratio']:.2f}x"] if o else ["", "", ""]
        bad = sum(v for k, v in r.extra.get("statuses", {}).items() if k != "200")
        s = r.latency if r.samples_ms else None
        rows.append([r.label, str(r.clients), str(len(r.samples_ms)), f"{s.p50:.2f}" if s else "-",
                     f"{s.p99:.2f}" if s else "-", f"{r.throughput_ips:.1f}" if s else "-", *extra, str(bad)])  # fmt: skip
    head = ["target", "clients", "requests", "p50 ms", "p99 ms", "req/s", "+p50 ms", "+p99 ms", "p50 x", "non-200"]
    note = ("+p50/+p99: difference to local at the same client count (serialization + HTTP + framework); "
            f"load average {report.load_average.get('before')} -> {report.load_average.get('after')}")  # fmt: skip
    return render(head, rows, align="lrrrrrrrrr") + "\n" + note


def _local_call(artifact: str, data: bytes, config: Any) -> tuple[Call, Callable[[], None]]:
    from edge_infer.backends import load

    predictor = load(artifact, threads=config.threads)
    pool = ThreadPoolExecutor(config.concurrency)

    def call(_: int) -> tuple[int, float | None]:
        pool.submit(predictor.predict, data, top_k=5).result()
        return 200, None

    def close() -> None:
        pool.shutdown()
        predictor.close()

    return call, close


def _http_call(url: str, data: bytes, n_clients: int) -> tuple[Call, Callable[[], None]]:
    import httpx

    clients = [httpx.Client(base_url=url, timeout=120) for _ in range(n_clients)]

    def call(i: int) -> tuple[int, float | None]:
        r = clients[i].post("/predict", files={"file": ("photo.jpg", data, "image/jpeg")})
        server = r.json().get("server_timings_ms", {}).get("total") if r.status_code == 200 else None
        return r.status_code, server

    def close() -> None:
        for c in clients:
            c.close()

    return call, close


def _run_cell(cell: Cell, call: Call, clients: int, n: int) -> None:
    """``n`` requests spread over ``clients`` threads that each send back to back (``timing.timed_concurrent``);
    only answered requests count as latency samples, every status is counted."""
    run = timed_concurrent(call, n, clients)
    with cell.lock:
        for ms, (status, server) in zip(run.samples, run.values):
            cell.statuses[status] = cell.statuses.get(status, 0) + 1
            if status == 200:
                cell.latency_ms.append(ms)
                if server is not None:
                    cell.server_ms.append(server)
        cell.wall_s += run.wall_s


def measure_http_overhead(
    artifact: str | os.PathLike[str],
    frameworks: Sequence[str] = ("fastapi", "flask"),
    *,
    clients: Sequence[int] = (1, 8),
    requests: int = 200,
    rounds: int = 10,
    warmup: int = 5,
    image: str | os.PathLike[str] | bytes,
    threads: int | None = None,
    concurrency: int = 1,
    progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """Measure ``local`` and each framework at each client count: ``requests`` requests per cell in ``rounds``.
    The report (kind ``http-overhead``) has one result per target and client count, the latency of every answered
    request, its status counts and the server's own time; ``extra["overhead"]`` is ``overhead_rows``."""
    from edge_infer.artifact import Artifact
    from edge_infer.backends import choose_backend
    from edge_infer.machine import load_average
    from edge_infer.threads import resolve_threads
    from edge_infer.serve.core import ServeConfig
    from edge_infer.serve.server import ServerProcess

    if requests < rounds or rounds < 1 or not clients or min(clients) < 1:
        raise BenchError("need rounds >= 1, requests >= rounds and client counts >= 1")
    say = progress or (lambda _m: None)
    if isinstance(image, bytes):
        data = image
    else:
        try:
            data = Path(image).read_bytes()
        except OSError as exc:
            raise BenchError(f"{image}: cannot read the photo to send ({exc.strerror or exc})") from exc
    art = Artifact.read(artifact)
    config = ServeConfig(threads=threads, concurrency=concurrency)
    servers = [ServerProcess(artifact, fw, config=config) for fw in frameworks]
    closers: list[Callable[[], None]] = []
    try:
        calls: dict[str, Call] = {}
        call, close = _local_call(str(artifact), data, config)
        calls["local"] = call
        closers.append(close)
        for fw, srv in zip(frameworks, servers):
            say(f"starting the {fw} server")
            srv.start()
            call, close = _http_call(srv.url, data, max(clients))
            calls[fw] = call
            closers.append(close)
        for name, call in calls.items():
            for i in range(max(clients)):  # warm every connection and the model
                for _ in range(max(1, warmup // max(clients))):
                    call(i)
        cells = {(t, c): Cell(t, c) for t in calls for c in clients}
        names = list(calls)
        before = load_average()
        for r in range(rounds):
            say(f"round {r + 1}/{rounds}")
            for k in round_order(len(names), r):
                name = names[k]
                for c in clients:
                    _run_cell(cells[(name, c)], calls[name], c, requests // rounds)
        after = load_average()
    finally:
        for close in closers:
            close()
        for srv in servers:
            srv.stop()
    fmt, backend = art.manifest.format, choose_backend(art.format, None).name
    results = tuple(cell.result(str(artifact), fmt, backend, resolve_threads(threads)) for cell in cells.values())
    report = BenchReport.now(
        kind=KIND, results=results, load_average=(before, after),
        config={"frameworks": list(frameworks), "clients": list(clients), "requests": requests, "rounds": rounds,
                "warmup": warmup, "threads": threads, "concurrency": concurrency, "image_bytes": len(data),
                "request": "multipart file", "round_size": requests // rounds},
        source={"kind": "encoded image", "bytes": len(data)},
    )  # fmt: skip
    return replace(report, extra={"overhead": overhead_rows(report)})

