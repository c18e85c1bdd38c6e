"""Regressor input boxes (ROI) and the 120x120 crop, numerically as 3DDFA_V2.

A ROI is a square box `(sx, sy, ex, ey)` in frame pixels (float64). It comes either from a
detector box (`roi_from_bbox`, upstream `parse_roi_box_from_bbox`) or from the previous frame's
68 landmarks when tracking (`roi_from_landmarks`, upstream `parse_roi_box_from_landmark`).
`crop_roi` cuts it out of the frame (zero padding outside the frame, upstream `crop_img`) and
resizes it to `size` x `size` with bilinear interpolation, like upstream `TDDFA.__call__`:
`cv2.INTER_LINEAR` (upstream's own call, the fast default) or, with `exact=True`,
`cv2.INTER_LINEAR_EXACT` (bit-identical on x86 and arm64, where opencv-python's INTER_LINEAR
comes from different HALs and differs by a grey level; what the cross-CPU parity checks use).

All math is done in float64 on the values given. Upstream does the same when it gets Python
floats; when it gets float32 detector boxes its scalar arithmetic follows numpy's casting rules
(results then differ by float32 rounding only, ~1e-5 px).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.runtime.boxes import corners

#: upstream parse_roi_box_from_bbox: ROI side = int(1.58 * mean box side), centre moved down 0.14 * mean side
BBOX_SCALE = 1.58
BBOX_SHIFT_Y = 0.14


def _as_box(bbox, what: str = "bbox") -> np.ndarray:
    b = np.asarray(bbox, dtype=np.float64).reshape(-1)
    if b.size < 4:
        raise EdgefaceError(f"{what} needs 4 values (x1, y1, x2, y2), got {b.size}: pass a box as [x1, y1, x2, y2]")
    b = b[:4]
    if not np.all(np.isfinite(b)):
        raise EdgefaceError(f"{what} has non-finite values {b.tolist()}: pass a finite box [x1, y1, x2, y2]")
    return b


def roi_from_bbox(bbox) -> np.ndarray:
    """Square ROI for the regressor from a detector box `[x1, y1, x2, y2, (score)]` in pixels.

    As upstream: mean side `m = (w + h) / 2`, centre `(x2 - w/2, y2 - h/2 + 0.14 m)`,
    side `int(1.58 m)` (truncated toward zero, so the ROI side is a whole number of pixels).
    Returns float64 `(sx, sy, ex, ey)`. Extra values (a score) are ignored.
    """
    left, top, right, bottom = (float(v) for v in _as_box(bbox))
    old_size = (right - left + bottom - top) / 2
    center_x = right - (right - left) / 2.0
    center_y = bottom - (bottom - top) / 2.0 + old_size * BBOX_SHIFT_Y
    size = int(old_size * BBOX_SCALE)
    sx = center_x - size / 2
    sy = center_y - size / 2
    return np.array([sx, sy, sx + size, sy + size], dtype=np.float64)


def _points_xy(pts) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pts, dtype=np.float64)
    if p.ndim != 2:
        raise EdgefaceError(f"landmarks must be a 2-D array (2 or 3, N) or (N, 2 or 3), got shape {p.shape}")
    if p.shape[0] in (2, 3):  # upstream layout (also for ambiguous tiny arrays such as 3x3)
        xs, ys = p[0], p[1]
    elif p.shape[1] in (2, 3):
        xs, ys = p[:, 0], p[:, 1]
    else:
        raise EdgefaceError(f"landmarks must have shape (2 or 3, N) or (N, 2 or 3), got {p.shape}")
    if xs.size == 0 or not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise EdgefaceError("landmarks are empty or not finite: pass the 68 points of the previous frame")
    return xs, ys


def roi_from_landmarks(pts2d) -> np.ndarray:
    """Square ROI from landmarks (upstream `parse_roi_box_from_landmark`, used when tracking).

    `pts2d`: upstream layout `(2 or 3, N)` (rows x, y[, z]) or `(N, 2 or 3)`; only x and y are used.
    The landmarks' bounding square (side = the longer side, same centre) is grown to its
    diagonal: ROI side = sqrt(2) * max(w, h), centred on the box centre. Returns float64
    `(sx, sy, ex, ey)`.
    """
    xs, ys = _points_xy(pts2d)
    return roi_from_landmark_box(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))


def roi_from_landmark_box(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """`roi_from_landmarks` from the landmarks' bounding box (x1, y1, x2, y2) (the tracker has it already)."""
    return np.array(landmark_box_roi(x1, y1, x2, y2), dtype=np.float64)


def landmark_box_roi(x1: float, y1: float, x2: float, y2: float) -> tuple:
    """`roi_from_landmark_box` as a tuple of Python floats (sx, sy, ex, ey)."""
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    radius = max(x2 - x1, y2 - y1) / 2
    bx1, by1, bx2, by2 = cx - radius, cy - radius, cx + radius, cy + radius
    llength = math.sqrt((bx2 - bx1) ** 2 + (by2 - by1) ** 2)
    center_x = (bx2 + bx1) / 2
    center_y = (by2 + by1) / 2
    sx = center_x - llength / 2
    sy = center_y - llength / 2
    return sx, sy, sx + llength, sy + llength


