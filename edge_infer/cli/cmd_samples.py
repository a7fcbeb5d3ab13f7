"""``edge-infer samples --out DIR``: copy the built-in sample photos (from scikit-learn and scikit-image);
``--video FILE.mp4``: a 640x480 clip of them in moving crops, for ``run`` and ``bench --source``."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("samples", help="write the built-in sample photos into a folder (or a video of them)")
    p.add_argument("--out", default="samples", help="destination folder (default: samples)")
    p.add_argument("--extra", action="store_true", help="also write the extra photos used for verification")
    p.add_argument("--video", default=None, metavar="FILE.mp4",
                   help="instead, write a 640x480 30 FPS video (4 s) of the photos panned across, as a camera "
                   "would see them")  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from edge_infer.build import write_sample_video, write_samples

    if args.video:
        from edge_infer.errors import SpecError

        if not args.video.lower().endswith(".mp4"):
            raise SpecError(f"--video {args.video}: give a .mp4 file name")
        try:
            path = write_sample_video(args.video)
        except OSError as exc:
            raise SpecError(str(exc)) from exc
        print(f"wrote {path}: 640x480, 30 FPS, 120 frames")
        return 0
    written = write_samples(args.out, extra=args.extra)
    print(f"wrote {len(written)} photos to {args.out}/: {', '.join(p.name for p in written)}")
    return 0
