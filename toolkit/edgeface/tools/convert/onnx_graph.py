"""ONNX checks and the one graph edit edgeface makes: preprocessing moved into the graph.

TFLite models built by edgeface take raw BGR pixels (0..255): the normalization of the model
card ((x - mean) / std) is prepended to the ONNX graph before conversion. An INT8 model then
gets an input quantization of scale 1, zero point 0 (uint8), so a camera crop is fed as is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from edgeface.errors import EdgefaceError


def load_checked(path: Path, expect_shape: Sequence | None = None, what: str = "model"):
    """Load an ONNX file and check it; one-line errors for missing, corrupt or mismatched files."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise EdgefaceError(f"ONNX file {path} does not exist; run `edgeface export` or pass an existing --onnx")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as e:  # protobuf DecodeError, ValidationError, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EdgefaceError(f"{path} is not a valid ONNX model ({first[:120]}); re-export it with `edgeface export`") from None
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise EdgefaceError(f"{path} has {len(inputs)} inputs; edgeface expects one image input")
    shape = input_shape(model)
    if expect_shape is not None and list(shape) != list(expect_shape):
        raise EdgefaceError(f"{path} has input shape {shape}, but the {what} needs {list(expect_shape)}; export it with `edgeface export`")
    return model


def input_shape(model) -> list:
    inp = model.graph.input[0]
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in inp.type.tensor_type.shape.dim]


def prepend_normalization(model, mean: Sequence[float], std: Sequence[float]):
    """Return a copy of `model` whose input takes raw pixels; the graph computes (x - mean) / std."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    name = g.input[0].name
    normalized = f"{name}__normalized"
    for node in g.node:
        for i, x in enumerate(node.input):
            if x == name:
                node.input[i] = normalized
    c = len(mean)
    g.initializer.extend([
        numpy_helper.from_array(np.asarray(mean, np.float32).reshape(1, c, 1, 1), "edgeface_pre_mean"),
        numpy_helper.from_array((1.0 / np.asarray(std, np.float64)).astype(np.float32).reshape(1, c, 1, 1), "edgeface_pre_inv_std"),
    ])
    g.node.insert(0, helper.make_node("Sub", [name, "edgeface_pre_mean"], ["edgeface_pre_centered"], name="edgeface_pre_sub"))
    g.node.insert(1, helper.make_node("Mul", ["edgeface_pre_centered", "edgeface_pre_inv_std"], [normalized], name="edgeface_pre_mul"))
    onnx.checker.check_model(m)
    return m


def split_float_head(model):
    """Cut the final fully connected layer off a regressor graph, to run it in float.

    INT8 quantizes the regressor's 62 outputs with one scale shared by pose, shape and
    expression; measured on held-out crops this single layer causes about half of the INT8
    landmark error. Keeping it in float (a 512x62 matrix-vector product in numpy, ~32k MACs)
    removes that error at no measurable cost. Returns (backbone model whose output is the
    feature vector, head dict with W (out, in), b (out,), op name and feature name).
    """
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    last = g.node[-1]
    out_name = g.output[0].name
    if len(g.output) != 1 or last.op_type != "Gemm" or last.output[0] != out_name:
        raise EdgefaceError("the regressor graph does not end in one Gemm (fully connected) layer; convert with --no-float-head")
    attrs = {a.name: helper.get_attribute_value(a) for a in last.attribute}
    if attrs.get("transA", 0) != 0 or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        raise EdgefaceError("unsupported Gemm attributes in the regressor head; convert with --no-float-head")
    inits = {t.name: t for t in g.initializer}
    w = numpy_helper.to_array(inits[last.input[1]]).astype(np.float32)
    if attrs.get("transB", 0) == 0:
        w = w.T
    b = numpy_helper.to_array(inits[last.input[2]]).astype(np.float32) if len(last.input) > 2 else np.zeros(w.shape[0], np.float32)
    feat = last.input[0]
    del g.node[len(g.node) - 1]
    for name in last.input[1:]:
        if not any(name in n.input for n in g.node):
            g.initializer.remove(inits[name])
    g.output.pop()
    g.output.append(helper.make_tensor_value_info(feat, onnx.TensorProto.FLOAT, [1, int(w.shape[1])]))
    onnx.checker.check_model(m)
    return m, {"W": np.ascontiguousarray(w), "b": b, "op": last.name or "Gemm", "feature": feat}
