#!/usr/bin/env python3
"""How much each regressor file responds to sensor noise, with the crop held fixed (issue 12, item 4/5).

For every face that the fp32 pipeline finds on the sample photos (JianzhuGuo.jpg, emma.jpg), the
ROI of that detection is frozen; `frames` noisy copies of the photo (Gaussian sensor noise, sigma
grey levels, seeded: `tools.bench.stability.measure.noisy`) are cropped with that same ROI and run through each
model. Per model and photo:

- **noise std**: per landmark the RMS distance from its mean position over the frames (px in the
  photo), averaged over the 68 landmarks and the faces; also as % of the face size (sqrt(w*h) of
  the mean landmarks' box), as `tools.bench.stability.measure.landmark_jitter` defines it. `ratio` = that std
  divided by the fp32 model's on the same frames (the first model given is the reference).
- **bias**: mean landmark distance (px) between the model's mean landmarks and the reference's.
- **ms**: median `TFLiteModel.run` on one crop (set input, invoke, outputs, float head if any),
  1 thread, `tools.bench.stats.TimingPolicy` (>= 100 runs and >= 3 s per model) split into 5 rounds
  interleaved over the models; the load average is recorded (read the times as ratios when > 0.5).

Usage (each MODEL is LABEL=PATH to a .tflite with its manifest .json beside it):

    benchmarks/experiments/int8_noise.py --home ~/.cache/edgeface fp32=.../mb05_float32.tflite int8=.../mb05_int8.tflite \
        --out benchmarks/experiments/int8-noise-x86_64

writes OUT.json, OUT.md and OUT.png (std ratio to fp32 per photo, one bar per model).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import cv2
import numpy as np

import edgeface
from edgeface.hub import assets, paths
from edgeface.hub.atomic import atomic_path, write_json_atomic, write_text_atomic
from edgeface.tools.bench.stability.measure import face_size_of, noisy
from edgeface.tools.bench.stats import TimingPolicy, time_backend
from edgeface.runtime import tdmm
from edgeface.runtime.networks import LandmarkRegressor
from edgeface.runtime.tflite_backend import TFLiteModel

PHOTOS = ("jianzhuguo", "emma")
ROUNDS = 5


def fixed_rois(photo: np.ndarray, root: Path) -> list:
    """The ROIs of the faces the fp32 pipeline finds on `photo` (the detection crops)."""
    with edgeface.FaceAligner.create(precision="fp32", cache_root=root, running_mode="image") as al:
        return [np.asarray(f.roi, np.float64) for f in al.detect(photo).faces]


def landmarks(reg: LandmarkRegressor, crop: np.ndarray, roi: np.ndarray, bases) -> np.ndarray:
    """(68, 2) image landmarks of one crop taken with `roi`."""
    params = reg.params_from_crop(crop)
    return tdmm.to_image(tdmm.sparse_landmarks(params, bases.u, bases.w_shp, bases.w_exp), roi)[:2].T


def track_stats(tracks: np.ndarray) -> tuple:
    """(std px, std % of face size) of (frames, 68, 2) landmarks at a fixed crop."""
    std = np.sqrt(tracks.var(axis=0).sum(axis=1)).mean()
    return float(std), float(100.0 * std / face_size_of(tracks.mean(axis=0)))


def noise_tracks(regs: dict, photo: np.ndarray, rois: list, bases, frames: int, sigma: float, seed: int, progress=None) -> dict:
    """{model: [(frames, 68, 2) landmarks per face]}: every model sees the same noisy frames, cropped
    with the same fixed ROIs."""
    rng = np.random.default_rng(seed)
    cropper = next(iter(regs.values()))
    tracks = {k: [[] for _ in rois] for k in regs}
    for i in range(frames):
        frame = noisy(photo, sigma, rng)
        crops = [cropper.crop(frame, r) for r in rois]  # the runtime's crop (INTER_LINEAR), once for all models
        for k, reg in regs.items():
            for j, (c, r) in enumerate(zip(crops, rois)):
                tracks[k][j].append(landmarks(reg, c, r, bases))
        if progress and (i + 1) % 10 == 0:
            progress(i + 1)
    return {k: [np.stack(f) for f in t] for k, t in tracks.items()}


def measure(models: dict, root: Path, frames: int, sigma: float, seed: int, policy: TimingPolicy, log=print) -> dict:
    stats, bases = assets.load_param_stats(root), assets.load_sparse_bases(root)
    regs = {k: LandmarkRegressor(TFLiteModel(p, num_threads=1), stats.mean, stats.std) for k, p in models.items()}
    ref = next(iter(models))
    rows = {k: {"model": k, "path": str(p), "photos": {}} for k, p in models.items()}
    for key in PHOTOS:
        path = assets.sample_path(key, root)
        photo = cv2.imread(str(path))
        rois = fixed_rois(photo, root)
        crop = next(iter(regs.values())).crop(photo, rois[0])  # the timed input: a real face crop (the last photo's)
        tracks = noise_tracks(regs, photo, rois, bases, frames, sigma, seed, lambda i: log(f"  {path.name}: {i}/{frames} frames"))
        for k in models:
            t = tracks[k]
            per = [track_stats(f) for f in t]
            bias = [float(np.linalg.norm(f.mean(0) - g.mean(0), axis=1).mean()) for f, g in zip(t, tracks[ref])]
            rows[k]["photos"][path.name] = {"faces": len(t), "std_px": float(np.mean([p[0] for p in per])),
                                            "std_pct": float(np.mean([p[1] for p in per])), "bias_px": float(np.mean(bias))}
    for k, reg in regs.items():
        for name, ph in rows[k]["photos"].items():
            ph["ratio"] = ph["std_px"] / rows[ref]["photos"][name]["std_px"]
        rows[k]["ratio_mean"] = float(np.mean([ph["ratio"] for ph in rows[k]["photos"].values()]))
        rows[k]["xnnpack"] = reg.backend.xnnpack
    # timing: ROUNDS interleaved rounds over the models, so a change of machine load hits all alike
    times = {k: [] for k in regs}
    per_round = TimingPolicy(warmup=policy.warmup, min_runs=max(1, policy.min_runs // ROUNDS),
                             min_seconds=policy.min_seconds / ROUNDS, max_seconds=policy.max_seconds / ROUNDS)
    for _ in range(ROUNDS):
        for k, reg in regs.items():
            times[k] += time_backend(lambda: reg.backend.run(crop), per_round)[0]
    for k in regs:
        rows[k]["ms_median"] = float(np.median(times[k]))
        log(f"  {k}: ratio {rows[k]['ratio_mean']:.2f}, {rows[k]['ms_median']:.3f} ms")
    return {"format": "edgeface.int8-noise/1", "reference": ref,
            "settings": {"frames": frames, "sigma": sigma, "seed": seed, "threads": 1, "photos": list(PHOTOS),
                         "machine": platform.machine(), "load_avg": list(os.getloadavg())},
            "rows": list(rows.values())}


def merge_eval(stem: Path, folder: Path) -> dict:
    """STEM.json with each model's dev-set NME from FOLDER/LABEL.json (`edgeface bench eval --json`)."""
    rep = json.loads(stem.with_suffix(".json").read_text())
    for r in rep["rows"]:
        f = folder / f"{r['model']}.json"
        if f.is_file():
            res = json.loads(f.read_text())["results"][0]
            r["nme"] = res["nme_bbox"]["mean"]
            r["found"] = f"{res['faces_found']}/{res['faces_total']}"
    ref = rep["rows"][0].get("nme")
    for r in rep["rows"]:
        if ref and "nme" in r:
            r["nme_ratio"] = r["nme"] / ref
    return rep


