"""Options several commands share, defined once, and the note they print about auto's choice."""

from __future__ import annotations

import argparse
import sys

from edge_infer.choice import AUTO, Choice


def add_backend_argument(p: argparse.ArgumentParser) -> None:
    """``--backend NAME``: one of the backends able to run the artifact, or ``auto`` (the default)."""
    from edge_infer.formats import FORMATS

    runnable = ", ".join(dict.fromkeys(b for f in FORMATS.values() if not f.testing for b in f.backends))
    p.add_argument("--backend", default=AUTO, metavar="NAME",
                   help=f"backend to run the artifact on ({runnable}), or auto (default): the fastest configuration "
                   "verified for this device, from a short measurement cached per machine (docs/auto.md)")  # fmt: skip


def note_choice(command: str, choice: Choice | None) -> None:
    """One line on stderr saying what auto chose and why, when there was something to choose (several verified
    configurations, or one that could not be trusted); silent when the backend was named or only one could run."""
    if choice is not None and not choice.trivial:
        print(f"edge-infer {command}: {choice.summary()}", file=sys.stderr, flush=True)
