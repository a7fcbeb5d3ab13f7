"""int8 artifacts judged by the int8 rule in the arithmetic of the device they are for (docs/int8.md).

The verifier runs the artifact with this machine's kernels (``load()``), so that verdict is this machine's
arithmetic (``edge_infer.arithmetic``). When the target's arithmetic differs, a reference runner of the format
computes it here: ``exact32`` for an ONNX file is ONNX Runtime's own integer kernels with 32-bit sums (all graph
optimizations, with the backend's exactness switch ``session.x64quantprecision``). VNNI kernels, AVX2's u8 x u8 kernels
and ARM64's dot-product kernels give the same logits (bit-identical on 194 of 195 held-out images, 2026-12-07,
docs/int8.md); the float QDQ graph (optimizations off) rounds requantization differently, and its verdicts did not hold
on arm64 near the rule's thresholds. For targets that sum in 32 bits the reference is recorded even when this
machine's kernels are exact too. The verdicts go into ``verification.by_arithmetic``; the status is the target's.
The fp32 answers on the bundle's sample photos go into ``verification.recheck``, for ``load()`` on a device whose
arithmetic was not judged (``edge_infer.recheck``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_infer.arithmetic import BY_ARITHMETIC, EXACT32, ArithmeticVerdict, effective_arithmetic, int8_arithmetic
from edge_infer.artifact import Artifact
from edge_infer.backends import choose_backend, get_backend
from edge_infer.int8_rule import DEFAULT_RULE, RuleVerdict
from edge_infer.machine import machine_info
from edge_infer.manifest import Status, Verification
from edge_infer.recheck import RECHECK, RECHECK_TOP

if TYPE_CHECKING:
    from exporters.context import ExportContext

# (format, arithmetic) -> a function computing that arithmetic's outputs on this machine: (artifact, batch) -> logits
ReferenceRunner = Callable[[Artifact, np.ndarray], np.ndarray]
REFERENCE_RUNNERS: dict[tuple[str, str], tuple[ReferenceRunner, str]] = {}


def reference_runner(fmt: str, arithmetic: str, how: str) -> Callable[[ReferenceRunner], ReferenceRunner]:
    """Register the decorated function as the way to compute ``arithmetic`` for ``fmt`` artifacts on any machine."""

    def deco(fn: ReferenceRunner) -> ReferenceRunner:
        REFERENCE_RUNNERS[(fmt, arithmetic)] = (fn, how)
        return fn

    return deco


@reference_runner("onnx-int8", EXACT32, "ONNX Runtime's integer kernels with 32-bit sums (all optimizations, "
                                        "session.x64quantprecision): what VNNI, AVX2 u8xu8 and ARM64 kernels compute")  # fmt: skip
def onnx_integer_reference(artifact: Artifact, batch: np.ndarray) -> np.ndarray:
    """The int8 file's logits as CPUs that sum in 32 bits compute them: ONNX Runtime's fused integer kernels, with the
    backend's exactness switch (on AVX2 it replaces the saturating u8 x s8 pairs by u8 x u8; elsewhere a no-op)."""
    from edge_infer.backends.onnxrt import make_session

    config = get_backend("onnxruntime").int8_exact_config or {}
    sess = make_session(str(artifact.path), 1, config=config)
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: batch[i : i + 1]})[0] for i in range(len(batch))])


def target_arithmetic(artifact: Artifact, ctx: ExportContext) -> str:
    """The arithmetic the artifact computes on the target's CPU with the format's default backend (no target: this
    machine's, with the backend ``load()`` picks here)."""
    fmt, config = artifact.format, artifact.manifest.runtime.onnxruntime_session_config
    if ctx.target is None:
        return effective_arithmetic(int8_arithmetic(), choose_backend(fmt, task=artifact.manifest.task), config)
    return effective_arithmetic(ctx.target.int8_arithmetic, get_backend(fmt.backend), config)


def _entry(arithmetic: str, verdict: RuleVerdict, how: str, backend: str) -> dict[str, Any]:
    """The ``verification.by_arithmetic`` entry of ``arithmetic``, in the form ``edge_infer.arithmetic`` reads back."""
    status = Status.VERIFIED if verdict.passed else Status.FAILED
    return ArithmeticVerdict(arithmetic=arithmetic, status=status, how=how, backend=backend,
                             numbers=verdict.to_dict()).to_dict()  # fmt: skip


