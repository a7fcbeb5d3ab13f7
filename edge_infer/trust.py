"""May an artifact be trusted on a backend on this device? The rule ``backend="auto"`` applies to every candidate."""

from __future__ import annotations

import platform

from edge_infer.formats import get_format
from edge_infer.manifest import Manifest, Status


def verified_backend(manifest: Manifest) -> str:
    """The backend the artifact's verification ran on: recorded in the manifest, else its format's default (the one
    the exporter's verification loads)."""
    recorded = manifest.verification.details.get("backend")
    return str(recorded) if recorded else get_format(manifest.format).backend


def trust_problem(manifest: Manifest, backend: str, *, device: str | None = None) -> str | None:
    """Why the artifact may not be trusted on ``backend`` on this device (None: it may).

    Verified at export; an int8 artifact by the verdict recorded for the arithmetic ``backend`` computes on this
    device (``edge_infer.arithmetic.verification_here``): one judged only in another arithmetic would need a re-check
    here first, which auto does not do for the user. An int8 artifact from before per-arithmetic verdicts is trusted
    only on the backend it was verified on: int8 kernels sum and round differently per engine and CPU.
    """
    from targets import engine_problem

    from edge_infer.arithmetic import recorded_verdicts, verification_here
    from edge_infer.machine import normalize_arch

    quantized = get_format(manifest.format).quantized
    if quantized and recorded_verdicts(manifest):
        here = verification_here(manifest, backend, device=device)  # device: this CPU's arithmetic unless given
        if not here.holds:
            return f"{'not re-checked on this device: ' if here.needs_recheck else 'int8 '}{here.reason}"
    else:
        status = manifest.status
        if status is not Status.VERIFIED:
            why = manifest.verification.error or manifest.verification.note
            return f"not verified ({status}{': ' + str(why).splitlines()[0][:100] if why else ''})"
        if quantized:
            on = verified_backend(manifest)
            if backend != on:
                return f"quantized, verified on {on} only (int8 arithmetic differs per engine)"
    return engine_problem(manifest.runtime.torch_qengine, normalize_arch(platform.machine()))


__all__ = ["trust_problem", "verified_backend"]
