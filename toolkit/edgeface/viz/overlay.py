"""Draw results on BGR frames: boxes, 68 landmarks (+ contour lines), pose axes, labels, a HUD,
and dense vertices.

`draw_result(image, result)` returns an annotated COPY by default (`in_place=True` draws on the
given array). The lower-level `draw_*` functions draw IN PLACE on the array they get and return it.
Line widths and fonts scale with the image size (`Style.for_image`). Everything is a handful of
vectorised cv2 / numpy calls per face.

Pose axes follow 3DDFA_V2's convention (utils/pose.py): the rotation R is the row-normalised
upper-left 3x3 of the camera matrix P = [s*R | t] of the 3DMM params, angles are
yaw = asin(R[2,0]), pitch = atan2(R[2,1], R[2,2]), roll = atan2(R[1,0], R[0,0]) (degrees), and
a model-space direction v appears in the image as (R v)[0], -(R v)[1] (image y points down).
Axes: x (the face's left->right as seen frontally) red, y (up) green, z (out of the face,
towards the camera when frontal) blue.
"""

from __future__ import annotations

import dataclasses

import math
from dataclasses import dataclass, replace
from typing import Mapping, Optional, Sequence

import cv2
import numpy as np

from edgeface.results import Face, FrameResult
from edgeface.runtime.tdmm import matrix_to_angles, p2srt, rotation_from_angles

# 68-point (iBUG 300-W / 3DDFA) contours: (start, end inclusive, closed)
CONTOURS_68: tuple[tuple[int, int, bool], ...] = (
    (0, 16, False),  # jaw
    (17, 21, False),  # right brow (image left)
    (22, 26, False),  # left brow
    (27, 35, False),  # nose: bridge 27-30, then the nostrils 31-35
    (36, 41, True),  # right eye
    (42, 47, True),  # left eye
    (48, 59, True),  # outer lips
    (60, 67, True),  # inner lips
)

BGR = tuple[int, int, int]


@dataclass
class Style:
    """What to draw and how. Sizes are in pixels; `for_image` scales them to the frame."""

    bbox: bool = True
    landmarks: bool = True
    contours: bool = True
    axes: bool = True
    label: bool = True
    dense: bool = True
    dense_step: int = 4  # draw every n-th dense vertex
    bbox_color: BGR = (0, 200, 0)
    tracked_color: BGR = (0, 200, 200)  # box colour when the ROI came from tracking
    point_color: BGR = (0, 0, 255)
    line_color: BGR = (255, 255, 255)
    dense_color: BGR = (255, 200, 60)
    text_color: BGR = (255, 255, 255)
    thickness: int = 2
    point_radius: int = 2
    font_scale: float = 0.6
    axis_scale: float = 0.5  # axis length as a fraction of the face size

    @classmethod
    def for_image(cls, shape: Sequence[int], **overrides) -> "Style":
        """Line widths / font sized for an image of `shape` (reference: 1280 px on the long side)."""
        k = max(int(shape[0]), int(shape[1])) / 1280.0
        base = cls(thickness=max(1, round(2 * k)), point_radius=max(1, round(2 * k)),
                   font_scale=max(0.35, 0.6 * k))
        return replace(base, **overrides)


def rotation_from_camera(camera: np.ndarray) -> np.ndarray:
    """3x3 rotation of a (3,4) camera [s*R | t]: rows 0,1 normalised, row 2 = their cross product
    (3DDFA_V2 P2sRt, `edgeface.runtime.tdmm.p2srt`)."""
    return p2srt(camera)[1]


