"""``edge-infer samples --out DIR``: copy the built-in sample photos (from scikit-learn and scikit-image)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("samples", help="write the built-in sample photos into a folder")
    p.add_argument("--out", default="samples", help="destination folder (default: samples)")
    p.add_argument("--extra", action="store_true", help="also write the extra photos used for verification")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from edge_infer.build import write_samples

    written = write_samples(args.out, extra=args.extra)
    print(f"wrote {len(written)} photos to {args.out}/: {', '.join(p.name for p in written)}")
    return 0
