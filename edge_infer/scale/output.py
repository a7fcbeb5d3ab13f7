"""The output of a Ray job: a folder of part files written by Ray's own writers (JSON lines or Parquet, by the
folder's suffix), never overwritten, and resumable by the same rule as the local ``--out`` file.

``results.jsonl/`` holds ``*.json`` part files of JSON lines (``cat results.jsonl/*.json`` is one JSON-lines file);
``results.parquet/`` holds ``*.parquet`` files, read as one table by pyarrow, pandas, DuckDB or
``ray.data.read_parquet``. A rerun with ``resume`` collects the input of every row already there (successful or
not), cuts a JSON line left half-written by a kill, and writes the rest as new part files beside the old ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_infer.batch import drop_partial_line, input_key, is_error_record, read_records
from edge_infer.errors import SpecError

if TYPE_CHECKING:
    import ray.data

SUFFIXES = {".jsonl": "json", ".json": "json", ".ndjson": "json", ".parquet": "parquet", ".pq": "parquet"}
PART_SUFFIX = {"json": ".json", "parquet": ".parquet"}


def output_format(path: str) -> str:
    """``json`` or ``parquet`` from the output's suffix; a folder without one gets JSON lines."""
    suffix = Path(path.rstrip("/")).suffix.lower()
    if not suffix:
        return "json"
    if suffix not in SUFFIXES:
        raise SpecError(f"--out {path}: unknown output suffix {suffix!r}; use NAME.jsonl (JSON lines) or "
                        "NAME.parquet (Parquet), each a folder of part files")  # fmt: skip
    return SUFFIXES[suffix]


@dataclass
class Tally:
    """Rows in a set of part files, how many are errors, and the first error messages."""

    rows: int = 0
    errors: int = 0
    messages: list[str] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def add(self, name: Any, error: Any, keep: int) -> None:
        self.rows += 1
        self.keys.add(input_key(str(name)))
        if error is not None:
            self.errors += 1
            if len(self.messages) < keep:
                self.messages.append(str(error))


class ResultsFolder:
    """A local output folder of part files (see the module docstring). ``open()`` refuses an existing non-empty
    folder without ``resume``, and with ``resume`` reads what is there: ``done`` (input keys), ``previous_errors``,
    ``repaired`` (part files whose cut last line was removed)."""

    def __init__(self, path: str | os.PathLike[str], *, resume: bool = False) -> None:
        self.path = Path(path)
        self.format = output_format(str(path))
        self.resume = resume
        self.done: set[str] = set()
        self.previous_errors = 0
        self.repaired: list[Path] = []
        self._before: set[Path] = set()

    def parts(self) -> list[Path]:
        """The part files in the folder, sorted by name."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if p.is_file() and p.suffix == PART_SUFFIX[self.format])

    def open(self) -> ResultsFolder:
        if "://" in str(self.path):
            raise SpecError(f"--out {self.path}: write to a local folder (on a cluster, one every node sees)")
        if self.path.exists() and not self.path.is_dir():
            raise SpecError(f"--out {self.path}: is a file; --engine ray writes a folder of part files, give a new "
                            "name (NAME.jsonl or NAME.parquet)")  # fmt: skip
        if not self.path.parent.is_dir():
            raise SpecError(f"--out {self.path}: folder {self.path.parent} does not exist")
        existing = self.path.is_dir() and any(self.path.iterdir())
        if existing and not self.resume:
            raise SpecError(f"{self.path}: already exists; pass --resume to continue it, or choose another name")
        if existing:
            tally = self.tally(self.parts(), repair=True)
            self.done, self.previous_errors = tally.keys, tally.errors
        self._before = set(self.parts())
        return self

    def new_parts(self) -> list[Path]:
        """Part files written since ``open()``."""
        return [p for p in self.parts() if p not in self._before]

    def tally(self, parts: list[Path], *, repair: bool = False, keep: int = 0) -> Tally:
        """Count the rows and errors of ``parts``; ``repair``: cut a half-written last line off a JSON part."""
        tally = Tally()
        for part in parts:
            if self.format == "json":
                self._tally_json(part, tally, repair, keep)
            else:
                self._tally_parquet(part, tally, keep)
        return tally

    def _tally_json(self, part: Path, tally: Tally, repair: bool, keep: int) -> None:
        records, cut_at = read_records(part, what="output")
        for record in records:
            tally.add(record["input"], record.get("error") if is_error_record(record) else None, keep)
        if repair and cut_at is not None:
            drop_partial_line(part, cut_at)
            self.repaired.append(part)

    def _tally_parquet(self, part: Path, tally: Tally, keep: int) -> None:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(part, columns=["input", "error"])
        except (OSError, ValueError) as exc:  # a part cut off by a kill: no footer
            raise SpecError(f"{part}: not a readable Parquet file ({exc}); move it out of the folder and run again "
                            "with --resume to predict its inputs again") from exc  # fmt: skip
        for name, error in zip(table.column("input").to_pylist(), table.column("error").to_pylist()):
            tally.add(name, error, keep)

    def write(self, dataset: ray.data.Dataset, *, writers: int = 1) -> None:
        """Write ``dataset`` into the folder with Ray's writer for the format (new part files, nothing replaced).
        Write tasks reserve no CPU, so they run beside the actors that hold the CPUs; at most ``writers`` at a time
        (the job gives one per node), each in a Ray worker process: a write of a block of result rows takes
        milliseconds, a worker's start-up seconds of CPU on a small machine."""
        args: dict[str, Any] = {"ray_remote_args": {"num_cpus": 0}, "concurrency": max(1, writers)}
        if self.format == "json":
            dataset.write_json(str(self.path), force_ascii=False, **args)
        else:
            dataset.write_parquet(str(self.path), **args)
