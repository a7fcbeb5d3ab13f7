"""The table of target profiles by name: the device kinds of ``targets/`` (which is stdlib only and imports nothing
of edge_infer), registered in one ``Registry`` so an unknown name lists the valid ones and a duplicate is refused."""

from __future__ import annotations

from targets import BUILTIN_PROFILES, ProfileError, Target

from edge_infer.errors import SpecError, TargetError
from edge_infer.registry import Registry

TARGETS: Registry[str, Target] = Registry("target")
for _t in BUILTIN_PROFILES:
    TARGETS.register(_t.name, _t)


def get_target(name: str | Target) -> Target:
    """The profile called ``name`` (a Target is returned as is); an unknown name lists the valid ones."""
    if isinstance(name, Target):
        return name
    if not isinstance(name, str):
        raise SpecError(f"target must be a targets.Target or a profile name, got {type(name).__name__}")
    return TARGETS[name]


def register_target(target: Target) -> Target:
    """Add a profile of your own to the table (its name must be new)."""
    if not isinstance(target, Target):
        raise TargetError(f"expected a targets.Target, got {type(target).__name__}")
    return TARGETS.register(target.name, target)


def target_names() -> list[str]:
    return TARGETS.names()


__all__ = ["TARGETS", "ProfileError", "get_target", "register_target", "target_names"]
