"""Eye aspect ratio (EAR) of the 68 landmarks across the sample video's blinks: how far eye closure shows.

    .venv/bin/python benchmarks/eye_aspect.py [--out benchmarks/eye-aspect-x86_64] [--precision fp32,int8]

Runs `FaceAligner` in VIDEO mode (tracking and smoothing as `edgeface run`, and once with smoothing off)
over every frame of obama.mp4 (PyAV decoding, `open_source("samples:obama")`) and computes, per frame, the
eye aspect ratio of Soukupova and Cech (2016) on the 2-D landmarks of each eye (points 36-41 and 42-47):
EAR = (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|), averaged over the two eyes. The person in the video blinks
visibly at frames 39-41 and 140-141 (0-based). Writes `<out>.json` (EAR per frame, per precision and
smoothing) and `<out>.png` (EAR against the frame index, the blinks shaded, the usual closed-eye threshold
0.21 drawn). Needs the converted fp32 and INT8 models in the cache.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np

import edgeface

REPO = Path(__file__).resolve().parents[1]
BLINKS = ((39, 41), (140, 141))  # 0-based frame indices, inclusive, seen in the video
CLOSED = 0.21                    # the threshold commonly used for a closed eye with this EAR


def eye_aspect_ratio(landmarks: np.ndarray) -> float:
    """Mean EAR of the two eyes of one face's (68, 2+) landmarks."""
    def one(p: np.ndarray) -> float:
        vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
        return float(vertical / (2.0 * np.linalg.norm(p[0] - p[3])))
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return (one(pts[36:42]) + one(pts[42:48])) / 2.0


def series(precision: str, smoothing: bool) -> list:
    ears = []
    with edgeface.FaceAligner.create(precision=precision, running_mode="video", smoothing=smoothing) as aligner, \
            edgeface.open_source("samples:obama") as video:
        for frame in video:
            result = aligner.detect_for_video(frame.image, frame.timestamp_ms)
            ears.append(round(eye_aspect_ratio(result.faces[0].landmarks), 4) if result.faces else None)
    return ears


def summary(ears: list) -> dict:
    valid = np.array([e for e in ears if e is not None])
    in_blink = [ears[i] for a, b in BLINKS for i in range(a, b + 1) if i < len(ears) and ears[i] is not None]
    open_frames = [e for i, e in enumerate(ears) if e is not None
                   and all(not (a - 3 <= i <= b + 3) for a, b in BLINKS)]
    return {"frames": len(ears), "faces": int(len(valid)),
            "open_median": round(float(np.median(open_frames)), 4),
            "open_p5": round(float(np.percentile(open_frames, 5)), 4),
            "blink_min": round(float(min(in_blink)), 4),
            "below_threshold": int(np.sum(valid < CLOSED))}


def plot(data: dict, path: Path) -> None:
    import matplotlib  # lazy: only for the figure
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: only for the figure

    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=110)
    for a, b in BLINKS:
        ax.axvspan(a - 0.5, b + 0.5, color="tab:orange", alpha=0.25, lw=0)
    for key, ears in data["series"].items():
        x = [i for i, e in enumerate(ears) if e is not None]
        ax.plot(x, [ears[i] for i in x], lw=1.2, label=key, ls="-" if "smoothed" in key else ":")
    ax.axhline(CLOSED, color="k", lw=0.8, ls="--")
    ax.text(2, CLOSED + 0.005, f"usual closed-eye threshold {CLOSED}", fontsize=8)
    ax.set_xlabel("frame of obama.mp4 (blinks shaded: 39-41, 140-141)")
    ax.set_ylabel("eye aspect ratio (mean of both eyes)")
    top = max(e for ears in data["series"].values() for e in ears if e is not None)
    ax.set_ylim(0.15, top + 0.02)
    ax.set_title("3DDFA_V2 landmarks barely close the eyes on a blink", fontsize=10)
    ax.legend(fontsize=8, ncol=2, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / f"eye-aspect-{platform.machine()}"))
    ap.add_argument("--precision", default="fp32,int8")
    args = ap.parse_args(argv)
    data = {"video": "samples:obama", "blinks": [list(b) for b in BLINKS], "closed_threshold": CLOSED,
            "series": {}, "summary": {}}
    for precision in args.precision.split(","):
        for smoothing in (True, False):
            key = f"{precision} {'smoothed' if smoothing else 'raw'}"
            data["series"][key] = series(precision, smoothing)
            data["summary"][key] = summary(data["series"][key])
            print(key, data["summary"][key], flush=True)
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    plot(data, out.with_suffix(".png"))
    print("wrote", out.with_suffix(".json"), out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
