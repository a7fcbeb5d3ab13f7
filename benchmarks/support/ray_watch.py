"""Watching a batch job from outside, for ``benchmarks/ray_batch.py`` and ``benchmarks/ray_floor.py``: the PSS and
CPU of a command and every process it starts, by kind (``ProcessWatch``), the growth of its output (``OutputWatch``),
and a warm ``ray start`` cluster the jobs join (``WarmCluster``). Linux only (/proc)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import sys
import threading
import time
from pathlib import Path

CLUSTER_START_TIMEOUT_S = 300


def pss_bytes(pid: int) -> int:
    """A process's PSS from /proc/PID/smaps_rollup (one small read; psutil parses the whole smaps)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def process_kind(cmdline: str, is_command: bool) -> str:
    """Which part of a run a process is (see the module docstring's ``cpu_s``)."""
    if is_command:
        return "driver"
    if "ArtifactPredictor" in cmdline:
        return "actors"
    if cmdline.startswith("ray::") or "default_worker.py" in cmdline:
        return "ray-tasks"
    if any(d in cmdline for d in ("gcs_server", "raylet", "agent", "monitor", "ray/_private", "ray/autoscaler",
                                  "ray/dashboard")):
        return "ray-daemons"
    return "workers"


class ProcessWatch:
    """Samples the command ``root`` and its descendants every ``interval`` s in a thread: the peak sum of PSS, and
    each process's CPU time and kind (its last sample counts; a process's kind is kept from its first sample that
    names it, Ray renames its workers when they take an actor). ``cluster``: also this script's other descendants
    (the Ray that ``ray-joined`` runs join), counting only the CPU they spend while the command runs."""

    def __init__(self, interval: float = 0.5, *, cluster: bool = False) -> None:
        import psutil

        self._psutil = psutil
        self.interval = interval
        self.root: int | None = None
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self.cluster = cluster
        self._before: dict[int, float] = {}  # CPU seconds of the running cluster's processes before the command
        if cluster:
            for p in psutil.Process().children(recursive=True):
                try:
                    times = p.cpu_times()
                except psutil.Error:
                    continue
                self._before[p.pid] = times.user + times.system
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        if self.root is None:
            return
        try:
            root = self._psutil.Process(self.root if not self.cluster else os.getpid())
            procs = [*([root] if not self.cluster else []), *root.children(recursive=True)]
        except self._psutil.Error:
            return
        total = 0
        for p in procs:
            try:
                times = p.cpu_times()
                cmd = " ".join(p.cmdline())
            except self._psutil.Error:
                continue
            total += pss_bytes(p.pid)
            self.cpu[p.pid] = times.user + times.system - self._before.get(p.pid, 0.0)
            kind = process_kind(cmd, p.pid == self.root)
            if self.kind.get(p.pid) in (None, "ray-tasks", "workers"):
                self.kind[p.pid] = kind
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def cpu_by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, seconds in self.cpu.items():
            out[self.kind[pid]] = round(out.get(self.kind[pid], 0.0) + seconds, 2)
        return dict(sorted(out.items()))

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class OutputWatch:
    """Samples the size of a job's output (a file, or a folder of part files) every ``interval`` s in a thread, as
    (seconds since ``start``, bytes) whenever it changed: when results reached it, and how fast."""

    def __init__(self, path: Path, start: float, interval: float = 0.2) -> None:
        self.path = path
        self.start = start
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def size(self) -> int:
        try:
            if self.path.is_dir():
                return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
            return self.path.stat().st_size
        except OSError:  # not there yet, or a part file renamed while listing
            return 0

    def _sample(self) -> None:
        size = self.size()
        if size and (not self.samples or size != self.samples[-1][1]):
            self.samples.append((time.monotonic() - self.start, size))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def rates(self, images: int) -> dict[str, float | None]:
        """``first_result_s`` and ``last_result_s``; ``first_to_last_images_per_s``: the images written after the
        first sample over the time from it to the sample that reached the final size; ``steady_images_per_s``: the
        same from the first sample with a tenth of the output (rows of about equal size), past a Ray writer's first
        catch-up of the rows predicted before its process was up, which makes the first-to-last rate of a short Ray
        job too high."""
        if not self.samples:
            return {"first_result_s": None, "last_result_s": None, "first_to_last_images_per_s": None,
                    "steady_images_per_s": None}  # fmt: skip
        t1, b1 = self.samples[-1]

        def rate(t0: float, b0: int) -> float | None:
            return round(images * (b1 - b0) / b1 / (t1 - t0), 2) if t1 > t0 and b1 > b0 else None

        t10, b10 = next((t, b) for t, b in self.samples if b >= b1 / 10)
        return {"first_result_s": round(self.samples[0][0], 3), "last_result_s": round(t1, 3),
                "first_to_last_images_per_s": rate(*self.samples[0]), "steady_images_per_s": rate(t10, b10)}  # fmt: skip

    def __enter__(self) -> OutputWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


class WarmCluster:
    """A local Ray cluster for the ``ray-joined`` jobs: ``ray start --head --block --num-cpus 2`` without the
    dashboard, in a temp dir and a process group of its own, with its own token (``RAY_AUTH_MODE=token``), workers at
    niceness 0 and idle workers kept for 60 s, as the command's own Ray and docs/scale.md's cluster; ``stop()`` ends the group (SIGTERM, then SIGKILL), never ``ray stop``
    (which stops every Ray of the user on the machine). ``env``: what a command needs to join it."""

    def __init__(self, cpus: int = 2) -> None:
        self.cpus = cpus
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rb-", dir="/tmp"))  # short: Ray's socket paths have a limit
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_worker_niceness": "0",
                    "RAY_idle_worker_killing_time_threshold_ms": "60000"}  # as docs/scale.md's `ray start`
        self.address = ""
        self.start_s = 0.0
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> WarmCluster:
        ray_cli = Path(sys.executable).with_name("ray")
        cmd = [str(ray_cli) if ray_cli.exists() else "ray", "start", "--head", "--block", "--port", "0",
               "--num-cpus", str(self.cpus), "--include-dashboard", "false", "--disable-usage-stats",
               "--temp-dir", str(self.temp_dir)]  # fmt: skip
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=dict(os.environ, **self.env), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
        lines: list[str] = []
        assert self.proc.stdout is not None
        deadline = time.monotonic() + CLUSTER_START_TIMEOUT_S
        started = False
        for line in self.proc.stdout:  # "Ray runtime started.", then how to join it (or the process ends)
            lines.append(line)
            started = started or "Ray runtime started" in line
            found = re.search(r"--address='([^']+)'", line)
            if found:
                self.address = found.group(1)
            if (started and self.address) or time.monotonic() > deadline:
                break
        self.start_s = time.monotonic() - t0
        if not started or not self.address or self.proc.poll() is not None:
            self.stop()
            raise SystemExit(f"ray start did not start a cluster:\n{''.join(lines)[-3000:]}")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # keep the pipe drained
        return self

    def stop(self) -> None:
        if self.proc is not None:
            for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 30)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> WarmCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