def markdown(rep: dict) -> str:
    names = list(rep["rows"][0]["photos"])
    s = rep["settings"]
    nme = any("nme" in r for r in rep["rows"])
    head = ("| model | " + " | ".join(f"{n} std px (% face) | ratio | bias px" for n in names) + " | mean ratio | ms (1 thr) |"
            + (" dev NME (x fp32) | found |" if nme else ""))
    lines = [f"Fixed-ROI landmark noise: {s['frames']} frames, sensor noise sigma {s['sigma']}, seed {s['seed']}; "
             f"reference `{rep['reference']}`; {s['machine']}, load avg {s['load_avg'][0]:.2f} at the end.", "",
             head, "|" + " --- |" * (2 + 3 * len(names) + 1 + (2 if nme else 0))]
    for r in rep["rows"]:
        cells = []
        for n in names:
            p = r["photos"][n]
            cells += [f"{p['std_px']:.3f} ({p['std_pct']:.3f}%)", f"{p['ratio']:.2f}", f"{p['bias_px']:.3f}"]
        extra = (f" {r['nme']:.4f} ({r.get('nme_ratio', 1.0):.3f}) | {r['found']} |" if "nme" in r else " - | - |") if nme else ""
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | **{r['ratio_mean']:.2f}** | {r['ms_median']:.3f} |" + extra)
    return "\n".join(lines) + "\n"


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, dest: Path) -> Path:
    """Write `fig` as a compact PNG (256-colour palette, as `edgeface bench latency --plot` writes its
    figures) through a temporary file and a rename, and close it."""
    import io

    from PIL import Image  # matplotlib's own dependency

    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format="png")
    pyplot().close(fig)
    buf.seek(0)
    with atomic_path(Path(dest)) as tmp:
        Image.open(buf).convert("RGB").quantize(colors=256).save(tmp, format="PNG", optimize=True)
    return Path(dest)


