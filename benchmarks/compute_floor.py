"""The compute floor of this machine for a model: its multiply-accumulates against measured fp32 matmul throughput.

    python benchmarks/compute_floor.py out/lite0/efficientnet_lite0.onnx \\
        --out benchmarks/results/DEVICE/compute_floor.json

MACs are counted from the ONNX graph after shape inference (batch 1): Conv = Cout*Hout*Wout*(Cin/groups)*kh*kw,
MatMul/Gemm = M*N*K; everything else (activations, pooling, adds) is left out, as model cards do. Throughput is
the best of several large single-precision matrix products, through ONNX Runtime (MatMul, the same MLAS kernels the
model uses) at 1 thread and at every usable core, and through numpy's BLAS. floor_ms = 2 * MACs / FLOP/s: no
runtime can beat it on this CPU, and depthwise convolutions (low arithmetic intensity) keep real models well above.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_infer.bench import BenchReport  # noqa: E402
from edge_infer.bench.timing import paused_gc, timed  # noqa: E402
from edge_infer.threads import default_threads  # noqa: E402

KIND = "compute-floor"


def _dims(value_info: Any) -> list[int]:
    return [d.dim_value if d.HasField("dim_value") else 1 for d in value_info.type.tensor_type.shape.dim]


def count_macs(model_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Multiply-accumulates of one image, by kind (conv, depthwise conv, matmul), from the ONNX graph."""
    import onnx
    from onnx import numpy_helper

    model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path)))
    g = model.graph
    shapes = {v.name: _dims(v) for v in [*g.value_info, *g.input, *g.output]}
    shapes.update({t.name: list(numpy_helper.to_array(t).shape) for t in g.initializer})
    macs: dict[str, int] = defaultdict(int)
    params = sum(int(np.prod(t.dims)) for t in g.initializer)
    for node in g.node:
        if node.op_type == "Conv":
            w, out = shapes.get(node.input[1]), shapes.get(node.output[0])
            if not w or not out:
                continue
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            kind = "depthwise_conv" if group > 1 and group == out[1] else "conv"
            macs[kind] += int(np.prod(out[1:])) * int(np.prod(w[1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            a, b = shapes.get(node.input[0]), shapes.get(node.input[1])
            if not a or not b:
                continue
            trans_b = next((x.i for x in node.attribute if x.name == "transB"), 0)
            k, n = (b[1], b[0]) if trans_b else (b[-2], b[-1])
            macs["matmul"] += int(np.prod(a[:-1])) * k * n
    return {"total": sum(macs.values()), "by_kind": dict(macs), "parameters": params}


def _best_gflops(fn: Any, flops: float, repeats: int, budget_s: float = 3.0) -> float:
    """GFLOP/s of the fastest of up to ``repeats`` calls (in chunks of 10 until ``budget_s`` is spent)."""
    fn()
    samples: list[float] = []
    with paused_gc():
        while len(samples) < repeats and sum(samples) < budget_s * 1e3:
            samples += timed(fn, min(10, repeats - len(samples)))
    return flops / (min(samples) / 1e3) / 1e9


def ort_matmul_gflops(threads: int, n: int = 512, repeats: int = 200) -> float:
    """fp32 GFLOP/s of an n x n x n MatMul in ONNX Runtime's CPU provider with ``threads`` intra-op threads."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    b = numpy_helper.from_array(rng.standard_normal((n, n)).astype(np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["C"])], "mm",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("C", TensorProto.FLOAT, [n, n])], [b],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    a = rng.standard_normal((n, n)).astype(np.float32)
    onnx.checker.check_model(model)
    return _best_gflops(lambda: sess.run(None, {"A": a}), 2.0 * n**3, repeats)


def numpy_matmul_gflops(threads: int | None, n: int = 512, repeats: int = 200) -> float | None:
    """fp32 GFLOP/s of numpy's BLAS; ``threads`` needs threadpoolctl (None: the BLAS default)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    if threads is None:
        return _best_gflops(lambda: a @ b, 2.0 * n**3, repeats)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    with threadpool_limits(limits=threads):
        return _best_gflops(lambda: a @ b, 2.0 * n**3, repeats)


def compute_floor(model_path: str | os.PathLike[str]) -> BenchReport:
    """The floor as a bench report of kind ``compute-floor`` (no latency results; MACs, matmul GFLOP/s and
    ``floors`` in ``extra``)."""
    macs = count_macs(model_path)
    cores = default_threads()
    thread_counts = sorted({1, cores})
    rows = []
    for t in thread_counts:
        ort_g = ort_matmul_gflops(t)
        np_g = numpy_matmul_gflops(t)
        best = max(g for g in (ort_g, np_g) if g)
        rows.append({
            "threads": t, "onnxruntime_gflops": round(ort_g, 1), "numpy_gflops": np_g and round(np_g, 1),
            "floor_ms": round(2 * macs["total"] / (best * 1e9) * 1e3, 3),
        })  # fmt: skip
    config = {"matmul": "fp32, 512x512x512, best of up to 200 runs or 3 s", "threads": thread_counts}
    extra = {"model": str(model_path), "macs": macs, "gmacs": round(macs["total"] / 1e9, 4), "floors": rows}
    return BenchReport.now(kind=KIND, config=config, source={"kind": "onnx graph", "path": str(model_path)},
                           extra=extra)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", help="an fp32 ONNX file")
    p.add_argument("--out", default=None, help="save the JSON here")
    args = p.parse_args(argv)
    report = compute_floor(args.model)
    if args.out:
        report.save(args.out)
    print(json.dumps({k: report.extra[k] for k in ("gmacs", "macs", "floors")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
