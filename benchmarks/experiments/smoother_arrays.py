"""Would a smoother that keeps every face's state in arrays (one numpy pass per frame for all faces) take the
per-face cost of smoothing down enough? A prototype against `FaceSmoother`, on the faces the pipeline gives.

    python benchmarks/experiments/smoother_arrays.py [--json FILE]

The faces: the scaling benchmark's grid of sample faces (`tools.bench.scaling.frames`, 16 faces, 60 frames)
tracked by a VIDEO-mode INT8 `FaceAligner` with its smoothing off; each frame's first 1, 2, 4, 8 and 16 faces
are then smoothed by `FaceSmoother.apply` and by `ArraySmoother.apply` (below), timed on one core, the best of
25 passes. The prototype does the same One Euro arithmetic (`runtime.smoothing`: one speed per face, position and
shape factors, warm start, dead zones; the pose angles on the circle) on state arrays indexed by a slot per
face id, and writes the results back to each Face. It skips what the product needs besides: restarts on a
shape change, dense meshes, faces without a ROI, forgetting ids, checks. Its cost is a lower bound.

It prints microseconds per face for each face count and the slope of the summed cost over the face counts
(what the scaling benchmark's cost per extra face is made of). Needs EDGEFACE_HOME with the converted mb05 INT8.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time

import numpy as np

from edgeface import FaceAligner
from edgeface.results import Pose
from edgeface.runtime.smoothing import FaceSmoother
from edgeface.runtime.smoothing_config import DEFAULT_POSE, DEFAULT_POSITION
from edgeface.tools.bench.scaling.frames import face_sprites, grid_frames
from edgeface.tools.bench.scaling.summary import slope

COUNTS = (1, 2, 4, 8, 16)
TWO_PI = 6.283185307179586


class ArraySmoother:
    """The prototype: every face's smoothing state in arrays, one slot per face id."""

    def __init__(self, slots: int = 64):
        self.cfg, self.pose_cfg = DEFAULT_POSITION, DEFAULT_POSE
        self.slot: dict = {}
        self.lm = np.zeros((slots, 68, 3), np.float32)
        self.corners = np.zeros((slots, 8), np.float32)
        self.t = np.zeros(slots)
        self.v = np.zeros((slots, 2))
        self.n = np.zeros(slots)
        self.angles = np.zeros((slots, 3))
        self.dangles = np.zeros((slots, 3))

    def apply(self, faces: list, t: float) -> None:
        cfg, pc = self.cfg, self.pose_cfg
        new = [f.id not in self.slot for f in faces]
        idx = np.array([self.slot.setdefault(f.id, len(self.slot)) for f in faces])
        lm = np.stack([f.landmarks for f in faces])
        cor = np.concatenate((np.stack([f.bbox for f in faces]), np.stack([f.roi for f in faces])), axis=1).astype(np.float32)
        pose = np.array([(f.pose.yaw, f.pose.pitch, f.pose.roll) for f in faces])
        if any(new):  # first sample of a track: taken as it is
            k = np.array(new)
            self.lm[idx[k]], self.corners[idx[k]], self.angles[idx[k]] = lm[k], cor[k], pose[k]
            self.t[idx[k]], self.v[idx[k]], self.n[idx[k]], self.dangles[idx[k]] = t, 0.0, 1, 0.0
        te = t - self.t[idx]
        te[te <= 0] = 1.0 / cfg.nominal_fps
        self.t[idx] += te
        prev = self.lm[idx]
        d = lm - prev
        dc = np.add.reduce(d, axis=1) * (1.0 / lm.shape[1])
        sq = np.add.reduce(d * d, axis=1).astype(np.float64)
        size = np.maximum(np.sqrt(np.maximum(cor[:, 2] - cor[:, 0], 0).astype(np.float64)
                                  * np.maximum(cor[:, 3] - cor[:, 1], 0)), 1.0)
        scale = 1.0 / (te * size)
        c = dc.astype(np.float64)
        v_pos = np.sqrt(c[:, 0] ** 2 + c[:, 1] ** 2) * scale
        v_shape = np.sqrt(np.maximum(0.0, (sq[:, 0] + sq[:, 1]) / lm.shape[1] - c[:, 0] ** 2 - c[:, 1] ** 2)) * scale
        r = TWO_PI * cfg.d_cutoff * te
        a_d = r / (r + 1.0)
        v = self.v[idx]
        v[:, 0] += a_d * (v_pos - v[:, 0])
        v[:, 1] += a_d * (v_shape - v[:, 1])
        self.v[idx] = v
        n = self.n[idx] + 1
        self.n[idx] = n
        warm = 1.0 / n
        r = TWO_PI * (cfg.min_cutoff + cfg.beta * np.maximum(0.0, v[:, 0] - cfg.speed_floor)) * te
        a = np.maximum(r / (r + 1.0), warm)
        r = TWO_PI * (cfg.shape_cutoff + cfg.shape_beta * np.maximum(0.0, v[:, 1] - cfg.shape_floor)) * te
        a_s = np.maximum(r / (r + 1.0), warm)
        shift = dc * (a - a_s).astype(np.float32)[:, None]
        d *= a_s.astype(np.float32)[:, None, None]
        d += prev
        d += shift[:, None, :]
        self.lm[idx] = d
        out = d.copy()
        pcor = self.corners[idx].astype(np.float64)
        cor = (cor * a_s[:, None] + pcor * (1.0 - a_s[:, None])).astype(np.float32)
        cor.reshape(-1, 4, 2)[...] += shift[:, None, :2]
        self.corners[idx] = cor
        x, dx = self.angles[idx], self.dangles[idx]
        te2 = te[:, None]
        dd = (pose - x + 180.0) % 360.0 - 180.0
        dx += a_d[:, None] * (dd / te2 - dx)
        self.dangles[idx] = dx
        r = TWO_PI * (pc.min_cutoff + np.maximum(pc.beta * (np.abs(dx) - pc.speed_floor), 0.0)) * te2
        x = (x + np.maximum(r / (r + 1.0), warm[:, None]) * dd + 180.0) % 360.0 - 180.0
        self.angles[idx] = x
        for k, (f, p) in enumerate(zip(faces, x.tolist())):
            f.landmarks, f.bbox, f.roi, f.pose = out[k], cor[k, :4], cor[k, 4:], Pose(*p)


