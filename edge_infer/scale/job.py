"""``run_ray_job``: what ``edge-infer predict ARTIFACT INPUT... --engine ray --out NAME`` does.

Everything that can be refused is refused before Ray starts (no Ray, a bad artifact, a joblib file without trust,
an output that exists without resume, a cluster address nobody listens on). Then: the inputs are expanded as the
local run expands them (files, folders, globs; URIs are listed by Ray), the ones already in the output are skipped,
the rest are read, predicted by actors and written by Ray's writer, and the new part files are counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge_infer.batch import input_key
from edge_infer.errors import ClusterError, EdgeInferError, SpecError, first_line
from edge_infer.scale.cluster import quiet_ray_logs, ray_session, require_ray
from edge_infer.scale.dataset import DEFAULT_BATCH_SIZE, check_artifact, error_rows, predict_dataset, read_images
from edge_infer.scale.output import ResultsFolder
from edge_infer.sources.paths import InputItem, expand_inputs
from edge_infer.tasks import get_task
from edge_infer.threads import check_threads

MAX_ERROR_LINES = 50
# How long the job waits for its actors (each starts a Ray worker and loads the artifact) before the first batch:
# the batches go to every actor from the start, and a cluster too busy to start them fails in one line.
ACTOR_START_TIMEOUT_S = 600


@dataclass(frozen=True, kw_only=True)
class RayJobConfig:
    """One ``--engine ray`` run. ``threads``: intra-op threads (and CPUs reserved) per actor; ``actors=None``: one
    per ``threads`` CPUs of the cluster; ``address=None``: a local Ray with this machine's cores."""

    artifact: str
    out: str
    top_k: int = 5
    threads: int = 1
    actors: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    backend: str | None = None
    trust: bool = False
    address: str | None = None
    resume: bool = False
    progress: bool | None = None

    def __post_init__(self) -> None:
        check_threads(self.threads, what="--threads")
        for value, what in ((self.actors, "--actors"), (self.batch_size, "--batch-size"), (self.top_k, "--top-k")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise SpecError(f"{what} must be at least 1 (a whole number), got {value!r}")


@dataclass
class RayJobSummary:
    """What a run wrote (``produced`` rows, ``errors`` among them), what was already there, and how long it took."""

    produced: int = 0
    errors: int = 0
    already_done: int = 0
    previous_errors: int = 0
    startup_s: float = 0.0
    total_s: float = 0.0
    actors: int = 0
    nodes: int = 0
    error_messages: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    def ray_note(self) -> str:
        """``Ray start-up 5.2 s, 2 actor(s) on 2 node(s)`` for the summary line ('' when no actor ran)."""
        if not self.actors:
            return ""
        where = f" on {self.nodes} node(s)" if self.nodes else ""
        return f"Ray start-up {self.startup_s:.1f} s, {self.actors} actor(s){where}"


def split_inputs(inputs: Sequence[str]) -> tuple[list[InputItem], list[str]]:
    """Local inputs expanded as the local run expands them; URIs (``s3://...``) kept for Ray to list."""
    return expand_inputs([i for i in inputs if "://" not in i]), [i for i in inputs if "://" in i]


def run_ray_job(config: RayJobConfig, inputs: Sequence[str], *, log: Callable[[str], None]) -> RayJobSummary:
    """Run the job; ``log`` gets one-line notes (a repaired part file). Raises EdgeInferError subclasses only."""
    start = time.monotonic()
    require_ray()
    artifact = check_artifact(config.artifact, backend=config.backend, trust=config.trust)
    if get_task(artifact.manifest.task).takes != "image":
        raise SpecError(f"{config.artifact} is a {artifact.manifest.task} model: --engine ray runs image inputs "
                        "from the command line; run feature rows with edge_infer.scale.predict_dataset")  # fmt: skip
    out = ResultsFolder(config.out, resume=config.resume).open()
    summary = RayJobSummary(previous_errors=out.previous_errors, repaired=[str(p) for p in out.repaired])
    for part in out.repaired:
        log(f"{part}: removed a partial last line left by an interrupted run")
    items, uris = split_inputs(inputs)
    summary.already_done = sum(input_key(i.path) in out.done for i in items)
    todo = [i for i in items if input_key(i.path) not in out.done]
    if not todo and not uris:
        summary.total_s = time.monotonic() - start
        return summary
    with ray_session(config.address) as session:
        summary.startup_s = session.startup_s
        _configure_data(config.progress)
        good = [i.path for i in todo if i.error is None]
        bad = [i for i in todo if i.error is not None]
        parts = []
        if good or uris:
            images = read_images(good + uris, block_rows=2 * config.batch_size)
            if uris and out.done:
                images = images.map_batches(_drop_done, fn_kwargs={"done": out.done}, batch_format="pyarrow",
                                            num_cpus=0)  # fmt: skip
            summary.actors = config.actors or max(1, session.cpus // config.threads)
            parts.append(predict_dataset(
                str(artifact.path), images, top_k=config.top_k, actors=summary.actors, threads=config.threads,
                batch_size=config.batch_size, backend=config.backend, trust=config.trust,
            ))  # fmt: skip
        if bad:
            parts.append(error_rows(bad))
        summary.nodes = _write(out, parts, writers=session.nodes)
    tally = out.tally(out.new_parts(), keep=MAX_ERROR_LINES)
    summary.produced, summary.errors, summary.error_messages = tally.rows, tally.errors, tally.messages
    summary.total_s = time.monotonic() - start
    return summary


def _write(out: ResultsFolder, parts: list[Any], *, writers: int) -> int:
    """Write the job's rows (``writers`` write tasks at a time); returns how many nodes ran predicting tasks (0 if
    Ray's stats do not say)."""
    import ray.exceptions

    dataset = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    try:
        out.write(dataset, writers=writers)
        return predicting_nodes(dataset)
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None)
        reason = first_line(cause) if isinstance(cause, BaseException) else first_line(exc)
        if isinstance(cause, EdgeInferError):
            raise type(cause)(f"in a Ray actor: {reason}") from exc
        raise ClusterError(f"the Ray job failed: {reason}") from exc


def predicting_nodes(dataset: Any) -> int:
    """How many nodes ran the predicting actors' tasks, from Ray Data's stats of the executed ``dataset`` (0 when
    its stats do not say: they are a developer API)."""
    try:
        summaries = [dataset.get_stats_summary()]
    except Exception:  # noqa: BLE001  (stats are informative only; never fail a finished job over them)
        return 0
    nodes = 0
    while summaries:
        summary = summaries.pop()
        summaries.extend(getattr(summary, "parents", []))
        for op in getattr(summary, "operators_stats", []):
            count = getattr(op, "node_count", None)
            if "ArtifactPredictor" in str(getattr(op, "operator_name", "")) and count is not None:
                nodes = max(nodes, int(count.count))
    return nodes


def _configure_data(enabled: bool | None) -> None:
    """Ray Data's own progress bars: on request, or when stderr is a terminal; and the wait for every actor before
    the first batch (``ACTOR_START_TIMEOUT_S``)."""
    import sys

    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = enabled if enabled is not None else sys.stderr.isatty()
    ctx.wait_for_min_actors_s = ACTOR_START_TIMEOUT_S
    quiet_ray_logs(progress=bool(enabled))


def _drop_done(batch: Any, *, done: set[str]) -> Any:
    """Rows whose input is not in ``done`` (resume of inputs that Ray lists itself)."""
    import pyarrow as pa

    keep = [input_key(str(p)) not in done for p in batch.column("path").to_pylist()]
    return batch.filter(pa.array(keep, type=pa.bool_()))
