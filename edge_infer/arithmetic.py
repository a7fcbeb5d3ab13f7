"""Which int8 arithmetic a device computes, and whether an artifact's int8 verdict holds for it. Stdlib only.

The same int8 file gives different answers on different CPUs. Two arithmetics matter (``ARITHMETICS``):

- ``exact32``: int8 products summed in 32 bits, exactly what the QDQ graph means. AVX-512 VNNI / AVX-VNNI
  (``vpdpbusd``), Arm dot-product (``sdot``/``udot``, ``asimddp``) and every aarch64 core (NEON widens to 16 bits
  per product and accumulates in 32), and x86 without AVX2 (SSE widens before ``pmaddwd``).
- ``pairs16``: AVX2 (or AVX-512 without VNNI) kernels that multiply u8 x s8 with ``vpmaddubsw``, which adds two
  products in a signed 16-bit lane and saturates when weights use the full int8 range (255 * 127 * 2 > 32767).

A backend may avoid the 16-bit pairs on such a CPU (``BackendInfo.int8_pairs16_on_avx2`` is False), or avoid them
under a configuration the artifact records (``BackendInfo.int8_exact_config``: ONNX Runtime's
``session.x64quantprecision``). ``effective_arithmetic`` combines the three. An int8 manifest records one verdict
per arithmetic it was judged in (``verification.by_arithmetic``); ``verification_here`` says whether one holds here.
``EDGE_INFER_INT8_ARITHMETIC=exact32|pairs16`` overrides what the CPU flags say (under emulation, for instance).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from targets.engines import INT8_ARITHMETICS

from edge_infer.errors import SpecError, UnknownNameError
from edge_infer.manifest import Manifest, Status

if TYPE_CHECKING:
    from edge_infer.backends import BackendInfo

EXACT32, PAIRS16 = "exact32", "pairs16"
ARITHMETICS: dict[str, str] = INT8_ARITHMETICS  # the one table, in targets (profiles name their arithmetic)
ENV_OVERRIDE = "EDGE_INFER_INT8_ARITHMETIC"
BY_ARITHMETIC = "by_arithmetic"  # the key of the per-arithmetic verdicts in the manifest's verification section


def check_arithmetic(name: str) -> str:
    """``name`` if it is a known arithmetic, else UnknownNameError listing them."""
    if name not in ARITHMETICS:
        raise UnknownNameError("int8 arithmetic", name, ARITHMETICS)
    return name


def int8_arithmetic(arch: str | None = None, isa: Mapping[str, bool] | None = None) -> str:
    """The int8 arithmetic of a CPU (default: this one, from its flags; ``EDGE_INFER_INT8_ARITHMETIC`` overrides)."""
    if arch is None and isa is None:
        forced = os.environ.get(ENV_OVERRIDE, "").strip()
        if forced:
            return check_arithmetic(forced)
        from edge_infer.machine import _static_info  # cached CPU facts (machine_info() also reads library versions)

        facts = _static_info()
        arch, isa = facts["arch"], facts["isa"]
    isa = isa or {}
    if arch != "x86_64":
        return EXACT32  # aarch64: dot-product or NEON widening, both sum in 32 bits
    if isa.get("vnni"):
        return EXACT32
    return PAIRS16 if isa.get("avx2") or isa.get("avx512") else EXACT32


def effective_arithmetic(device: str, backend: BackendInfo, session_config: Mapping[str, str]) -> str:
    """What ``backend`` computes on a ``device``-arithmetic CPU for an artifact with these runtime settings."""
    if device != PAIRS16 or not backend.int8_pairs16_on_avx2:
        return EXACT32
    exact = backend.int8_exact_config
    if exact and all(session_config.get(k) == v for k, v in exact.items()):
        return EXACT32
    return PAIRS16


def runtime_config_here(
    session_config: Mapping[str, str], backend: BackendInfo, device: str | None = None
) -> dict[str, str]:
    """The session config to apply on this device: the backend's exactness switch (``int8_exact_config``) only where
    its int8 sums would otherwise be ``pairs16``. Where the CPU sums in 32 bits anyway the switch changes no answer
    (bit-identical outputs measured on AVX-512 VNNI) and only costs speed: ONNX Runtime's u8 x u8 kernels ran the
    default model at 1.0-1.1x fp32's speed there, its VNNI kernels at 2.1-2.4x (docs/int8.md)."""
    exact = backend.int8_exact_config
    if not exact or (device or int8_arithmetic()) != EXACT32:
        return dict(session_config)
    return {k: v for k, v in session_config.items() if exact.get(k) != v}


