"""Percentile activation ranges for INT8: every ReLU clipped at a percentile of its calibration values.

Min-max calibration gives each activation tensor the range of its largest value seen on the
calibration crops; a handful of outliers then set the int8 step for all values. With sensor
noise each layer's rounding error changes from frame to frame, and that rounding noise is what
makes INT8 landmarks jitter 2.2-2.4x more than float at a fixed crop (benchmarks/int8_noise.py).
Clipping each ReLU at the q-th percentile of its values (99.99 by default) makes the step
1.3-2.2x finer (measured on the mb05 calibration crops).

The clip is written into the float graph the converter quantizes, in the one form TFLite fuses
into the convolution (ReLU6): `Conv(W, b) -> Clip(0, p) -> next` is the same function as
`Conv(W*6/p, b*6/p) -> ReLU6 -> next` with the next conv's weights scaled by p/6; the last ReLU,
which feeds the global average pool, is unscaled by a Mul after the pool. The INT8 graph has the
same ops as the min-max one plus that 512-value Mul, so it costs no time. Only INT8 variants are
converted from the clipped graph: float variants stay the exact original.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.tools.convert.range_spec import MIN_PERCENTILE


def relu_session(model) -> tuple:
    """(onnxruntime session, ReLU output names) over a copy of `model` with every ReLU output as a graph
    output (what `relu_percentiles` reads; the INT8 experiments read it too)."""
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    names = [n.output[0] for n in m.graph.node if n.op_type == "Relu"]
    del m.graph.output[:]
    m.graph.output.extend([onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names])
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]), names


def relu_percentiles(model, crops: np.ndarray, q: float, progress=None) -> dict:
    """{ReLU output name: the q-th percentile of its values over `crops`} for a raw-pixel NCHW graph
    with batch 1; crops (N, H, W, 3) uint8. Exact: the top share of the values is kept per crop."""
    if not MIN_PERCENTILE <= q <= 100.0:
        raise EdgefaceError(f"activation percentile {q} is outside {MIN_PERCENTILE}..100")
    sess, names = relu_session(model)
    inp = sess.get_inputs()[0].name
    tails = {n: [] for n in names}
    count = dict.fromkeys(names, 0)
    for i, c in enumerate(crops):
        for n, y in zip(names, sess.run(names, {inp: c[None].astype(np.float32).transpose(0, 3, 1, 2)})):
            y = y.ravel()
            # this crop's share of the top (100 - q)% with margin 4x: the overall r-th largest value
            # lies in the union of the per-crop tails unless one crop holds > 4x its share of it
            k = min(y.size, int(np.ceil(y.size * (100.0 - q) / 100.0 * 4)) + 1)
            tails[n].append(np.partition(y, y.size - k)[y.size - k:])
            count[n] += y.size
        if progress and (i + 1) % 50 == 0:
            progress(i + 1, len(crops))
    out = {}
    for n in names:
        tail = np.sort(np.concatenate(tails[n]))[::-1]
        out[n] = float(tail[min(len(tail) - 1, int(count[n] * (100.0 - q) / 100.0))])
    return out


def editable(model) -> tuple:
    """(a copy of `model`, its initializers by name, the node producing each tensor, the nodes
    consuming each tensor): what a graph edit that rescales weights around activations needs."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    consumers: dict = {}
    for n in m.graph.node:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    return m, {t.name: t for t in m.graph.initializer}, {o: n for n in m.graph.node for o in n.output}, consumers


def clip_relus(model, ranges: dict):
    """`model` with each ReLU named in `ranges` clipped at its range (see the module doc: as ReLU6
    with the scale folded into the neighbouring convolutions). Every clipped ReLU must follow a Conv
    and feed one Conv or the global average pool."""
    import onnx
    from onnx import helper, numpy_helper

    m, inits, producer, consumers = editable(model)
    g = m.graph

    def scale(name: str, factor: float):
        a = numpy_helper.to_array(inits[name]).astype(np.float32) * np.float32(factor)
        inits[name].CopyFrom(numpy_helper.from_array(a, name))

    for node in list(g.node):
        if node.op_type != "Relu" or node.output[0] not in ranges:
            continue
        conv, nxt = producer.get(node.input[0]), consumers.get(node.output[0], [])
        p = float(ranges[node.output[0]])
        if conv is None or conv.op_type != "Conv" or len(nxt) != 1 or nxt[0].op_type not in ("Conv", "GlobalAveragePool") or p <= 0:
            raise EdgefaceError(f"percentile ranges: unexpected graph around {node.name or node.output[0]}; "
                                "convert with min-max ranges (--ranges minmax)")
        s = 6.0 / p
        for w in conv.input[1:3]:  # weights and bias
            scale(w, s)
        if nxt[0].op_type == "Conv":
            scale(nxt[0].input[1], 1.0 / s)  # one scalar for the whole tensor: right for any conv layout
        else:
            pooled = nxt[0].output[0]
            unscaled, const = f"{pooled}__unscaled", f"{pooled}__unscale"
            g.initializer.append(numpy_helper.from_array(np.array(1.0 / s, np.float32), const))
            for c in consumers.get(pooled, []):
                c.input[:] = [unscaled if x == pooled else x for x in c.input]
            for o in g.output:
                if o.name == pooled:
                    o.name = unscaled
            g.node.insert(list(g.node).index(nxt[0]) + 1, helper.make_node("Mul", [pooled, const], [unscaled], name=f"{pooled}_unscale"))
        lo, hi = f"{node.output[0]}__lo", f"{node.output[0]}__hi"
        g.initializer.extend([numpy_helper.from_array(np.array(0.0, np.float32), lo), numpy_helper.from_array(np.array(6.0, np.float32), hi)])
        node.op_type = "Clip"
        node.input.extend([lo, hi])
    onnx.checker.check_model(m)
    return m


def save_clipped(model, crops: np.ndarray, q: float, folder, progress=None):
    """Write `model` with its ReLUs clipped at their q-th percentile on `crops` to FOLDER/raw.onnx
    (a new folder); returns that path."""
    import onnx

    folder = Path(folder)
    folder.mkdir()
    onnx.save(clip_relus(model, relu_percentiles(model, crops, q, progress)), str(folder / "raw.onnx"))
    return folder / "raw.onnx"
