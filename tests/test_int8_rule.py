"""The int8 rule on constructed logits: each check at and across its threshold, and what the verdict reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_infer.errors import SpecError
from edge_infer.int8_rule import Int8Rule, RuleVerdict, wilson_interval

CLASSES = 20


def _logits(n_confident: int, n_unsure: int, seed: int = 0) -> np.ndarray:
    """fp32-like logits: ``n_confident`` rows with one class far ahead (p ~ 0.9), ``n_unsure`` rows nearly flat."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 0.05, size=(n_confident + n_unsure, CLASSES))
    for i in range(n_confident):
        z[i, i % CLASSES] += 5.0
    for i in range(n_confident, n_confident + n_unsure):
        z[i, i % CLASSES] += 0.2  # top-1 by a hair, p ~ 0.06
    return z


def _flip(z: np.ndarray, rows: list[int], *, out_of_top5: bool = False) -> np.ndarray:
    """A copy of ``z`` whose top-1 moves to another class on ``rows`` (and out of the top-5 with ``out_of_top5``)."""
    q = z.copy()
    for i in rows:
        top = int(z[i].argmax())
        if out_of_top5:
            q[i, top] = q[i].min() - 1.0
        else:
            other = (top + 1) % CLASSES
            q[i, other] = q[i, top] + 1.0
    return q


def test_identical_outputs_pass_and_report_every_number() -> None:
    z = _logits(60, 40)
    v = Int8Rule().judge(z, z)
    assert v.passed and v.failed_checks == ()
    assert v.images == 100 and v.confident_images == 60
    assert v.confident_agreement == 1.0 and v.top5_coverage == 1.0 and v.overall_agreement == 1.0
    assert v.mean_abs_logit_diff == 0.0
    lo, hi = v.confident_interval
    assert 0.93 < lo < 1.0 and hi == 1.0  # Wilson interval of 60/60
    assert "passes the int8 rule" in v.reason


def test_coin_flips_on_unsure_images_do_not_fail_the_rule() -> None:
    z = _logits(60, 40)
    q = _flip(z, list(range(60, 100)))  # every unsure image flips, within the top-5
    v = Int8Rule().judge(z, q)
    assert v.passed, v.reasons
    assert v.overall_agreement == pytest.approx(0.6)


def test_confident_agreement_threshold() -> None:
    z = _logits(100, 0)
    assert Int8Rule().judge(z, _flip(z, [0, 1, 2])).passed  # 97/100: at the threshold
    v = Int8Rule().judge(z, _flip(z, [0, 1, 2, 3]))
    assert v.failed_checks == ("confident_agreement",)
    assert v.confident_agreement == pytest.approx(0.96)
    assert v.confident_disagreements == ("image 1", "image 2", "image 3", "image 4")
    assert "96.0% of 100 confident images" in v.reason


def test_too_few_confident_images_fail_even_when_all_agree() -> None:
    z = _logits(59, 50)
    v = Int8Rule().judge(z, z)
    assert v.failed_checks == ("confident_count",)
    assert "only 59 image(s)" in v.reason and "needs 60" in v.reason
    assert Int8Rule().for_recheck().judge(z[:3], z[:3]).passed  # a device re-check on a few photos


def test_top5_coverage_counts_every_image() -> None:
    z = _logits(60, 140)
    names = [f"photo{i}" for i in range(200)]
    v = Int8Rule().judge(z, _flip(z, [150, 160], out_of_top5=True), names)  # 198/200 = 99%
    assert v.passed
    v = Int8Rule().judge(z, _flip(z, [150, 160, 170], out_of_top5=True), names)
    assert v.failed_checks == ("top5_coverage",) and v.top5_misses == ("photo150", "photo160", "photo170")


def test_digits_drop_is_judged_when_given() -> None:
    z = _logits(60, 0)
    assert Int8Rule().judge(z, z, digits_drop_points=1.0).passed
    v = Int8Rule().judge(z, z, digits_drop_points=1.2)
    assert v.failed_checks == ("digits",) and "drops 1.2 points" in v.reason


