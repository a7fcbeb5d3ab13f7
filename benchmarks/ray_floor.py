"""Ray's own fixed cost on this machine, with nothing of edge-infer's in it: the floor under ``--engine ray``.

    python benchmarks/ray_floor.py --repeat 3 --out benchmarks/results/amd-epyc-2c-x86-64/ray_floor.json

Each step runs in a fresh Python process, the steps take turns, and the schedule repeats ``--repeat`` times:

* ``ray``: ``import ray``; ``ray.init`` of a private local Ray as ray.init starts it (2 CPUs, no dashboard,
  ``log_to_driver=False``); one actor of 1 CPU answers a call; ``ray.shutdown``;
* ``ray-lean``: the same, without the autoscaler monitor and the log monitor and with idle workers kept for 60 s
  (how ``edge_infer.scale`` starts its private Ray);
* ``ray-data``: ``ray-lean``, then ``import ray.data`` and the smallest job shaped like ``--engine ray``'s: 64 rows
  made in the driver (``from_items``), ``map_batches`` with an identity callable class on 2 actors of 1 CPU
  (batches of 16), written with ``write_json`` (one writer); so Ray Data's helper actors, two actor processes and a
  writer process, and no model, no image, no edge-infer in any worker;
* ``python``: ``python -c pass`` (the interpreter's own start, for scale).

Recorded per run: the step's wall time from the process start to its end (``wall_s``) and at each stage
(``import_s``, ``init_s``, ``actor_s``, ``data_s``), and CPU seconds of every process it started (sampled every
0.2 s, by kind as in ``ray_batch.py``). On a 2-core machine a fixed cost of C CPU seconds takes at least C / 2 s of
wall time, whatever runs in parallel.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.ray_watch import ProcessWatch  # noqa: E402

from edge_infer.bench import BenchReport, BenchResult  # noqa: E402

KIND = "ray-floor"
STEPS = ("python", "ray", "ray-lean", "ray-data")

CHILD = r'''
import json, logging, os, sys, time
t0 = float(sys.argv[2])
step, out = sys.argv[1], sys.argv[3]
marks = {}
import ray
marks["import_s"] = time.time() - t0
os.environ.setdefault("RAY_worker_niceness", "0")
kw = dict(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
if step == "ray":
    ray.init(**kw)
else:
    from edge_infer.scale.cluster import IDLE_WORKER_KEEP_MS, _without_idle_daemons
    with _without_idle_daemons():
        ray.init(**kw, _system_config={"idle_worker_killing_time_threshold_ms": IDLE_WORKER_KEEP_MS})
marks["init_s"] = time.time() - t0

@ray.remote(num_cpus=1)
class Ping:
    def ping(self):
        return os.getpid()

ray.get(Ping.remote().ping.remote())
marks["actor_s"] = time.time() - t0
if step == "ray-data":
    import ray.data

    class Identity:
        def __call__(self, batch):
            return batch

    ray.data.DataContext.get_current().enable_progress_bars = False
    ds = ray.data.from_items([{"path": f"img_{i}.jpg"} for i in range(64)], override_num_blocks=2)
    ds = ds.map_batches(Identity, batch_size=16, batch_format="pyarrow", num_cpus=1,
                        compute=ray.data.ActorPoolStrategy(size=2))
    ds.write_json(out, ray_remote_args={"num_cpus": 0}, concurrency=1)
    marks["data_s"] = time.time() - t0
ray.shutdown()
print(json.dumps({k: round(v, 3) for k, v in marks.items()}))
'''


def run_step(step: str, work: Path) -> dict[str, Any]:
    """One step in a fresh process: its stage times, wall time and CPU by kind of process."""
    out = work / f"{step}-{time.monotonic_ns()}"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    load = os.getloadavg()[0]
    t0 = time.time()
    cmd = [sys.executable, "-c", "pass"] if step == "python" else [sys.executable, "-c", CHILD, step, repr(t0), str(out)]
    with ProcessWatch(interval=0.2) as watch:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        watch.root = proc.pid
        stdout, stderr = proc.communicate(timeout=600)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed (exit {proc.returncode}): {stderr[-2000:]}")
    marks = json.loads(stdout.strip().splitlines()[-1]) if step != "python" else {}
    cpu = watch.cpu_by_kind()
    return {"step": step, "wall_s": round(wall, 3), **marks, "cpu_s": cpu, "cpu_total_s": round(sum(cpu.values()), 2),
            "load_avg_1m": round(load, 2)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="rounds of every step (default 3)")
    ap.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, of {', '.join(STEPS)}")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON result here")
    args = ap.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    if set(steps) - set(STEPS):
        ap.error(f"unknown step(s) {sorted(set(steps) - set(STEPS))}; valid: {', '.join(STEPS)}")
    runs = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ray-floor-") as tmp:
        for round_no in range(args.repeat):
            for step in steps:
                run = run_step(step, Path(tmp))
                run["round"] = round_no + 1
                runs.append(run)
                print(json.dumps(run), flush=True)
    results = [
        BenchResult(artifact="", label=step, format="", backend="ray", threads=1, batch=1, via=step, load_ms=0.0,
                    cold_ms=0.0, samples_ms=tuple(r["wall_s"] * 1e3 for r in runs if r["step"] == step),
                    rounds=args.repeat, extra={"cpu_total_s": [r["cpu_total_s"] for r in runs if r["step"] == step]})
        for step in steps
    ]  # fmt: skip
    report = BenchReport.now(kind=KIND, config={"steps": steps, "repeat": args.repeat},
                             load_average=(load_before, os.getloadavg()),
                             command=" ".join(["python benchmarks/ray_floor.py", *(argv or sys.argv[1:])]),
                             source={"kind": "none"}, results=results, extra={"runs": runs})  # fmt: skip
    if args.out:
        report.save(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
