"""Batch throughput on one machine: ``predict --workers 2`` against ``predict --engine ray``, jobs of several sizes.

    python benchmarks/ray_batch.py --out benchmarks/results/amd-epyc-2c-x86-64/ray_batch.json
    python benchmarks/ray_batch.py --artifact out/lite0/efficientnet_lite0.onnx --sizes 100,500,2000 --repeat 2
    python benchmarks/ray_batch.py --baseline before:/tmp/edge-infer-before --ways workers,ray   # before/after
    python benchmarks/ray_batch.py --sizes 500 --repeat 2 --large 10000 --ways workers,ray,ray-joined   # issue 14

Each way runs the real command (``python -m edge_infer predict MODEL FOLDER --out ...``) in a fresh process. Per
round and job size the ways take turns (workers, ray, ...), so a load spike on a shared machine hits each alike; the
rounds repeat the whole schedule, and ``--large N`` adds one last round of every way with N images (a job large
enough for the fixed costs to matter less). Recorded per run:

* ``wall_s``: the command from start to exit (imports, worker or Ray start-up, actor model loads, every image, the
  writes); ``images_per_s``: images / ``wall_s``;
* ``first_result_s`` / ``last_result_s``: when the first and the last result reached the output (sampled every
  0.2 s from the output's size: the local ``--out`` file is flushed per line, Ray's part files appear as its
  writer writes them); ``first_to_last_images_per_s``: the images written between them / the time between, the
  rate once running, without start-up and shutdown (rows are taken to be of equal size, about 0.4 KB);
  ``steady_images_per_s``: the same from the moment a tenth of the output was written (Ray's writer process starts
  after the first batches are predicted and writes what waited in one go, which inflates a short Ray job's
  first-to-last rate; past a tenth of a large job that is over);
* ``ray_startup_s``: what ``ray.init`` took (from the command's summary line);
* ``peak_mb``: the largest sum of PSS (shared pages divided among the processes sharing them) over every process the
  command started (its workers; Ray's GCS, raylet, agents, actors and task workers; for the ``ray-joined`` ways the
  running Ray's processes too), sampled every 0.5 s;
* ``cpu_s``: CPU seconds (user + system) by kind of process (``driver``: the command; ``workers``: its
  ``--workers`` processes; ``actors``: Ray actors running the predictor; ``ray-tasks``: other Ray workers (writes,
  Ray Data's helper actors, idle pre-started workers); ``ray-daemons``: GCS, raylet, agents, monitors), from the
  same samples, so where the two cores went.

Fixed cost and steady rate: per way, a least-squares line ``wall_s = fixed_s + images / rate`` over all its runs
(every round and size): ``fixed_s`` is what a job costs before (and after) its images (start-up, model loads, writer
start-up), ``rate`` the images/s once running. The ratios compare each other way with ``workers`` in the same round
and size: end to end (``end_to_end_N``, the issue's measure) and once running (``steady_N``, ``first_to_last_N``,
from the output's growth).

Ways: ``workers`` (``--workers 2 --threads 1``), ``ray`` (``--engine ray``: a private local Ray with the machine's
cores, one actor per core x 1 thread), ``ray-joined`` (``--engine ray --ray-address``: two jobs on a warm local
cluster, ``ray start --head --num-cpus 2`` started by this script just before them and stopped after them, recorded
as ``ray-joined-1st`` and ``ray-joined-2nd``: Ray Data's helper actors are created by the first job on a cluster and
kept by it for the next; the cluster's own start-up is ``cluster_start_s``, outside both jobs), and with
``--baseline LABEL:SRC`` a way ``ray@LABEL``: the ``ray`` way with the edge-infer source tree at SRC (``git archive
COMMIT | tar -x -C SRC``), for before/after in one run. The images are JPEG crops (256x256) of the built-in sample
photos; the model is EfficientNet-Lite0 fp32 ONNX. ``--out`` writes edge-infer bench JSON (kind ``ray-batch``): one
result per way and size whose samples are the job's wall time per round and whose batch is the image count (so its
throughput is images/s); the runs, fits and ratios in ``extra``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_infer.bench import BenchReport, BenchResult  # noqa: E402
from edge_infer.bench.timing import timed_one  # noqa: E402
from support.ray_watch import OutputWatch, ProcessWatch, WarmCluster  # noqa: E402

KIND = "ray-batch"
WAYS = ("workers", "ray", "ray-joined")
JOINED = ("ray-joined-1st", "ray-joined-2nd")  # the two jobs of the ray-joined way
SIZES = (100, 500, 2000)


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
    images = folder / f"images{n}"
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


def command(way: str, artifact: Path, images: Path, out: Path, address: str | None) -> list[str]:
    base = [sys.executable, "-m", "edge_infer", "predict", str(artifact), str(images), "--no-progress",
            "--out", str(out)]  # fmt: skip
    if way == "workers":
        return [*base, "--workers", "2", "--threads", "1"]
    cmd = [*base, "--engine", "ray", "--threads", "1"]
    return [*cmd, "--ray-address", address] if way in JOINED and address else cmd


def run_once(way: str, artifact: Path, images: Path, n: int, work: Path, source: str,
             cluster: WarmCluster | None = None) -> dict[str, Any]:  # fmt: skip
    out = work / f"{way.replace('@', '-')}-{n}-{time.monotonic_ns()}.jsonl"
    cmd = command(way.split("@")[0], artifact, images, out, cluster.address if cluster else None)
    env = dict(os.environ, PYTHONPATH=source, **(cluster.env if cluster else {}))
    load = os.getloadavg()[0]
    with ProcessWatch(cluster=cluster is not None) as watch, OutputWatch(out, time.monotonic()) as output:

        def run() -> subprocess.CompletedProcess[str]:
            output.start = time.monotonic()
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            watch.root = proc.pid
            stdout, stderr = proc.communicate(timeout=3600)
            return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)

        r, wall_ms = timed_one(run)
    wall = wall_ms / 1e3
    summary = next((line for line in r.stderr.splitlines() if "wrote" in line), "")
    if r.returncode != 0 or f"wrote {n} result(s)" not in summary:
        raise SystemExit(f"{way} failed (exit {r.returncode}): {r.stderr[-2000:]}")
    found = re.search(r"Ray start-up ([\d.]+) s", summary)
    shutil.rmtree(out, ignore_errors=True)
    out.unlink(missing_ok=True)
    return {"way": way, "images": n, "wall_s": round(wall, 3), "images_per_s": round(n / wall, 2),
            **output.rates(n), "ray_startup_s": float(found.group(1)) if found else 0.0,
            **({"cluster_start_s": round(cluster.start_s, 2)} if cluster else {}),
            "peak_mb": round(watch.peak / 2**20, 1), "cpu_s": watch.cpu_by_kind(), "summary": summary,
            "load_avg_1m": round(load, 2)}  # fmt: skip


def run_size(ways: list[str], artifact: Path, images: Path, n: int, work: Path,
             sources: dict[str, str]) -> list[dict[str, Any]]:  # fmt: skip
    """Every way once on ``n`` images, in turn; ``ray-joined``: its two jobs on a cluster started for them."""
    runs = []
    for way in ways:
        if way != "ray-joined":
            runs.append(run_once(way, artifact, images, n, work, sources[way]))
            continue
        with WarmCluster() as cluster:
            for job in JOINED:
                runs.append(run_once(job, artifact, images, n, work, sources[way], cluster))
    return runs


def parse_baselines(specs: list[str], ap: argparse.ArgumentParser) -> dict[str, str]:
    """``LABEL:SRC`` -> {``ray@LABEL``: SRC}."""
    out = {}
    for spec in specs:
        label, sep, src = spec.partition(":")
        if not sep or not label or not (Path(src) / "edge_infer" / "__init__.py").is_file():
            ap.error(f"--baseline {spec!r}: give LABEL:SRC, SRC an edge-infer source tree (with edge_infer/)")
        out[f"ray@{label}"] = str(Path(src).resolve())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", type=Path, default=None, help="image artifact (default: export Lite0 ONNX)")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="job sizes in images (default 100,500,2000)")
    ap.add_argument("--repeat", type=int, default=2, help="rounds of every way and size (default 2)")
    ap.add_argument("--large", type=int, default=0, metavar="N",
                    help="then one more round of every way with N images (e.g. 10000)")  # fmt: skip
    ap.add_argument("--ways", default="workers,ray", help=f"comma-separated, of {', '.join(WAYS)} (default "
                    "workers,ray)")  # fmt: skip
    ap.add_argument("--baseline", action="append", default=[], metavar="LABEL:SRC",
                    help="also run the ray way with the source tree SRC, as way ray@LABEL (repeatable)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=None, help="write the JSON result here")
    ap.add_argument("--recompute", type=Path, default=None, metavar="JSON",
                    help="no runs: recompute the fits and ratios of the runs recorded in JSON (to --out)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.recompute is not None:
        return recompute(args.recompute, args.out)
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    unknown = sorted(set(ways) - set(WAYS))
    if unknown:
        ap.error(f"unknown way(s) {unknown}; valid: {', '.join(WAYS)}")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    here = str(Path(__file__).resolve().parents[1])
    sources = {w: here for w in ways} | parse_baselines(args.baseline, ap)
    ways = list(sources)
    with tempfile.TemporaryDirectory(prefix="ray-batch-") as tmp:
        work = Path(tmp)
        artifact = Path(args.artifact or default_artifact(work / "model"))
        rounds: list[tuple[str | int, int]] = [(r + 1, n) for r in range(args.repeat) for n in sizes]
        if args.large:
            rounds.append(("large", args.large))
        folders = {n: make_images(work, n) for n in dict.fromkeys(n for _, n in rounds)}
        runs = []
        load_before = os.getloadavg()
        for round_no, n in rounds:
            for run in run_size(ways, artifact, folders[n], n, work, sources):
                run["round"] = round_no
                runs.append(run)
                print(json.dumps({k: v for k, v in run.items() if k != "summary"}), flush=True)
        # while the artifact still exists: without --artifact it was exported into this temporary folder
        report = to_report(artifact, sorted({r["images"] for r in runs}), runs,
                           load_average=(load_before, os.getloadavg()),
                           command=" ".join(["python benchmarks/ray_batch.py", *(argv or sys.argv[1:])]))  # fmt: skip
    if args.out:
        report.save(args.out)
    print(json.dumps({k: report.extra[k] for k in ("fits", "cpu_per_image", "ratios")}, indent=2))
    return 0


def recompute(source: Path, out: Path | None) -> int:
    """The report of the runs recorded in ``source`` (bench JSON of this script), with today's fits and ratios."""
    recorded = json.loads(source.read_text(encoding="utf-8"))
    runs = recorded["extra"]["runs"]
    artifact = Path(recorded["results"][0]["artifact"])
    report = to_report(artifact, recorded["config"]["sizes"], runs)
    load = recorded["load_average"]
    if load.get("before") is None:  # recorded before the script kept it: the 1-minute figures of the runs
        ones = [r["load_avg_1m"] for r in runs]
        load = {"before": [ones[0]], "after": [ones[-1]], "runs_1m_min_max": [min(ones), max(ones)]}
    report = dataclasses.replace(report, created=recorded["created"], machine=recorded["machine"],
                                 load_average=load, command=recorded.get("command", ""))  # fmt: skip
    if out:
        report.save(out)
    print(json.dumps({k: report.extra[k] for k in ("fits", "cpu_per_image", "ratios")}, indent=2))
    return 0


