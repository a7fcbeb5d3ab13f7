"""``edge-infer export``: build verified artifacts (needs the ``export`` extra: torch, onnx)."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import TYPE_CHECKING, Any

from edge_infer.errors import first_line
from edge_infer.manifest import Status
from edge_infer.table import render

if TYPE_CHECKING:
    from edge_infer.bundle import BundleIndex
    from exporters.api import ExportOutcome

STATUS_TEXT = {Status.VERIFIED: "verified", Status.FAILED: "failed verification", Status.ERROR: "export failed",
               Status.SKIPPED: "not verified", Status.NOT_RECORDED: "not recorded"}  # fmt: skip


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export a model to verified artifacts (ONNX, TorchScript, int8, ...)")
    p.add_argument("--model", default="efficientnet_lite0", help="registered or torchvision model name")
    p.add_argument("--weights", default=None, help="local weights file (state_dict) for the model")
    p.add_argument("--formats", default=None,
                   help="comma list of formats, or 'all' (default: onnx; with --target, the target's formats)")
    p.add_argument("--target", default=None, metavar="NAME",
                   help="build a bundle for a device profile (see `edge-infer targets`): its formats and settings, "
                   "manifests, bundle.json and a README with the install and run commands")
    p.add_argument("--out", default=None, help="output folder (default: out/MODEL, or out/MODEL-TARGET)")
    p.add_argument("--calibration", default=None, help="folder of images for int8 calibration")
    p.add_argument("--no-verify", action="store_true", help="skip verification against eager (not recommended)")
    p.add_argument("--image-input", choices=("float32", "uint8"), default=None,
                   help="what an onnx artifact takes: the float tensor (default) or uint8 pixels NHWC, normalised "
                   "inside the graph (docs/formats.md)")
    p.add_argument("--json", action="store_true", help="print a JSON document instead of a table")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when any format fails (default with --target: exit 0 when the recommended artifact "
                   "is verified for the target, failed ones shown as ❎)")
    p.set_defaults(run=run)


def _export(args: argparse.Namespace, **extra: Any) -> list[ExportOutcome]:
    from edge_infer.build import export

    return export(
        args.model,
        formats=args.formats or "onnx",
        out=args.out or f"out/{args.model}",
        weights=args.weights,
        calibration=args.calibration,
        verify=not args.no_verify,
        **({"image_input": args.image_input} if args.image_input else {}),
        **extra,
    )


def run(args: argparse.Namespace, **extra: Any) -> int:
    if args.target:
        return run_bundle(args, **extra)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcomes = _export(args, **extra)
    _report_warnings(caught)
    if args.json:
        print(json.dumps({"artifacts": [o.to_dict() for o in outcomes]}, indent=2))
    else:
        print(format_table(outcomes))
    return 0 if all(o.status.usable for o in outcomes) else 1


def run_bundle(args: argparse.Namespace, **extra: Any) -> int:
    """``export --target NAME``: the target's formats with its settings, as one bundle folder for the device."""
    from edge_infer.build import build_bundle
    from edge_infer.profiles import get_target

    target = get_target(args.target)  # an unknown name fails here, listing the valid ones, before torch loads
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build_bundle(args.model, target, args.out, formats=args.formats, weights=args.weights,
                              calibration=args.calibration, verify=not args.no_verify,
                              **({"image_input": args.image_input} if args.image_input else {}), **extra)  # fmt: skip
    _report_warnings(caught)
    if args.json:
        print(json.dumps({"bundle": str(result.path), **result.index.to_dict()}, indent=2))
    else:
        print(format_table(result.outcomes))
        rec = result.recommended
        print(f"bundle for {target.name}: {result.path}/ (README.md has the install and run commands)")
        print(f"recommended: {rec}" if rec else "no artifact verified: nothing to recommend for this target")
    return bundle_exit_code(result.index, strict=getattr(args, "strict", False))


def bundle_exit_code(index: BundleIndex, *, strict: bool = False) -> int:
    """0 when the recommended artifact is usable for the target (verified in its arithmetic, or not verified on
    request) and, with ``strict``, every format is; else 1."""
    records = {r.file: r for r in index.artifacts if r.file}
    rec = records.get(index.recommended) if index.recommended else None
    if rec is None or not rec.status.usable:
        return 1
    return 1 if strict and not all(r.status.usable for r in index.artifacts) else 0


def _report_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Library warnings (torch deprecations) shown once each, one short line, on stderr."""
    seen: set[str] = set()
    for w in caught:
        first = first_line(w.message) if isinstance(w.message, Warning) else str(w.message)
        key = f"{w.category.__name__}: {first[:160]}"
        if key not in seen and len(seen) < 3:
            seen.add(key)
            print(f"note: {key}", file=sys.stderr)
    if len(caught) > len(seen) and seen:
        print(f"note: {len(caught) - len(seen)} more library warning(s) hidden", file=sys.stderr)


def format_table(outcomes: list[ExportOutcome]) -> str:
    rows = []
    for o in outcomes:
        v = o.verification
        size = f"{o.artifact.manifest.size_bytes / 1e6:.2f} MB" if o.artifact else ""
        diff = f"{v.max_abs_diff:.2e}" if v.max_abs_diff is not None else ""
        agree = f"{v.top1_agreement * 100:.1f}% of {v.count}" if v.top1_agreement is not None else ""
        note = o.error or v.error or v.note or ""
        if v.note and note != v.note and o.status is Status.FAILED:  # why it failed, then the numbers (int8 rule)
            note = f"{note}; {v.note}"
        if v.disagreements and o.status is Status.FAILED:
            note = note or "disagrees on: " + ", ".join(v.disagreements[:5])
        rows.append([o.format, str(o.artifact.path) if o.artifact else "", size,
                     f"{o.status.symbol} {STATUS_TEXT[o.status]}", diff, agree, note])  # fmt: skip
    return render(["format", "file", "size", "status", "max |diff|", "top-1 agreement", "note"], rows,
                  align="lllllrl")  # fmt: skip