def hold_roi(prev, new, deadband: float):
    """The crop to use next while tracking: `prev` (the current crop) when no edge of `new` moved by more
    than `deadband` x the side of `prev`, else `new`. A still face then keeps exactly the same crop,
    frame after frame, instead of one that follows the sensor noise of its own landmarks; a moving
    face's crop jumps to it whenever it has moved that far (the regressor finds the landmarks inside
    the crop, so they do not lag). `deadband` 0 or no `prev`: `new` (upstream demo_video).
    Measured (docs/concepts/stability.md): following `new` continuously beyond a dead zone instead lets an
    INT8 model's small bias walk the crop away from a still face; holding does not."""
    if deadband <= 0 or prev is None:
        return new
    p0, p1, p2, p3 = corners(prev)
    n0, n1, n2, n3 = corners(new)
    if max(abs(n0 - p0), abs(n1 - p1), abs(n2 - p2), abs(n3 - p3)) <= deadband * (p2 - p0):
        return prev
    return new


def roi_pixels(roi) -> np.ndarray:
    """The integer pixel box `(sx, sy, ex, ey)` a ROI crops: each value rounded half-to-even,
    as upstream `int(round(v))`."""
    return np.rint(_as_box(roi, "roi")).astype(np.int64)


def crop_pixels(img: np.ndarray, box_px) -> np.ndarray:
    """Cut the integer box `(sx, sy, ex, ey)` out of `img`, zero-filled where it leaves the frame
    (upstream `crop_img`). Returns a view of `img` when the box lies inside the frame (no copy),
    otherwise a new zero array with the visible part copied in."""
    h, w = img.shape[:2]
    sx, sy, ex, ey = (int(v) for v in box_px)
    dw, dh = ex - sx, ey - sy
    if dw <= 0 or dh <= 0:
        raise EdgefaceError(f"crop box {[sx, sy, ex, ey]} is empty: the ROI must have a positive width and height")
    if sx >= 0 and sy >= 0 and ex <= w and ey <= h:
        return img[sy:ey, sx:ex]
    out = np.zeros((dh, dw) + img.shape[2:], dtype=img.dtype)
    # visible part of the box, in frame coordinates and in crop coordinates
    fx1, fy1, fx2, fy2 = max(sx, 0), max(sy, 0), min(ex, w), min(ey, h)
    if fx2 > fx1 and fy2 > fy1:
        out[fy1 - sy:fy2 - sy, fx1 - sx:fx2 - sx] = img[fy1:fy2, fx1:fx2]
    return out


def resize_flag(exact: bool) -> int:
    """The bilinear kernel: upstream's cv2.INTER_LINEAR, or INTER_LINEAR_EXACT (bit-exact on every CPU)."""
    return cv2.INTER_LINEAR_EXACT if exact else cv2.INTER_LINEAR


def crop_roi(img: np.ndarray, roi, size: int = 120, exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Crop `roi` out of `img` and resize to `size` x `size`, as 3DDFA_V2 (bilinear: upstream's
    cv2.INTER_LINEAR; `exact=True`: INTER_LINEAR_EXACT, the same pixels on x86 and arm64).

    `img`: HxWx3 (BGR) or HxW uint8 frame; it is never copied as a whole (a view is resized when
    the ROI is inside the frame). Returns `(crop, box_px)`: the `size` x `size` crop with the
    frame's dtype and channels, and the integer pixel box `(sx, sy, ex, ey)` that was cut
    (the float `roi` itself is what `tdmm.to_image` needs to map points back).
    """
    _check_frame(img, size)
    box_px = roi_pixels(roi)
    return _resized(crop_pixels(img, box_px), int(size), exact), box_px


def crop_square(img: np.ndarray, roi, size: int = 120, exact: bool = False) -> np.ndarray:
    """The crop of `crop_roi` alone (the same pixels), for the per-frame hot path: a float64 ROI
    array is rounded on Python floats (round half to even, as `roi_pixels`) instead of through
    numpy temporaries. Anything else (a list, a short or non-finite ROI) takes `crop_roi`."""
    if isinstance(roi, np.ndarray) and roi.ndim == 1 and roi.shape[0] >= 4:
        sx, sy, ex, ey = roi[:4].tolist()
        if math.isfinite(sx) and math.isfinite(sy) and math.isfinite(ex) and math.isfinite(ey):
            _check_frame(img, size)
            return _resized(crop_pixels(img, (round(sx), round(sy), round(ex), round(ey))), int(size), exact)
    return crop_roi(img, roi, size, exact)[0]


def _check_frame(img, size) -> None:
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        shape = getattr(img, "shape", None)
        raise EdgefaceError(f"frame must be a non-empty HxW or HxWxC image array, got shape {shape}")
    if int(size) <= 0:
        raise EdgefaceError(f"crop size must be positive, got {size}")


def _resized(patch: np.ndarray, size: int, exact: bool) -> np.ndarray:
    if patch.shape[0] == size and patch.shape[1] == size:
        return patch.copy()  # never hand out a view of the caller's frame
    return cv2.resize(patch, dsize=(size, size), interpolation=resize_flag(exact))
