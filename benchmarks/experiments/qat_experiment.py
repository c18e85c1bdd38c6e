#!/usr/bin/env python3
"""Quantization-aware fine-tuning of mb05 (qat_finetune.py) as an experiment variant for int8_noise.py.

Fine-tunes the mb05 backbone so that its INT8 fake-quantized form matches the float teacher
(landmark space), writes the weights back into the ONNX graph, clips its ReLUs at the ranges the
training used (the original model's percentiles, convert/ranges.py) and converts it with the
package's onnx2tf step; installs it as HOME/experiments/int8-noise/LABEL/ (int8_variants.install),
so benchmarks/experiments/int8_noise.sh / int8_noise.py measure it beside the others.

Usage: benchmarks/experiments/qat_experiment.py --home ~/.cache/edgeface-qat --label qat [--steps N --lr LR --target teacher|clean]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from int8_variants import install  # noqa: E402

from edgeface.tools.convert import calibrate, onnx2tf_run, onnx_graph, ranges  # noqa: E402
from edgeface.tools.convert import tflite as conv  # noqa: E402
from edgeface.hub import assets  # noqa: E402
from edgeface.runtime.networks import FaceDetector  # noqa: E402
from edgeface.runtime.onnx_backend import OnnxModel  # noqa: E402
import qat_finetune as ft  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--label", default="qat")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--noise", type=float, default=3.0)
    ap.add_argument("--crops", type=int, default=1200)
    ap.add_argument("--target", default="teacher")
    ap.add_argument("--percentile", type=float, default=99.99)
    ap.add_argument("--round", action="store_true", help="train with rounding (STE), not activation noise")
    ap.add_argument("--only-head", action="store_true", help="equalize only the pooled features")
    ap.add_argument("--head", action="store_true", help="also equalize the pooled features (the INT8 model gets its own head)")
    ap.add_argument("--dense-power", type=float, default=1.0)
    ap.add_argument("--equalize", type=float, default=0.0, help="equalize ReLU channel ranges, scales capped at this (0: off)")
    a = ap.parse_args(argv)
    root = a.home
    opts = ft.FinetuneOptions(steps=a.steps, batch=a.batch, lr=a.lr, noise=a.noise, crops=a.crops, target=a.target, act_noise=not a.round)
    recipe = calibrate.load_recipe()
    cal = calibrate.load(calibrate.default_path(root))
    det = FaceDetector(OnnxModel(root / "onnx" / "faceboxes_640x480.onnx"))  # the float detector, as the converter's calibration uses
    pool = ft.training_crops(recipe, det, root, opts.crops, opts.seed)
    hold = calibrate.holdout(recipe, det, root)["crops"]
    stats, bases = assets.load_param_stats(root), assets.load_sparse_bases(root)
    model = onnx_graph.load_checked(root / "onnx" / "mb05.onnx")
    if a.equalize:
        import qat_equalize as eq

        rng = eq.channel_ranges(onnx_graph.prepend_normalization(model, [127.5] * 3, [128.0] * 3), cal.regressor[::5])
        if a.only_head:
            last = [n.output[0] for n in model.graph.node if n.op_type == "Relu"][-1]
            rng = {k: (v if k == last else np.ones_like(v)) for k, v in rng.items()}
        model, scales = eq.equalize(model, rng, a.equalize, a.dense_power, a.head)
        print("equalized: median scale per tensor", [round(float(np.median(v)), 2) for v in scales.values()])
    tuned, rr, record = ft.finetune(model, cal.regressor, pool, hold, a.percentile, stats, bases, opts, print)
    graph, head = onnx_graph.split_float_head(tuned)
    raw = onnx_graph.prepend_normalization(graph, [127.5] * 3, [128.0] * 3)
    work = Path(tempfile.mkdtemp(prefix="qat-"))
    try:
        import onnx

        clipped = ranges.clip_relus(raw, rr)
        onnx.save(clipped, str(work / "raw.onnx"))
        out = onnx2tf_run.run_onnx2tf(work / "raw.onnx", work, cal.regressor, conv.ConvertOptions(int8=True), print)
        dest = install(out["int8"], a.label, head, root, note=f"QAT fine-tune {json.dumps(opts.to_dict())}")
        (dest.parent / "finetune.json").write_text(json.dumps(record, indent=1))
        onnx.save(tuned, str(dest.parent / "mb05_finetuned.onnx"))
        print(f"installed {dest}: {json.dumps(record)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
