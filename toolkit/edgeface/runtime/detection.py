"""FaceBoxes pre/post-processing for a fixed network input size, as 3DDFA_V2's FaceBoxes wrapper.

Pipeline: `letterbox` the frame into the detector's fixed `width` x `height` canvas (image at the
top-left, padded right/bottom with the mean colour so the padding is 0 after mean subtraction);
run the network; `postprocess` its `loc` (P, 4) and softmaxed `conf` (P, 2) outputs with the
`priors` of that canvas size: decode, map back to frame pixels, then as upstream
(FaceBoxes/FaceBoxes.py): keep scores > 0.05, the top 5000, NMS at IoU 0.3 (Fast R-CNN `cpu_nms`
numerics), the top 750, and finally the faces with score > 0.5.

Upstream resizes each frame to its own size (at most 720 x 1080) instead of letterboxing; the
letterbox keeps one network input shape for TFLite. Everything here is pure numpy (+ cv2.resize).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.runtime.roi import resize_flag

#: FaceBoxes prior configuration (upstream FaceBoxes/utils/config.py)
MIN_SIZES: Tuple[Tuple[int, ...], ...] = ((32, 64, 128), (256,), (512,))
STEPS: Tuple[int, ...] = (32, 64, 128)
VARIANCES: Tuple[float, float] = (0.1, 0.2)
#: BGR mean the detector subtracts; letterbox padding uses it so padded pixels become 0
PAD_VALUE: Tuple[int, int, int] = (104, 117, 123)
#: upstream densifies anchors of these sizes into n x n centres per cell
DENSITY = {32: 4, 64: 2}


@dataclass
class DetectorConfig:
    """FaceBoxes settings. Defaults are upstream's (FaceBoxes/FaceBoxes.py and utils/config.py)."""

    width: int = 640
    height: int = 480
    score_threshold: float = 0.5  # upstream vis_thres: final faces have score > this
    confidence_threshold: float = 0.05  # candidates before NMS have score > this
    nms_threshold: float = 0.3
    top_k: int = 5000  # candidates kept before NMS
    keep_top_k: int = 750  # detections kept after NMS
    max_faces: Optional[int] = None  # keep only the highest-scoring faces (None: all)
    clip_to_frame: bool = True  # clip final boxes to the frame (upstream does not clip)
    min_sizes: Tuple[Tuple[int, ...], ...] = MIN_SIZES
    steps: Tuple[int, ...] = STEPS
    variances: Tuple[float, float] = VARIANCES
    pad_value: Tuple[int, int, int] = PAD_VALUE
    exact_resize: bool = False  # letterbox with cv2.INTER_LINEAR_EXACT (cross-CPU parity) instead of INTER_LINEAR


@dataclass
class Letterbox:
    """How a frame was placed into the detector canvas: canvas = resize(frame) at the top-left.

    `scale_x = new_w / frame_w`, `scale_y = new_h / frame_h` are the exact resize factors
    (they differ from `scale` only by the rounding of the new size to whole pixels)."""

    scale: float
    scale_x: float
    scale_y: float
    new_w: int
    new_h: int
    frame_w: int
    frame_h: int
    width: int
    height: int

    @property
    def pad_right(self) -> int:
        return self.width - self.new_w

    @property
    def pad_bottom(self) -> int:
        return self.height - self.new_h


# ----------------------------------------------------------------------------- priors

def feature_map_sizes(width: int, height: int, steps: Sequence[int] = STEPS) -> list[tuple[int, int]]:
    """(rows, cols) of each detection layer as upstream PriorBox assumes: ceil(size / step)."""
    return [(math.ceil(height / s), math.ceil(width / s)) for s in steps]


