"""Before/after of the 1-2x shrink (2026-12-07), in one process, interleaved: ``predict(frame)`` on a decoded 640x480
frame over the raw ``session.run``, with the current shrink (3x3 Gaussian + bit-exact bilinear) and with the previous
one (bit-exact bilinear to twice the crop, then a 2x area average), at 1 thread, CPU time; with ``--agreement``
also the model's top-1 with each against the PIL pipeline (torchvision's resize) on the verification photos.

    python benchmarks/shrink_ab.py out/lite0/efficientnet_lite0.onnx [--rounds 60] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import edge_infer.preprocess as pre  # noqa: E402
from edge_infer.backends import load  # noqa: E402
from edge_infer.bench import BenchReport  # noqa: E402
from edge_infer.machine import load_average  # noqa: E402

CURRENT = pre._shrink_under_2x


def previous(region: np.ndarray, crop: int) -> np.ndarray:
    """The shrink of 2026-12-06: bilinear (bit-exact) to twice the crop, then OpenCV's 2x area average."""
    double = cv2.resize(region, (2 * crop, 2 * crop), interpolation=cv2.INTER_LINEAR_EXACT)
    return cv2.resize(double, (crop, crop), interpolation=cv2.INTER_AREA)  # type: ignore[no-any-return]


def agreement(predictor: Any) -> dict[str, Any]:
    """Top-1 of the model on the verification photos and crops resized to 640x480, with the current shrink, the
    previous one and the INTER_AREA reference, each against the PIL pipeline (antialiased bilinear: torchvision's)."""
    from PIL import Image

    from exporters.samples import verification_images

    spec = predictor.manifest.preprocess
    session, name = predictor.session, predictor.input_name

    def probs(crop: np.ndarray) -> np.ndarray:
        out = session.run(None, {name: pre.reference_tensor(spec, np.ascontiguousarray(crop))})[0][0]
        e = np.exp(out - out.max())
        return e / e.sum()  # type: ignore[no-any-return]

    found: dict[str, list[tuple[bool, float]]] = {"current": [], "previous": [], "inter_area_reference": []}
    images = verification_images()
    for rgb in images.values():
        frame = cv2.resize(rgb, (640, 480), interpolation=cv2.INTER_AREA)
        nw, nh = pre.resized_size(spec, 640, 480)
        top, left = (nh - spec.crop) // 2, (nw - spec.crop) // 2
        pil = np.asarray(Image.fromarray(frame).resize((nw, nh), Image.BILINEAR))
        ref = probs(pil[top : top + spec.crop, left : left + spec.crop])
        for key, shrink in (("current", CURRENT), ("previous", previous)):
            setattr(pre, "_shrink_under_2x", shrink)  # noqa: B010
            got = probs(predictor.preprocessor.resize_crop(frame))
            found[key].append((bool(got.argmax() == ref.argmax()), float(np.abs(got - ref).max())))
        setattr(pre, "_shrink_under_2x", CURRENT)  # noqa: B010
        got = probs(pre.reference_resize_crop(spec, frame))
        found["inter_area_reference"].append((bool(got.argmax() == ref.argmax()), float(np.abs(got - ref).max())))
    return {k: {"top1_same_as_pil": sum(same for same, _ in v), "images": len(images),
                "max_prob_diff_median": round(float(np.median([d for _, d in v])), 5),
                "max_prob_diff_max": round(max(d for _, d in v), 5)} for k, v in found.items()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("artifact")
    p.add_argument("--rounds", type=int, default=60)
    p.add_argument("--out", default=None)
    p.add_argument("--agreement", action="store_true",
                   help="also the model's top-1 against the PIL pipeline on the verification photos (needs exporters)")
    args = p.parse_args(argv)
    from sklearn.datasets import load_sample_image

    cv2.setNumThreads(1)
    frame = cv2.resize(load_sample_image("china.jpg"), (640, 480), interpolation=cv2.INTER_AREA)
    predictor = load(args.artifact, threads=1, backend="onnxruntime")
    x = predictor.preprocess(frame)
    session, name = predictor.session, predictor.input_name  # type: ignore[attr-defined]

    def with_shrink(shrink: Callable[[np.ndarray, int], np.ndarray]) -> Callable[[], object]:
        def call() -> object:
            setattr(pre, "_shrink_under_2x", shrink)  # noqa: B010 - swap the module function for this call
            return predictor.predict(frame)

        return call

    cells = {"raw": lambda: session.run(None, {name: x}), "current": with_shrink(CURRENT),
             "previous": with_shrink(previous)}  # fmt: skip
    samples: dict[str, list[float]] = {k: [] for k in cells}
    before = load_average()
    for call in cells.values():
        for _ in range(5):
            call()
    for r in range(args.rounds):
        order = list(cells) if r % 2 == 0 else list(reversed(cells))
        for k in order:
            t0 = time.thread_time()
            for _ in range(3):
                cells[k]()
            samples[k].append((time.thread_time() - t0) / 3 * 1e3)
    setattr(pre, "_shrink_under_2x", CURRENT)  # noqa: B010
    ratio = {k: round(float(np.median([a / b for a, b in zip(samples[k], samples["raw"])])), 4) for k in cells}
    result = {"p50_cpu_ms": {k: round(float(np.median(v)), 3) for k, v in samples.items()}, "ratio_to_raw": ratio,
              "load_average": {"before": before, "after": load_average()}, "rounds": args.rounds,
              "frame": "china.jpg at 640x480", "threads": 1}  # fmt: skip
    if args.agreement:
        result["agreement_640x480"] = agreement(predictor)
    print(json.dumps(result, indent=1))
    if args.out:
        report = BenchReport.now(
            kind="shrink-ab", config={"rounds": args.rounds, "threads": 1, "calls_per_round": 3, "clock": "thread CPU"},
            results=[], load_average=(before, result["load_average"]["after"]),
            source={"spec": "china.jpg resized to 640x480 (RGB, decoded)", "kind": "frame"}, extra=result,
            command=" ".join(["python", "benchmarks/shrink_ab.py", *(argv or sys.argv[1:])]),
        )  # fmt: skip
        report.save(Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