def tracked_faces() -> list:
    """[(faces, t)] of the 16-face grid, tracked without smoothing."""
    frames = grid_frames(face_sprites(), 16, 60)
    aligner = FaceAligner.create(precision="int8", running_mode="video", regressor_workers=1)
    aligner.pipeline.smoother.enabled = False
    seq, ts = [], 0.0
    for f in frames:
        ts += 33.0
        seq.append((aligner.detect_for_video(f, ts).faces, ts / 1000.0))
    aligner.close()
    return seq


def us_per_face(make, seq, count: int, passes: int = 25) -> float:
    best = float("inf")
    for _ in range(passes):
        smoother, busy, faces = make(), 0.0, 0
        for frame_faces, t in seq:
            batch = [copy.copy(f) for f in frame_faces[:count]]
            t0 = time.perf_counter()
            smoother.apply(batch, t)
            busy += time.perf_counter() - t0
            faces += len(batch)
        best = min(best, busy / faces * 1e6)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])
    seq = tracked_faces()
    rows = {"FaceSmoother": {}, "ArraySmoother": {}}
    for n in COUNTS:
        rows["FaceSmoother"][n] = us_per_face(FaceSmoother, seq, n)
        rows["ArraySmoother"][n] = rows["FaceSmoother"][n] if n == 1 else us_per_face(ArraySmoother, seq, n)  # one face: the product's path
    print("us per face   " + "  ".join(f"{n:>6d}" for n in COUNTS) + "   slope us")
    out = {}
    for name, r in rows.items():
        s = slope(list(COUNTS), [r[n] * n / 1000.0 for n in COUNTS]) * 1000.0
        out[name] = {"us_per_face": r, "slope_us": round(s, 2)}
        print(f"{name:13s} " + "  ".join(f"{r[n]:6.1f}" for n in COUNTS) + f"   {s:6.1f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