def test_several_failures_are_all_named() -> None:
    z = _logits(10, 0)
    v = Int8Rule().judge(z, _flip(z, [0, 1], out_of_top5=True), digits_drop_points=3.0)
    assert v.failed_checks == ("confident_count", "confident_agreement", "top5_coverage", "digits")
    assert len(v.reasons) == 4


def test_non_finite_outputs_and_bad_shapes() -> None:
    z = _logits(60, 0)
    q = z.copy()
    q[5, 0] = np.nan
    v = Int8Rule().judge(z, q)
    assert not v.passed and v.failed_checks == ("finite",) and "image 6" in v.reason
    with pytest.raises(SpecError, match="one shape"):
        Int8Rule().judge(z, z[:, :10])
    with pytest.raises(SpecError, match="2 image names"):
        Int8Rule().judge(z, z, ["a", "b"])
    with pytest.raises(SpecError, match="within"):
        Int8Rule(min_top5_coverage=1.5)
    assert not Int8Rule().judge(np.zeros((0, 5)), np.zeros((0, 5))).passed


def test_probabilities_as_reference() -> None:
    z = _logits(60, 0)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    v = Int8Rule().judge(p, p, reference_kind="probabilities")
    assert v.passed and v.mean_abs_logit_diff is None


def test_wilson_interval() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(33, 33)
    assert lo == pytest.approx(0.8957, abs=1e-3) and hi == 1.0
    lo, hi = wilson_interval(85, 96)
    assert lo < 85 / 96 < hi and hi - lo < 0.15


def test_verdict_round_trips_through_json() -> None:
    z = _logits(60, 20)
    v = Int8Rule(min_confident_images=70).judge(z, _flip(z, [0]), digits_drop_points=0.2)
    back = RuleVerdict.from_dict(json.loads(json.dumps(v.to_dict())))
    assert back == v and back.rule.min_confident_images == 70 and not back.passed
    with pytest.raises(SpecError):
        RuleVerdict.from_dict([])  # type: ignore[arg-type]


def test_exact_ties_rank_the_lower_class_first_everywhere() -> None:
    """int8 logits are requantized to 8 bits, so exact ties happen (chelsea.png, 2026-12-07). The rule, the
    predictors' top-k and numpy's argmax must rank a tie the same way, or one CPU seems to disagree with another on
    identical logits."""
    from edge_infer.predictors.image import ImageClassifier
    from edge_infer.ranking import ranked

    rng = np.random.default_rng(0)
    levels = rng.integers(0, 6, size=(500, 40)).astype(np.float32)  # few levels: many ties, also at the 5th place
    order = ranked(levels, 5)
    assert (order[:, 0] == levels.argmax(axis=1)).all()
    for row, idx in zip(levels, order):
        expected = sorted(range(len(row)), key=lambda i: (-row[i], i))[:5]
        assert idx.tolist() == expected
    tie = np.zeros(10, dtype=np.float32)
    tie[[3, 7]] = 0.4
    # the predictors' top-k on a tie (to_prediction needs only the labels: a minimal stand-in, no model)
    stand_in = type("S", (), {"labels": [f"c{i}" for i in range(10)], "_label": ImageClassifier._label})()
    p = ImageClassifier.to_prediction(stand_in, tie, 2, {}, None)  # type: ignore[arg-type]
    assert (p.class_id, p.top_k[1].class_id) == (3, 7)
    # the rule: fp32 says class 7, int8 ties 3 and 7: top-1 is 3 (a flip, as the predictor would answer), top-5 holds
    ref = np.full((60, 10), -5.0, dtype=np.float32)
    ref[:, 7] = 5.0
    out = np.tile(tie, (60, 1))
    v = Int8Rule().judge(ref, out)
    assert v.confident_agreement == 0.0 and v.top5_coverage == 1.0