def priors(
    width: int,
    height: int,
    min_sizes: Sequence[Sequence[int]] = MIN_SIZES,
    steps: Sequence[int] = STEPS,
    feature_maps: Optional[Sequence[Tuple[int, int]]] = None,
) -> np.ndarray:
    """FaceBoxes prior boxes `(P, 4)` = (cx, cy, w, h), normalized by the canvas size, float32.

    Same values and order as upstream PriorBox.forward (clip off), which is the order of the
    network's loc/conf rows: for each layer k, for each cell row i, column j, for each min size:
    size 32 gives 4x4 centres (j + {0, .25, .5, .75}, i + ...), size 64 gives 2x2 (j + {0, .5}),
    others 1 centre (j + .5, i + .5); within a cell the y offset varies slowest.
    `feature_maps` overrides the (rows, cols) per layer (default ceil(size / step)).
    """
    if int(width) <= 0 or int(height) <= 0:
        raise EdgefaceError(f"detector input size must be positive, got {width}x{height}")
    if len(min_sizes) != len(steps):
        raise EdgefaceError(f"need one min-size list per step: {len(min_sizes)} lists for {len(steps)} steps")
    width, height = int(width), int(height)
    fms = list(feature_maps) if feature_maps is not None else feature_map_sizes(width, height, steps)
    if len(fms) != len(steps):
        raise EdgefaceError(f"need one feature-map size per step: {len(fms)} for {len(steps)} steps")
    out = []
    for (rows, cols), step, sizes in zip(fms, steps, min_sizes):
        # per-cell template: (dx, dy, w, h) in cell units / normalized size, in upstream order
        tmpl = []
        for ms in sizes:
            n = DENSITY.get(int(ms), 1)
            offs = [k / n for k in range(n)] if n > 1 else [0.5]
            for dy in offs:
                for dx in offs:
                    tmpl.append((dx, dy, ms / width, ms / height))
        t = np.asarray(tmpl, dtype=np.float64)  # (A, 4)
        jj = np.arange(cols, dtype=np.float64)
        ii = np.arange(rows, dtype=np.float64)
        a = t.shape[0]
        cx = (jj[None, :, None] + t[None, None, :, 0]) * step / width  # (1, cols, A)
        cy = (ii[:, None, None] + t[None, None, :, 1]) * step / height  # (rows, 1, A)
        layer = np.empty((rows, cols, a, 4), dtype=np.float64)
        layer[..., 0] = cx
        layer[..., 1] = cy
        layer[..., 2] = t[:, 2]
        layer[..., 3] = t[:, 3]
        out.append(layer.reshape(-1, 4))
    return np.concatenate(out, axis=0).astype(np.float32)


def decode(loc, priors_, variances: Sequence[float] = VARIANCES) -> np.ndarray:
    """SSD box decoding (upstream box_utils.decode): `(P, 4)` x1, y1, x2, y2 normalized, float32.

    centre = prior_c + loc_xy * v0 * prior_wh; size = prior_wh * exp(loc_wh * v1).
    """
    loc = np.asarray(loc, dtype=np.float32)
    pr = np.asarray(priors_, dtype=np.float32)
    if loc.ndim == 3 and loc.shape[0] == 1:
        loc = loc[0]
    if loc.shape != pr.shape or loc.ndim != 2 or loc.shape[1] != 4:
        raise EdgefaceError(
            f"detector loc output {loc.shape} does not match the priors {pr.shape}: the model's input size "
            "must be the one the priors were built for"
        )
    v0, v1 = np.float32(variances[0]), np.float32(variances[1])
    c = pr[:, :2] + loc[:, :2] * v0 * pr[:, 2:]
    wh = pr[:, 2:] * np.exp(loc[:, 2:] * v1)
    x1y1 = c - wh / np.float32(2)
    return np.concatenate([x1y1, x1y1 + wh], axis=1)


# ----------------------------------------------------------------------------- NMS

