"""Entry point: ``edge-infer COMMAND ...``. Errors are one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from edge_infer.errors import EdgeInferError, first_line
from edge_infer.registry import Registry

# command name -> module with ``add_parser(subparsers)`` and ``run(args) -> int``; imported only when needed.
COMMANDS: Registry[str, str] = Registry("command")
for _name in ("export", "predict", "samples", "targets", "doctor", "serve", "run", "bench", "compare"):
    COMMANDS.register(_name, f"edge_infer.cli.cmd_{_name}")

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 2


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    from edge_infer import __version__

    parser = argparse.ArgumentParser(
        prog="edge-infer", description="Export, run and benchmark image classifiers on CPUs and edge devices."
    )
    parser.add_argument("--version", action="version", version=f"edge-infer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=f"(see edge-infer {name} --help)")
            continue
        importlib.import_module(module).add_parser(sub)
    return parser


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """Library warnings (torch's TorchScript deprecations) as one short line each, not file paths and source."""
    text = first_line(message) if isinstance(message, Warning) else str(message).strip().split("\n")[0]
    print(f"note: {category.__name__}: {text[:200]}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Build only the parser of the command being run, so `predict` never imports the export machinery.
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(args_list)
    if not args.command:
        parser.print_help()
        return EXIT_ERROR
    shown = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        return int(args.run(args))
    except EdgeInferError as exc:
        print(f"edge-infer {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"edge-infer {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    finally:
        warnings.showwarning = shown