def fit(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    """Least squares ``wall_s = fixed_s + images / rate`` over runs of different sizes (None with fewer than 2)."""
    sizes = sorted({r["images"] for r in runs})
    if len(sizes) < 2:
        return None
    x = np.array([r["images"] for r in runs], dtype=float)
    y = np.array([r["wall_s"] for r in runs], dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    return {"fixed_s": round(float(intercept), 2), "rate_images_per_s": round(float(1 / slope), 2)}


def fits(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per way, the fixed cost and steady rate (``fit``) over all its runs, every round and size."""
    out: dict[str, Any] = {}
    for way in dict.fromkeys(r["way"] for r in runs):
        result = fit([r for r in runs if r["way"] == way])
        if result is not None:
            out[way] = result
    return out


def cpu_per_image(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per way, the CPU milliseconds per image of each kind of process (the slope of ``cpu_s`` over the job sizes,
    every round together) and its fixed CPU seconds (the intercept), and the same for all of them (``total``):
    what each image costs the driver, the Ray daemons and the actors, apart from start-up. Unlike wall times, CPU
    time hardly depends on what else the machine runs, so on a shared machine these are the steadier numbers."""
    out: dict[str, Any] = {}
    for way in dict.fromkeys(r["way"] for r in runs):
        mine = [r for r in runs if r["way"] == way]
        if len({r["images"] for r in mine}) < 2:
            continue
        x = np.array([r["images"] for r in mine], dtype=float)
        for kind in [*sorted({k for r in mine for k in r["cpu_s"]}), "total"]:
            y = np.array([sum(r["cpu_s"].values()) if kind == "total" else r["cpu_s"].get(kind, 0.0) for r in mine],
                         dtype=float)  # fmt: skip
            slope, intercept = np.polyfit(x, y, 1)
            out.setdefault(way, {})[kind] = {"ms_per_image": round(float(slope) * 1e3, 3),
                                             "fixed_s": round(float(intercept), 2)}  # fmt: skip
    return out


def ratios(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each other way over ``workers`` in the same round and size: images/s end to end (``end_to_end_N``) and once
    running (``steady_N``, ``first_to_last_N``, from the output's growth); and per way the ratio of the fitted rates
    (``fit``)."""
    out: dict[str, Any] = {}
    for run in runs:
        # each way against workers; a baseline ray@LABEL (the source before a change) also against ray (after)
        for other, prefix in (("workers", ""), ("ray", "ray_over_")):
            if run["way"] == "workers" or (other == "ray" and not run["way"].startswith("ray@")):
                continue
            same = [r for r in runs if r["way"] == other and (r["round"], r["images"]) == (run["round"], run["images"])]
            if not same:
                continue
            mine = out.setdefault(f"{run['way']}/round{run['round']}", {})
            top, bottom = (same[0], run) if prefix else (run, same[0])  # after / before: ray over ray@LABEL
            mine[f"{prefix}end_to_end_{run['images']}"] = round(top["images_per_s"] / bottom["images_per_s"], 3)
            for key, name in (("steady_images_per_s", "steady"), ("first_to_last_images_per_s", "first_to_last")):
                if top.get(key) and bottom.get(key):
                    mine[f"{prefix}{name}_{run['images']}"] = round(top[key] / bottom[key], 3)
    by_fit = fits(runs)
    for way, result in by_fit.items():
        if way != "workers" and "workers" in by_fit:
            out[f"{way}/fit"] = {"rate": round(result["rate_images_per_s"] / by_fit["workers"]["rate_images_per_s"], 3)}
    return out


def to_report(
    artifact: Path, sizes: list[int], runs: list[dict[str, Any]], *,
    load_average: tuple[tuple[float, ...], tuple[float, ...]] | None = None, command: str = "",
) -> BenchReport:  # fmt: skip
    """Bench JSON of kind ``ray-batch``: one result per way and size whose samples are the whole job's wall time per
    round (batch = the images), so ``throughput_ips`` is images/s; start-up, memory, CPU, fits and ratios in
    ``extra``."""
    from edge_infer.artifact import Artifact
    from edge_infer.backends import choose_backend

    art = Artifact.read(artifact)
    backend = choose_backend(art.format, None).name
    results = []
    for way in dict.fromkeys(r["way"] for r in runs):
        for n in sizes:
            mine = [r for r in runs if r["way"] == way and r["images"] == n]
            results.append(BenchResult(
                artifact=str(artifact), label=f"{way}/{n}", format=art.manifest.format, backend=backend, threads=1,
                batch=n, via=way, load_ms=0.0, cold_ms=0.0, samples_ms=tuple(r["wall_s"] * 1e3 for r in mine),
                rounds=len(mine), extra={"ray_startup_s": [r["ray_startup_s"] for r in mine],
                                         "steady_images_per_s": [r.get("steady_images_per_s") for r in mine],
                                         "first_to_last_images_per_s": [r.get("first_to_last_images_per_s")
                                                                        for r in mine],
                                         "first_result_s": [r.get("first_result_s") for r in mine],
                                         "peak_mb": [r["peak_mb"] for r in mine], "cpu_s": [r["cpu_s"] for r in mine]},
            ))  # fmt: skip
    return BenchReport.now(kind=KIND, config={"sizes": sizes, "ways": list(dict.fromkeys(r["way"] for r in runs))},
                           load_average=load_average, command=command,
                           source={"kind": "folders of JPEGs", "images": sizes}, results=results,
                           extra={"runs": runs, "fits": fits(runs), "cpu_per_image": cpu_per_image(runs),
                                  "ratios": ratios(runs)})  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
