"""Where a frame's end-to-end time goes: decode, preprocess, model and, for a model behind HTTP, the hop.

One frame's split is made from what its call reported. In this process: ``preprocess`` is the predictor's
preprocessing and ``model`` its ``run()``. Through the HTTP shim (``--via http``/``flask``), ``run()`` is a round
trip: ``preprocess`` is the client's encoding of the frame (JPEG) plus the server's decoding and preprocessing of
it, ``model`` the server's model call, and ``hop`` the round trip minus the server's whole prediction (the client
library, HTTP framing on both sides, the loopback, the server's parsing and queueing; see docs/serve.md).
``decode`` is the source's own read of the frame (a video frame decoded by FFmpeg, an image file by OpenCV/Pillow);
frames made in memory (``synthetic``) have none. A report gives the median of each stage over its frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SPLIT = ("decode", "preprocess", "model", "hop")


def frame_split(preprocess_ms: float, model_ms: float, stages: Mapping[str, float]) -> dict[str, float]:
    """One call's split from its preprocessing time, its ``run()`` time and the predictor's ``stage_timings()``."""
    if "hop" in stages:
        return {"preprocess": preprocess_ms + stages.get("server_preprocess", 0.0),
                "model": stages.get("server_inference", 0.0), "hop": stages["hop"]}  # fmt: skip
    return {"preprocess": preprocess_ms, "model": model_ms}


def add_split(samples: dict[str, list[float]], split: Mapping[str, float]) -> None:
    """Append one frame's split to per-stage sample lists."""
    for name, value in split.items():
        samples.setdefault(name, []).append(float(value))


def split_medians(samples: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """The median of each stage that has samples, in ``SPLIT`` order."""
    return {name: round(float(np.median(samples[name])), 3) for name in SPLIT if samples.get(name)}
