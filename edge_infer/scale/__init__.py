"""Batch inference beyond one machine: the same ``Predictor`` on Ray Data (the ``ray`` extra).

``predict_dataset(artifact, dataset)`` maps a Ray Dataset of encoded images (or feature rows) to result rows with
the fields of ``edge-infer predict --out`` lines, on actors that each load the artifact once; plug it between your
own reads, filters and writes. ``edge-infer predict ... --engine ray`` is ``run_ray_job``: the same inputs as the
local run, a local Ray or a cluster (``--ray-address``), output written by Ray's writers, resumable.

    import ray, edge_infer.scale as scale
    ray.init()
    images = ray.data.read_binary_files("photos/", include_paths=True)
    scale.predict_dataset("lite0.onnx", images).write_parquet("labels.parquet")

Importing this package does not import Ray; its functions do.
"""

from __future__ import annotations

from edge_infer.scale.actor import ArtifactPredictor
from edge_infer.scale.cluster import RaySession, ray_session
from edge_infer.scale.dataset import predict_dataset, read_images
from edge_infer.scale.job import RayJobConfig, RayJobSummary, run_ray_job
from edge_infer.scale.output import ResultsFolder

__all__ = [
    "ArtifactPredictor",
    "RayJobConfig",
    "RayJobSummary",
    "RaySession",
    "ResultsFolder",
    "predict_dataset",
    "ray_session",
    "read_images",
    "run_ray_job",
]
