"""Activation range equalization: every channel of a ReLU tensor scaled to use the tensor's full int8 range.

INT8 activations are quantized per tensor: one step (range / 255) for all channels of a ReLU
output. A channel whose values stay far below the tensor's range uses few of the 256 levels, and
its rounding error, which changes with every frame's sensor noise, is large relative to its
signal. ReLU is positive-homogeneous, so `Conv(W, b) -> ReLU -> Conv(V)` computes the same
function with channel c of W, b scaled by s_c > 0 and input channel c of V divided by s_c.
Choosing s_c = R / r_c (r_c the channel's range on the calibration crops, R the tensor's; capped
at `max_scale`) gives every channel the full range. In float the graph is unchanged (checked to
1e-4); in int8 the per-output-channel weight scales absorb the producer's scaling exactly, and a
depthwise consumer's too; a pointwise consumer's input columns shrink, which moves a little static
weight-rounding error (no frame-to-frame noise) onto those channels.
The last ReLU, which feeds the pooled features and the float head, is left alone.
"""

from __future__ import annotations

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.tools.convert import ranges

MAX_SCALE = 16.0


def channel_ranges(model, crops: np.ndarray, q: float = 99.99) -> dict:
    """{ReLU output name: (C,) the q-th percentile of each channel's values over `crops`} for a
    raw-pixel NCHW graph; crops (N, H, W, 3) uint8."""
    sess, names = ranges.relu_session(model)
    inp = sess.get_inputs()[0].name
    vals = {n: [] for n in names}
    for c in crops:
        for n, y in zip(names, sess.run(names, {inp: c[None].astype(np.float32).transpose(0, 3, 1, 2)})):
            vals[n].append(y[0].reshape(y.shape[1], -1))
    return {n: np.percentile(np.concatenate(v, axis=1), q, axis=1) for n, v in vals.items()}


def equalize(model, rng: dict, max_scale: float = MAX_SCALE, dense_power: float = 1.0, head: bool = False):
    """(`model` with its ReLU channels equalized, {ReLU output: (C,) scales}) for the per-channel
    ranges `rng` (`channel_ranges`); see the module doc."""
    import onnx
    from onnx import helper, numpy_helper

    m, inits, producer, consumers = ranges.editable(model)
    g = m.graph

    def arr(name):
        return numpy_helper.to_array(inits[name]).astype(np.float64)

    def put(name, a):
        inits[name].CopyFrom(numpy_helper.from_array(a.astype(np.float32), name))

    scales = {}
    for node in g.node:
        if node.op_type != "Relu":
            continue
        conv, nxt = producer.get(node.input[0]), consumers.get(node.output[0], [])
        if len(nxt) == 1 and nxt[0].op_type == "GlobalAveragePool":
            if not head:
                continue
            flat = consumers.get(nxt[0].output[0], [])
            gemm = consumers.get(flat[0].output[0], []) if len(flat) == 1 and flat[0].op_type == "Flatten" else []
            if len(gemm) != 1 or gemm[0].op_type != "Gemm":
                raise EdgefaceError("equalization: the pooled features do not feed one Gemm through Flatten")
            r = np.asarray(rng[node.output[0]], np.float64)
            s = np.where(r > 0, np.clip(r.max() / np.maximum(r, 1e-30), 1.0, max_scale), 1.0)
            put(conv.input[1], arr(conv.input[1]) * s[:, None, None, None])
            put(conv.input[2], arr(conv.input[2]) * s)
            put(gemm[0].input[1], arr(gemm[0].input[1]) / s[None, :])  # transB=1: (out, in)
            scales[node.output[0]] = s
            continue
        if conv is None or conv.op_type != "Conv" or len(nxt) != 1 or nxt[0].op_type != "Conv":
            raise EdgefaceError(f"equalization: unexpected graph around {node.name or node.output[0]}")
        r = np.asarray(rng[node.output[0]], np.float64)
        s = np.where(r > 0, np.clip(r.max() / np.maximum(r, 1e-30), 1.0, max_scale), 1.0)
        group = next((helper.get_attribute_value(a) for a in nxt[0].attribute if a.name == "group"), 1)
        if group == 1:
            s = s ** dense_power
        w, b = arr(conv.input[1]), arr(conv.input[2])
        put(conv.input[1], w * s[:, None, None, None])
        put(conv.input[2], b * s)
        v = arr(nxt[0].input[1])
        if group == 1:
            put(nxt[0].input[1], v / s[None, :, None, None])
        elif group == len(s) and v.shape[0] == len(s) and v.shape[1] == 1:
            put(nxt[0].input[1], v / s[:, None, None, None])
        else:
            raise EdgefaceError(f"equalization: grouped conv {nxt[0].name} is neither depthwise nor dense")
        scales[node.output[0]] = s
    onnx.checker.check_model(m)
    return m, scales


__all__ = ("MAX_SCALE", "channel_ranges", "equalize")
