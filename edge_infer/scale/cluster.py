"""Joining a Ray cluster, or starting a local one, with errors that are one line.

``ray_session(None)`` starts a private local Ray (this machine's cores, no dashboard) and shuts it down at the end;
``ray_session("HOST:PORT")`` joins a running cluster (``ray start --head`` printed the address) and leaves it
running. An address nobody listens on is refused within a few seconds (a plain TCP connect first, because Ray
itself keeps retrying for a minute).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from edge_infer.engines import get_engine
from edge_infer.errors import ClusterError, SpecError, first_line
from edge_infer.threads import default_threads

CONNECT_TIMEOUT_S = 3.0
# How long the private local Ray keeps an idle worker process (Ray's default: 1 s; see _init)
IDLE_WORKER_KEEP_MS = 60_000


@dataclass(frozen=True)
class RaySession:
    """What ``ray_session`` joined: the cluster's address, its CPUs, whether it was started here, how long that took,
    and its nodes (alive when it was joined)."""

    address: str
    cpus: int
    started_here: bool
    startup_s: float
    nodes: int = 1


def require_ray() -> None:
    """BackendUnavailableError naming the ``ray`` extra unless Ray is installed."""
    get_engine("ray").require()


def host_port(address: str) -> tuple[str, int] | None:
    """``HOST:PORT`` of a Ray address (``ray://`` client addresses too); None for ``auto`` / ``local``."""
    if address in ("auto", "local"):
        return None
    rest = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SpecError(f"--ray-address {address!r}: expected HOST:PORT (what `ray start --head` prints, e.g. "
                        "127.0.0.1:6379), ray://HOST:PORT, or auto")  # fmt: skip
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """ClusterError unless something accepts a TCP connection at the address (within ``timeout`` seconds)."""
    hp = host_port(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=timeout):
            pass
    except OSError as exc:
        raise ClusterError(f"no Ray cluster at {address}: {exc.strerror or exc} (start one with `ray start --head`, "
                           "or leave out --ray-address to run on this machine)") from exc  # fmt: skip


def quiet_ray_logs(*, progress: bool = False) -> None:
    """Ray's own INFO/WARNING chatter off the terminal; its log files in the session folder keep everything.
    ``progress``: keep Ray Data's console INFO lines (its progress report when stderr is not a terminal)."""
    logging.getLogger("ray").setLevel(logging.ERROR)
    import ray.data  # noqa: F401  (configures the ray.data loggers: a file handler and a console handler)

    for handler in logging.getLogger("ray.data").handlers:
        if not isinstance(handler, logging.FileHandler) and "File" not in type(handler).__name__:
            handler.setLevel(logging.INFO if progress else logging.ERROR)


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[RaySession]:
    """Join the cluster at ``address``, or start a local Ray with ``num_cpus`` (default: this machine's cores) and
    no dashboard; disconnect (and stop what was started) on exit. Already connected: use that connection."""
    require_ray()
    import ray

    if ray.is_initialized():
        yield RaySession(ray.get_runtime_context().gcs_address, _cpus(), False, 0.0, _nodes())
        return
    if address is not None:
        check_reachable(address)
    quiet_ray_logs()
    # Ray's C++ side writes its lines straight to stderr (one per actor, about its constructor arguments); keep
    # them to errors that stop a process, unless the user asked for more (RAY_BACKEND_LOG_LEVEL=info).
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    t0 = time.monotonic()
    try:
        with _stderr_to_devnull():  # ... which it announces with one line on stderr while starting
            _init(ray, address, num_cpus)
    except Exception as exc:  # noqa: BLE001  (Ray raises bare Exception too: "The current node timed out during startup")
        ray.shutdown()  # whatever part of a local Ray did start
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ClusterError(f"cannot start or join {where}: {first_line(exc)}") from exc
    quiet_ray_logs()  # ray.init configures its loggers again
    try:
        yield RaySession(ray.get_runtime_context().gcs_address, _cpus(), address is None, time.monotonic() - t0,
                         _nodes())  # fmt: skip
    finally:
        ray.shutdown()


def _init(ray: Any, address: str | None, num_cpus: int | None) -> None:
    if address is None:
        # Ray runs its workers at niceness 15 by default (its daemons first); the private Ray of one job is the
        # job, so its actors run at the priority of the command, as --workers processes do.
        os.environ.setdefault("RAY_worker_niceness", "0")
        # Ray ends a task worker that has been idle for 1 s once the node has more workers than CPUs (the actors
        # hold them all), and starts a new one, a Python process importing Ray and Ray Data, for the next task: a
        # writer that waits more than 1 s for its next block (a loaded machine, a slow model) was restarted every
        # time; keep idle workers for IDLE_WORKER_KEEP_MS.
        with _without_idle_daemons():
            ray.init(address="local", num_cpus=num_cpus or default_threads(), include_dashboard=False,
                     log_to_driver=False, logging_level=logging.ERROR,
                     _system_config={"idle_worker_killing_time_threshold_ms": IDLE_WORKER_KEEP_MS})  # fmt: skip
    else:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)


@contextmanager
def _without_idle_daemons() -> Iterator[None]:
    """For the ``ray.init`` of a private local Ray: no autoscaler monitor and no log monitor, two Python processes
    (about 1 s of CPU each to start) that a job on a fixed set of local CPUs, whose workers' output is not sent to
    the driver (``log_to_driver=False``), never uses. ``ray.init`` has no argument for them; its node parameters
    (``ray._private.parameter.RayParams``, the ``no_monitor`` and ``include_log_monitor`` of ``ray start``) do, so
    the class is swapped for a subclass with those defaults for the duration of the call only. A Ray whose
    parameters lack them is started as it is (docs/scale.md, "Where Ray's fixed cost goes")."""
    import inspect

    try:
        import ray._private.parameter as parameter

        params = inspect.signature(parameter.RayParams).parameters
    except (ImportError, AttributeError, TypeError, ValueError):  # another Ray: its defaults
        yield
        return
    if "no_monitor" not in params or "include_log_monitor" not in params:
        yield
        return
    base = parameter.RayParams

    class LocalJobParams(base):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("no_monitor", True)
            kwargs.setdefault("include_log_monitor", False)
            super().__init__(*args, **kwargs)

    parameter.RayParams = LocalJobParams
    try:
        yield
    finally:
        parameter.RayParams = base


@contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """File descriptor 2 to /dev/null for the block (C++ writes bypass sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _nodes() -> int:
    import ray

    return max(1, sum(1 for node in ray.nodes() if node.get("Alive")))
