"""What the HTTP hop costs: the same prediction in-process and through the shim, at 1 and N concurrent clients.

    from edge_infer.serve.overhead import measure_http_overhead
    report = measure_http_overhead("m.onnx", ["fastapi", "flask"], clients=[1, 8], requests=200, image="photo.jpg")
    print(report.table())

Every target answers the same request: one encoded photo in, top-5 out. ``local`` calls ``predictor.predict(bytes)``
in this process through a pool of ``concurrency`` threads (the server's bound on model calls), so N local callers
queue for the model exactly as N HTTP clients do. The HTTP targets are ``edge-infer serve`` subprocesses on loopback,
driven by one httpx client (keep-alive) per client thread, posting the photo in the multipart field ``file``. Targets
and client counts take turns round by round, so a busy machine slows them alike and the differences hold. The
difference to ``local`` at the same client count is the serialization + HTTP + framework overhead per request.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.errors import BenchError

SCHEMA_VERSION = 1
Call = Callable[[int], tuple[float, int, float | None]]  # client index -> (latency ms, status, server total ms)


@dataclass
class Cell:
    """Samples of one target at one client count."""

    target: str
    clients: int
    latency_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = np.asarray(self.latency_ms)
        q = np.percentile(lat, [50, 90, 99]) if lat.size else [math.nan] * 3
        out = {
            "target": self.target, "clients": self.clients, "requests": int(lat.size),
            "p50_ms": round(float(q[0]), 3), "p90_ms": round(float(q[1]), 3), "p99_ms": round(float(q[2]), 3),
            "mean_ms": round(float(lat.mean()), 3) if lat.size else math.nan,
            "throughput_rps": round(lat.size / self.wall_s, 2) if self.wall_s else math.nan,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }  # fmt: skip
        if self.server_ms:  # the server's own time (queue + parse + predict), HTTP targets only
            out["server_p50_ms"] = round(float(np.median(self.server_ms)), 3)
        return out


@dataclass(frozen=True)
class OverheadReport:
    """Per target and client count: latency percentiles, throughput, status codes; overhead against ``local``."""

    artifact: str
    config: dict[str, Any]
    cells: tuple[dict[str, Any], ...]
    overhead: tuple[dict[str, Any], ...]
    machine: dict[str, Any]
    load_average: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "kind": "http-overhead", "artifact": self.artifact,
                "config": self.config, "machine": self.machine, "load_average": self.load_average,
                "results": list(self.cells), "overhead": list(self.overhead)}  # fmt: skip

    def table(self) -> str:
        from edge_infer.table import render

        rows = []
        for c in self.cells:
            o = next((o for o in self.overhead if o["target"] == c["target"] and o["clients"] == c["clients"]), None)
            extra = [f"{o['p50_ms']:+.2f}", f"{o['p99_ms']:+.2f}", f"{o['p50_ratio']:.2f}x"] if o else ["", "", ""]
            bad = sum(v for k, v in c["statuses"].items() if k != "200")
            rows.append([c["target"], str(c["clients"]), str(c["requests"]), f"{c['p50_ms']:.2f}", f"{c['p99_ms']:.2f}",
                         f"{c['throughput_rps']:.1f}", *extra, str(bad)])  # fmt: skip
        head = ["target", "clients", "requests", "p50 ms", "p99 ms", "req/s", "+p50 ms", "+p99 ms", "p50 x", "non-200"]
        note = ("+p50/+p99: difference to local at the same client count (serialization + HTTP + framework); "
                f"load average {self.load_average.get('before')} -> {self.load_average.get('after')}")  # fmt: skip
        return render(head, rows, align="lrrrrrrrrr") + "\n" + note


def _local_call(artifact: str, data: bytes, config: Any) -> tuple[Call, Callable[[], None]]:
    from edge_infer.backends import load

    predictor = load(artifact, threads=config.threads)
    pool = ThreadPoolExecutor(config.concurrency)

    def call(_: int) -> tuple[float, int, float | None]:
        t0 = time.perf_counter()
        pool.submit(predictor.predict, data, top_k=5).result()
        return (time.perf_counter() - t0) * 1e3, 200, None

    def close() -> None:
        pool.shutdown()
        predictor.close()

    return call, close


def _http_call(url: str, data: bytes, n_clients: int) -> tuple[Call, Callable[[], None]]:
    import httpx

    clients = [httpx.Client(base_url=url, timeout=120) for _ in range(n_clients)]

    def call(i: int) -> tuple[float, int, float | None]:
        t0 = time.perf_counter()
        r = clients[i].post("/predict", files={"file": ("photo.jpg", data, "image/jpeg")})
        ms = (time.perf_counter() - t0) * 1e3
        server = r.json().get("server_timings_ms", {}).get("total") if r.status_code == 200 else None
        return ms, r.status_code, server

    def close() -> None:
        for c in clients:
            c.close()

    return call, close


def _run_cell(cell: Cell, call: Call, clients: int, n: int) -> None:
    """``n`` requests spread over ``clients`` threads that each send back to back."""
    per = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    lock = threading.Lock()

    def client(i: int) -> None:
        for _ in range(per[i]):
            ms, status, server = call(i)
            with lock:
                cell.statuses[status] = cell.statuses.get(status, 0) + 1
                if status == 200:
                    cell.latency_ms.append(ms)
                    if server is not None:
                        cell.server_ms.append(server)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    cell.wall_s += time.perf_counter() - t0


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
) -> OverheadReport:
    """Measure ``local`` and each framework at each client count: ``requests`` requests per cell in ``rounds``."""
    from edge_infer.machine import load_average, machine_info
    from edge_infer.serve.core import ServeConfig
    from edge_infer.serve.server import ServerProcess

    if requests < rounds or rounds < 1 or not clients or min(clients) < 1:
        raise BenchError("need rounds >= 1, requests >= rounds and client counts >= 1")
    say = progress or (lambda _m: None)
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
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
            for k in range(len(names)):
                name = names[(r + k) % len(names)]
                for c in clients:
                    _run_cell(cells[(name, c)], calls[name], c, requests // rounds)
        after = load_average()
    finally:
        for close in closers:
            close()
        for srv in servers:
            srv.stop()
    summaries = tuple(cell.summary() for cell in cells.values())
    return OverheadReport(
        artifact=str(artifact),
        config={"frameworks": list(frameworks), "clients": list(clients), "requests": requests, "rounds": rounds,
                "threads": threads, "concurrency": concurrency, "image_bytes": len(data), "request": "multipart file"},
        cells=summaries,
        overhead=tuple(_overhead(summaries)),
        machine=machine_info().to_dict(),
        load_average={"before": _rounded(before), "after": _rounded(after)},
    )  # fmt: skip


def _rounded(values: Sequence[float] | None) -> list[float] | None:
    return [round(v, 2) for v in values] if values else None


def _overhead(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    local = {c["clients"]: c for c in cells if c["target"] == "local"}
    out = []
    for c in cells:
        base = local.get(c["clients"])
        if c["target"] == "local" or base is None:
            continue
        out.append({
            "target": c["target"], "clients": c["clients"],
            "p50_ms": round(c["p50_ms"] - base["p50_ms"], 3), "p99_ms": round(c["p99_ms"] - base["p99_ms"], 3),
            "p50_ratio": round(c["p50_ms"] / base["p50_ms"], 3) if base["p50_ms"] else math.nan,
        })  # fmt: skip
    return out
