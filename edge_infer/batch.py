"""Batch runs over many images: results written as JSON lines the moment they exist, resumable, and shareable
across worker processes with output identical to a single process.

A run killed at any point loses nothing already written; ``--resume`` repairs a line cut in half by the kill,
skips every input already in the file, and appends the rest in the same order a fresh run would use.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.pool
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from edge_infer.closing import ClosesOnExit
from edge_infer.errors import ArtifactError, BackendUnavailableError, EdgeInferError, SpecError
from edge_infer.predictors import ImageClassifier
from edge_infer.sources.paths import InputItem
from edge_infer.threads import check_threads, default_threads, set_opencv_threads

Record = dict[str, Any]


def input_key(name: str) -> str:
    """How an input is recognised on resume: its absolute path (so ``./a.jpg`` and ``a.jpg`` match); a URI
    (``s3://bucket/a.jpg``, read by ``--engine ray``) as it is."""
    return name if "://" in name else os.path.abspath(name)


def is_error_record(record: Record) -> bool:
    """A record of an input that could not be predicted. Ray's writers write every column on every row, so a
    successful row read back from ``--engine ray`` output has ``"error": null``."""
    return record.get("error") is not None


def read_records(path: Path, *, what: str = "file") -> tuple[list[Record], int | None]:
    """The whole records of a JSON-lines results file (``--out``, or a part file of ``--engine ray``), and the byte
    offset of a last line cut off by a kill (None: the file ends with a whole line). A line that is not a record
    with an ``input`` is a SpecError naming the line: the ``what`` is damaged."""
    data = path.read_bytes()
    good_end = data.rfind(b"\n") + 1  # everything after the last newline is a line cut off by a kill
    records: list[Record] = []
    for n, line in enumerate(data[:good_end].decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record["input"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SpecError(f"{path}: line {n} is not a result record; the {what} is damaged") from exc
        records.append(record)
    return records, (good_end if good_end < len(data) else None)


def drop_partial_line(path: Path, at: int) -> None:
    """Cut the file at ``at`` (from ``read_records``): the half-written last line goes, every whole one stays."""
    with path.open("r+b") as f:
        f.truncate(at)


class ResultsFile(ClosesOnExit):
    """An append-only JSON-lines results file. Every record is flushed as it is written.

    Without ``resume`` an existing non-empty file is refused (never overwritten, never silently extended). With
    ``resume`` a trailing partial line (the run was killed mid-write) is cut off, and ``done`` holds the keys of
    every input already recorded, successful or not.
    """

    def __init__(self, path: str | Path, *, resume: bool = False) -> None:
        self.path = Path(path)
        self.resume = resume
        self.done: set[str] = set()
        self.previous_errors = 0
        self.repaired = False
        self._file: TextIO | None = None

    def open(self) -> ResultsFile:
        if self.path.is_dir():
            raise SpecError(f"{self.path}: is a folder, not a results file")
        if not self.path.parent.is_dir():
            raise SpecError(f"{self.path}: folder {self.path.parent} does not exist")
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists and not self.resume:
            raise SpecError(f"{self.path}: already exists; pass --resume to continue it, or choose another file")
        if exists:
            self._load_existing()
        self._file = self.path.open("a", encoding="utf-8")
        return self

    def _load_existing(self) -> None:
        records, cut_at = read_records(self.path)
        for record in records:
            self.done.add(input_key(str(record["input"])))
            self.previous_errors += is_error_record(record)
        if cut_at is not None:
            drop_partial_line(self.path, cut_at)
            self.repaired = True

    def write(self, record: Record) -> None:
        if self._file is None:
            raise SpecError(f"{self.path}: results file is not open (use it in a with block, or call open())")
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> ResultsFile:
        return self.open()


def predict_record(predictor: ImageClassifier, item: InputItem, top_k: int) -> Record:
    """One input's record: the prediction's JSON, or ``{"input", "error"}`` when it cannot be classified."""
    if item.error:
        return {"input": item.path, "error": item.error}
    try:
        return predictor.predict(item.path, top_k=top_k).to_dict()
    except EdgeInferError as exc:
        return {"input": item.path, "error": str(exc)}


# -- worker processes -------------------------------------------------------------------------------------------
_worker: dict[str, Any] = {}


def _init_worker(artifact: str, threads: int, backend: str | None) -> None:
    # Ctrl-C is the parent's to handle. The worker was started with SIGINT blocked (see _sigint_blocked), so a
    # Ctrl-C that reached it while Python started and imported was held back; ignoring SIGINT discards it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    warnings.simplefilter("ignore", FutureWarning)  # torch's deprecation notes: the parent has shown them once
    warnings.simplefilter("ignore", DeprecationWarning)
    set_opencv_threads(threads)  # the worker's share of the cores, not a thread per core in every worker
    from edge_infer.backends import load

    try:
        predictor = load(artifact, threads=threads, backend=backend)
    except EdgeInferError as exc:  # reported by the first task, as the parent cannot see initializer errors
        _worker["fatal"] = f"worker cannot load {artifact}: {exc}"
        return
    if not isinstance(predictor, ImageClassifier):
        predictor.close()
        _worker["fatal"] = f"{artifact}: --workers runs image classifiers; this is a {predictor.manifest.task} model"
        return
    _worker["predictor"] = predictor


def _work(task: tuple[InputItem, int]) -> Record:
    if "fatal" in _worker:
        return {"__fatal__": _worker["fatal"]}
    return predict_record(_worker["predictor"], *task)


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while worker processes start: they inherit the blocked mask, so a Ctrl-C during
    their start-up never reaches a half-started worker (its initializer ignores SIGINT, then unblocks it). In the
    parent the Ctrl-C is held, not lost: it is delivered (KeyboardInterrupt) when the mask is restored."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield  # Windows, or not the main thread (which alone receives KeyboardInterrupt)
        return
    # multiprocessing starts its resource tracker with the first spawned process, and doing so ends with
    # SIG_UNBLOCK of SIGINT in the calling thread (not a restore of the old mask), which would lift this block
    # before the workers start. Started first, it is already running when the pool spawns.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    # A Ctrl-C whose C-level handler ran just before the block is still pending in the interpreter, and Python would
    # raise it at any bytecode inside the block, in the middle of Pool.__init__, which does not clean up after a
    # KeyboardInterrupt: half-started workers then print tracebacks. A recording handler holds it until the end.
    caught: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a Ctrl-C held by the mask is delivered now
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if caught and previous is signal.default_int_handler:
        raise KeyboardInterrupt
    if caught and callable(previous):
        previous(signal.SIGINT, None)


@dataclass(frozen=True, kw_only=True)
class BatchConfig:
    """``threads`` are intra-op threads per worker (None: this process's cores shared out between workers)."""

    artifact: str
    top_k: int = 5
    threads: int | None = None
    workers: int = 1
    backend: str | None = None  # one of the backends that can run the artifact (default: the first installed)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise SpecError(f"--workers must be at least 1, got {self.workers}")
        if self.top_k < 1:
            raise SpecError(f"--top-k must be at least 1, got {self.top_k}")
        check_threads(self.threads, what="--threads")

    def worker_threads(self) -> int:
        return self.threads if self.threads is not None else max(1, default_threads() // self.workers)


@contextmanager
def _pool(config: BatchConfig, n: int) -> Iterator[multiprocessing.pool.Pool]:
    """``n`` spawned workers (nothing inherited mid-thread), each loading the artifact once; stopped and joined on
    leaving the block, whatever ends it (results consumed, an error, Ctrl-C)."""
    ctx = multiprocessing.get_context("spawn")
    pool: multiprocessing.pool.Pool | None = None
    try:
        with _sigint_blocked():  # a Ctrl-C held back here is raised when the block ends: the pool then stops
            pool = ctx.Pool(n, initializer=_init_worker, initargs=(config.artifact, config.worker_threads(), config.backend))
        yield pool
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def iter_records(
    config: BatchConfig, items: Sequence[InputItem], predictor: ImageClassifier | None = None
) -> Iterator[Record]:
    """Records for ``items`` in input order. One worker uses ``predictor`` (or loads one); several workers each load
    the artifact in their own process and results are re-ordered."""
    if not items:
        return
    if config.workers == 1:
        if predictor is None:
            raise SpecError("iter_records needs a loaded predictor when workers == 1")
        for item in items:
            yield predict_record(predictor, item, config.top_k)
        return
    with _pool(config, min(config.workers, len(items))) as pool:
        for record in pool.imap(_work, [(item, config.top_k) for item in items], chunksize=1):
            if "__fatal__" in record:
                raise ArtifactError(record["__fatal__"])
            yield record


def progress_bar(total: int, initial: int, enabled: bool | None) -> Any:
    """A tqdm bar on stderr, or None. ``enabled=None``: only when tqdm is installed and stderr is a terminal."""
    if enabled is False:
        return None
    try:
        from tqdm import tqdm
    except ImportError as exc:
        if enabled:
            raise BackendUnavailableError("--progress", "tqdm", "progress") from exc
        return None
    if enabled is None and not sys.stderr.isatty():
        return None
    return tqdm(total=total, initial=initial, unit="img", file=sys.stderr, dynamic_ncols=True, leave=True)


def run_batch(
    config: BatchConfig, items: Sequence[InputItem], *, sink: Callable[[Record], None], skip: set[str] | None = None,
    predictor: ImageClassifier | None = None, progress: bool | None = None, on_error: Callable[[str], None] | None = None,
) -> tuple[int, int]:  # fmt: skip
    """Predict ``items`` not in ``skip`` (keys from ``input_key``) and hand each record to ``sink`` in input order.
    Returns (records produced, errors among them)."""
    todo = [item for item in items if input_key(item.path) not in (skip or set())]
    bar = progress_bar(len(items), len(items) - len(todo), progress)
    produced = errors = 0
    try:
        for record in iter_records(config, todo, predictor):
            sink(record)
            produced += 1
            if "error" in record:
                errors += 1
                message = f"edge-infer predict: error: {record['error']}"
                if bar is not None:
                    bar.write(message, file=sys.stderr)
                elif on_error is not None:
                    on_error(message)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return produced, errors
