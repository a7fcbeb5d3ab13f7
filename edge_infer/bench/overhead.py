"""What the HTTP hop costs: the same prediction in-process and through the shim, per request form, at 1 and N
concurrent clients, with the server's own split of every request into stages.

    from edge_infer.bench.overhead import measure_http_overhead, overhead_table
    report = measure_http_overhead("m.onnx", ["fastapi", "flask"], forms=["multipart", "raw", "json", "tutorial"],
                                   clients=[1, 8], requests=200, image="photo.jpg", threads=1)
    print(overhead_table(report)); report.save("overhead.json")      # edge-infer bench JSON, kind http-overhead

Every target answers the same request: one encoded photo in, top-5 out, decoding included on both sides. ``local``
calls ``predictor.predict(bytes)`` in this process: directly for one client, and for N clients through a pool of
``concurrency`` threads (the server's bound on model calls), so N local callers queue for the model exactly as N HTTP
clients do. The HTTP targets are ``edge-infer serve`` subprocesses on loopback (``Server``: a framework, and for a
before/after run the environment of another source tree), sent the photo in each request form of
``edge_infer.bench.http_forms.FORMS``. Targets, forms and client counts take turns round by round, so a busy machine
slows them alike; ``paired_ratio`` is the median over rounds of each round's ratio to ``local``.

Each answer reports its stages (``read`` the body, ``parse`` it, ``queue`` for the model, ``predict``: decode +
preprocess + model, ``encode`` the JSON); ``outside`` is the round trip minus the server's whole time: the client,
the HTTP framing on both sides and the loopback. ``client_cpu`` is the CPU time the client's thread spent on the
request (``time.thread_time``: building it, sending, reading and parsing the answer; not the wait), the client's own
cost, less sensitive to a busy machine than wall time.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.bench.http_forms import FORMS, Call, Stages
from edge_infer.bench.result import BenchReport, BenchResult, paired_ratio
from edge_infer.bench.timing import round_order, timed_concurrent
from edge_infer.errors import BenchError

KIND = "http-overhead"
LOCAL = "local"
STAGES = ("read", "parse", "queue", "predict", "decode", "preprocess", "inference", "encode", "outside", "client_cpu")


@dataclass(frozen=True)
class Server:
    """An HTTP target: ``edge-infer serve --framework FRAMEWORK``, shown as ``label``; ``env`` is added to the
    server's environment (``PYTHONPATH`` of another checkout, for a before/after run in one interleaved pass)."""

    framework: str
    label: str = ""
    env: Mapping[str, str] | None = None

    @property
    def name(self) -> str:
        return self.label or self.framework