@dataclass(frozen=True, kw_only=True)
class ArithmeticVerdict:
    """One recorded verdict: the status in one arithmetic, how it was computed, the backend whose int8 kernels
    computed it (None in manifests written before 2026-12-07), and the rule's numbers."""

    arithmetic: str
    status: Status
    how: str = ""
    backend: str | None = None
    numbers: Mapping[str, Any] = field(default_factory=dict)  # the rule's verdict (``RuleVerdict.to_dict()``)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "how": self.how, **({"backend": self.backend} if self.backend else {}),
                **self.numbers}  # fmt: skip

    @classmethod
    def from_dict(cls, arithmetic: str, d: Any) -> ArithmeticVerdict:
        if not isinstance(d, Mapping):
            raise SpecError(f"verification.{BY_ARITHMETIC}.{arithmetic} must be an object")
        rest = {k: v for k, v in d.items() if k not in ("status", "how", "backend")}
        backend = d.get("backend")
        return cls(arithmetic=arithmetic, status=Status.parse(d.get("status")), how=str(d.get("how", "")),
                   backend=str(backend) if backend else None, numbers=rest)  # fmt: skip


def recorded_verdicts(manifest: Manifest) -> dict[str, ArithmeticVerdict]:
    """The per-arithmetic verdicts of a manifest (empty for fp32 artifacts and manifests written before them).

    An arithmetic this edge-infer does not know is kept out (a newer manifest), never guessed at."""
    raw = manifest.verification.details.get(BY_ARITHMETIC)
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): ArithmeticVerdict.from_dict(str(k), v) for k, v in raw.items() if k in ARITHMETICS}


@dataclass(frozen=True, kw_only=True)
class VerificationHere:
    """Whether an artifact's verdict holds on this device with a backend, and whether it must be re-checked here.

    ``arithmetic``: what this device computes with that backend (None for an fp32 artifact); ``verdict``: the
    recorded verdict for it, if any.
    """

    holds: bool
    needs_recheck: bool
    reason: str
    arithmetic: str | None = None
    verdict: ArithmeticVerdict | None = None


def verification_here(
    manifest: Manifest, backend: str | None = None, *, device: str | None = None
) -> VerificationHere:
    """Does ``manifest``'s verdict hold on this device when ``backend`` (default: the one ``load()`` would pick)
    runs it? ``device`` overrides this CPU's arithmetic (``int8_arithmetic()``)."""
    from edge_infer.backends import choose_backend
    from edge_infer.formats import get_format

    fmt = get_format(manifest.format)
    status = manifest.status
    if not fmt.quantized:
        return VerificationHere(holds=status.usable, needs_recheck=False,
                                reason=f"{fmt.name} is not int8: its verdict ({status.value}) holds on every device")  # fmt: skip
    verdicts = recorded_verdicts(manifest)
    if not verdicts:
        return VerificationHere(holds=status.usable, needs_recheck=False,
                                reason=f"{status.value} on the machine that built it (the manifest predates "
                                       "per-arithmetic verdicts)")  # fmt: skip
    info = choose_backend(fmt, backend, task=manifest.task)
    here = effective_arithmetic(device or int8_arithmetic(), info, manifest.runtime.onnxruntime_session_config)
    verdict = verdicts.get(here)
    if verdict is not None and verdict.backend and verdict.backend != info.name:
        # the same arithmetic, other kernels: OpenVINO running an ONNX Runtime-judged file on VNNI rounds
        # requantization its own way (logits up to 0.42 apart, 13 of 195 top-1 changed, 2026-12-07, docs/int8.md)
        return VerificationHere(holds=False, needs_recheck=True, arithmetic=here,
                                reason=f"judged in {here} arithmetic with {verdict.backend}'s int8 kernels; "
                                       f"{info.name} rounds int8 differently")  # fmt: skip
    if verdict is not None:
        holds = verdict.status is Status.VERIFIED
        how = f" ({verdict.how})" if verdict.how else ""
        return VerificationHere(holds=holds, needs_recheck=False, arithmetic=here, verdict=verdict,
                                reason=f"{verdict.status.value} in {here} arithmetic{how}, which {info.name} "
                                       "computes on this device")  # fmt: skip
    judged = ", ".join(sorted(verdicts))
    return VerificationHere(holds=False, needs_recheck=True, arithmetic=here,
                            reason=f"judged in {judged} arithmetic only; {info.name} on this device computes {here} "
                                   f"({ARITHMETICS[here]})")  # fmt: skip


__all__ = ["ARITHMETICS", "ArithmeticVerdict", "VerificationHere", "effective_arithmetic", "int8_arithmetic",
           "recorded_verdicts", "runtime_config_here", "verification_here"]  # fmt: skip
