"""Step "models": raw outputs of the converted models on a fixed input, on one TFLite runtime.

    python models_check.py --home EDGEFACE_HOME --image emma.jpg --out models.npz

Runs mb05 and FaceBoxes 640x480 at float32 and INT8 (what `edgeface run` loads) with ai_edge_litert
+ XNNPACK, 1 thread, on emma.jpg resized into each input (INTER_LINEAR_EXACT, raw BGR pixels: the
normalization is inside the graphs) and saves every output tensor as "<model file>:<output name>",
and `<out>.meta.json` with the ai-edge-litert version (printed by compare.py, not compared). A float
output that an INT8 graph dequantizes at its end also gets "<key>:lsb", its quantization step:
compare.py allows it 1 LSB (XNNPACK's x86 and arm64 INT8 kernels may round a requantization tie
differently). Standalone: numpy, opencv and ai_edge_litert only.

With --same-as OTHER.npz it also requires bit-identical outputs to OTHER (made by another runtime
version on the same CPU): that is how the host side proves that the models converted and verified
with the workstation's pinned ai-edge-litert give the same numbers on the newer runtime that pip
resolves on a board. One line per mismatch; exit 1 if any.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

MODELS = ("mb05/mb05_float32.tflite", "mb05/mb05_int8.tflite",
          "faceboxes_640x480/faceboxes_640x480_float32.tflite", "faceboxes_640x480/faceboxes_640x480_int8.tflite")


def run_models(home: Path, image: Path) -> dict:
    import cv2
    from ai_edge_litert import interpreter as litert

    img = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"error: cannot read {image}")
    out = {}
    for rel in MODELS:
        path = home / "tflite" / rel
        if not path.is_file():
            raise SystemExit(f"error: {path} not found: convert mb05 and faceboxes with --int8 on the host first")
        it = litert.Interpreter(model_path=str(path), num_threads=1)
        it.allocate_tensors()
        d = it.get_input_details()[0]
        _, h, w, _ = (int(v) for v in d["shape"])
        x = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR_EXACT)[None]
        if d["dtype"] == np.float32:
            x = x.astype(np.float32)
        elif d["dtype"] != np.uint8:
            raise SystemExit(f"error: {path.name} takes {np.dtype(d['dtype']).name} input; edgeface's take uint8 or float32")
        it.set_tensor(d["index"], np.ascontiguousarray(x))
        it.invoke()
        lsb = _dequantized_outputs(it)
        for o in it.get_output_details():
            key = f"{path.name}:{o['name']}"
            out[key] = it.get_tensor(o["index"]).copy()
            if o["index"] in lsb:  # an INT8 tensor dequantized at the end of the graph: its LSB, for compare.py
                out[key + LSB_SUFFIX] = np.float64(lsb[o["index"]])
    return out


LSB_SUFFIX = ":lsb"


def _dequantized_outputs(it) -> dict:
    """{float output tensor index: quantization scale of the int8/uint8 tensor DEQUANTIZE'd into it}."""
    scales = {d["index"]: d["quantization"][0] for d in it.get_tensor_details()}
    out = {}
    for op in it._get_ops_details():  # noqa: SLF001 (the op list is what TF's own tools read)
        if op.get("op_name") == "DEQUANTIZE" and len(op["inputs"]) and len(op["outputs"]):
            scale = scales.get(int(op["inputs"][0]), 0.0)
            if scale > 0:
                out[int(op["outputs"][0])] = float(scale)
    return out


def same_as(out: dict, ref_path: Path) -> tuple:
    """(the other runtime's version, one line per output that is not bit-identical to ref_path's)."""
    other = json.loads(ref_path.with_name(ref_path.stem + ".meta.json").read_text())["ai_edge_litert"]
    version = metadata.version("ai-edge-litert")
    bad = []
    with np.load(ref_path) as ref:
        for k, v in out.items():
            if k not in ref.files:
                bad.append(f"{k}: missing from {ref_path.name}")
            elif ref[k].shape != v.shape or ref[k].dtype != v.dtype:
                bad.append(f"{k}: {v.shape} {v.dtype} on ai-edge-litert {version}, {ref[k].shape} {ref[k].dtype} on {other}")
            elif not np.array_equal(ref[k], v):
                d = np.abs(ref[k].astype(np.float64) - v.astype(np.float64)).max()
                bad.append(f"{k}: ai-edge-litert {version} differs from {other} (max |d| {d:.3g})")
    return other, bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--image", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--same-as", type=Path, help="require bit-identical outputs to this .npz")
    a = ap.parse_args(argv)
    out = run_models(a.home, a.image)
    version = metadata.version("ai-edge-litert")
    tmp = a.out.with_name(a.out.name + ".tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, a.out)
    meta = a.out.with_name(a.out.stem + ".meta.json")
    meta.with_name(meta.name + ".tmp").write_text(json.dumps({"machine": platform.machine(), "ai_edge_litert": version,
                                                              "numpy": np.__version__, "outputs": len(out)}) + "\n")
    os.replace(meta.with_name(meta.name + ".tmp"), meta)
    print(f"ai-edge-litert {version}: {len(out)} outputs of {len(MODELS)} models -> {a.out.name}")
    if a.same_as is None:
        return 0
    other, bad = same_as(out, a.same_as)
    for line in bad:
        print(f"FAIL {line}")
    print(f"ai-edge-litert {version} vs {other}: {len(out) - len(bad)} of {len(out)} outputs bit-identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
