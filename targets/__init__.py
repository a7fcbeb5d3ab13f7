"""Device profiles, one per device kind, and the quantized-engine rules. Stdlib only; imports nothing of edge_infer
(read by both the build side and the device side; the table by name is ``edge_infer.profiles.TARGETS``)."""

from targets.engines import NATIVE_QENGINES, TORCH_QENGINE_ARCHES, engine_problem, qengine_runs_on
from targets.profiles import BUILTIN_PROFILES, OnnxQuantSettings, ProfileError, Target

__all__ = [
    "BUILTIN_PROFILES",
    "NATIVE_QENGINES",
    "TORCH_QENGINE_ARCHES",
    "OnnxQuantSettings",
    "ProfileError",
    "Target",
    "engine_problem",
    "qengine_runs_on",
]
