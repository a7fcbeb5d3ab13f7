"""Another version of the project's HTTP client as a request form of ``benchmarks/http_overhead.py``, so the
client before and after a change are measured in one interleaved run (``--client-baseline LABEL:FILE``).

    git show main:edge_infer/serve/client.py > /tmp/before_client.py
    register_client_form("before", "/tmp/before_client.py")     # the form "remote@before"
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from edge_infer.bench.http_forms import FORMS, RequestForm, remote_form
from edge_infer.errors import BenchError


def register_client_form(label: str, file: str | Path) -> str:
    """Load ``file`` (a copy of ``edge_infer/serve/client.py`` from another commit) as a module of its own and
    register the request form ``remote@LABEL`` that sends with its ``RemotePredictor``; returns the form's name."""
    path = Path(file)
    name = f"_edge_infer_client_{label.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise BenchError(f"{path}: not a Python file to load a client from")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)

    def connect(url: str) -> Any:
        return module.RemotePredictor.connect(url, timeout_s=120)

    form = f"remote@{label}"
    FORMS.register(form, RequestForm(name=form, description=f"RemotePredictor from {path}", open=remote_form(connect)))
    return form
