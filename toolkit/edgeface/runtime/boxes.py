"""Axis-aligned face boxes `(x1, y1, x2, y2)`: the one place for box geometry and IoU.

Continuous coordinates (no +1 pixel convention): `iou` of two boxes and `iou_matrix` of two sets
(the tracker, `edgeface eval`'s face matching and `convert verify`'s detector check all use these);
`points_box` (the bounding box of landmarks), `box_area`, `visible_fraction` (share inside the
frame), `box_relative` / `box_from_relative` (a box in another box's coordinates),
`greedy_match` (one-to-one pairs by decreasing IoU) and `clipped_to_frame` (the boxes a frame's
results report). Detector NMS keeps its own float32, +1 pixel arithmetic (upstream's `cpu_nms`,
`runtime.detection.nms`).
"""

from __future__ import annotations

import numpy as np

from edgeface.errors import EdgefaceError


def _as_boxes(boxes) -> np.ndarray:
    """Boxes as a (K, 4) float64 array: rows (x1, y1, x2, y2[, anything more, ignored])."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return np.zeros((0, 4))
    b = b.reshape(-1, b.shape[-1])
    if b.shape[1] < 4:
        raise EdgefaceError(f"boxes must be rows of (x1, y1, x2, y2), got shape {b.shape}")
    return b[:, :4]


def points_box(points) -> np.ndarray:
    """Bounding box `(x1, y1, x2, y2)` of points `(N, >=2)` (float64); a one-line error for other shapes."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or p.shape[0] == 0:
        raise EdgefaceError(f"points must have shape (N, 2), got {p.shape}")
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])


_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)


def corners(box) -> list:
    """The first four values of a box (x1, y1, x2, y2[, ...]) as Python floats (float64 arithmetic
    without numpy scalars: the tracker, pipeline and smoother run these per face and frame)."""
    if isinstance(box, np.ndarray) and (box.dtype is _F64 or box.dtype is _F32) and box.shape == (4,):
        return box.tolist()  # the tracker's own boxes, the results' float32 ones: one call (the same exact values)
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape[0] < 4:
        raise EdgefaceError(f"a box needs 4 values (x1, y1, x2, y2), got {b.shape[0]}")
    return b[:4].tolist()


def _area(x1: float, y1: float, x2: float, y2: float) -> float:
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def box_area(box) -> float:
    return _area(*corners(box))


def iou(a, b) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2[, ...]) in continuous coordinates (no +1)."""
    a0, a1, a2, a3 = corners(a)
    b0, b1, b2, b3 = corners(b)
    w = min(a2, b2) - max(a0, b0)
    h = min(a3, b3) - max(a1, b1)
    inter = max(0.0, w) * max(0.0, h)
    union = _area(a0, a1, a2, a3) + _area(b0, b1, b2, b3) - inter
    return float(inter / union) if union > 0 else 0.0


def iou_matrix(a, b) -> np.ndarray:
    """IoU of every box of `a` (K, >=4) with every box of `b` (M, >=4): (K, M), as `iou` pair by pair."""
    a = _as_boxes(a)
    b = _as_boxes(b)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return out


def visible_fraction(box, width: int, height: int) -> float:
    """Fraction of the box's area inside the `width` x `height` frame."""
    b = np.asarray(box, dtype=np.float64)
    area = box_area(b)
    if area <= 0:
        return 0.0
    clipped = np.array([max(b[0], 0.0), max(b[1], 0.0), min(b[2], float(width)), min(b[3], float(height))])
    return box_area(clipped) / area


def box_relative(box, ref) -> np.ndarray:
    """`box` in the coordinates of `ref`: (x - ref_x1) / ref_w, (y - ref_y1) / ref_h."""
    b0, b1, b2, b3 = corners(box)
    r0, r1, r2, r3 = corners(ref)
    w = max(r2 - r0, 1e-6)
    h = max(r3 - r1, 1e-6)
    return np.array([(b0 - r0) / w, (b1 - r1) / h, (b2 - r0) / w, (b3 - r1) / h])


def box_from_relative(rel, ref) -> np.ndarray:
    """Inverse of `box_relative`."""
    r0, r1, r2, r3 = corners(ref)
    w, h = r2 - r0, r3 - r1
    q0, q1, q2, q3 = corners(rel)
    return np.array([r0 + q0 * w, r1 + q1 * h, r0 + q2 * w, r1 + q3 * h])


def greedy_match(ious: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (row, col) taken greedily by decreasing IoU, each row and column at most once,
    IoU >= threshold. Ties keep the lower row, then the lower column."""
    ious = np.asarray(ious, dtype=np.float64)
    if ious.size == 0:
        return []
    rows, cols = np.nonzero(ious >= threshold)
    order = np.lexsort((cols, rows, -ious[rows, cols]))
    used_r: set = set()
    used_c: set = set()
    pairs = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c))
    return pairs


def clipped_to_frame(boxes: list, w: float, h: float) -> list:
    """Each box (x1, y1, x2, y2[, ...]) clipped to a `w` x `h` frame: a float32 (4,) array per box, from
    the clip on float64 values. A few boxes on Python floats, 4 or more in one array op for all (cheaper
    from there on; the same numbers)."""
    if len(boxes) < 4:
        out = []
        for box in boxes:
            x1, y1, x2, y2 = corners(box)
            out.append(np.array([min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h)],
                                dtype=np.float32))
        return out
    a = np.array([corners(box) for box in boxes], dtype=np.float64)
    return list(np.minimum(np.maximum(a, 0.0), (w, h, w, h)).astype(np.float32))
