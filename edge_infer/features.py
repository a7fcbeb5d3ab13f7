"""Feature rows for tabular models: the manifest's feature facts, and validation of rows with clear errors.

A row is a sequence of numbers in the manifest's feature order, or a mapping ``{feature name: number}``.
Several rows are a sequence of rows or a 2-D numpy array. Every problem raises an ``InputError`` naming the
feature (and the row, when there are several): missing or unknown features, wrong count, non-numbers, NaN or
infinity, and values outside the manifest's optional range rules (``{"min": 0}``, ``{"max": 10}``).
"""

from __future__ import annotations

import csv
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_infer.errors import ArtifactError, InputError

RULE_KEYS = ("min", "max")


@dataclass(frozen=True, kw_only=True)
class FeatureSpec:
    """Feature names in model order and optional per-feature range rules (``{"min": 0, "max": 10}``)."""

    names: tuple[str, ...]
    rules: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.names:
            raise ArtifactError("a tabular model needs at least one feature")
        if len(set(self.names)) != len(self.names):
            raise ArtifactError(f"feature names must be unique, got {list(self.names)}")
        for name, rule in self.rules.items():
            if name not in self.names:
                raise ArtifactError(f"range rule for unknown feature {name!r} (features: {', '.join(self.names)})")
            bad = [k for k in rule if k not in RULE_KEYS]
            if bad or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in rule.values()):
                raise ArtifactError(f"range rule for {name!r} must be like {{'min': 0, 'max': 10}}, got {dict(rule)}")

    @property
    def count(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "count": self.count, "rules": {k: dict(v) for k, v in self.rules.items()}}

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "manifest") -> FeatureSpec:
        if not isinstance(d, Mapping) or not isinstance(d.get("names"), list):
            raise ArtifactError(f"{where}: a tabular manifest needs a 'features' section with a 'names' list")
        names = tuple(str(n) for n in d["names"])
        if "count" in d and d["count"] != len(names):
            raise ArtifactError(f"{where}: features.count is {d['count']} but {len(names)} names are listed")
        rules = d.get("rules") or {}
        if not isinstance(rules, Mapping):
            raise ArtifactError(f"{where}: features.rules must be an object")
        try:
            return cls(names=names, rules={str(k): dict(v) for k, v in rules.items()})
        except ArtifactError as exc:
            raise ArtifactError(f"{where}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"{where}: invalid features section ({exc})") from exc

    # -- validation ----------------------------------------------------------------------------------------------
    def rows(self, features: Any) -> tuple[np.ndarray, bool]:
        """Validate one row or many; returns a float64 (N, count) array and whether the input was a single row."""
        if isinstance(features, np.ndarray):
            if features.ndim == 1:
                return self.array([features], single=True), True
            if features.ndim == 2:
                return self.array(features), False
            raise InputError(f"features must be one row or a 2-D array of rows, got an array of shape {features.shape}")
        if isinstance(features, Mapping) or _is_row(features):
            return self.row_array(features, row=None)[None], True
        if isinstance(features, Sequence) and not isinstance(features, (str, bytes)):
            if len(features) == 0:
                raise InputError("no feature rows given")
            return np.stack([self.row_array(r, row=i + 1) for i, r in enumerate(features)]), False
        raise InputError(
            f"features must be a list of {self.count} numbers, a {{name: number}} mapping, or a list of rows; "
            f"got {type(features).__name__}"
        )

    def row_array(self, values: Any, *, row: int | None = None) -> np.ndarray:
        """Validate one row (sequence in feature order, or a {name: value} mapping) -> float64 (count,)."""
        if isinstance(values, Mapping):
            self.check_names(list(values), row)
            values = [values[n] for n in self.names]
        elif isinstance(values, np.ndarray) and values.ndim == 1:
            values = values.tolist()
        elif not _is_sequence(values):
            at = f"row {row}" if row is not None else "features"
            raise InputError(f"{at}: expected a list of {self.count} numbers or a {{name: number}} mapping, "
                             f"got {type(values).__name__}")  # fmt: skip
        if len(values) != self.count:
            at = f"row {row}: " if row is not None else ""
            raise InputError(f"{at}expected {self.count} features ({', '.join(self.names)}), got {len(values)}")
        numbers = [_number(v, name, row) for v, name in zip(values, self.names)]
        for name, x in zip(self.names, numbers):
            rule = self.rules.get(name)
            if rule and not (rule.get("min", x) <= x <= rule.get("max", x)):  # plain floats: fast for one row
                self._check_range(name, np.array([x]), first_row=row)
        return np.array(numbers, dtype=np.float64)

    def check_names(self, given: list[Any], row: int | None) -> None:
        at = f"row {row}: " if row is not None else ""
        expected = f"(expected: {', '.join(self.names)})"
        missing = [n for n in self.names if n not in given]
        if missing:
            raise InputError(f"{at}missing feature(s) {', '.join(map(repr, missing))} {expected}")
        unknown = [str(k) for k in given if k not in self.names]
        if unknown:
            raise InputError(f"{at}unknown feature(s) {', '.join(map(repr, unknown))} {expected}")

    def array(self, values: Any, *, single: bool = False) -> np.ndarray:
        """Validate a numeric 2-D array (fast path for many rows)."""
        try:
            x = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            return np.stack([self.row_array(r, row=None if single else i + 1) for i, r in enumerate(values)])
        if x.ndim != 2 or x.shape[1] != self.count:
            got = x.shape[-1] if x.ndim else 0
            raise InputError(f"expected {self.count} features ({', '.join(self.names)}), got {got}")
        if x.shape[0] == 0:
            raise InputError("no feature rows given")
        bad = ~np.isfinite(x)
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            raise InputError(f"{_where(self.names[j], None if single else i + 1)} is {_nonfinite(x[i, j])}")
        for j, name in enumerate(self.names):
            self._check_range(name, x[:, j], first_row=None if single else 1)
        return x

    def _check_range(self, name: str, column: np.ndarray, *, first_row: int | None) -> None:
        """Apply the feature's range rule to a column; ``first_row`` numbers the rows in messages (None: one row)."""
        rule = self.rules.get(name)
        if not rule:
            return
        checks = [(rule.get("min"), np.less, "below its minimum"), (rule.get("max"), np.greater, "above its maximum")]
        for limit, outside, word in checks:
            if limit is None:
                continue
            bad = outside(column, limit)
            if bad.any():
                i = int(np.argmax(bad))
                where = _where(name, None if first_row is None else first_row + i)
                raise InputError(f"{where} is {column[i]:g}, {word} {limit:g} (range rule in the model's manifest)")


def _number(value: Any, name: str, row: int | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise InputError(f"{_where(name, row)} is not a number: {value!r}")
    try:
        x = float(value.strip() if isinstance(value, str) else value)
    except ValueError as exc:
        raise InputError(f"{_where(name, row)} is not a number: {value!r}") from exc
    if not math.isfinite(x):
        raise InputError(f"{_where(name, row)} is {_nonfinite(x)}")
    return x


def _nonfinite(x: float) -> str:
    return "NaN (not a number)" if math.isnan(x) else "infinite"


def _where(name: str, row: int | None) -> str:
    return f"row {row}: feature {name!r}" if row is not None else f"feature {name!r}"


def _is_sequence(x: Any) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


def _is_row(x: Any) -> bool:
    """A flat sequence of scalars (one row), as opposed to a sequence of rows."""
    return _is_sequence(x) and len(x) > 0 and not any(
        _is_sequence(v) or isinstance(v, (Mapping, np.ndarray)) for v in x
    )


def read_csv_rows(path: Path, names: tuple[str, ...]) -> list[list[str]]:
    """CSV cells per data row, in the manifest's feature order (a header, if present, may order columns freely)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read as CSV ({exc})") from exc
    if not rows:
        raise InputError(f"{path}: no rows")
    first = [c.strip() for c in rows[0]]
    # a header names a feature, or has no number at all; a first data row with a typo stays a data row
    if any(c in names for c in first) or not any(_is_number(c) for c in first):
        head = [c.strip() for c in rows.pop(0)]
        if len(set(head)) != len(head):
            raise InputError(f"{path}: header repeats a column name: {head}")
        missing = [n for n in names if n not in head]
        unknown = [h for h in head if h not in names]
        if missing or unknown:
            what = f"missing feature(s) {missing}" if missing else f"unknown column(s) {unknown}"
            raise InputError(f"{path}: header has {what} (expected: {', '.join(names)})")
        order = [head.index(n) for n in names]
        rows = [[r[i] if i < len(r) else "" for i in order] if len(r) == len(head) else r for r in rows]
        if not rows:
            raise InputError(f"{path}: a header but no rows")
    return rows


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
