"""``--plot``: latency distributions side by side (violin + box), model-only and end-to-end. Needs matplotlib."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from edge_infer.bench.result import BenchResult
from edge_infer.errors import BackendUnavailableError, BenchError


def _label(r: BenchResult, many_threads: bool) -> str:
    return f"{r.label}\n{r.format}, {r.via}" + (f", {r.threads} thr" if many_threads else "")


def plot_latencies(results: Sequence[BenchResult], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Write a PNG (or any format matplotlib knows from the suffix) with one violin per result."""
    if not results:
        raise BenchError("nothing to plot: no target was measured")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BackendUnavailableError("--plot", "matplotlib", "bench") from None
    many = len({r.threads for r in results}) > 1
    labels = [_label(r, many) for r in results]
    panels = [("model only", [list(r.samples_ms) for r in results])]
    if all(r.e2e_samples_ms for r in results):
        panels.append(("end to end (frame -> top-1)", [list(r.e2e_samples_ms) for r in results]))
    fig, axes = plt.subplots(1, len(panels), figsize=(max(6.0, 1.8 * len(results)) * len(panels), 5), squeeze=False)
    for ax, (name, data) in zip(axes[0], panels):
        pos = list(range(1, len(data) + 1))
        ax.violinplot(data, positions=pos, showextrema=False)
        ax.boxplot(data, positions=pos, widths=0.15, showfliers=False)
        ax.set_xticks(pos, labels, fontsize=8)
        ax.set_ylabel("latency (ms)")
        ax.set_title(name)
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(bottom=0)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    except (OSError, ValueError) as exc:
        raise BenchError(f"{out}: cannot write the plot ({exc})") from None
    finally:
        plt.close(fig)
    return out
