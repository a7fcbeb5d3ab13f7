"""``edge-infer doctor [BUNDLE]``: this device, its backends, the target that fits, the bundle artifact to use."""

from __future__ import annotations

import argparse
import json
from typing import Any

from edge_infer.table import render
from edge_infer.errors import ArtifactError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="describe this device, installed backends, the fitting target, and which "
                       "artifact of a bundle to run")  # fmt: skip
    p.add_argument("bundle", nargs="?", default=None, metavar="BUNDLE_OR_ARTIFACT",
                   help="a bundle folder from `edge-infer export --target NAME`, or one artifact: which artifact and "
                   "backend to run here, with auto's stored choice")  # fmt: skip
    p.add_argument("--threads", type=int, default=None,
                   help="the thread count to show auto's stored choice for (default: the recommendation's)")
    p.add_argument("--json", action="store_true", help="print a JSON document instead of text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from edge_infer.doctor import doctor_report

    from edge_infer.threads import check_threads

    report = doctor_report(args.bundle, threads=check_threads(args.threads, what="--threads"))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    if "bundle" in report and report.get("recommended") is None:
        problems = "; ".join(f"{r['file']}: {r['why']}" for r in report["bundle"]["rejected"]) or (
            "none of its formats was exported (see bundle.json and its README); rebuild it")
        raise ArtifactError(f"no artifact in {args.bundle} can run on this device: {problems}")
    return 0


def _gib(mb: float | None) -> str:
    return f"{mb / 1024:.1f} GiB" if mb else "?"


def format_report(r: dict[str, Any]) -> str:
    d = r["device"]
    isa = " ".join(k for k, v in d["isa"].items() if v) or "-"
    lines = [
        "device",
        f"  cpu      {d['cpu_model']} ({d['arch']}), {d['cores_physical']} physical / {d['cores_logical']} logical "
        f"cores, {d['cores_usable']} usable by this process",
        f"  isa      {isa}",
        f"  memory   {_gib(d['memory_total_mb'])} total, {_gib(d['memory_available_mb'])} available",
        f"  os       {d['os']} {d['os_release']} {d['distro']}".rstrip() + f", Python {d['python']}",
    ]
    if d.get("device_model"):
        lines.append(f"  model    {d['device_model']}")
    rows = [[n, b["package"], b["version"] or "not installed", "yes" if b["available"] else b["install"]]
            for n, b in r["backends"].items()]  # fmt: skip
    lines += ["", render(["backend", "package", "version", "usable"], rows)]
    pk = ", ".join(f"{p} {v or 'NOT INSTALLED'}" for p, v in r["runtime_packages"].items())
    lines += [f"runtime packages: {pk}", ""]
    fit = [t["name"] for t in r["targets"] if t["fits"]]
    lines.append(f"target: {r['target']} fits this device" if r["target"] else "target: no profile fits this device")
    lines += [f"  {t['name']}: {'fits' if t['fits'] else '; '.join(t['why_not'])}" for t in r["targets"]
              if t["name"] not in fit[:1]]  # fmt: skip
    if "bundle" in r:
        lines += _bundle_lines(r)
    if "auto" in r:
        lines += _auto_lines(r["auto"], r.get("artifact"))
    return "\n".join(lines)


def _auto_lines(a: dict[str, Any], artifact: str | None) -> list[str]:
    lines = ["", *([f"artifact {artifact}"] if artifact else []), f"auto ({a['threads']} thread(s)):"]
    if a["stored"] is not None:
        lines.append(f"  stored choice: {a['stored']['summary']}")
    elif a["static"] is None:
        lines.append("  nothing verified can run here")
    elif a["measure"] is None:
        lines.append(f"  runs {a['static']}: the only verified configuration installed here")
    else:
        lines += [f"  not measured on this machine yet: static recommendation {a['static']}; the first load with "
                  f"auto measures {', '.join(a['candidates'])}", f"  to measure now: {a['measure']}"]  # fmt: skip
    if a.get("run"):
        lines.append(f"  run with auto's choice: {a['run']}")
    lines += [f"  not considered: {r['what']}: {r['reason']}" for r in a["rejected"]]
    return lines


def _bundle_lines(r: dict[str, Any]) -> list[str]:
    b, rec = r["bundle"], r.get("recommended")
    rejected = {x["file"]: x["why"] for x in b["rejected"]}
    lines = ["", f"bundle {b['path']} (built for {b['target'] or 'no target: a plain folder of artifacts'})"]
    for a in b["artifacts"]:
        if rec and a["file"] == rec["file"]:
            mark = "-> recommended"
        elif a["file"] in rejected:
            mark = "x  " + rejected[a["file"]]
        else:
            mark = "ok (a later choice)"
        lines.append(f"  {a['file']}  [{a['format']}, {a['status']}]  {mark}")
    if rec:
        lines += [f"recommended: {rec['file']} with {rec['threads']} thread(s)", "  why:",
                  *[f"    - {part}" for part in rec["why"]],
                  f"  run: {rec['command']}"]  # fmt: skip
    else:
        lines.append("recommended: none (see the reasons above)")
    return lines
