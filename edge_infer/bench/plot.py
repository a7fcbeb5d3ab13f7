"""``--plot``: latency distributions side by side (violin + box), model-only and end-to-end, and where each frame's
time goes (stacked bars of decode, preprocess, model, hop; with the live loop's FPS for a video source). Needs
matplotlib."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_infer.bench.result import BenchResult
from edge_infer.bench.split import SPLIT
from edge_infer.errors import BackendUnavailableError, BenchError


def _label(r: BenchResult, show_via: bool) -> str:
    name = r.label if len(r.label) <= 24 else r.label[:22] + "…"
    return f"{name}\n{r.format}, {r.backend}" + (f", {r.via}" if show_via else "")


COLORS = {"decode": "#8da0cb", "preprocess": "#fc8d62", "model": "#66c2a5", "hop": "#e78ac3"}


def _split_panel(ax: Any, rs: Sequence[BenchResult], threads: int, show_via: bool) -> None:
    """Stacked bars: the p50 ms of each stage of a frame (decode, preprocess, model, hop), one bar per target; with
    the live loop's FPS written beside the bar when the source was a video."""
    pos = list(range(len(rs)))
    left = [0.0] * len(rs)
    for stage in SPLIT:
        widths = [r.split_ms.get(stage, 0.0) for r in rs]
        if any(widths):
            ax.barh(pos, widths, left=left, color=COLORS[stage], label=stage)
            left = [a + b for a, b in zip(left, widths)]
    for i, r in enumerate(rs):
        if r.live:
            ax.text(left[i], i, f"  {r.live.get('fps', 0):.1f} FPS", va="center", fontsize=7)
    ax.set_yticks(pos, [_label(r, show_via) for r in rs], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, max(left + [1e-3]) * 1.3)  # room for the FPS
    ax.set_xlabel("ms per frame (p50 of each stage)")
    ax.set_title(f"where the time goes, {threads} thread(s)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(SPLIT), frameon=False)
    ax.grid(axis="x", alpha=0.3)


def plot_latencies(results: Sequence[BenchResult], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Write a PNG (or any format matplotlib knows from the suffix): one row per thread count, model-only and
    end-to-end distributions side by side (violin + box, log scale so the tail and the median both show)."""
    if not results:
        raise BenchError("nothing to plot: no target was measured")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError as exc:
        raise BackendUnavailableError("--plot", "matplotlib", "bench") from exc
    threads = sorted({r.threads for r in results})
    show_via = len({r.via for r in results}) > 1
    e2e = all(r.e2e_samples_ms for r in results)
    split = any(r.split_samples_ms for r in results)
    ncols = 1 + int(e2e) + int(split)
    width = min(9.0, max(5.0, 1.1 * max(sum(r.threads == t for r in results) for t in threads)))
    fig, axes = plt.subplots(len(threads), ncols, figsize=(width * ncols, 4.2 * len(threads)), squeeze=False)
    for row, t in zip(axes, threads):
        rs = [r for r in results if r.threads == t]
        panels = [("model only", [list(r.samples_ms) for r in rs])]
        if e2e:
            panels.append(("end to end (frame -> top-1)", [list(r.e2e_samples_ms) for r in rs]))
        for ax, (name, data) in zip(row, panels):
            pos = list(range(1, len(data) + 1))
            ax.violinplot(data, positions=pos, showextrema=False)
            ax.boxplot(data, positions=pos, widths=0.2, showfliers=False)
            ax.set_xticks(pos, [_label(r, show_via) for r in rs], fontsize=7, rotation=30, ha="right")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: f"{v:g}" if str(v)[0] in "25" else ""))
            ax.set_ylabel("latency (ms, log scale)")
            ax.set_title(f"{name}, {t} thread(s)", fontsize=10)
            ax.grid(axis="y", which="both", alpha=0.3)
        if split:
            _split_panel(row[-1], [r for r in rs if r.clients == 1], t, show_via)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
    except (OSError, ValueError) as exc:
        raise BenchError(f"{out}: cannot write the plot ({exc})") from exc
    finally:
        plt.close(fig)
    return out