def judge_int8(
    artifact: Artifact, ctx: ExportContext, outputs: np.ndarray, batch: np.ndarray, idx: list[int], names: list[str],
    report: Verification,
) -> Verification:  # fmt: skip
    """``report`` with the int8 rule's verdicts per arithmetic, the status of the target's, and the recheck data."""
    reference = ctx.reference_outputs[idx]
    info = choose_backend(artifact.format, task=artifact.manifest.task)
    here = effective_arithmetic(int8_arithmetic(), info, artifact.manifest.runtime.onnxruntime_session_config)
    cpu = machine_info()
    machine = _entry(here, DEFAULT_RULE.judge(reference, outputs, names),
                     f"{info.name} kernels on the build machine ({cpu.cpu_model}; {cpu.isa_summary})", info.name)  # fmt: skip
    verdicts: dict[str, dict[str, Any]] = {here: machine}
    wanted = target_arithmetic(artifact, ctx)
    runner = REFERENCE_RUNNERS.get((artifact.format.name, wanted))
    if runner is not None and (wanted != here or ctx.target is not None):  # a device target: its exact reference
        fn, how = runner
        verdicts[wanted] = _entry(wanted, DEFAULT_RULE.judge(reference, fn(artifact, batch[idx]), names), how,
                                  artifact.format.backend)  # the reference runs the format's own backend
    details: dict[str, Any] = {BY_ARITHMETIC: verdicts, "target_arithmetic": wanted, RECHECK: recheck_data(ctx),
                               "build_machine": {"arithmetic": here, **machine}}  # fmt: skip
    chosen = verdicts.get(wanted)
    if chosen is None:
        return replace(report, status=Status.FAILED,
                       error=f"cannot judge {artifact.format.name} in {wanted} arithmetic (the target's) on this "
                             f"machine, which computes {here}").with_details(**details)  # fmt: skip
    return apply_verdict(report.with_details(**details), chosen)


def apply_verdict(report: Verification, chosen: Mapping[str, Any]) -> Verification:
    """``report`` with the status, error and note of the target's verdict."""
    verdict = RuleVerdict.from_dict(chosen)
    status = Status.VERIFIED if verdict.passed else Status.FAILED
    note = (f"int8 rule ({report.details.get('target_arithmetic')}): {verdict.confident_agreement or 0:.1%} of "
            f"{verdict.confident_images} confident, top-5 {verdict.top5_coverage or 0:.1%} of {verdict.images}")
    return replace(report, status=status, error=None if verdict.passed else verdict.reason,
                   note=note).with_details(int8_rule=verdict.to_dict())  # fmt: skip


def with_digits(report: Verification, drop_points: float) -> Verification:
    """Fold the labelled digits accuracy drop (the exporter's own check) into every recorded verdict."""
    verdicts = dict(report.details.get(BY_ARITHMETIC) or {})
    if not verdicts:
        return report
    for key, entry in verdicts.items():
        verdict = replace(RuleVerdict.from_dict(entry), digits_drop_points=drop_points).with_checks()
        status = Status.VERIFIED if verdict.passed else Status.FAILED
        verdicts[key] = {**entry, **verdict.to_dict(), "status": status.value}
    report = report.with_details(**{BY_ARITHMETIC: verdicts})
    chosen = verdicts.get(str(report.details.get("target_arithmetic")))
    return apply_verdict(report, chosen) if chosen is not None else report


def recheck_data(ctx: ExportContext) -> dict[str, Any]:
    """fp32's answers on the demo photos (the bundle's samples/): file sha256, top-1 and its probability, top-k."""
    from exporters.samples import DEMO_PHOTOS

    all_names = list(ctx.verify_images)
    photos: dict[str, Any] = {}
    for name, locate in DEMO_PHOTOS.items():
        if name not in all_names:
            continue
        z = ctx.reference_outputs[all_names.index(name)].astype(np.float64)
        p = np.exp(z - z.max())
        p /= p.sum()
        top = np.argsort(-z)[:RECHECK_TOP]
        photos[name] = {"sha256": hashlib.sha256(locate().read_bytes()).hexdigest(), "top": [int(i) for i in top],
                        "logits": [round(float(z[i]), 4) for i in top], "top1_probability": round(float(p[top[0]]), 4)}  # fmt: skip
    return {"reference": "eager fp32 (PyTorch)", "photos": photos}