def nms(boxes, scores, iou_threshold: float, pixel_offset: float = 1.0) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, highest score first (int64).

    Numerics of upstream's Fast R-CNN `cpu_nms` (float32, areas `(x2 - x1 + 1) * (y2 - y1 + 1)`
    for pixel boxes, a box is dropped when IoU >= threshold with a kept one, order by
    `argsort(scores)[::-1]`). Use `pixel_offset=0` for normalized boxes. Each step is vectorized
    over the remaining boxes. This IoU is deliberately not `runtime.boxes.iou`: float32 arithmetic
    and the +1 pixel areas are what upstream's detections (and so the published numbers) rest on.
    """
    b = np.asarray(boxes, dtype=np.float32)
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    if b.ndim != 2 or b.shape[1] < 4 or b.shape[0] != s.shape[0]:
        raise EdgefaceError(f"NMS needs boxes (N, 4) and scores (N,), got {b.shape} and {s.shape}")
    if b.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    off = np.float32(pixel_offset)
    thr = float(iou_threshold)  # cpu_nms compares the float32 IoU with a double threshold
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    areas = (x2 - x1 + off) * (y2 - y1 + off)
    order = np.argsort(-s, kind="stable")  # ties by index: the same order on every CPU
    keep = []
    zero = np.float32(0)
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        w = np.maximum(zero, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + off)
        h = np.maximum(zero, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + off)
        inter = w * h
        ovr = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(ovr.astype(np.float64) >= thr)]  # NaN IoU (degenerate boxes) keeps the box, as cpu_nms
    return np.asarray(keep, dtype=np.int64)


# ----------------------------------------------------------------------------- letterbox

def letterbox_geometry(frame_w: int, frame_h: int, width: int, height: int) -> Letterbox:
    """The placement `letterbox` uses for a `frame_w` x `frame_h` frame (no pixels touched)."""
    if frame_w <= 0 or frame_h <= 0:
        raise EdgefaceError(f"frame is empty ({frame_w}x{frame_h}): check the video source")
    if width <= 0 or height <= 0:
        raise EdgefaceError(f"detector input size must be positive, got {width}x{height}")
    scale = min(width / frame_w, height / frame_h)
    new_w = min(width, max(1, int(round(frame_w * scale))))
    new_h = min(height, max(1, int(round(frame_h * scale))))
    return Letterbox(
        scale=scale, scale_x=new_w / frame_w, scale_y=new_h / frame_h, new_w=new_w, new_h=new_h,
        frame_w=int(frame_w), frame_h=int(frame_h), width=int(width), height=int(height),
    )


def place(frame: np.ndarray, lb: Letterbox, pad_value: Sequence[int] = PAD_VALUE, exact: bool = False) -> np.ndarray:
    """The detector canvas for the placement `lb`: the frame resized (bilinear: cv2.INTER_LINEAR, or
    INTER_LINEAR_EXACT with `exact=True`, bit-exact on x86 and ARM) at the top-left, the right/bottom
    padded with `pad_value`. When no resize or padding is needed the canvas IS the frame (no copy):
    do not draw on it."""
    fh, fw = frame.shape[:2]
    if (lb.new_w, lb.new_h) == (fw, fh):
        resized = frame
    else:
        resized = cv2.resize(frame, dsize=(lb.new_w, lb.new_h), interpolation=resize_flag(exact))
    if lb.pad_right == 0 and lb.pad_bottom == 0:
        return np.ascontiguousarray(resized)  # may be `frame` itself: treat the canvas as read-only
    value = tuple(float(v) for v in pad_value)
    return cv2.copyMakeBorder(resized, 0, lb.pad_bottom, 0, lb.pad_right, cv2.BORDER_CONSTANT, value=value)


def letterbox(frame: np.ndarray, width: int, height: int, pad_value: Sequence[int] = PAD_VALUE,
              exact: bool = False) -> tuple[np.ndarray, Letterbox]:
    """Fit `frame` (HxWx3 uint8) into a `width` x `height` canvas keeping its aspect ratio
    (`letterbox_geometry` + `place`). Returns `(canvas, Letterbox)`; the frame is not modified."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        raise EdgefaceError(f"detector needs an HxWx3 BGR frame, got shape {getattr(frame, 'shape', None)}")
    fh, fw = frame.shape[:2]
    lb = letterbox_geometry(fw, fh, int(width), int(height))
    return place(frame, lb, pad_value, exact), lb


def unletterbox_boxes(boxes_px, lb: Letterbox, clip: bool = True) -> np.ndarray:
    """Map boxes `(K, 4+)` x1, y1, x2, y2 from canvas pixels to frame pixels (float32).

    Columns past the 4th (e.g. scores) are dropped. With `clip`, coordinates are clipped to
    [0, frame_w] x [0, frame_h].
    """
    b = np.asarray(boxes_px, dtype=np.float32)
    if b.ndim != 2 or b.shape[1] < 4:
        raise EdgefaceError(f"boxes must have shape (K, 4), got {b.shape}")
    f = np.array([lb.scale_x, lb.scale_y, lb.scale_x, lb.scale_y], dtype=np.float32)
    out = b[:, :4] / f
    if clip:
        out[:, 0::2] = np.clip(out[:, 0::2], 0, lb.frame_w)
        out[:, 1::2] = np.clip(out[:, 1::2], 0, lb.frame_h)
    return out