@dataclass
class Cell:
    """Samples of one target and request form at one client count: the latency of each answered (200) request,
    the stages it reported, status counts, wall time."""

    target: str
    form: str
    clients: int
    via: str
    latency_ms: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, ms: float, status: int, stages: Stages) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status != 200:
                return
            self.latency_ms.append(ms)
            if "server" in stages:
                stages = {**stages, "outside": ms - stages["server"]}
            for name, value in stages.items():
                self.stages.setdefault(name, []).append(value)

    def result(self, artifact: str, fmt: str, backend: str, threads: int) -> BenchResult:
        extra: dict[str, Any] = {"form": self.form, "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                                 "stages_p50_ms": stage_medians(self.stages)}  # fmt: skip
        if "server" in self.stages:  # the server's own time, HTTP targets only
            extra["server_p50_ms"] = round(float(np.median(self.stages["server"])), 3)
        predict = self.stages.get("predict", [])
        if predict and len(predict) == len(self.latency_ms) and min(predict) > 0:
            # each request's round trip over the server's predict() of that very request: the hop's cost against
            # in-process prediction, free of what the scheduler does to two different processes on a busy machine
            extra["hop_ratio_p50"] = round(float(np.median(np.divide(self.latency_ms, predict))), 4)
        return BenchResult(
            artifact=artifact, label=self.target, format=fmt, backend=backend, threads=threads, batch=1,
            via=self.via, load_ms=0.0, cold_ms=0.0, samples_ms=tuple(self.latency_ms), clients=self.clients,
            wall_s=self.wall_s, extra=extra,
        )  # fmt: skip


def stage_medians(stages: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Median of each stage, in the order of ``STAGES`` (then any other the server reported)."""
    names = [s for s in STAGES if s in stages] + sorted(set(stages) - set(STAGES))
    return {name: round(float(np.median(stages[name])), 3) for name in names if stages[name]}


def overhead_rows(report: BenchReport) -> list[dict[str, Any]]:
    """Per HTTP target, form and client count: its p50/p99 minus in-process prediction's at the same client count,
    the ratio of p50s and the paired per-round ratio."""
    local = {r.clients: r for r in report.results if r.label == LOCAL}
    round_size = int(report.config.get("round_size") or 1)
    out = []
    for r in report.results:
        base = local.get(r.clients)
        if r.label == LOCAL or base is None or not r.samples_ms or not base.samples_ms:
            continue
        s, b = r.latency, base.latency
        out.append({
            "target": r.label, "form": r.extra.get("form", "multipart"), "clients": r.clients,
            "p50_ms": round(s.p50 - b.p50, 3), "p99_ms": round(s.p99 - b.p99, 3),
            "p50_ratio": round(s.p50 / b.p50, 3) if b.p50 else float("nan"),
            "paired_ratio": round(paired_ratio(r.samples_ms, base.samples_ms, round_size), 3),
            "hop_ratio": r.extra.get("hop_ratio_p50"),
        })  # fmt: skip
    return out


def _local(artifact: str, data: bytes, threads: int | None, concurrency: int) -> tuple[Call, Call, Callable[[], None]]:
    """In-process prediction of the photo: the call for one client (``predict()`` as a script calls it), the call
    for N clients (through a pool of ``concurrency`` threads, the server's bound on model calls) and the closer."""
    from edge_infer.backends import load

    predictor = load(artifact, threads=threads)
    pool = ThreadPoolExecutor(concurrency)

    def stages(pred: Any) -> Stages:
        return {k: float(v) for k, v in pred.timings_ms.items() if k != "total"}

    def direct(_: int) -> tuple[int, Stages]:
        return 200, stages(predictor.predict(data, top_k=5))

    def queued(_: int) -> tuple[int, Stages]:
        return 200, stages(pool.submit(predictor.predict, data, top_k=5).result())

    def close() -> None:
        pool.shutdown()
        predictor.close()

    return direct, queued, close


def _client_cpu(call: Call) -> Call:
    """``call`` with the stage ``client_cpu``: the CPU time of the calling thread during the call, in ms."""

    def timed(i: int) -> tuple[int, Stages]:
        t0 = time.thread_time()
        status, stages = call(i)
        return status, {**stages, "client_cpu": (time.thread_time() - t0) * 1e3}

    return timed


def _run_cell(cell: Cell, call: Call, n: int) -> None:
    """``n`` requests spread over the cell's clients, each sending back to back (``timing.timed_concurrent``)."""
    run = timed_concurrent(call, n, cell.clients)
    for ms, (status, stages) in zip(run.samples, run.values):
        cell.add(ms, status, stages)
    cell.wall_s += run.wall_s


def measure_http_overhead(
    artifact: str | os.PathLike[str],
    frameworks: Sequence[str] = ("fastapi", "flask"),
    *,
    forms: Sequence[str] = ("multipart",),
    servers: Sequence[Server] | None = None,
    clients: Sequence[int] = (1, 8),
    requests: int = 200,
    rounds: int = 10,
    warmup: int = 5,
    image: str | os.PathLike[str] | bytes,
    threads: int | None = None,
    concurrency: int = 1,
    progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """Measure ``local`` and each server (``servers``, default one per framework) in each request form at each
    client count: ``requests`` requests per cell in ``rounds``. The report (kind ``http-overhead``) has one result
    per cell: the latency of every answered request, its status counts and stage medians (``extra``);
    ``extra["overhead"]`` of the report is ``overhead_rows``."""
    from edge_infer.artifact import Artifact
    from edge_infer.backends import choose_backend
    from edge_infer.serve.core import ServeConfig
    from edge_infer.serve.server import ServerProcess
    from edge_infer.threads import resolve_threads

    if requests < rounds or rounds < 1 or not clients or min(clients) < 1:
        raise BenchError("need rounds >= 1, requests >= rounds and client counts >= 1")
    for form in forms:
        FORMS[form]  # an unknown form is an error naming the known ones, before anything starts
    say = progress or (lambda _m: None)
    data = image if isinstance(image, bytes) else _read_photo(image)
    servers = list(servers or [Server(fw) for fw in frameworks])
    art = Artifact.read(artifact)
    config = ServeConfig(threads=threads, concurrency=concurrency)
    processes = [ServerProcess(Path(artifact).resolve(), s.framework, config=config, env=dict(s.env or {}))
                 for s in servers]  # fmt: skip
    closers: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"  # the tutorial client opens a file
        path.write_bytes(data)
        try:
            direct, queued, close = _local(str(artifact), data, threads, concurrency)
            closers.append(close)
            ways: dict[tuple[str, str], Way] = {(LOCAL, "bytes"): Way(LOCAL, direct, queued)}
            for server, proc in zip(servers, processes):
                say(f"starting {server.name} ({server.framework})")
                proc.start()
                for form in forms:
                    call, close = FORMS[form].open(proc.url, data, path, max(clients))
                    closers.append(close)
                    call = _client_cpu(call)
                    ways[(server.name, form)] = Way(server.framework, call, call)
            cells, before, after = _measure(ways, clients, requests, rounds, warmup, say)
        finally:
            for close in closers:
                close()
            for proc in processes:
                proc.stop()
    fmt, backend = art.manifest.format, choose_backend(art.format, None).name
    results = tuple(cell.result(str(artifact), fmt, backend, resolve_threads(threads)) for cell in cells.values())
    report = BenchReport.now(
        kind=KIND, results=results, load_average=(before, after),
        config={"servers": [{"label": s.name, "framework": s.framework, "env": dict(s.env or {})} for s in servers],
                "forms": list(forms), "clients": list(clients), "requests": requests, "rounds": rounds,
                "warmup": warmup, "threads": threads, "concurrency": concurrency, "image_bytes": len(data),
                "round_size": requests // rounds},
        source={"kind": "encoded image", "bytes": len(data)},
    )  # fmt: skip
    return replace(report, extra={"overhead": overhead_rows(report)})


@dataclass(frozen=True)
class Way:
    """How one target is called in one form: ``via`` (local or the framework), the call for one client and the
    call for several."""

    via: str
    one: Call
    many: Call

    def call(self, clients: int) -> Call:
        return self.one if clients == 1 else self.many


def _measure(
    ways: dict[tuple[str, str], Way], clients: Sequence[int], requests: int, rounds: int, warmup: int,
    say: Callable[[str], None],
) -> tuple[dict[tuple[str, str, int], Cell], Any, Any]:  # fmt: skip
    """Warm every way up, then run the cells in interleaved rounds; the cells and the load average before and after."""
    from edge_infer.machine import load_average

    for way in ways.values():
        for c in sorted(set(clients)):  # warm every connection and the model
            for i in range(c):
                for _ in range(max(1, warmup // c)):
                    way.call(c)(i)
    cells = {(t, f, c): Cell(t, f, c, way.via) for (t, f), way in ways.items() for c in clients}
    keys = list(ways)
    before = load_average()
    for r in range(rounds):
        say(f"round {r + 1}/{rounds}")
        for k in round_order(len(keys), r):
            for c in clients:
                target, form = keys[k]
                _run_cell(cells[(target, form, c)], ways[keys[k]].call(c), requests // rounds)
    return cells, before, load_average()


def _read_photo(image: str | os.PathLike[str]) -> bytes:
    try:
        return Path(image).read_bytes()
    except OSError as exc:
        raise BenchError(f"{image}: cannot read the photo to send ({exc.strerror or exc})") from exc


def overhead_table(report: BenchReport) -> str:
    """The terminal tables of an overhead report: latency per cell against ``local``, then the stages."""
    from edge_infer.table import render

    over = {(o["target"], o.get("form", "multipart"), o["clients"]): o for o in report.extra.get("overhead", [])}
    rows, stage_rows = [], []
    for r in report.results:
        form = r.extra.get("form", "multipart" if r.label != LOCAL else "bytes")
        o = over.get((r.label, form, r.clients))
        hop = r.extra.get("hop_ratio_p50")
        extra = [f"{o['p50_ms']:+.2f}", f"{o['p50_ratio']:.3f}x", f"{o.get('paired_ratio', float('nan')):.3f}x",
                 f"{hop:.3f}x" if hop else ""] if o else ["", "", "", ""]  # fmt: skip
        bad = sum(v for k, v in r.extra.get("statuses", {}).items() if k != "200")
        s = r.latency if r.samples_ms else None
        rows.append([r.label, form, str(r.clients), str(len(r.samples_ms)), f"{s.p50:.2f}" if s else "-",
                     f"{s.p99:.2f}" if s else "-", f"{r.throughput_ips:.1f}" if s else "-", *extra, str(bad)])  # fmt: skip
        st = r.extra.get("stages_p50_ms") or ({"outside": s.p50} if s else {})  # no stages: all of it is outside
        if r.clients == min(x.clients for x in report.results):
            stage_rows.append([r.label, form, *(f"{st[n]:.3f}" if n in st else "" for n in STAGES)])
    head = ["target", "form", "clients", "requests", "p50 ms", "p99 ms", "req/s", "+p50 ms", "p50 x", "paired x",
            "hop x", "non-200"]  # fmt: skip
    load = report.load_average
    note = (f"+p50, p50 x: against local at the same client count; paired x: median of per-round ratios; hop x: "
            f"median of each request's round trip / the server's predict() of it; load average {load.get('before')} "
            f"-> {load.get('after')}")  # fmt: skip
    stage_head = ["target", "form", *STAGES]
    return (render(head, rows, align="llrrrrrrrrrr") + "\n" + note + "\n\nstages, p50 ms, one client:\n"
            + render(stage_head, stage_rows, align="ll" + "r" * len(STAGES)))  # fmt: skip
