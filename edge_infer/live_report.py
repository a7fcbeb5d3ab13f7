"""What the live loop reports: one ``LiveResult`` per processed frame and a ``LiveSummary`` of the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge_infer.bench.stats import LatencyStats
from edge_infer.result import Prediction
from edge_infer.sources.base import Frame, SkippedInput

# The stages of a frame's trip, in order: reading/decoding it (capture thread), preprocessing (preprocess thread),
# the model (inference thread), and for a model behind HTTP the hop (round trip minus the server's own prediction).
STAGES = ("decode", "preprocess", "inference", "hop")


@dataclass(frozen=True, kw_only=True)
class LiveResult:
    """One processed frame: its prediction, stage timings (ms), the loop's FPS and drops so far."""

    frame: Frame
    prediction: Prediction
    timings_ms: dict[str, float]
    fps: float
    dropped: int

    def to_dict(self) -> dict[str, Any]:
        p = self.prediction.to_dict()
        return {
            "index": self.frame.index, "name": self.frame.name, "timestamp": round(self.frame.timestamp, 6),
            "label": p["label"], "class_id": p["class_id"], "score": p["score"], "top_k": p["top_k"],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "fps": round(self.fps, 2), "dropped": self.dropped,
        }  # fmt: skip


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of ``samples`` (ms), rounded; empty when there are none."""
    if not samples:
        return {}
    s = LatencyStats.from_samples(samples)
    return {"p50": round(s.p50, 3), "p90": round(s.p90, 3), "p99": round(s.p99, 3), "max": round(s.max, 3)}


@dataclass(frozen=True, kw_only=True)
class LiveSummary:
    """What a live run did. ``latency_ms`` is capture to result (how old the scene is when its label is ready);
    ``stages_ms`` the percentiles of each stage's time per frame (``STAGES``); ``dropped`` = ``drops["capture"]``
    (replaced before preprocessing) + ``drops["preprocess"]`` (preprocessed, then replaced before the model).
    ``fps`` is frames over the whole run, ``fps_steady`` from the first result to the last (start-up left out).
    ``cpu_ms_per_frame``: CPU time per processed frame of the capture thread, the preprocess thread, and the rest of
    the process (the model's threads, the loop, the sinks), with their ``total``. ``pace`` says how frames came:
    ``native`` (a file at its own frame rate), ``fast`` (every frame, as fast as the loop goes) or ``live``."""

    source: str
    frames: int
    captured: int
    dropped: int
    failed: int
    elapsed_s: float
    fps: float
    latency_ms: dict[str, float]
    inference_ms: dict[str, float]
    reconnects: int
    stop_reason: str
    error: str | None = None
    skipped: tuple[SkippedInput, ...] = field(default_factory=tuple)
    pace: str = "fast"
    fps_steady: float = 0.0
    drops: dict[str, int] = field(default_factory=dict)
    stages_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    cpu_ms_per_frame: dict[str, float] = field(default_factory=dict)
    streams: int = 1  # frames in the model at once (throughput mode when more than 1)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "skipped"}
        d["fps"], d["elapsed_s"], d["fps_steady"] = round(self.fps, 2), round(self.elapsed_s, 3), round(
            self.fps_steady, 2)  # fmt: skip
        d["skipped"] = [{"input": s.name, "error": s.error} for s in self.skipped]
        return d

    def format(self) -> str:
        def pct(d: dict[str, float]) -> str:
            return ", ".join(f"{k} {v:.1f}" for k, v in d.items() if k in ("p50", "p90")) + " ms" if d else "n/a"

        drops = " + ".join(f"{n} at {stage}" for stage, n in self.drops.items() if n)
        split = ", ".join(f"{name} {s['p50']:.1f}" for name, s in self.stages_ms.items() if s)
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in self.cpu_ms_per_frame.items())
        lines = [
            f"{self.source}: stopped ({self.stop_reason}) after {self.elapsed_s:.1f} s; {PACES.get(self.pace, self.pace)}"
            + (f"; {self.streams} frames in the model at once" if self.streams > 1 else ""),
            f"  frames processed {self.frames} of {self.captured} captured, dropped {self.dropped}"
            + (f" ({drops})" if drops else "") + (f", failed {self.failed}" if self.failed else "")
            + f"; {self.fps:.1f} FPS ({self.fps_steady:.1f} after start-up)",
            f"  latency capture->result {pct(self.latency_ms)}",
            f"  per frame p50: {split} ms" if split else f"  inference {pct(self.inference_ms)}",
        ]  # fmt: skip
        if cpu:
            lines.append(f"  CPU per frame: {cpu} ms")
        if self.reconnects:
            lines.append(f"  reconnected {self.reconnects} time(s)")
        lines += [f"  skipped {s.name}: {s.error}" for s in self.skipped]
        if self.error:
            lines.append(f"  source error: {self.error}")
        return "\n".join(lines)


PACES = {
    "native": "video played at its own frame rate",
    "fast": "every frame, as fast as possible",
    "live": "live source (newest frame only)",
    "frames": "frame by frame",
}
