"""ONNX Runtime mobile format (``.ort``): converted with onnxruntime's own tool, checked with its usability checker.

The float ONNX model is converted with ``onnxruntime.tools.convert_onnx_models_to_ort`` ("Fixed" optimization
style). For ARM targets (and by default, since ``.ort`` is the phone format) the x86-only NCHWc layout optimizations
are left out, so the file runs on any CPU; an x86-64 target gets them baked in. The required-operators list that the
tool writes (input to an ONNX Runtime minimal build) and the mobile usability checker's verdict go in the manifest.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from edge_infer.errors import ExportError, first_line
from exporters.context import ExportContext, ExportedFile
from exporters.onnx_fp32 import check_dynamic_batch
from exporters.onnx_int8 import float_onnx
from exporters.registry import Tolerance, register_exporter


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def mobile_usability(onnx_path: Path) -> dict[str, Any]:
    """Run ONNX Runtime's mobile usability checker; its per-EP verdicts and recommendation, for the manifest."""
    from onnxruntime.tools.mobile_helpers import usability_checker

    logger = logging.getLogger("edge_infer.ort_usability")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = _Lines()
    logger.addHandler(handler)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            try_eps = usability_checker.analyze_model(onnx_path, skip_optimize=False, logger=logger)
    except Exception as exc:  # noqa: BLE001  the checker is advisory: record that it could not run
        return {"ran": False, "error": first_line(exc, with_type=True)}
    finally:
        logger.removeHandler(handler)
    verdicts: dict[str, dict[str, str]] = {}
    for line in handler.lines:
        for marker, key in ((" as is: ", "as_is"), (" if modified to have fixed input shapes: ", "fixed_shapes")):
            if line.startswith("Model should perform well with ") and marker in line:
                ep, _, verdict = line[len("Model should perform well with ") :].partition(marker)
                verdicts.setdefault(ep, {})[key] = verdict.strip()
    return {
        "ran": True,
        "tool": "onnxruntime.tools.check_onnx_model_mobile_usability",
        "execution_providers": verdicts,
        "recommendation": "compare NNAPI (Android) / CoreML (iOS) with the CPU EP" if try_eps else "use the CPU EP",
        "dynamic_shapes": any("dynamic" in ln.lower() and "input" in ln.lower() for ln in handler.lines),
    }


def convert_to_ort(onnx_path: Path, out_dir: Path, platform: str) -> tuple[Path, list[str]]:
    """Convert with onnxruntime's tool; returns the .ort file and the required-operators config lines."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    quiet = logging.getLogger("ort_format_model.utils")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            convert_onnx_models_to_ort(onnx_path, output_dir=out_dir, optimization_styles=[OptimizationStyle.Fixed],
                                       target_platform=platform)  # fmt: skip
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"convert_onnx_models_to_ort failed: {first_line(exc)}") from exc
    finally:
        quiet.setLevel(level)
    ort_files = sorted(out_dir.glob("*.ort"))
    if not ort_files:
        raise ExportError("convert_onnx_models_to_ort wrote no .ort file")
    configs = sorted(out_dir.glob("*.config"))
    ops = [ln for ln in configs[0].read_text().splitlines() if ln and not ln.startswith("#")] if configs else []
    return ort_files[0], ops


@register_exporter("ort", tolerance=Tolerance(max_abs_diff=1e-3, min_top1_agreement=1.0))
def export_ort(ctx: ExportContext) -> ExportedFile:
    path = ctx.path_for(".ort")
    platform = "amd64" if ctx.target is not None and ctx.target.arch == "x86_64" else "arm"
    with tempfile.TemporaryDirectory(prefix="edge-infer-ort-") as tmp:
        src, float_info = float_onnx(ctx)
        info: dict[str, Any] = {"float_export": float_info}
        ort_file, ops = convert_to_ort(src, Path(tmp) / "ort", platform)
        shutil.copyfile(ort_file, path)
        usability = mobile_usability(src)
    check_dynamic_batch(path, ctx)
    info.update(
        converter="onnxruntime.tools.convert_onnx_models_to_ort",
        optimization_style="Fixed",
        target_platform=platform,
        nchwc_layout=platform == "amd64",
        required_operators=ops,
        dynamic_batch_checked=[1, 2],
        mobile_usability=usability,
    )
    notes = [] if usability.get("ran") else [f"mobile usability checker did not run: {usability.get('error')}"]
    return ExportedFile(path=path, export_info=info, notes=notes)
