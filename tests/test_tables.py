"""The tables agree: every format has an exporter and a backend, every backend row names an extra that exists and
installs what the backend imports, every predictor class is where its row says, registries refuse duplicates."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from edge_infer.backends import BACKENDS, choose_backend, get_backend
from edge_infer.errors import DuplicateNameError, SpecError, UnknownNameError
from edge_infer.formats import FORMATS, format_names, get_format
from edge_infer.predictors import Predictor, task_base
from edge_infer.profiles import TARGETS
from edge_infer.registry import Registry
from edge_infer.tasks import TASKS, get_task

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYPROJECT = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8"))


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _installs(extra: str | None, seen: frozenset[str] = frozenset()) -> set[str]:
    """Distribution names ``pip install 'edge-infer[extra]'`` brings (None: the core dependencies), nested extras
    followed."""
    project = PYPROJECT["project"]
    reqs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    names = {project["name"]} | {_name(r) for r in project["dependencies"]}
    for r in reqs:
        nested = re.match(r"edge-infer\[([^\]]+)\]", r)
        if nested:
            for inner in nested.group(1).split(","):
                if inner not in seen:
                    names |= _installs(inner.strip(), seen | {inner})
        else:
            names.add(_name(r))
    return names


def test_every_public_format_has_an_exporter_and_a_backend() -> None:
    from exporters.registry import EXPORTERS

    for fmt in format_names():
        info = get_format(fmt)
        for task in info.tasks:
            takes = get_task(task).takes
            assert f"{fmt}/{takes}" in EXPORTERS, f"{fmt} has no exporter for {task} models"
        for task in info.tasks:  # the default backend runs every task of the format; each other one at least one
            assert task in get_backend(info.backend).predictors, f"{info.backend} cannot run {task} {fmt} models"
        for backend in info.backends:
            row = get_backend(backend)
            assert set(info.tasks) & set(row.predictors), f"backend {backend} runs no task of format {fmt}"
    for key, exporter in EXPORTERS.items():
        assert exporter.format in FORMATS, key


def test_every_backend_row_is_true() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    for name, row in BACKENDS.items():
        assert row.extra is None or row.extra in extras, f"{name}: extra {row.extra!r} is not in pyproject.toml"
        assert row.distributions[0].lower() in _installs(row.extra), f"{name}: {row.install_hint} does not install it"
        if row.extra is not None:
            assert row.install_hint == f"pip install 'edge-infer[{row.extra}]'"
        for task, ref in row.predictors.items():
            cls = row.predictor_class(task)
            assert issubclass(cls, task_base(get_task(task))), f"{ref} is not a {task} predictor"
            assert issubclass(cls, Predictor) and cls.backend == name, ref


def test_every_backend_is_used_by_a_format_or_is_the_baseline() -> None:
    used = {b for f in FORMATS.values() for b in f.backends}
    assert set(BACKENDS) - used == {"torch"}, "the eager baseline runs no format; every other backend runs one"


def test_tasks_and_targets_name_only_known_things() -> None:
    for f in FORMATS.values():
        assert all(t in TASKS for t in f.tasks), f.name
    for t in TARGETS.values():
        assert all(f in format_names() for f in t.formats), t.name


def test_a_backend_that_cannot_run_the_format_is_named_with_those_that_can() -> None:
    with pytest.raises(SpecError, match="cannot run torchscript artifacts; backends that can: torchscript"):
        choose_backend(get_format("torchscript"), "onnxruntime")
    with pytest.raises(UnknownNameError, match="did you mean 'onnxruntime'"):
        choose_backend(get_format("onnx"), "onnxrt")


def test_registry_refuses_duplicates_and_lists_the_closest_names() -> None:
    r: Registry[str, int] = Registry("colour")
    r.register("red", 1)
    r.register("green", 2)
    with pytest.raises(DuplicateNameError, match="colour 'red' is already registered"):
        r.register("red", 3)
    with pytest.raises(UnknownNameError, match="unknown colour 'gren'; did you mean 'green'"):
        r["gren"]
    assert r.get("blue") is None and r.get("blue", 0) == 0 and list(r) == ["red", "green"] and "red" in r


def test_registry_loader_runs_once_before_the_first_lookup() -> None:
    calls = []
    r: Registry[str, int] = Registry("thing", loader=lambda: (calls.append(1), r.register("late", 1)))
    assert calls == []
    assert r["late"] == 1 and len(r) == 1 and calls == [1]


def test_every_engine_row_names_an_extra_that_installs_it() -> None:
    from edge_infer.engines import ENGINES

    extras = PYPROJECT["project"]["optional-dependencies"]
    for name, row in ENGINES.items():
        if row.module is None:
            continue
        assert row.extra in extras, f"engine {name}: extra {row.extra!r} is not in pyproject.toml"
        assert row.module in _installs(row.extra), f"engine {name}: the {row.extra} extra does not install it"
