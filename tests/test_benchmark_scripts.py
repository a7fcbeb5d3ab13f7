"""Every script under benchmarks/ starts, and writes the versioned bench JSON that ``edge-infer compare`` reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_starts(script: str) -> None:
    """Its imports resolve against today's package (a renamed module breaks a script before any test runs it)."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "usage:" in run.stdout


def test_tabular_script_writes_bench_json(tmp_path: Path) -> None:
    """A real run (iris exported, ONNX and joblib timed by the bench core) writes kind ``tabular`` JSON that
    ``BenchReport.load`` and ``edge-infer compare`` read back."""
    from edge_infer.bench import BenchReport

    out = tmp_path / "tabular.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tabular.py"), "--runs", "10", "--batch", "50",
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    report = BenchReport.load(out)
    assert report.kind == "tabular" and not report.errors
    cells = {(r.format, r.batch) for r in report.results}
    assert cells == {("onnx", 1), ("joblib", 1), ("onnx", 50), ("joblib", 50)}
    assert all(len(r.samples_ms) == 10 if r.batch == 1 else len(r.samples_ms) >= 10 for r in report.results)
    compare = subprocess.run([sys.executable, "-m", "edge_infer", "compare", str(out), str(out)], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert compare.returncode == 0, compare.stderr
    assert "tabular" in compare.stdout and "joblib" in compare.stdout
