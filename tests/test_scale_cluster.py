"""``--engine ray --ray-address`` on a real Ray cluster of two nodes started with ``ray start``, on one machine.

The head listens on 127.0.0.2 and the second node joins from 127.0.0.3 (``--node-ip-address``), each with its own
temp dir, 1 CPU, no dashboard, and the cluster's own token (``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN`` in the
environment of both nodes and of the command: Ray 2.60 turns token authentication on for new clusters, and a node
or driver without the cluster's token is refused). The command must give the local run's results, with its actors'
tasks on both nodes. Each ``ray start --block`` runs in its own process group, which the fixture ends (SIGTERM,
then SIGKILL) even when the test fails; never ``ray stop``, which stops every Ray of the machine's user.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

from edge_infer.batch import input_key, predict_record  # noqa: E402
from edge_infer.sources.paths import expand_inputs  # noqa: E402

HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
STARTED = "Ray runtime started."
START_TIMEOUT_S = 300
BROKEN = b"\xff\xd8\xff\xe0 this is not a JPEG"


def ray_cli() -> str:
    """The ``ray`` command of this interpreter's environment."""
    beside = Path(sys.executable).with_name("ray")
    found = str(beside) if beside.exists() else shutil.which("ray")
    if found is None:
        pytest.fail("the ray extra is installed but its `ray` command is not on PATH")
    return found


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    """One ``ray start --block`` process (the leader of its own process group) and what it printed."""

    name: str
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # until the process ends; keeps the pipe drained
            self.lines.append(line)
            if STARTED in line:
                self.started.set()
        self.started.set()  # ended without starting: wake the waiter, which sees the exit

    def wait_started(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()
        if not self.started.wait(START_TIMEOUT_S) or self.proc.poll() is not None:
            pytest.fail(f"ray start ({self.name}) did not start:\n{''.join(self.lines)[-3000:]}")

    def stop(self) -> None:
        """SIGTERM to the process group (``ray start --block`` stops its daemons), SIGKILL to what is left."""
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 30)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                continue
            if sig == signal.SIGTERM:  # the leader is gone; its daemons may linger in the group
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return


def start_node(name: str, args: list[str], env: dict[str, str], temp_dir: Path) -> Node:
    cmd = [ray_cli(), "start", *args, "--num-cpus", "1", "--temp-dir", str(temp_dir), "--disable-usage-stats",
           "--object-store-memory", str(200 * 2**20), "--block"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    return Node(name, proc)


@dataclass(frozen=True)
class Cluster:
    address: str
    env: dict[str, str]
    temp_dirs: tuple[Path, Path]


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[Cluster]:
    """A head on 127.0.0.2 and a node joining from 127.0.0.3, 1 CPU each, with the cluster's own auth token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16), RAY_worker_niceness="0")
    # short paths: Ray's unix sockets live under the temp dir (at most 107 characters)
    root = Path(tempfile.mkdtemp(prefix="ray2n-", dir="/tmp"))
    head_dir, worker_dir = root / "h", root / "w"
    port = free_port(HEAD_IP)
    address = f"{HEAD_IP}:{port}"
    nodes: list[Node] = []
    try:
        nodes.append(start_node("head", ["--head", "--node-ip-address", HEAD_IP, "--port", str(port),
                                         "--include-dashboard", "false"], env, head_dir))  # fmt: skip
        nodes[-1].wait_started()
        nodes.append(start_node("worker", ["--address", address, "--node-ip-address", WORKER_IP], env, worker_dir))
        nodes[-1].wait_started()
        yield Cluster(address, env, (head_dir, worker_dir))
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(root, ignore_errors=True)


def actor_logs(temp_dir: Path) -> list[Path]:
    """Worker log files of a node that ran our predicting actor (Ray names the actor on its first lines)."""
    logs = temp_dir / "session_latest" / "logs"
    return [p for p in logs.glob("worker-*.out") if "ArtifactPredictor" in p.read_text(errors="replace")]


def test_two_node_cluster_gives_the_local_results(
    two_nodes: Cluster, default_onnx: Path, samples_dir: Path, tmp_path: Path
) -> None:
    """The real model through the two-node cluster: every input's label and scores (to 1e-5) as the local run, the
    broken image as an error row, and the predicting tasks on both nodes (one 1-CPU actor per node)."""
    import ray.data  # noqa: F401  (only to be sure the Ray Data part of the extra is there)

    import edge_infer as ei

    (tmp_path / "broken.jpg").write_bytes(BROKEN)
    inputs = [str(samples_dir), str(tmp_path / "broken.jpg")]
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "edge_infer", "predict", str(default_onnx), *inputs, "--engine", "ray",
           "--ray-address", two_nodes.address, "--out", str(out), "--batch-size", "1", "--top-k", "3"]  # fmt: skip
    r = subprocess.run(cmd, env=two_nodes.env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 1, r.stderr  # the broken image; every other input predicted
    assert "Traceback" not in r.stderr, r.stderr
    assert "(7 ok, 1 error(s))" in r.stderr and "2 actor(s) on 2 node(s)" in r.stderr, r.stderr
    lines = [line for part in sorted(out.glob("*.json")) for line in part.read_text().splitlines()]
    rows = {input_key(row["input"]): row for row in map(json.loads, lines)}
    with ei.load(default_onnx) as local:
        expected = [predict_record(local, item, 3) for item in expand_inputs(inputs)]  # type: ignore[arg-type]
    assert len(rows) == len(expected) == 8
    for want in expected:
        got = rows[input_key(want["input"])]
        if "error" in want:
            assert got["error"] == want["error"] and got["label"] is None
            continue
        assert got["error"] is None and got["label"] == want["label"] and got["class_id"] == want["class_id"]
        assert [c["label"] for c in got["top_k"]] == [c["label"] for c in want["top_k"]]
        assert np.allclose([c["score"] for c in got["top_k"]], [c["score"] for c in want["top_k"]], atol=1e-5)
    head_dir, worker_dir = two_nodes.temp_dirs
    assert actor_logs(head_dir) and actor_logs(worker_dir), "an actor on each node"


def test_a_driver_without_the_cluster_token_is_refused_in_one_line(two_nodes: Cluster, tmp_path: Path) -> None:
    """The same command with another token: Ray refuses it; the user gets one line naming the cluster, exit 2."""
    from edge_infer.testing import write_fake_artifact

    artifact = write_fake_artifact(tmp_path / "model")
    (tmp_path / "im.png").write_bytes(b"")
    env = dict(two_nodes.env, RAY_AUTH_TOKEN=secrets.token_hex(16))
    cmd = [sys.executable, "-m", "edge_infer", "predict", str(artifact), str(tmp_path / "im.png"), "--engine", "ray",
           "--ray-address", two_nodes.address, "--out", str(tmp_path / "r.jsonl")]  # fmt: skip
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"the Ray cluster at {two_nodes.address}" in r.stderr, r.stderr
