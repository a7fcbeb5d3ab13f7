"""The terminal table of a benchmark run: one row per target and thread count, ending with the ratio to the fastest."""

from __future__ import annotations

from collections.abc import Sequence

from edge_infer.bench.result import BenchReport, BenchResult, TargetFailure
from edge_infer.table import render

HEADERS = ("target", "format", "via", "thr", "batch", "load ms", "cold ms", "p50 ms", "p90 ms", "p99 ms",
           "mean±std ms", "e2e p50 ms", "inputs/s", "peak RSS MB", "size MB", "x fastest")  # fmt: skip
ALIGN = "lllrrrrrrrrrrrrr"


def _f(x: float | None, nd: int = 1) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _row(r: BenchResult) -> list[str]:
    s, e2e = r.latency, r.e2e_latency
    mem = r.memory.get("peak_rss_mb")
    status = r.extra.get("verification")
    fmt = r.format if status in (None, "verified", "not recorded") else f"{r.format} ({status} verification)"
    return [
        r.label, fmt, r.via + (f" x{r.clients}" if r.clients > 1 else ""), str(r.threads), str(r.batch), _f(r.load_ms), _f(r.cold_ms), _f(s.p50, 2),
        _f(s.p90, 2), _f(s.p99, 2), f"{s.mean:.2f}±{s.std:.2f}", _f(e2e.p50 if e2e else None, 2),
        _f(r.throughput_ips), _f(mem), _f(r.size_bytes / 1e6 if r.size_bytes else None, 2),
        _f(r.ratio_to_fastest, 2) + "x" if r.ratio_to_fastest else "-",
    ]  # fmt: skip


def _failure_row(f: TargetFailure) -> list[str]:
    error = f.error if len(f.error) <= 100 else f.error[:99] + "…"  # in full on stderr and in the JSON
    return [f.label, "ERROR", f.via, str(f.threads or "-")] + [""] * 11 + [error]


def format_table(results: Sequence[BenchResult], failures: Sequence[TargetFailure] = ()) -> str:
    rows = [_row(r) for r in sorted(results, key=lambda r: (r.threads, r.batch, r.clients, r.latency.p50))]
    table = render(HEADERS, rows + [_failure_row(f) for f in failures], align=ALIGN)
    return table


def agreement_lines(results: Sequence[BenchResult]) -> list[str]:
    """``--backends``: each target's top-1 agreement with the fp32 reference on the verification photos."""
    rows, ref = [], ""
    for r in sorted(results, key=lambda r: (r.threads, r.label)):
        a = r.extra.get("top1_agreement")
        if not a or r.threads != min(x.threads for x in results):
            continue
        ref = a.get("reference", ref)
        value = "-" if a.get("value") is None else f"{a['value'] * 100:.1f}% of {a['photos']}"
        rows.append([r.label, r.format, r.backend, value, a.get("error") or ", ".join(a.get("disagreements", []))])
    if not rows:
        return []
    table = render(("target", "format", "backend", "top-1 agreement", "disagreeing photos / error"), rows,
                   align="lllrl")  # fmt: skip
    return [f"top-1 agreement with {ref} on the verification photos (untimed, 1 thread):", table]


def split_lines(results: Sequence[BenchResult]) -> list[str]:
    """Where each target's time per frame goes (p50 ms of decode, preprocess, model, hop) and, for a video source,
    the live loop's FPS, drops and capture-to-result latency."""
    rs = [r for r in sorted(results, key=lambda r: (r.threads, r.batch, r.clients, r.latency.p50))
          if r.split_samples_ms and r.clients == 1]  # fmt: skip
    if not rs:
        return []
    live = any(r.live for r in rs)
    hop = any("hop" in r.split_ms for r in rs)
    headers = ["target", "via", "thr", "decode", "preprocess", "model", *(["hop"] if hop else []), "sum"]
    if live:
        headers += ["FPS", "x model", "dropped", "latency p50", "p90"]
    rows = []
    for r in rs:
        sp = r.split_ms
        row = [r.label, r.via, str(r.threads), _f(sp.get("decode"), 2), _f(sp.get("preprocess"), 2),
               _f(sp.get("model"), 2), *([_f(sp.get("hop"), 2)] if hop else []), _f(sum(sp.values()), 2)]  # fmt: skip
        if live:
            lv = r.live
            lat = lv.get("latency_ms") or {}
            row += ([_f(lv.get("fps")), _f(lv.get("fps_x_model"), 2) + "x" if lv.get("fps_x_model") else "-",
                     f"{lv.get('dropped', 0)}/{lv.get('captured', 0)}", _f(lat.get("p50")), _f(lat.get("p90"))]
                    if lv else ["-"] * 5)  # fmt: skip
        rows.append(row)
    pace = next((r.live["pace"] for r in rs if r.live), "")
    streams = next((r.live.get("streams", 1) for r in rs if r.live), 1)
    where = "the live loop's frames" if live else "the end-to-end calls"
    title = f"where the time goes, p50 ms per frame (from {where})" + (
        f"; live loop on the video, {'every frame as fast as possible' if pace == 'fast' else 'at its own frame rate'}"
        + (f", {streams} frames in the model at once (each with threads/{streams})" if streams > 1 else "")
        if live else "")  # fmt: skip
    return [title + ":", render(headers, rows, align="lll" + "r" * (len(headers) - 3))]


def format_report(report: BenchReport) -> str:
    """Header (machine, method), the table, and a note on how to read it."""
    m = report.machine
    cfg = report.config
    runs = f"{cfg['runs']} runs" if cfg.get("runs") else f"{cfg['duration_s']} s"
    isa = " ".join(k for k, v in m.get("isa", {}).items() if v) or "-"
    load = report.load_average.get("before")
    head = [
        f"{m.get('cpu_model', '?')} ({m.get('arch', '?')}, {m.get('cores_physical', '?')} cores / "
        f"{m.get('cores_logical', '?')} threads, {isa}); {m.get('os', '')} {m.get('distro', '')}".rstrip(),
        f"{runs} + {cfg['warmup']} warm-up per target, interleaved {cfg['round_size']} at a time; "
        f"{report.source.get('kind', 'frames')}: {report.source.get('spec')}"
        + (f"; load average {load[0]:.2f}" if load else ""),
    ]
    lines = [*head, "", format_table(report.results, report.errors)]
    split = split_lines(report.results)
    if split:
        lines += ["", *split]
    agreement = agreement_lines(report.results)
    if agreement:
        lines += ["", *agreement]
    e2e = "feature row -> validation" if report.source.get("kind") == "rows" else "decoded frame -> preprocess"
    lines.append(
        f"\np50/p90/p99: model-only latency (preprocessed batch in, raw scores out); e2e: {e2e} -> model -> "
        "top-1.\nx fastest: in each interleaved round, this target's median over the fastest's "
        "median in the same round; the median of that over all rounds (same threads, batch and clients)."
        + ("\nvia xN: N concurrent clients; inputs/s is their calls over wall time." if any(
            r.clients > 1 for r in report.results) else "")
        + ("\ndecode: the source's read of a frame; preprocess: resize, crop, normalise (through HTTP also the "
           "client's JPEG encode and the server's decode); model: the model call; hop: an HTTP round trip minus the "
           "server's prediction." if split else "")
        + ("\nFPS: live loop results per second (first to last, median of its turns); x model: FPS over "
           "1000 / model-only p50; latency: capture to result." if any(r.live for r in report.results) else "")
    )
    return "\n".join(lines)
