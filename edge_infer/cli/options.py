"""Options several commands share, defined once."""

from __future__ import annotations

import argparse


def add_backend_argument(p: argparse.ArgumentParser) -> None:
    """``--backend NAME``: one of the backends able to run the artifact (default: the first installed one)."""
    from edge_infer.formats import FORMATS

    runnable = ", ".join(dict.fromkeys(b for f in FORMATS.values() if not f.testing for b in f.backends))
    p.add_argument("--backend", default=None, metavar="NAME",
                   help=f"backend to run the artifact on, for formats more than one can run ({runnable}; "
                   "default: the first installed one for the format)")  # fmt: skip
