#!/usr/bin/env python3
"""Build the INT8 variants of the mb05 regressor that `int8_noise.py` compares (issue 12, item 4/5).

Every variant is a real converted model from the same float graph `edgeface convert` uses (mb05
ONNX, final FC cut off as the float head, normalization in the graph), converted by onnx2tf /
the TFLite converter with the package's own steps (`convert.onnx2tf_run.run_onnx2tf`,
`convert.onnx_graph`, `convert.calibrate`), written with a manifest under
HOME/experiments/int8-noise/LABEL/ so `TFLiteModel` loads it like any cached model:

- `minmax`     the default recipe's calibration set, min-max ranges (what `edgeface convert --int8`
               made before percentile ranges; `[regressor] ranges = "minmax"` still does)
- `noiseaug`   the same crops with Gaussian sensor noise, sigma uniform in 0..4 per crop (the set's
               augmented crops already carry the shift +-6% / scale +-10% jitter of tracker crops)
- `pNNNN`      percentile ranges (`convert.ranges`): every ReLU clipped at its activation's NN.NN-th
               percentile on the calibration crops, folded into the convs as ReLU6
- `pNNNNbc`    the same with each next layer's bias corrected for the mean the clip removes
- `mse`        per-ReLU clip minimising the int8 activation error (rounding + clipping) on a histogram
- `int16x8`    int16 activations / int8 weights (same calibration); `int16x8_floatio` float in/out
- `floatK` / `floatlastK` the first / last K conv layers kept in float (selective quantization by
               the TFLite quantizer: one .tflite with quantize/dequantize at the boundary)

Usage: benchmarks/experiments/int8_variants.py --home ~/.cache/edgeface-12q minmax p9999 int16x8 float1 ...
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeface.tools.convert import calibrate, onnx2tf_run, onnx_graph, ranges
from edgeface.tools.convert import tflite as conv
from edgeface.hub.atomic import sha256_file, write_json_atomic

MEAN, STD = [127.5] * 3, [128.0] * 3


def float_graph(root: Path) -> tuple:
    """(raw-pixel backbone ONNX, float head) exactly as `convert_model` builds them for mb05."""
    graph, head = onnx_graph.split_float_head(onnx_graph.load_checked(root / "onnx" / "mb05.onnx"))
    return onnx_graph.prepend_normalization(graph, MEAN, STD), head


# ----------------------------------------------------------------------------- calibration data

def default_crops(root: Path) -> np.ndarray:
    return calibrate.load(calibrate.default_path(root)).regressor


def noisy_crops(root: Path, sigma_max: float = 4.0, seed: int = 1) -> np.ndarray:
    """The default set with Gaussian sensor noise (sigma ~ U(0, sigma_max) per crop) added to every
    crop after its augmentation (which already shifts and scales the crops as a tracker's would)."""
    cal = calibrate.load(calibrate.default_path(root))
    rng = np.random.default_rng(seed)
    crops = cal.regressor.astype(np.float32)
    crops += rng.standard_normal(crops.shape, dtype=np.float32) * rng.uniform(0, sigma_max, (len(crops), 1, 1, 1)).astype(np.float32)
    return np.clip(np.rint(crops), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- MSE ranges (percentiles: convert.ranges)

def relu_mse_ranges(model, crops: np.ndarray, bins: int = 4096) -> dict:
    """{ReLU output name: clip c minimising the int8 activation error}: per tensor, the c (over a
    histogram of the calibration's non-zero values) with the least sum of rounding error
    (c/255)^2/12 over the values below c and clipping error (x - c)^2 above it."""
    top = ranges.relu_percentiles(model, crops, 100.0)
    sess, names = ranges.relu_session(model)
    inp = sess.get_inputs()[0].name
    hist = {n: np.zeros(bins, np.float64) for n in names}
    for c in crops:
        for n, y in zip(names, sess.run(names, {inp: c[None].astype(np.float32).transpose(0, 3, 1, 2)})):
            y = y.ravel()
            hist[n] += np.histogram(y[y > 0], bins=bins, range=(0.0, top[n]))[0]  # zeros quantize exactly
    out = {}
    for n in names:
        centers = (np.arange(bins) + 0.5) * top[n] / bins
        h = hist[n]
        errs = []
        for i in range(bins // 8, bins):
            c = (i + 1) * top[n] / bins
            errs.append((h[:i + 1].sum() * (c / 255.0) ** 2 / 12.0 + (h[i + 1:] * (centers[i + 1:] - c) ** 2).sum(), c))
        out[n] = float(min(errs)[1])
    return out


def bias_corrected(model, crops: np.ndarray, rng: dict):
    """`model` with each next layer's bias corrected for the mean its clipped input loses: for a ReLU
    clipped at p, d = relu(y) - min(relu(y), p) per channel averaged over the calibration crops and
    the image, and the consumer's bias += W . E[d] (pointwise conv: W @ E[d]; depthwise: sum of the
    channel's kernel x E[d]; padding ignored). The last ReLU (before the pool) is left alone. Then
    `ranges.clip_relus` applies the clips."""
    from onnx import helper, numpy_helper

    sess, names = ranges.relu_session(model)
    inp = sess.get_inputs()[0].name
    lost = {n: 0.0 for n in names}
    for c in crops:
        for n, y in zip(names, sess.run(names, {inp: c[None].astype(np.float32).transpose(0, 3, 1, 2)})):
            lost[n] = lost[n] + (y - np.minimum(y, rng[n])).mean(axis=(0, 2, 3)) / len(crops)
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {t.name: t for t in m.graph.initializer}
    for node in m.graph.node:
        if node.op_type != "Conv" or node.input[0] not in lost:
            continue
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        group = next((helper.get_attribute_value(x) for x in node.attribute if x.name == "group"), 1)
        d = np.asarray(lost[node.input[0]], np.float64)
        shift = w.sum(axis=(1, 2, 3)) * d if group > 1 else w.sum(axis=(2, 3)) @ d
        b = numpy_helper.to_array(inits[node.input[2]]).astype(np.float64) + shift
        inits[node.input[2]].CopyFrom(numpy_helper.from_array(b.astype(np.float32), node.input[2]))
    return m


# ----------------------------------------------------------------------------- conversion

def onnx2tf_variants(model, crops: np.ndarray, work: Path) -> dict:
    """onnx2tf (the package's call: per-channel, uint8 raw-pixel input, float32 output) on `model`;
    {kind: .tflite} with the int16-activation files it also writes, and the saved model folder."""
    import onnx

    onnx.save(model, str(work / "raw.onnx"))
    out = onnx2tf_run.run_onnx2tf(work / "raw.onnx", work, crops, conv.ConvertOptions(int8=True), print)
    o = work / "out"
    out["int16x8"] = o / "model_full_integer_quant_with_int16_act.tflite"
    out["int16x8_floatio"] = o / "model_integer_quant_with_int16_act.tflite"
    out["saved_model"] = o
    return out


def conv_output_tensors(model: bytes) -> list:
    """Output tensor names of the conv ops (CONV_2D / DEPTHWISE_CONV_2D, fused ReLU) of a .tflite, in order."""
    from edgeface.runtime.tflite_backend import find_runtime

    it = find_runtime().interpreter_cls(model_content=model)
    it.allocate_tensors()
    det = {t["index"]: t["name"] for t in it.get_tensor_details()}
    return [det[o["outputs"][0]] for o in it._get_ops_details() if o["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]


def selective(saved_model: Path, crops: np.ndarray, first: int, last: int) -> tuple:
    """(full-integer model bytes, float layer names): the first / last conv layers left in float by
    the TFLite quantizer (names read from its own calibrated model, as its denylist wants them)."""
    import tensorflow as tf

    def gen():
        for c in crops:
            yield [c[None].astype(np.float32)]

    cv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    cv.optimizations = [tf.lite.Optimize.DEFAULT]
    cv.representative_dataset = gen
    cv.inference_input_type, cv.inference_output_type = tf.uint8, tf.float32
    dbg = tf.lite.experimental.QuantizationDebugger(converter=cv, debug_dataset=gen,
                                                    debug_options=tf.lite.experimental.QuantizationDebugOptions())
    names = conv_output_tensors(dbg.calibrated_model)
    keep = names[:first] + (names[-last:] if last else [])
    dbg._debug_options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=keep, fully_quantize=True)
    return dbg.get_nondebug_quantized_model(), keep


def install(tfl: Path, label: str, head: dict, root: Path, note: str = "") -> Path:
    """Copy a variant into HOME/experiments/int8-noise/LABEL/ as mb05_int8.tflite with its manifest and
    float head (the min-max model's manifest, with this file's digest, size and I/O details)."""
    dest = root / "experiments" / "int8-noise" / label
    dest.mkdir(parents=True, exist_ok=True)
    base = json.loads((root / "tflite" / "mb05" / "mb05_int8.json").read_text())
    out = dest / "mb05_int8.tflite"
    shutil.copyfile(tfl, out)
    head_file = dest / "mb05_int8_head.npz"  # the float head (same as fp32's), under a name staging never clobbers
    with open(head_file, "wb") as fh:
        np.savez(fh, W=head["W"], b=head["b"])
    inp, outs = onnx2tf_run.io_details(out, "regressor", "features")
    base.update(sha256=sha256_file(out), size_bytes=out.stat().st_size, input=inp, outputs=outs,
                total_bytes=out.stat().st_size + head_file.stat().st_size, experiment=note or label)
    base["float_head"].update(file=head_file.name, sha256=sha256_file(head_file))
    base["converter"]["quantization"]["activation_ranges"] = f"experiment {label}: {note or label}"
    base.pop("verification", None)
    write_json_atomic(out.with_suffix(".json"), base)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="+")
    ap.add_argument("--home", type=Path, required=True, help="the edgeface cache COPY the variants go into")
    a = ap.parse_args(argv)
    root = a.home
    raw, head = float_graph(root)
    base_crops = default_crops(root)
    scratch = Path(tempfile.mkdtemp(prefix="int8-variants-"))
    runs: dict = {}

    def run(key: str, model, crops):
        if key not in runs:
            work = scratch / key
            work.mkdir()
            print(f"onnx2tf {key} ({len(crops)} calibration crops)")
            runs[key] = onnx2tf_variants(model, crops, work)
        return runs[key]

    try:
        for v in a.variants:
            base, _, tail = v.partition("+")  # e.g. p9990+floatlast1: percentile ranges, last conv in float
            note = ""
            if base in ("minmax", "int16x8", "int16x8_floatio") or base.startswith("float"):
                r = run("minmax", raw, base_crops)
                kind = base if base.startswith("int16") else "int8"
            elif base == "noiseaug":
                r, kind, note = run("noiseaug", raw, noisy_crops(root)), "int8", "calibration crops + sensor noise sigma U(0,4)"
            elif base == "mse":
                clipped = ranges.clip_relus(raw, relu_mse_ranges(raw, base_crops))
                r, kind, note = run(base, clipped, base_crops), "int8", "ReLU ranges minimising the int8 activation MSE"
            elif base.startswith("p") and base.endswith("bc") and base[1:-2].isdigit():
                q = float(base[1:3] + "." + base[3:-2])
                rng = ranges.relu_percentiles(raw, base_crops, q)
                clipped = ranges.clip_relus(bias_corrected(raw, base_crops, rng), rng)
                r, kind, note = run(base, clipped, base_crops), "int8", f"ReLU ranges at the {q}th percentile, bias-corrected"
            elif base.startswith("p") and base[1:].isdigit():
                q = float(base[1:3] + "." + base[3:])
                clipped = ranges.clip_relus(raw, ranges.relu_percentiles(raw, base_crops, q))
                r, kind, note = run(base, clipped, base_crops), "int8", f"ReLU ranges at the {q}th percentile"
            else:
                print(f"unknown variant {v}", file=sys.stderr)
                return 2
            sel = tail or (base if base.startswith("float") else "")
            if sel:
                last = sel.startswith("floatlast")
                k = int(sel[len("floatlast" if last else "float"):])
                data, keep = selective(r["saved_model"], base_crops, 0 if last else k, k if last else 0)
                print(f"{v}: float {keep}")
                tmp = scratch / f"{v}.tflite"
                tmp.write_bytes(data)
                install(tmp, v, head, root, note=f"{note}; {'last' if last else 'first'} {k} conv layers in float")
            else:
                install(r[kind], v, head, root, note=note)
            print(f"installed {v}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
