"""The int8 rule: when an int8 artifact counts as faithful to its fp32 model. numpy only (the device re-checks too).

Top-1 agreement over all images counts coin flips as much as quantization error: where fp32 itself is unsure
(textures, micrographs), a logit moved by 0.1 changes the top-1. So the rule judges what quantization controls:

(a) **confident agreement**: on the images where fp32's top-1 probability is at least 0.3 (at least 60 of them),
    int8's top-1 is fp32's on at least 97%;
(b) **top-5 coverage**: fp32's top-1 is within int8's top-5 on at least 99% of all images;
(c) **labelled accuracy**: the labelled digits accuracy drops by at most 1 point (when the exporter measured it);
(d) **reported, not judged**: overall top-1 agreement, mean |logit diff| and Wilson 95% intervals.

    rule = Int8Rule()
    verdict = rule.judge(fp32_logits, int8_logits, names, digits_drop_points=0.2)
    verdict.passed, verdict.failed_checks, verdict.to_dict()
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from edge_infer.errors import SpecError
from edge_infer.ranking import ranked

CHECKS = ("confident_count", "confident_agreement", "top5_coverage", "digits")


@dataclass(frozen=True, kw_only=True)
class Int8Rule:
    """The thresholds of the rule, as data (docs/int8.md explains each number)."""

    confident_probability: float = 0.3  # fp32 top-1 probability from which an image counts as "confident"
    min_confident_images: int = 60
    min_confident_agreement: float = 0.97
    min_top5_coverage: float = 0.99
    max_digits_drop_points: float = 1.0

    def __post_init__(self) -> None:
        for name in ("confident_probability", "min_confident_agreement", "min_top5_coverage"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SpecError(f"Int8Rule.{name} must be within [0, 1], got {value!r}")
        if self.min_confident_images < 0 or self.max_digits_drop_points < 0:
            raise SpecError("Int8Rule.min_confident_images and max_digits_drop_points must not be negative")

    def for_recheck(self) -> Int8Rule:
        """The same thresholds on a handful of photos (a device re-check): no minimum number of confident images."""
        return replace(self, min_confident_images=1)

    def judge(
        self,
        reference: Any,
        outputs: Any,
        names: Sequence[str] = (),
        *,
        digits_drop_points: float | None = None,
        reference_kind: str = "logits",
    ) -> RuleVerdict:
        """Judge ``outputs`` (int8, (N, classes)) against ``reference`` (fp32, same shape) on N images.

        ``reference_kind``: ``logits`` (softmax gives the probabilities) or ``probabilities``. ``names`` label the
        images in the verdict's lists of disagreements.
        """
        ref = np.asarray(reference, dtype=np.float64)
        out = np.asarray(outputs, dtype=np.float64)
        if ref.ndim != 2 or ref.shape != out.shape:
            raise SpecError(f"the int8 rule compares (N, classes) outputs of one shape; got {ref.shape} and {out.shape}")
        if names and len(names) != len(ref):
            raise SpecError(f"{len(names)} image names for {len(ref)} outputs")
        labels = list(names) or [f"image {i + 1}" for i in range(len(ref))]
        if not np.all(np.isfinite(out)):
            bad = [labels[i] for i in np.flatnonzero(~np.all(np.isfinite(out), axis=1))]
            return RuleVerdict.non_finite(self, len(ref), bad)
        probs = ref if reference_kind == "probabilities" else _softmax(ref)
        top_ref, top_out = ref.argmax(axis=1), out.argmax(axis=1)
        agree = top_ref == top_out
        confident = probs.max(axis=1) >= self.confident_probability
        top5 = ranked(out, 5)  # ties ranked as the predictors rank them (edge_infer.ranking)
        covered = np.array([top_ref[i] in top5[i] for i in range(len(out))], dtype=bool)
        n_conf, n_conf_agree = int(confident.sum()), int((agree & confident).sum())
        verdict = RuleVerdict(
            rule=self,
            images=len(ref),
            confident_images=n_conf,
            confident_agreement=n_conf_agree / n_conf if n_conf else None,
            confident_interval=wilson_interval(n_conf_agree, n_conf),
            top5_coverage=float(covered.mean()) if len(ref) else None,
            overall_agreement=float(agree.mean()) if len(ref) else None,
            overall_interval=wilson_interval(int(agree.sum()), len(ref)),
            mean_abs_logit_diff=float(np.abs(out - ref).mean()) if reference_kind == "logits" and ref.size else None,
            digits_drop_points=None if digits_drop_points is None else float(digits_drop_points),
            confident_disagreements=tuple(labels[i] for i in np.flatnonzero(confident & ~agree)),
            top5_misses=tuple(labels[i] for i in np.flatnonzero(~covered)),
        )
        return verdict.with_checks()


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion ``successes / n`` ((0, 1) when ``n`` is 0)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


@dataclass(frozen=True, kw_only=True)
class RuleVerdict:
    """The rule applied to one set of outputs: every number it reported, and which checks failed (and why)."""

    rule: Int8Rule = field(default_factory=Int8Rule)
    images: int = 0
    confident_images: int = 0
    confident_agreement: float | None = None
    confident_interval: tuple[float, float] = (0.0, 1.0)
    top5_coverage: float | None = None
    overall_agreement: float | None = None
    overall_interval: tuple[float, float] = (0.0, 1.0)
    mean_abs_logit_diff: float | None = None
    digits_drop_points: float | None = None
    confident_disagreements: tuple[str, ...] = ()
    top5_misses: tuple[str, ...] = ()
    failed_checks: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failed_checks

    @property
    def reason(self) -> str:
        """One line: why it failed, or the headline numbers when it passed."""
        if self.reasons:
            return "; ".join(self.reasons)
        agree = f"{self.confident_agreement:.1%}" if self.confident_agreement is not None else "n/a"
        return (f"passes the int8 rule: {agree} of {self.confident_images} confident images agree, "
                f"fp32 top-1 in int8 top-5 on {self.top5_coverage or 0:.1%} of {self.images}")  # fmt: skip

    @classmethod
    def non_finite(cls, rule: Int8Rule, images: int, bad: Sequence[str]) -> RuleVerdict:
        return cls(rule=rule, images=images, failed_checks=("finite",),
                   reasons=(f"non-finite outputs on {len(bad)} image(s): {', '.join(bad[:5])}",))  # fmt: skip

    def with_checks(self) -> RuleVerdict:
        """This verdict with ``failed_checks`` and ``reasons`` computed from its numbers."""
        r, failed, reasons = self.rule, [], []
        if self.confident_images < r.min_confident_images:
            failed.append("confident_count")
            reasons.append(f"only {self.confident_images} image(s) where fp32 is at least {r.confident_probability} "
                           f"sure; the rule needs {r.min_confident_images}")  # fmt: skip
        if self.confident_images and (self.confident_agreement or 0.0) < r.min_confident_agreement:
            failed.append("confident_agreement")
            reasons.append(f"top-1 agrees on {self.confident_agreement:.1%} of {self.confident_images} confident "
                           f"images (needs {r.min_confident_agreement:.0%}; flips: "
                           f"{', '.join(self.confident_disagreements[:4])})")  # fmt: skip
        if self.images and (self.top5_coverage or 0.0) < r.min_top5_coverage:
            failed.append("top5_coverage")
            reasons.append(f"fp32 top-1 in int8 top-5 on {self.top5_coverage:.1%} of {self.images} images "
                           f"(needs {r.min_top5_coverage:.0%})")  # fmt: skip
        if self.digits_drop_points is not None and self.digits_drop_points > r.max_digits_drop_points:
            failed.append("digits")
            reasons.append(f"labelled digits accuracy drops {self.digits_drop_points:.1f} points "
                           f"(max {r.max_digits_drop_points})")  # fmt: skip
        if not self.images:
            failed.append("confident_count")
            reasons.append("no images to judge")
        return replace(self, failed_checks=tuple(dict.fromkeys(failed)), reasons=tuple(reasons))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rule"] = asdict(self.rule)
        d["passed"] = self.passed
        for key in ("confident_interval", "overall_interval", "confident_disagreements", "top5_misses",
                    "failed_checks", "reasons"):  # fmt: skip
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RuleVerdict:
        """Read back what ``to_dict`` wrote (unknown keys ignored, missing ones defaulted)."""
        if not isinstance(d, Mapping):
            raise SpecError(f"an int8 rule verdict must be an object, got {type(d).__name__}")
        known = {f for f in cls.__dataclass_fields__} - {"rule"}
        values: dict[str, Any] = {k: d[k] for k in known if k in d}
        for key in ("confident_interval", "overall_interval"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
        for key in ("confident_disagreements", "top5_misses", "failed_checks", "reasons"):
            if key in values:
                values[key] = tuple(str(v) for v in values[key])
        rule_d = d.get("rule") or {}
        rule = Int8Rule(**{k: v for k, v in rule_d.items() if k in Int8Rule.__dataclass_fields__})
        return cls(rule=rule, **values)


DEFAULT_RULE = Int8Rule()

__all__ = ["CHECKS", "DEFAULT_RULE", "Int8Rule", "RuleVerdict", "wilson_interval"]
