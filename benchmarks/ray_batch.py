"""Batch throughput on one machine: ``predict --workers 2`` against ``predict --engine ray``, the same 500 images.

    python benchmarks/ray_batch.py --out benchmarks/results/amd-epyc-2c-x86-64/ray_batch.json
    python benchmarks/ray_batch.py --artifact out/lite0/efficientnet_lite0.onnx --images 500 --repeat 2

Each way runs the real command (``python -m edge_infer predict MODEL FOLDER --out ...``) in a fresh process, the
ways taking turns (local, Ray, Ray on a running cluster; then again), so a load spike on a shared machine hits
each alike. Recorded per run:

* ``wall_s``: the command from start to exit (imports, worker or Ray start-up, every image, the writes);
* ``images_per_s``: images / ``wall_s``; ``job_images_per_s``: images / (``wall_s`` - Ray start-up), the rate
  once a cluster is up (local runs: the same as ``images_per_s``);
* ``ray_startup_s``: what ``ray.init`` took (from the command's summary line; 0 when joining a running cluster);
* ``peak_mb``: the largest sum of PSS (proportional set size: shared pages divided among the processes that share
  them) over every process this script started, sampled every 0.5 s: the command, its workers, and Ray's GCS,
  raylet and actors (for ``ray-joined`` the cluster started by this script, which the command joins).

Ways: ``workers`` (``--workers 2 --threads 1``), ``ray`` (``--engine ray``: a private local Ray with 2 CPUs, 2
actors x 1 thread), ``ray-joined`` (``--engine ray --ray-address``: the same job on a local Ray already running).
The images are JPEG crops (256x256) of the built-in sample photos; the model is EfficientNet-Lite0 fp32 ONNX.
``--out`` writes edge-infer bench JSON (kind ``ray-batch``): one result per way whose samples are the job's wall
time per round and whose batch is the image count (so its throughput is images/s), the runs and ratios in
``extra``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_infer.bench import BenchReport, BenchResult  # noqa: E402
from edge_infer.bench.timing import timed_one  # noqa: E402

KIND = "ray-batch"
WAYS = ("workers", "ray", "ray-joined")


def make_images(folder: Path, n: int, size: int = 256, seed: int = 0) -> Path:
    """``n`` JPEG crops of the sample photos, in two sub-folders."""
    import cv2

    from exporters.samples import write_samples

    photos_dir = folder / "_photos"
    write_samples(photos_dir)
    photos: list[np.ndarray] = []
    for p in sorted(photos_dir.iterdir()):
        image = cv2.imread(str(p))
        if image is not None:
            photos.append(image)
    rng = np.random.default_rng(seed)
    images = folder / "images"
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = int(min(h, w) * rng.uniform(0.5, 0.95))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = cv2.resize(photo[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)
        sub = images / ("a" if i < n // 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(sub / f"img_{i:04d}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    shutil.rmtree(photos_dir)
    return images


def default_artifact(folder: Path) -> Path:
    from exporters.api import export

    [outcome] = export("efficientnet_lite0", formats="onnx", out=folder)
    if outcome.artifact is None:
        raise SystemExit(f"export failed: {outcome.to_dict()}")
    return outcome.artifact.path


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


class PeakMemory:
    """The largest sum of PSS over this process's descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.5) -> None:
        import psutil

        self._psutil = psutil
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        try:
            return sum(pss_bytes(p.pid) for p in self._psutil.Process().children(recursive=True))
        except self._psutil.Error:
            return self.peak

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def command(way: str, artifact: Path, images: Path, out: Path, address: str | None) -> list[str]:
    base = [sys.executable, "-m", "edge_infer", "predict", str(artifact), str(images), "--no-progress"]
    if way == "workers":
        return [*base, "--out", str(out.with_suffix(".jsonl")), "--workers", "2", "--threads", "1"]
    cmd = [*base, "--engine", "ray", "--out", str(out.with_suffix(".jsonl")), "--threads", "1"]
    return [*cmd, "--ray-address", address] if way == "ray-joined" and address else cmd


