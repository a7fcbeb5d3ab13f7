"""uint8 pixel input for ONNX files: the preprocessing after the crop moves into the graph.

``prepend_pixel_input`` gives an ONNX model whose input ``input`` is uint8 (N, crop, crop, 3), RGB, and prepends
the ops the runtime would otherwise run in numpy: channel order (Gather), layout change (Transpose, on the uint8
bytes), Cast to float, then ``x * (scale / std)`` (Mul) and ``+ (-mean / std)`` (Add): the same float32 arithmetic
as ``edge_infer.preprocess``, so the graph computes what the float artifact computes. ONNX Runtime and OpenVINO
both run the result. The device then only decodes, resizes and crops (OpenCV on uint8) and hands the bytes over.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edge_infer.errors import ExportError, first_line
from edge_infer.preprocess import Preprocessor
from edge_infer.spec import UINT8_NHWC, InputSpec, PreprocessSpec
from exporters.context import ExportContext

PIXELS = "input"  # the new graph input
_PREFIX = "edge_infer_pixels"


def pixel_input_spec(spec: PreprocessSpec) -> InputSpec:
    """The manifest's ``input`` of a pixel-input file: uint8 (N, crop, crop, 3)."""
    return InputSpec(name=PIXELS, shape=(None, spec.crop, spec.crop, 3), dtype="uint8", layout="NHWC")


def prepend_pixel_input(model: Any, spec: PreprocessSpec) -> Any:
    """A copy of ``model`` (an ``onnx.ModelProto`` with one float input laid out as ``spec.layout``) that takes
    uint8 RGB pixels NHWC and normalises them inside the graph as ``spec`` says."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    graph = m.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ExportError(f"pixel input needs a model with one input, this one has {len(inputs)}")
    old = inputs[0]
    if old.type.tensor_type.elem_type != TensorProto.FLOAT:
        raise ExportError("pixel input needs a model whose input is float32")
    inner = f"{_PREFIX}_normalized"
    for node in graph.node:
        node.input[:] = [inner if name == old.name else name for name in node.input]
    for out in graph.output:
        if out.name == old.name:
            raise ExportError("pixel input: the model's input is also its output")
    batch = old.type.tensor_type.shape.dim[0]
    batch_dim: str | int = batch.dim_param if batch.HasField("dim_param") else batch.dim_value
    new_input = helper.make_tensor_value_info(PIXELS, TensorProto.UINT8, [batch_dim, spec.crop, spec.crop, 3])
    graph.input.remove(old)
    graph.input.insert(0, new_input)

    std = np.asarray(spec.std, dtype=np.float32)
    mul = (np.float32(spec.scale) / std).astype(np.float32)
    add = (-np.asarray(spec.mean, dtype=np.float32) / std).astype(np.float32)
    nodes, tensors, x = [], [], PIXELS
    if spec.channel_order == "BGR":
        tensors.append(numpy_helper.from_array(np.asarray([2, 1, 0], dtype=np.int64), f"{_PREFIX}_bgr"))
        nodes.append(helper.make_node("Gather", [x, f"{_PREFIX}_bgr"], [f"{_PREFIX}_swapped"], axis=3))
        x = f"{_PREFIX}_swapped"
    shape = (1, 3, 1, 1) if spec.layout == "NCHW" else (1, 1, 1, 3)
    if spec.layout == "NCHW":
        nodes.append(helper.make_node("Transpose", [x], [f"{_PREFIX}_nchw"], perm=[0, 3, 1, 2]))
        x = f"{_PREFIX}_nchw"
    tensors += [numpy_helper.from_array(mul.reshape(shape), f"{_PREFIX}_mul"),
                numpy_helper.from_array(add.reshape(shape), f"{_PREFIX}_add")]  # fmt: skip
    nodes += [
        helper.make_node("Cast", [x], [f"{_PREFIX}_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", [f"{_PREFIX}_float", f"{_PREFIX}_mul"], [f"{_PREFIX}_scaled"]),
        helper.make_node("Add", [f"{_PREFIX}_scaled", f"{_PREFIX}_add"], [inner]),
    ]
    for i, node in enumerate(nodes):
        node.name = f"{_PREFIX}_{node.op_type.lower()}_{i}"
    graph.initializer.extend(tensors)
    old_nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + old_nodes)
    return m


def convert_file(path: os.PathLike[str] | str, spec: PreprocessSpec) -> dict[str, Any]:
    """Rewrite the ONNX file at ``path`` to take uint8 pixels; checked by onnx.checker. Returns manifest details."""
    import onnx

    model = prepend_pixel_input(onnx.load(str(path)), spec)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the pixel-input model: {first_line(exc)}") from exc
    onnx.save(model, str(path))
    ops = [n.op_type for n in model.graph.node if n.name.startswith(_PREFIX)]
    return {"image_input": {**UINT8_NHWC.to_dict(), "graph_preprocessing": ops}}


def check_pixel_batches(path: os.PathLike[str] | str, ctx: ExportContext) -> None:
    """Run the pixel-input file at batch 1 and 2 on the verification photos' crops and compare with eager."""
    import onnxruntime as ort

    spec = ctx.image_spec.preprocess
    pre = Preprocessor(spec, UINT8_NHWC)
    crops = [pre(im) for im in list(ctx.verify_images.values())[:2]]
    if len(crops) < 2:
        return
    x2 = np.concatenate(crops)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for b in (1, 2):
        try:
            out = sess.run(None, {PIXELS: x2[:b]})[0]
        except Exception as exc:
            raise ExportError(f"pixel-input ONNX model fails at batch {b}: {first_line(exc)}") from exc
        if out.shape[0] != b or not np.allclose(out, ctx.reference_outputs[:b], atol=1e-3, rtol=1e-3):
            raise ExportError(f"pixel-input ONNX model disagrees with eager at batch {b}")