def letterbox_boxes(boxes_frame, lb: Letterbox) -> np.ndarray:
    """Inverse of `unletterbox_boxes` (without clipping): frame pixels to canvas pixels."""
    b = np.asarray(boxes_frame, dtype=np.float32)
    f = np.array([lb.scale_x, lb.scale_y, lb.scale_x, lb.scale_y], dtype=np.float32)
    return b[:, :4] * f


# ----------------------------------------------------------------------------- postprocess

def postprocess(
    loc,
    conf,
    priors_,
    lb: Letterbox,
    width: int,
    height: int,
    score_threshold: float = 0.5,
    nms_threshold: float = 0.3,
    top_k: int = 5000,
    keep_top_k: int = 750,
    max_faces: Optional[int] = None,
    confidence_threshold: float = 0.05,
    variances: Sequence[float] = VARIANCES,
    clip_to_frame: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Face boxes in frame pixels from raw FaceBoxes outputs, as upstream FaceBoxes.__call__.

    `loc` (P, 4) or (1, P, 4); `conf` (P, 2) / (1, P, 2) softmax scores (column 1 = face), or
    (P,) face scores; `priors_` from `priors(width, height)`; `lb` from `letterbox`.
    Steps: scores > `confidence_threshold`, decode those boxes, scale to canvas pixels, map to
    frame pixels (unclipped), best `top_k`, NMS (`nms_threshold`, in frame pixels as upstream),
    best `keep_top_k`, scores > `score_threshold`, best `max_faces`, then clip to the frame.
    Returns `(boxes (K, 4) float32 x1, y1, x2, y2, scores (K,) float32)`, highest score first.
    """
    c = np.asarray(conf, dtype=np.float32)
    if c.ndim == 3 and c.shape[0] == 1:
        c = c[0]
    scores_all = c[:, 1] if c.ndim == 2 else c.reshape(-1)
    pr = np.asarray(priors_, dtype=np.float32)
    if scores_all.shape[0] != pr.shape[0]:
        raise EdgefaceError(
            f"detector conf output has {scores_all.shape[0]} rows but there are {pr.shape[0]} priors: "
            "the model's input size must be the one the priors were built for"
        )
    if (int(width), int(height)) != (lb.width, lb.height):
        raise EdgefaceError(f"letterbox was made for {lb.width}x{lb.height} but the detector input is {width}x{height}")
    lc = np.asarray(loc, dtype=np.float32)
    if lc.ndim == 3 and lc.shape[0] == 1:
        lc = lc[0]
    if lc.shape != pr.shape:
        raise EdgefaceError(
            f"detector loc output {lc.shape} does not match the priors {pr.shape}: the model's input size "
            "must be the one the priors were built for"
        )
    inds = np.where(scores_all > np.float32(confidence_threshold))[0]  # float32 compare, as numpy 1.x upstream
    # decoding is row-wise: decode only the candidates (same numbers as decoding all, then filtering)
    scale = np.array([width, height, width, height], dtype=np.float32)
    boxes = unletterbox_boxes(decode(lc[inds], pr[inds], variances) * scale, lb, clip=False)
    scores = scores_all[inds]
    order = np.argsort(-scores, kind="stable")[:top_k]  # stable: platform-independent ties
    boxes, scores = boxes[order], scores[order]
    keep = nms(boxes, scores, nms_threshold)[:keep_top_k]
    boxes, scores = boxes[keep], scores[keep]
    sel = scores.astype(np.float64) > float(score_threshold)  # upstream compares float32 scalars with a float
    boxes, scores = boxes[sel], scores[sel]
    if max_faces is not None:
        boxes, scores = boxes[:max(0, int(max_faces))], scores[:max(0, int(max_faces))]
    if clip_to_frame and boxes.shape[0]:
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, lb.frame_w)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, lb.frame_h)
    return boxes.astype(np.float32, copy=False), scores.astype(np.float32, copy=False)


def postprocess_with_config(loc, conf, priors_, lb: Letterbox, config: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """`postprocess` with the thresholds and sizes of a `DetectorConfig`."""
    return postprocess(
        loc, conf, priors_, lb, config.width, config.height,
        score_threshold=config.score_threshold, nms_threshold=config.nms_threshold, top_k=config.top_k,
        keep_top_k=config.keep_top_k, max_faces=config.max_faces,
        confidence_threshold=config.confidence_threshold, variances=config.variances,
        clip_to_frame=config.clip_to_frame,
    )
