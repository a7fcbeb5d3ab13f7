"""Device profiles, one per device kind. Stdlib only: read by both the build side and the device side."""

from targets.profiles import (
    PROFILES,
    OnnxQuantSettings,
    Target,
    get_target,
    qengine_runs_on,
    target_names,
)

__all__ = ["PROFILES", "OnnxQuantSettings", "Target", "get_target", "qengine_runs_on", "target_names"]