def angles_from_rotation(rot: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees with 3DDFA_V2's formulas (matrix2angle, `edgeface.runtime.tdmm.matrix_to_angles`),
    gimbal cases included."""
    yaw, pitch, roll = matrix_to_angles(rot)
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def axis_endpoints(center: Sequence[float], rotation: np.ndarray, length: float) -> np.ndarray:
    """Image end points (3, 2) of the model x, y, z axes of `length` px drawn from `center`."""
    R = np.asarray(rotation, dtype=np.float64)
    d = np.stack([R[0, :], -R[1, :]], axis=1)  # column k of R -> image (x, -y)
    return np.asarray(center, dtype=np.float64)[None, :2] + length * d


def _pt(p) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def draw_bbox(img: np.ndarray, bbox: Sequence[float], color: BGR = (0, 200, 0), thickness: int = 2) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in bbox[:4])
    cv2.rectangle(img, _pt((x1, y1)), _pt((x2, y2)), color, thickness, cv2.LINE_AA)
    return img


def draw_landmarks(img: np.ndarray, landmarks: np.ndarray, contours: bool = True, point_color: BGR = (0, 0, 255),
                   line_color: BGR = (255, 255, 255), radius: int = 2, thickness: int = 1) -> np.ndarray:
    """68 (or any number of) points; for 68 points optionally the standard contour lines."""
    pts = np.round(np.asarray(landmarks, dtype=np.float64)[:, :2]).astype(np.int32)
    if contours and len(pts) == 68:
        open_lines = [pts[a:b + 1].reshape(-1, 1, 2) for a, b, closed in CONTOURS_68 if not closed]
        closed_lines = [pts[a:b + 1].reshape(-1, 1, 2) for a, b, closed in CONTOURS_68 if closed]
        cv2.polylines(img, open_lines, False, line_color, max(1, thickness), cv2.LINE_AA)
        cv2.polylines(img, closed_lines, True, line_color, max(1, thickness), cv2.LINE_AA)
    # each point as a zero-length segment with a round cap: one call draws all the dots
    dots = np.repeat(pts[:, None, :], 2, axis=1).reshape(-1, 2, 1, 2)
    cv2.polylines(img, list(dots), False, point_color, max(1, 2 * radius), cv2.LINE_AA)
    return img


def draw_pose_axes(img: np.ndarray, center: Sequence[float], rotation: Optional[np.ndarray] = None,
                   angles: Optional[Sequence[float]] = None, length: float = 60.0, thickness: int = 2) -> np.ndarray:
    """Draw x (red), y (green), z (blue) head axes at `center` from a 3x3 rotation or
    (yaw, pitch, roll) degrees in 3DDFA_V2's convention."""
    if rotation is None:
        if angles is None:
            raise ValueError("give rotation or angles")
        rotation = rotation_from_angles(*angles)
    ends = axis_endpoints(center, rotation, length)
    c = _pt(center)
    for end, color in zip(ends, ((0, 0, 255), (0, 200, 0), (255, 80, 0))):
        cv2.arrowedLine(img, c, _pt(end), color, thickness, cv2.LINE_AA, tipLength=0.15)
    return img


def _text_block(img: np.ndarray, lines: Sequence[str], org: tuple[int, int], font_scale: float, color: BGR,
                thickness: int, anchor_bottom: bool = False) -> np.ndarray:
    """Lines of text on a darkened box; org = top-left (or bottom-left when anchor_bottom)."""
    if not lines:
        return img
    font = cv2.FONT_HERSHEY_SIMPLEX
    sizes = [cv2.getTextSize(s, font, font_scale, thickness) for s in lines]
    line_h = max(h + b for (w, h), b in sizes) + max(2, int(4 * font_scale))
    width = max(w for (w, h), b in sizes) + 8
    height = line_h * len(lines) + 4
    x, y = org
    if anchor_bottom:
        y -= height
    H, W = img.shape[:2]
    x = int(min(max(0, x), max(0, W - width)))
    y = int(min(max(0, y), max(0, H - height)))
    x2, y2 = min(W, x + width), min(H, y + height)
    roi = img[y:y2, x:x2]
    if roi.size:
        roi[:] = cv2.convertScaleAbs(roi, alpha=0.4)  # darken the background for legibility
    for i, s in enumerate(lines):
        base = y + line_h * (i + 1) - sizes[i][1] - 1
        cv2.putText(img, s, (x + 4, base), font, font_scale, color, thickness, cv2.LINE_AA)
    return img


def face_label(face: Face) -> str:
    p = face.pose
    return (f"#{face.id} {face.score:.2f}  yaw {p.yaw:+.0f} pitch {p.pitch:+.0f} roll {p.roll:+.0f}"
            + ("  (tracked)" if face.tracked else ""))


def face_center(face: Face) -> np.ndarray:
    lm = np.asarray(face.landmarks, dtype=np.float64)
    if lm.ndim == 2 and len(lm):
        return lm[:, :2].mean(axis=0)
    b = np.asarray(face.bbox, dtype=np.float64)
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


def draw_dense_points(img: np.ndarray, vertices_2d: np.ndarray, color: BGR = (255, 200, 60), step: int = 1,
                      size: int = 1, alpha: float = 1.0) -> np.ndarray:
    """Set the pixels under dense vertices (N, >=2) in place; every `step`-th vertex, `size`x`size` dots,
    blended with `alpha`. Pure numpy indexing (no per-point calls); off-image points are skipped."""
    v = np.asarray(vertices_2d)[:: max(1, int(step)), :2]
    if v.size == 0:
        return img
    xy = np.rint(v).astype(np.int64)
    if size > 1:
        offs = np.arange(size) - (size - 1) // 2
        grid = np.stack(np.meshgrid(offs, offs, indexing="xy"), axis=-1).reshape(-1, 2)
        xy = (xy[:, None, :] + grid[None, :, :]).reshape(-1, 2)
    H, W = img.shape[:2]
    ok = (xy[:, 0] >= 0) & (xy[:, 0] < W) & (xy[:, 1] >= 0) & (xy[:, 1] < H)
    xs, ys = xy[ok, 0], xy[ok, 1]
    col = np.asarray(color, dtype=np.float32)
    if alpha >= 1.0:
        img[ys, xs] = col.astype(img.dtype)
    else:
        img[ys, xs] = (img[ys, xs] * (1.0 - alpha) + col * alpha).astype(img.dtype)
    return img


def draw_face(img: np.ndarray, face: Face, style: Style) -> np.ndarray:
    """One face in place: dense points, box, landmarks, axes, label (as enabled in `style`)."""
    size = float(np.sqrt(max(1.0, (face.bbox[2] - face.bbox[0]) * (face.bbox[3] - face.bbox[1]))))
    if style.dense and face.dense is not None:
        draw_dense_points(img, face.dense, style.dense_color, step=style.dense_step, size=1)
    if style.bbox:
        draw_bbox(img, face.bbox, style.tracked_color if face.tracked else style.bbox_color, style.thickness)
    if style.landmarks and face.landmarks is not None:
        draw_landmarks(img, face.landmarks, contours=style.contours, point_color=style.point_color,
                       line_color=style.line_color, radius=style.point_radius,
                       thickness=max(1, style.thickness // 2))
    if style.axes:
        p = face.pose
        draw_pose_axes(img, face_center(face), angles=(p.yaw, p.pitch, p.roll),
                       length=style.axis_scale * size, thickness=style.thickness)
    if style.label:
        org = (int(face.bbox[0]), int(face.bbox[1]) - style.thickness)
        _text_block(img, [face_label(face)], org, style.font_scale * 0.85, style.text_color,
                    max(1, style.thickness // 2), anchor_bottom=True)
    return img


def hud_lines(fps: Optional[float] = None, time_ms: Optional[Mapping[str, float]] = None,
              extra: Optional[Mapping[str, object]] = None) -> list[str]:
    lines = []
    if fps is not None:
        lines.append(f"{fps:5.1f} fps")
    if time_ms:
        lines.append("  ".join(f"{k} {float(v):.1f}" for k, v in time_ms.items()) + " ms")
    for k, v in (extra or {}).items():
        lines.append(f"{k}: {v}")
    return lines


def draw_hud(img: np.ndarray, fps: Optional[float] = None, time_ms: Optional[Mapping[str, float]] = None,
             extra: Optional[Mapping[str, object]] = None, style: Optional[Style] = None) -> np.ndarray:
    """Top-left block: fps, per-stage milliseconds, extra key: value lines (in place)."""
    style = style or Style.for_image(img.shape)
    pad = 4 * style.thickness
    return _text_block(img, hud_lines(fps, time_ms, extra), (pad, pad), style.font_scale, (255, 255, 255),
                       max(1, style.thickness // 2))


def draw_result(image: np.ndarray, result: FrameResult, style: Optional[Style] = None, hud: bool = True,
                fps: Optional[float] = None, extra: Optional[Mapping[str, object]] = None,
                in_place: bool = False, dense_points: bool = True) -> np.ndarray:
    """Annotate a BGR frame with every face of `result` (+ a HUD with fps and result.time_ms).
    Returns a copy unless in_place. `dense_points=False`: leave the dense vertices out (the image
    already shows the rendered mesh, `viz.dense_overlay.DenseOverlay`; dots on it look speckled)."""
    img = image if in_place else image.copy()
    style = style or Style.for_image(img.shape)
    if not dense_points and style.dense:
        style = dataclasses.replace(style, dense=False)
    for face in result.faces:
        draw_face(img, face, style)
    if hud:
        draw_hud(img, fps=fps, time_ms=result.time_ms, extra=extra, style=style)
    return img