def run_once(way: str, artifact: Path, images: Path, n: int, work: Path, address: str | None) -> dict[str, Any]:
    out = work / f"{way}-{time.monotonic_ns()}"
    cmd = command(way, artifact, images, out, address)
    with PeakMemory() as mem:
        r, wall_ms = timed_one(lambda: subprocess.run(cmd, capture_output=True, text=True, timeout=1800))
    wall = wall_ms / 1e3
    summary = next((line for line in r.stderr.splitlines() if "wrote" in line), "")
    if r.returncode != 0 or f"wrote {n} result(s)" not in summary:
        raise SystemExit(f"{way} failed (exit {r.returncode}): {r.stderr[-2000:]}")
    found = re.search(r"Ray start-up ([\d.]+) s", summary)
    startup = float(found.group(1)) if found and way == "ray" else 0.0
    shutil.rmtree(out.with_suffix(".jsonl"), ignore_errors=True)
    out.with_suffix(".jsonl").unlink(missing_ok=True)
    return {"way": way, "wall_s": round(wall, 3), "images_per_s": round(n / wall, 2),
            "job_images_per_s": round(n / (wall - startup), 2), "ray_startup_s": startup,
            "peak_mb": round(mem.peak / 2**20, 1), "summary": summary, "load_avg_1m": os.getloadavg()[0]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", type=Path, default=None, help="image artifact (default: export Lite0 ONNX)")
    ap.add_argument("--images", type=int, default=500, help="how many images (default 500)")
    ap.add_argument("--repeat", type=int, default=2, help="rounds of every way (default 2)")
    ap.add_argument("--ways", default=",".join(WAYS), help=f"comma-separated subset of {', '.join(WAYS)}")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON result here")
    args = ap.parse_args(argv)
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    unknown = sorted(set(ways) - set(WAYS))
    if unknown:
        ap.error(f"unknown way(s) {unknown}; valid: {', '.join(WAYS)}")
    with tempfile.TemporaryDirectory(prefix="ray-batch-") as tmp:
        work = Path(tmp)
        artifact = args.artifact or default_artifact(work / "model")
        images = make_images(work, args.images)
        address = None
        if "ray-joined" in ways:  # a cluster of this machine, started (and stopped) by this process
            import ray

            os.environ.setdefault("RAY_worker_niceness", "0")  # as the command's own local Ray does
            ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
            address = ray.get_runtime_context().gcs_address
        runs = []
        try:
            for round_no in range(args.repeat):
                for way in ways:
                    run = run_once(way, Path(artifact), images, args.images, work, address)
                    run["round"] = round_no + 1
                    runs.append(run)
                    print(json.dumps({k: v for k, v in run.items() if k != "summary"}), flush=True)
        finally:
            if address is not None:
                import ray

                ray.shutdown()
    report = to_report(Path(artifact), args.images, runs)
    if args.out:
        report.save(args.out)
    print(json.dumps(report.extra["ratios"], indent=2))
    return 0


def to_report(artifact: Path, n: int, runs: list[dict[str, Any]]) -> BenchReport:
    """Bench JSON of kind ``ray-batch``: one result per way whose samples are the whole job's wall time per round
    (batch = the images), so ``throughput_ips`` is images/s; start-up, memory and ratios in ``extra``."""
    from edge_infer.artifact import Artifact
    from edge_infer.backends import choose_backend

    art = Artifact.read(artifact)
    backend = choose_backend(art.format, None).name
    results = []
    for way in dict.fromkeys(r["way"] for r in runs):
        mine = [r for r in runs if r["way"] == way]
        results.append(BenchResult(
            artifact=str(artifact), label=way, format=art.manifest.format, backend=backend, threads=1, batch=n,
            via=way, load_ms=0.0, cold_ms=0.0, samples_ms=tuple(r["wall_s"] * 1e3 for r in mine), rounds=len(mine),
            extra={"ray_startup_s": [r["ray_startup_s"] for r in mine], "peak_mb": [r["peak_mb"] for r in mine],
                   "job_images_per_s": [r["job_images_per_s"] for r in mine]},
        ))  # fmt: skip
    return BenchReport.now(kind=KIND, config={"images": n, "ways": list(dict.fromkeys(r["way"] for r in runs))},
                           source={"kind": "folder of JPEGs", "images": n}, results=results,
                           extra={"runs": runs, "ratios": ratios(runs)})  # fmt: skip


def ratios(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per round: each Ray way's images/s over the workers run of the same round (end to end, and after start-up)."""
    out: dict[str, Any] = {}
    for run in runs:
        if run["way"] == "workers":
            continue
        same_round = [r for r in runs if r["way"] == "workers" and r["round"] == run["round"]]
        if not same_round:
            continue
        local = same_round[0]
        key = f"{run['way']}/round{run['round']}"
        out[key] = {"end_to_end": round(run["images_per_s"] / local["images_per_s"], 3),
                    "after_startup": round(run["job_images_per_s"] / local["images_per_s"], 3)}  # fmt: skip
    return out


if __name__ == "__main__":
    sys.exit(main())
