"""Landmark accuracy metrics of `edgeface bench eval`: face matching, NME, failure rate, CDF.

Matching (`match_faces`): each ground-truth face has a *landmark box* (`boxes.points_box` of its 68
points). Detections and ground-truth faces are paired one to one, greedily by decreasing IoU
between the detection box and the landmark box (`boxes.iou_matrix`, `boxes.greedy_match`), and a
pair counts only if IoU >= `MATCH_IOU` (0.3).

NME of one face (`nme`): mean over the 68 points of the 2-D Euclidean error, divided by
  - `bbox`: sqrt(w * h) of the ground-truth landmark box (the 3DDFA / AFLW2000-3D convention), or
  - `interocular`: distance between the outer eye corners, points 36 and 45 (0-based iBUG order).
A face *fails* when its NME > 10% (`FAIL_THRESHOLD`, per normalization).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.runtime.boxes import greedy_match, iou_matrix, points_box

MATCH_IOU = 0.3
FAIL_THRESHOLD = 0.10
OUTER_EYE_CORNERS = (36, 45)
NORMALIZATIONS = ("bbox", "interocular")
MATCH_RULE = (f"one-to-one greedy by IoU between detection box and ground-truth landmark box; a pair counts "
              f"if IoU >= {MATCH_IOU}")


def match_faces(gt_boxes: Sequence, det_boxes: Sequence, iou_threshold: float = MATCH_IOU) -> List[Optional[int]]:
    """For each ground-truth box, the index of its detection (or None).

    One to one, greedy: the pair with the highest IoU first, then the next among the unpaired;
    pairs with IoU < `iou_threshold` are never made. Ties go to the lower indices.
    """
    out: List[Optional[int]] = [None] * len(gt_boxes)
    for i, j in greedy_match(iou_matrix(gt_boxes, det_boxes), iou_threshold):
        out[i] = j
    return out


def bbox_norm(gt) -> float:
    """sqrt(w * h) of the landmark bounding box of `gt` (N, 2)."""
    x1, y1, x2, y2 = points_box(gt)
    return float(math.sqrt(max(0.0, x2 - x1) * max(0.0, y2 - y1)))


def interocular_norm(gt, corners: Tuple[int, int] = OUTER_EYE_CORNERS) -> float:
    """Distance between the outer eye corners (points 36 and 45 of the 0-based iBUG 68)."""
    p = np.asarray(gt, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] <= max(corners):
        raise EdgefaceError(f"inter-ocular normalization needs the 68 iBUG points, got shape {p.shape}")
    return float(np.linalg.norm(p[corners[0], :2] - p[corners[1], :2]))


def normalizer(gt, kind: str) -> float:
    if kind == "bbox":
        return bbox_norm(gt)
    if kind == "interocular":
        return interocular_norm(gt)
    raise EdgefaceError(f"unknown NME normalization '{kind}': use {' or '.join(NORMALIZATIONS)}")


def nme(pred, gt, norm: Union[str, float] = "bbox") -> float:
    """Normalized mean error: mean over points of ||pred_i - gt_i||_2 (x, y only) / norm.

    `norm` is a number or a normalization name (`bbox`, `interocular`) computed from `gt`.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.ndim != 2 or g.ndim != 2 or p.shape[0] != g.shape[0] or p.shape[1] < 2 or g.shape[1] < 2:
        raise EdgefaceError(f"predicted {p.shape} and ground-truth {g.shape} points must both be (N, 2) with the same N")
    d = normalizer(g, norm) if isinstance(norm, str) else float(norm)
    if not d > 0 or not math.isfinite(d):
        raise EdgefaceError(f"NME normalizer is {d}: the ground-truth face is degenerate (all points on a line?)")
    return float(np.mean(np.linalg.norm(p[:, :2] - g[:, :2], axis=1)) / d)


def nme_summary(values: Sequence[float], fail_threshold: float = FAIL_THRESHOLD) -> dict:
    """count, mean, median, max and failure rate (share of values > fail_threshold) of NMEs.

    No values: count 0 and None elsewhere.
    """
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return {"count": 0, "mean": None, "median": None, "max": None, "failure_rate": None, "fail_threshold": fail_threshold}
    return {
        "count": int(v.size),
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "max": float(v.max()),
        "failure_rate": float(np.mean(v > fail_threshold)),
        "fail_threshold": fail_threshold,
    }


def cdf(values: Sequence[float], xs: Sequence[float]) -> np.ndarray:
    """Share of `values` <= each x of `xs` (the cumulative error distribution)."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    if v.size == 0:
        return np.zeros(len(xs))
    return np.searchsorted(v, np.asarray(xs, dtype=np.float64), side="right") / v.size
