#!/usr/bin/env python3
"""Where INT8's extra landmark noise comes from: the fake-quantized mb05 (qat_torch.Quant) with one tensor rounded at a time.

At a fixed crop (the fp32 pipeline's detection ROI) `frames` noisy copies (sigma 2, seeded) of
JianzhuGuo.jpg and emma.jpg (first face) go through the float graph with every ReLU clipped at its
99.99th-percentile range; then the same with the weights rounded only, with each activation tensor
rounded alone (256 levels over [0, p]; the others only clipped), with the pooled features rounded
alone, and with everything rounded (the converted INT8 model, emulated). Printed: the landmark noise
std of each as a ratio to the unclipped float graph's. Variances of independent rounding add, so
ratio^2 - clip-only ratio^2 is each tensor's share of INT8's excess noise variance.

Usage: benchmarks/experiments/qat_attribution.py --home ~/.cache/edgeface-qat [--frames 40] [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from edgeface.hub.atomic import write_text_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
import qat_finetune as ft  # noqa: E402


def main(argv=None) -> int:
    import cv2
    import onnx
    import torch

    from edgeface.tools.bench.stability.measure import noisy
    from edgeface.tools.convert import calibrate
    from edgeface.hub import assets
    from int8_noise import fixed_rois
    from edgeface.runtime import roi as roi_mod

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    root = a.home
    net, quant = ft.quant_setup(onnx.load(str(root / "onnx" / "mb05.onnx")), calibrate.load(calibrate.default_path(root)).regressor, 99.99)
    lmap = ft.LandmarkMap(assets.load_param_stats(root), assets.load_sparse_bases(root))
    photos = {}
    for key in ("jianzhuguo", "emma"):
        photo = cv2.imread(str(assets.sample_path(key, root)))
        roi = fixed_rois(photo, root)[0]
        rng = np.random.default_rng(0)
        crops = [roi_mod.crop_roi(noisy(photo, 2.0, rng), roi, 120)[0] for _ in range(a.frames)]
        photos[key] = torch.from_numpy(np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2).copy())

    def std(q) -> list:
        out = []
        with torch.no_grad():
            for x in photos.values():
                lm = lmap(net(x, q, raw=True))
                out.append(float(torch.sqrt(lm.var(0).sum(-1)).mean()))
        return out

    ref = std(None)
    ratio = lambda q: [round(s / r, 3) for s, r in zip(std(q), ref)]  # noqa: E731
    none = dataclasses.replace(quant, only="-", weights=False)
    rows = {"clip only": ratio(none), "weights only": ratio(dataclasses.replace(none, weights=True))}
    for name in list(quant.relu_ranges) + ["pooled"]:
        rows[name] = ratio(dataclasses.replace(none, only=name))
    rows["all (INT8 emulated)"] = ratio(quant)
    base = np.square(rows["clip only"])
    print(f"{'tensor':40s} " + "  ".join(f"{k:>10s}" for k in photos) + "   share of excess variance")
    excess = np.square(rows["all (INT8 emulated)"]) - base
    for k, v in rows.items():
        share = (np.square(v) - base) / excess if k not in ("clip only", "all (INT8 emulated)") else None
        print(f"{k[-40:]:40s} " + "  ".join(f"{x:10.3f}" for x in v) + ("" if share is None else "   " + " ".join(f"{s:6.1%}" for s in share)))
    if a.json:
        write_text_atomic(a.json, json.dumps({"photos": list(photos), "frames": a.frames, "ratios": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
