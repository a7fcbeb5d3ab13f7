"""Soak the HTTP shim: N concurrent clients for a fixed time, posting a JPEG in the field ``file``.

    python benchmarks/serve_soak.py out/lite0/efficientnet_lite0.onnx --clients 32 --seconds 60 \
        --out benchmarks/results/serve_soak.json

Passes when every request got a 200 (no 5xx, no dropped connection) and the server's memory is flat: resident
memory sampled every second, compared between the first and the last third of the run (after warm-up).
Exit 0 on pass, 1 on fail. Runs the server as ``edge-infer serve`` in a subprocess on loopback.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any


def soak(artifact: str, framework: str, clients: int, seconds: float, image: bytes, timeout_s: float) -> dict[str, Any]:
    import httpx
    import numpy as np
    import psutil

    from edge_infer.serve.core import ServeConfig
    from edge_infer.serve.server import ServerProcess

    statuses: dict[str, int] = {}
    latencies: list[float] = []
    rss: list[tuple[float, float]] = []
    lock = threading.Lock()
    stop = threading.Event()
    with ServerProcess(artifact, framework, config=ServeConfig(timeout_s=timeout_s)) as srv:
        proc = psutil.Process(srv._proc.pid)  # type: ignore[union-attr]

        def client() -> None:
            with httpx.Client(base_url=srv.url, timeout=timeout_s + 30) as c:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    try:
                        key = str(c.post("/predict", files={"file": ("photo.jpg", image, "image/jpeg")}).status_code)
                    except httpx.HTTPError as exc:
                        key = f"dropped ({type(exc).__name__})"
                    with lock:
                        statuses[key] = statuses.get(key, 0) + 1
                        latencies.append((time.perf_counter() - t0) * 1e3)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        while time.perf_counter() - start < seconds:
            rss.append((time.perf_counter() - start, proc.memory_info().rss / 2**20))
            time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    mem = np.array([m for _, m in rss])
    third = max(1, len(mem) // 3)
    first, last = float(np.median(mem[:third])), float(np.median(mem[-third:]))
    lat = np.array(latencies)
    ok = set(statuses) == {"200"}
    flat = last - first < max(50.0, 0.1 * first)
    return {
        "framework": framework, "clients": clients, "seconds": round(wall, 1), "requests": int(lat.size),
        "throughput_rps": round(lat.size / wall, 2), "statuses": statuses,
        "latency_ms": {q: round(float(np.percentile(lat, p)), 1) for q, p in (("p50", 50), ("p99", 99), ("max", 100))},
        "server_rss_mb": {"first_third_median": round(first, 1), "last_third_median": round(last, 1),
                          "max": round(float(mem.max()), 1), "samples": [round(m, 1) for m in mem]},
        "pass": {"all_200": ok, "memory_flat": flat},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("artifact")
    p.add_argument("--framework", default="fastapi")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--timeout", type=float, default=120.0, help="server request timeout (queueing included)")
    p.add_argument("--image", default=None, help="photo to send (default: scikit-learn's china.jpg)")
    p.add_argument("--out", default=None, help="save the JSON result here")
    args = p.parse_args(argv)
    if args.image:
        image = Path(args.image).read_bytes()
    else:
        from exporters.samples import DEMO_PHOTOS

        image = DEMO_PHOTOS["china.jpg"]().read_bytes()
    result = soak(args.artifact, args.framework, args.clients, args.seconds, image, args.timeout)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0 if all(result["pass"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
