"""The layout tells the truth: the import contracts in pyproject.toml hold (checked by import-linter itself)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Contracts: 5 kept, 0 broken." in run.stdout, run.stdout[-2000:]


def test_no_task_spelling_branches_left() -> None:
    """Code asks the task table what a task takes; it never parses the task's name."""
    offenders = []
    for path in [*ROOT.glob("edge_infer/**/*.py"), *ROOT.glob("exporters/**/*.py"), *ROOT.glob("benchmarks/*.py")]:
        text = path.read_text(encoding="utf-8")
        if 'startswith("tabular' in text or "startswith('tabular" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
