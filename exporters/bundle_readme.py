"""The README written into a bundle: what is in it, the exact install and run commands, and why each setting."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from targets import Target

from edge_infer.bundle import BundleIndex
from edge_infer.manifest import Status

RUNTIME_PACKAGES = "numpy, onnxruntime, opencv-python-headless, pillow"
STATUS_TEXT = {Status.VERIFIED: "verified", Status.FAILED: "FAILED verification", Status.ERROR: "export failed",
               Status.SKIPPED: "not verified", Status.NOT_RECORDED: "not recorded"}  # fmt: skip


def _settings_rows(t: Target) -> list[str]:
    values = {
        "arch": t.arch,
        "threads": str(t.threads),
        "formats": ", ".join(t.formats),
        "torch_qengine": t.torch_qengine,
        "onnx_quant": json.dumps({k: v for k, v in t.to_dict()["onnx_quant"].items()}),
        "cpu_features": ", ".join(t.cpu_features) or "-",
        "systems": ", ".join(t.systems),
    }
    return [f"| `{k}` | `{v}` | {t.reasons.get(k, '')} |" for k, v in values.items()]


def _artifact_rows(index: BundleIndex) -> list[str]:
    rows = []
    for r in index.artifacts:
        size = f"{r.size_bytes / 1e6:.1f} MB" if r.file else ""
        check = STATUS_TEXT[r.status]
        if r.top1_agreement is not None:
            diff = r.max_abs_diff if r.max_abs_diff is not None else float("nan")
            check += f": top-1 {r.top1_agreement * 100:.0f}% of {r.images or '?'} images, max diff {diff:.1e}"
        note = r.error.replace("|", "/").splitlines()[0][:160] if r.error else ""
        if r.file and r.file == index.recommended:
            note = ("**recommended** " + note).strip()
        rows.append(f"| {r.format} | `{r.file or '-'}` | {size} | {check} | {note} |")
    return rows


def _commented(pairs: list[tuple[str, str]]) -> list[str]:
    """Shell lines with their comments aligned in one column."""
    width = max(len(cmd) for cmd, note in pairs if note) if any(note for _, note in pairs) else 0
    return [f"{cmd.ljust(width)}  # {note}" if note else cmd for cmd, note in pairs]


def _install_block(index: BundleIndex, folder: str) -> list[str]:
    lines = [
        "```bash",
        *_commented([(f"cd {folder}", "this folder, copied to the device"),
                     ("python3 -m venv .venv", "Debian 12 / Raspberry Pi OS refuse system-wide pip installs (PEP 668)"),
                     (". .venv/bin/activate", ""), (index.install, "")]),  # fmt: skip
        "```",
        "",
        f"This installs edge-infer with its runtime dependencies only ({RUNTIME_PACKAGES}); pip fetches the",
        "device's own wheels of those from PyPI. No torch, no build tools. Needs Python 3.10+ on a 64-bit OS.",
    ]
    if not index.wheel:
        lines.append("This bundle has no edge-infer wheel (built with `wheel=False` or without edge-infer's source "
                     "tree): install edge-infer from its source tree or a wheel of the same version.")
    return lines


def _run_block(index: BundleIndex, t: Target) -> list[str]:
    rec = index.recommended
    doctor = ("edge-infer doctor .", "this device vs. this bundle: which artifact to use, and why")
    lines = ["```bash", *_commented([doctor, (index.run or "", "")] if rec else [doctor])]
    if rec:
        lines += ["```", "", "The same from Python:", "", "```python", "import edge_infer as ei", "",
                  f'with ei.load("{rec}", threads={t.threads}) as predictor:',
                  '    result = predictor.predict("samples/flower.jpg", top_k=3)',
                  "    print(result.label, result.score, result.timings_ms)", "```"]  # fmt: skip
    else:
        lines += ["```", "", "**No artifact in this bundle verified**; see the table below and rebuild the bundle."]
    return lines


def _mobile_block(index: BundleIndex) -> list[str]:
    files = {r.format: r.file for r in index.artifacts if r.file}
    lines = ["## In the app", ""]
    if files.get("ort"):
        lines.append(f"- `{files['ort']}`: load it with ONNX Runtime Mobile (`onnxruntime-android` on Maven, "
                     "`onnxruntime-objc` / `onnxruntime-c` on CocoaPods).")  # fmt: skip
    if files.get("torchscript-mobile"):
        lines.append(f"- `{files['torchscript-mobile']}`: load it with the PyTorch lite interpreter "
                     "(`LiteModuleLoader.load` on Android).")  # fmt: skip
    lines += ["- Feed it what the `.json` manifest beside it says: resize, crop, mean, std, channel order, layout; "
              "labels are in the manifest too.",
              "- The Python commands above check the bundle on a Linux arm64 board or a laptop first.", ""]  # fmt: skip
    return lines


def render_readme(index: BundleIndex, t: Target, folder_name: str = "BUNDLE") -> str:
    folder = PurePosixPath(folder_name).name or "BUNDLE"
    lines = [
        f"# {index.model} for {t.name}: {t.description}",
        "",
        f"Built by edge-infer {index.edge_infer_version} on {index.created} with `edge-infer export "
        f"--target {t.name}`. Copy this whole folder to the device (`rsync -a` or `scp -r`): every model file needs "
        "the `.json` manifest beside it, which carries its preprocessing, labels and sha256.",
        "",
        "## Install",
        "",
        *_install_block(index, folder),
        "",
        "## Run",
        "",
        *_run_block(index, t),
        "",
    ]
    if set(t.systems) & {"android", "ios"}:
        lines += _mobile_block(index)
    lines += ["## Artifacts, in this target's order of preference", "",
              "| format | file | size | checked against eager PyTorch | note |", "|---|---|---|---|---|",
              *_artifact_rows(index), "",
              "`edge-infer doctor .` recommends the first one that verified and can run on the device.", "",
              "## Target settings, and why", "", "| setting | value | why |", "|---|---|---|",
              *_settings_rows(t), ""]  # fmt: skip
    if t.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in t.notes], ""]
    return "\n".join(lines)
