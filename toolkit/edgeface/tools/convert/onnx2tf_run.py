"""The onnx2tf step of `edgeface convert` (`tools.convert.tflite`): one run of onnx2tf in a scratch folder,
the INT8 run on the graph with clipped ReLUs (`tools.convert.ranges`), and the input/output records of a
produced model read from the model itself.

onnx2tf rewrites its input in place, so it gets a copy; it downloads a calibration sample unless one
is present in its working folder, so a dummy one is written there (our calibration data goes in
with -cind and the sample is never used).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.runtime.native_stderr import native_info_filtered
from edgeface.runtime.tflite_backend import find_runtime
from edgeface.tools.convert import ranges
from edgeface.tools.convert.options import ConvertOptions, Log

ONNX2TF_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def run_onnx2tf(raw_onnx: Path, work: Path, calib: Optional[np.ndarray], opts: ConvertOptions, log: Log) -> dict:
    """Run onnx2tf on a copy of `raw_onnx` inside `work`; returns {variant: tflite path}."""
    model_copy = work / "model.onnx"
    shutil.copyfile(raw_onnx, model_copy)  # onnx2tf rewrites its input in place
    # onnx2tf downloads this sample from the internet unless it is present in its working folder;
    # our own calibration data is passed with -cind, so the sample is never used for ours.
    np.save(work / ONNX2TF_SAMPLE, np.zeros((1, 8, 8, 3), np.float32))
    args = ["-i", "model.onnx", "-o", "out", "-v", "error"]
    if calib is not None:
        np.save(work / "calib.npy", (calib.astype(np.float32) / 255.0))
        unit = json.dumps([[[[1.0 / 255.0] * 3]]])
        zero = json.dumps([[[[0.0] * 3]]])
        args += ["-oiqt", "-qt", "per-channel", "-iqd", opts.input_dtype, "-oqd", opts.output_dtype,
                 "-cind", "input", "calib.npy", zero, unit]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-c", "import sys; from onnx2tf.onnx2tf import main; sys.exit(main())", *args]
    with open(work / "onnx2tf.log", "w") as logf:
        proc = subprocess.run(cmd, cwd=work, stdout=logf, stderr=subprocess.STDOUT, env=env)
    out = work / "out"
    found = {
        "float32": out / "model_float32.tflite",
        "float16": out / "model_float16.tflite",
        "int8": out / "model_full_integer_quant.tflite",
        "int8_floatio": out / "model_integer_quant.tflite",
    }
    if proc.returncode != 0 or not found["float32"].is_file():
        tail = [l for l in (work / "onnx2tf.log").read_text(errors="replace").splitlines() if l.strip()][-1:]
        raise EdgefaceError(f"onnx2tf failed (exit {proc.returncode}): {tail[0][:160] if tail else 'no output'}; "
                            f"full log kept in {work / 'onnx2tf.log'}")
    return {k: v for k, v in found.items() if v.is_file()}


def int8_clipped(raw, calib: np.ndarray, q: float, work: Path, opts: ConvertOptions, log: Log) -> dict:
    """{int8 variant: .tflite} from `raw` with every ReLU clipped at its q-th percentile (convert/ranges.py)."""
    log(f"onnx2tf {len(calib)} calibration crops -> int8, int8_floatio, every ReLU clipped at its {q:g}th percentile")
    sub = ranges.save_clipped(raw, calib, q, work / "clipped", lambda i, n: log(f"  ranges {i}/{n} crops"))
    return {k: v for k, v in run_onnx2tf(sub, sub.parent, calib, opts, log).items() if k.startswith("int8")}


def io_details(tflite: Path, kind: str, regressor_output: str = "params") -> tuple:
    """(input record, output records) read from the model itself; outputs named by shape."""
    with native_info_filtered():  # the runtime's "INFO: Created ... XNNPACK delegate" line: --verbose only
        it = find_runtime().interpreter_cls(model_path=str(tflite))
        it.allocate_tensors()
    i = it.get_input_details()[0]
    inp = {"name": "input", "tflite_name": i["name"], "tflite_index": int(i["index"]), "shape": [int(v) for v in i["shape"]],
           "layout": "NHWC", "dtype": np.dtype(i["dtype"]).name, "quantization": [float(i["quantization"][0]), int(i["quantization"][1])],
           "color_order": "BGR", "value_range": "raw pixels 0..255 (the normalization is inside the graph)"}
    outs = []
    for o in it.get_output_details():
        shape = [int(v) for v in o["shape"]]
        if kind == "regressor":
            name = regressor_output
        else:
            name = {4: "loc", 2: "conf"}.get(shape[-1])
            if name is None:
                raise EdgefaceError(f"{tflite.name}: unexpected detector output shape {shape}")
        outs.append({"name": name, "tflite_name": o["name"], "tflite_index": int(o["index"]), "shape": shape,
                     "dtype": np.dtype(o["dtype"]).name, "quantization": [float(o["quantization"][0]), int(o["quantization"][1])]})
    order = {"params": 0, "features": 0, "loc": 0, "conf": 1}
    return inp, sorted(outs, key=lambda o: order[o["name"]])


__all__ = ("ONNX2TF_SAMPLE", "run_onnx2tf", "int8_clipped", "io_details")