def plot(rep: dict, dest: Path) -> None:
    plt = pyplot()
    names = list(rep["rows"][0]["photos"])
    labels = [r["model"] for r in rep["rows"]]
    nme = [r.get("nme_ratio") for r in rep["rows"]]
    panels = 3 if any(v is not None for v in nme) else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4.4), gridspec_kw={"width_ratios": [3] + [2] * (panels - 1)})
    ax, bx = axes[0], axes[1]
    w = 0.8 / len(names)
    x = np.arange(len(labels))
    for i, n in enumerate(names):
        ax.bar(x + (i - (len(names) - 1) / 2) * w, [r["photos"][n]["ratio"] for r in rep["rows"]], w, label=n)
    ax.axhline(1.1, color="k", ls="--", lw=1, label="target 1.1x")
    ax.set_xticks(x, labels, rotation=40, ha="right")
    ax.set_ylabel("landmark noise std / fp32's (fixed crop)")
    ax.set_title(f"sensor-noise response (sigma {rep['settings']['sigma']})")
    ax.legend(fontsize=8)
    ms = [r["ms_median"] for r in rep["rows"]]
    bx.bar(x, ms, color="tab:gray")
    bx.set_yscale("log")
    for xi, m in zip(x, ms):
        bx.text(xi, m * 1.08, f"{m:.2f}", ha="center", fontsize=7)
    bx.set_xticks(x, labels, rotation=40, ha="right")
    bx.set_ylabel("ms per crop, median, 1 thread (log)")
    bx.set_title(f"latency (load avg {rep['settings']['load_avg'][0]:.2f})")
    if panels == 3:
        cx = axes[2]
        cx.bar(x, [v or 0 for v in nme], color="tab:green")
        cx.axhline(1.02, color="k", ls="--", lw=1, label="issue 12: <= 1.02")
        cx.set_ylim(0.95, max(v or 1 for v in nme) * 1.02)
        cx.set_xticks(x, labels, rotation=40, ha="right")
        cx.set_ylabel("dev-set NME / fp32's")
        cx.set_title("faces68 NME (18 faces)")
        cx.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, dest)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="LABEL=PATH.tflite (the first is the reference, normally fp32)")
    ap.add_argument("--merge-eval", type=Path, metavar="STEM", help="add the NMEs of --eval-dir to STEM.json/.md/.png")
    ap.add_argument("--eval-dir", type=Path, help="folder of LABEL.json reports of `edgeface bench eval --json`")
    ap.add_argument("--home", type=Path, default=None, help="edgeface cache (default: EDGEFACE_HOME or ~/.cache/edgeface)")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--sigma", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="short timing runs (indicative ms)")
    ap.add_argument("--out", type=Path, help="output stem: writes STEM.json, STEM.md, STEM.png")
    a = ap.parse_args(argv)
    if a.merge_eval:
        if not a.eval_dir or not a.eval_dir.is_dir():
            ap.error("--merge-eval needs --eval-dir DIR (LABEL.json per model)")
        rep = merge_eval(a.merge_eval, a.eval_dir)
        write(rep, a.merge_eval)
        return 0
    if not a.models or not a.out:
        ap.error("give LABEL=PATH models and --out STEM (or --merge-eval STEM)")
    root = a.home or paths.home()
    models = {}
    for spec in a.models:
        label, sep, p = spec.partition("=")
        if not sep or not Path(p).is_file():
            print(f"error: model '{spec}' is not LABEL=PATH to an existing .tflite", file=sys.stderr)
            return 2
        models[label] = Path(p)
    rep = measure(models, root, a.frames, a.sigma, a.seed, TimingPolicy.quick() if a.quick else TimingPolicy())
    write(rep, a.out)
    return 0


def write(rep: dict, stem: Path) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(stem.with_suffix(".json"), rep)
    md = markdown(rep)
    write_text_atomic(stem.with_suffix(".md"), md)
    plot(rep, stem.with_suffix(".png"))
    print(md)


if __name__ == "__main__":
    sys.exit(main())
