"""``edge-infer targets``: the device profiles, their settings and why."""

from __future__ import annotations

import argparse
import json
from typing import Any


from edge_infer.profiles import TARGETS, get_target
from edge_infer.table import render


def add_parser(sub: Any) -> None:
    p = sub.add_parser("targets", help="list the device profiles for export --target (laptop-x86, rpi4, rpi5, ...)")
    p.add_argument("name", nargs="?", default=None, help="show one profile in full, with the reason for each setting")
    p.add_argument("--json", action="store_true", help="print a JSON document instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    chosen = [get_target(args.name)] if args.name else list(TARGETS.values())
    if args.json:
        print(json.dumps({t.name: t.to_dict() for t in chosen}, indent=2))
    elif args.name:
        print(describe(chosen[0]))
    else:
        rows = [[t.name, t.arch, str(t.threads), ", ".join(t.formats), t.torch_qengine, t.description] for t in chosen]
        print(render(["target", "arch", "threads", "formats (preferred first)", "torch int8", "device"], rows,
                     align="llrlll"))  # fmt: skip
        print("details and reasons: edge-infer targets NAME; build a bundle: edge-infer export --target NAME")
    return 0


def describe(t: Any) -> str:
    q = t.onnx_quant
    values = {
        "arch": t.arch,
        "threads": str(t.threads),
        "formats": ", ".join(t.formats),
        "torch_qengine": t.torch_qengine,
        "onnx_quant": f"{q.quant_format} {q.activation_type}/{q.weight_type} per_channel={q.per_channel} "
        f"reduce_range={q.reduce_range} calibrate={q.calibrate_method}",
        "cpu_features": ", ".join(t.cpu_features) or "-",
        "systems": ", ".join(t.systems),
    }
    rows = [[k, v, t.reasons.get(k, "")] for k, v in values.items()]
    lines = [f"{t.name}: {t.description}", render(["setting", "value", "why"], rows)]
    lines += [f"note: {n}" for n in t.notes]
    return "\n".join(lines)
