"""`edgeface eval`: 68-landmark accuracy (NME) of the converted models on annotated photos.

Data: a folder of images with iBUG `.pts` files beside them (`<stem>.pts` for one face, or
`<stem>_<k>.pts` for face k): `version: 1`, `n_points: 68`, `{`, 68 lines `x y`, `}`. Points are
taken as 0-based pixel coordinates (dlib / menpo convention; 300W's original files are 1-based:
subtract 1 from them first, the error it makes is 1 px).

Per precision (`fp32`, `int8`, ...; `onnx` = the ONNX originals under onnxruntime) the pipeline
of `edgeface run` is applied to each image: detector (same precision) -> ROI from the box ->
regressor -> 68 landmarks in the image (x, y; z dropped).

Matching (`match_faces`): each ground-truth face has a *landmark box* (the bounding box of its 68
points). Detections and ground-truth faces are paired one to one, greedily by decreasing IoU
between the detection box and the landmark box, and a pair counts only if IoU >= `MATCH_IOU` (0.3).
A ground-truth face with a pair is *found*; detector recall = found / all faces. Unpaired
detections are counted as `unmatched_detections` (faces without annotation, or false positives).

NME of one face (`nme`): mean over the 68 points of the 2-D Euclidean error, divided by
  - `bbox`: sqrt(w * h) of the ground-truth landmark box (the 3DDFA / AFLW2000-3D convention), or
  - `interocular`: distance between the outer eye corners, points 36 and 45 (0-based iBUG order).
A face *fails* when its NME > 10% (`FAIL_THRESHOLD`, per normalization). NME statistics are over
found faces only (a missed face has no landmarks to score; it shows in the recall).
`roi="landmarks"` instead takes the regressor ROI from the ground-truth points (as tracking does
from the previous frame, `roi.roi_from_landmarks`): the regressor's accuracy without the detector.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import EdgefaceError

N_POINTS = 68
MATCH_IOU = 0.3
FAIL_THRESHOLD = 0.10
OUTER_EYE_CORNERS = (36, 45)
NORMALIZATIONS = ("bbox", "interocular")
FORMAT = "edgeface-eval/1"
MATCH_RULE = (f"one-to-one greedy by IoU between detection box and ground-truth landmark box; a pair counts "
              f"if IoU >= {MATCH_IOU}")


# ----------------------------------------------------------------------------- .pts files

def parse_pts(path: Union[str, Path], n_points: Optional[int] = N_POINTS) -> np.ndarray:
    """Points `(N, 2)` float64 of an iBUG `.pts` file; a malformed file is a one-line EdgefaceError.

    Accepted: optional header lines `key: value` (`version`, `n_points`), `{`, one `x y` per line,
    `}`; blank lines anywhere. `n_points` in the header must match the lines given, and, unless
    `n_points` is None here, equal it.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as e:
        raise EdgefaceError(f"cannot read landmark file {p} ({type(e).__name__}): give a readable iBUG .pts text file") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    try:
        start = lines.index("{")
    except ValueError:
        raise EdgefaceError(f"{p.name}: no '{{' line opening the points (iBUG .pts: version/n_points header, '{{', 'x y' lines, '}}')") from None
    if "}" not in lines[start + 1:]:
        raise EdgefaceError(f"{p.name}: no '}}' line closing the points; the file is truncated or not iBUG .pts")
    end = lines.index("}", start + 1)
    header: Dict[str, str] = {}
    for ln in lines[:start]:
        if ":" not in ln:
            raise EdgefaceError(f"{p.name}: header line {ln[:40]!r} is not 'key: value'; not an iBUG .pts file")
        k, v = ln.split(":", 1)
        header[k.strip().lower()] = v.strip()
    pts = []
    for i, ln in enumerate(lines[start + 1:end]):
        parts = ln.replace(",", " ").split()
        if len(parts) != 2:
            raise EdgefaceError(f"{p.name}: point line {i + 1} {ln[:40]!r} does not have exactly 2 numbers 'x y'")
        try:
            xy = (float(parts[0]), float(parts[1]))
        except ValueError:
            raise EdgefaceError(f"{p.name}: point line {i + 1} {ln[:40]!r} is not two numbers") from None
        if not all(math.isfinite(v) for v in xy):
            raise EdgefaceError(f"{p.name}: point line {i + 1} has a non-finite value")
        pts.append(xy)
    if "n_points" in header:
        try:
            declared = int(header["n_points"])
        except ValueError:
            raise EdgefaceError(f"{p.name}: n_points {header['n_points']!r} is not an integer") from None
        if declared != len(pts):
            raise EdgefaceError(f"{p.name}: header says n_points {declared} but {len(pts)} points are listed")
    if n_points is not None and len(pts) != n_points:
        raise EdgefaceError(f"{p.name}: {len(pts)} points, expected {n_points} (the 68-point iBUG markup)")
    if not pts:
        raise EdgefaceError(f"{p.name}: no points between '{{' and '}}'")
    return np.asarray(pts, dtype=np.float64)


@dataclass
class AnnotatedImage:
    image: Path
    annotations: List[Path]  # .pts files, one face each


def find_annotated_images(folder: Union[str, Path]) -> Tuple[List[AnnotatedImage], List[Path]]:
    """(images with their .pts files, .pts files matching no image) of a folder.

    A `.pts` belongs to the image with the same stem, else (`<stem>_<k>.pts`, k digits) to the
    image named `<stem>`.
    """
    from .sources import IMAGE_EXTS

    d = Path(folder).expanduser()
    if not d.is_dir():
        raise EdgefaceError(f"evaluation folder {d} does not exist or is not a folder: give a folder of images with .pts files")
    images = {p.stem: p for p in sorted(d.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_EXTS}
    found: Dict[str, List[Path]] = {}
    orphans = []
    for pts in sorted(d.glob("*.pts")):
        stem = pts.stem
        if stem in images:
            found.setdefault(stem, []).append(pts)
            continue
        m = re.fullmatch(r"(.+)_(\d+)", stem)
        if m and m.group(1) in images:
            found.setdefault(m.group(1), []).append(pts)
        else:
            orphans.append(pts)
    items = [AnnotatedImage(images[s], sorted(found[s])) for s in sorted(found)]
    if not items:
        raise EdgefaceError(f"no image in {d} has a .pts annotation (<stem>.pts or <stem>_<k>.pts beside <stem>.jpg)")
    return items, orphans


# ----------------------------------------------------------------------------- pure geometry and statistics

def landmark_box(points) -> np.ndarray:
    """(x1, y1, x2, y2) bounding box of points `(N, 2)`."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or p.shape[0] == 0:
        raise EdgefaceError(f"points must have shape (N, 2), got {p.shape}")
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])


def box_iou(a, b) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2) (continuous coordinates)."""
    a = np.asarray(a, dtype=np.float64)[:4]
    b = np.asarray(b, dtype=np.float64)[:4]
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def match_faces(gt_boxes: Sequence, det_boxes: Sequence, iou_threshold: float = MATCH_IOU) -> List[Optional[int]]:
    """For each ground-truth box, the index of its detection (or None).

    One to one, greedy: the pair with the highest IoU first, then the next among the unpaired;
    pairs with IoU < `iou_threshold` are never made. Ties go to the lower indices.
    """
    g, d = len(gt_boxes), len(det_boxes)
    out: List[Optional[int]] = [None] * g
    if g == 0 or d == 0:
        return out
    ious = np.array([[box_iou(gb, db) for db in det_boxes] for gb in gt_boxes])
    order = sorted(((ious[i, j], i, j) for i in range(g) for j in range(d)), key=lambda t: (-t[0], t[1], t[2]))
    used_d = set()
    for iou, i, j in order:
        if iou < iou_threshold:
            break
        if out[i] is None and j not in used_d:
            out[i] = j
            used_d.add(j)
    return out


def bbox_norm(gt) -> float:
    """sqrt(w * h) of the landmark bounding box of `gt` (N, 2)."""
    x1, y1, x2, y2 = landmark_box(gt)
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


# ----------------------------------------------------------------------------- running the models

@dataclass
class FaceEval:
    image: str
    annotation: str
    found: bool
    iou: Optional[float]
    nme_bbox: Optional[float]
    nme_interocular: Optional[float]


@dataclass
class PrecisionEval:
    precision: str  # fp32 | int8 | ... | onnx
    detector: str
    regressor: str
    roi: str
    faces_total: int
    faces_found: int
    detector_recall: float
    unmatched_detections: int
    nme_bbox: dict
    nme_interocular: dict
    faces: List[FaceEval] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class EvalReport:
    dataset: str
    images: int
    faces: int
    results: List[PrecisionEval]
    orphan_annotations: List[str]

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "dataset": self.dataset,
            "images": self.images,
            "faces": self.faces,
            "match_rule": MATCH_RULE,
            "normalizations": {
                "bbox": "sqrt(w*h) of the ground-truth 68-point bounding box (3DDFA AFLW2000-3D convention), 2-D points",
                "interocular": "distance between outer eye corners, points 36 and 45 (0-based iBUG)",
            },
            "fail_threshold": FAIL_THRESHOLD,
            "results": [r.to_json() for r in self.results],
            "orphan_annotations": self.orphan_annotations,
        }


def _backends(precision: str, regressor: str, detector: str, root: Optional[Path], threads: int):
    from . import store

    if precision == "onnx":
        from .bench import _onnx_original
        from .onnx_backend import OnnxModel

        det_p, reg_p = _onnx_original(detector, root), _onnx_original(regressor, root)
        for p in (det_p, reg_p):
            if not p.is_file():
                raise EdgefaceError(f"{p.name} is not in the cache; run `edgeface export` (needed for --precision onnx)")
        return OnnxModel(det_p, num_threads=threads), OnnxModel(reg_p, num_threads=threads), det_p, reg_p
    from .interpreter import TFLiteModel

    det_p = store.find_model(detector, precision, root)
    reg_p = store.find_model(regressor, precision, root)
    return TFLiteModel(det_p, threads), TFLiteModel(reg_p, threads), det_p, reg_p


def predict_landmarks(regressor, bases, frame: np.ndarray, roi) -> np.ndarray:
    """68 x 2 image points of the face in `roi` (regressor -> 3DMM -> sparse landmarks -> image)."""
    from . import tdmm

    params = regressor(frame, roi)
    pts = tdmm.to_image(tdmm.sparse_landmarks(params, bases.u, bases.w_shp, bases.w_exp), roi)
    return pts[:2].T.astype(np.float64)


def evaluate_precision(items: Sequence[AnnotatedImage], precision: str, regressor: str = "mb05",
                       detector: str = "faceboxes_640x480", roi: str = "detector", root: Optional[Path] = None,
                       threads: int = 1) -> PrecisionEval:
    from . import assets
    from .models import FaceDetector, LandmarkRegressor
    from .roi import roi_from_bbox, roi_from_landmarks
    from .sources import read_image

    if roi not in ("detector", "landmarks"):
        raise EdgefaceError(f"unknown ROI source '{roi}': use detector or landmarks")
    det_b, reg_b, det_p, reg_p = _backends(precision, regressor, detector, root, threads)
    stats = assets.load_param_stats(root)
    bases = assets.load_sparse_bases(root)
    det = FaceDetector(det_b)
    reg = LandmarkRegressor(reg_b, stats.mean, stats.std)
    faces: List[FaceEval] = []
    unmatched = 0
    for item in items:
        frame = read_image(item.image)
        gts = [parse_pts(p) for p in item.annotations]
        gt_boxes = [landmark_box(g) for g in gts]
        if roi == "detector":
            dets = det(frame)
            pairs = match_faces(gt_boxes, list(dets.boxes))
            unmatched += len(dets.boxes) - sum(j is not None for j in pairs)
        else:
            pairs = [None] * len(gts)
        for k, (gt, pts_path) in enumerate(zip(gts, item.annotations)):
            j = pairs[k]
            if roi == "detector" and j is None:
                faces.append(FaceEval(item.image.name, pts_path.name, False, None, None, None))
                continue
            if roi == "detector":
                box = dets.boxes[j]
                r = roi_from_bbox(box)
                iou = box_iou(box, gt_boxes[k])
            else:
                r = roi_from_landmarks(gt)
                iou = None
            pred = predict_landmarks(reg, bases, frame, r)
            faces.append(FaceEval(item.image.name, pts_path.name, True, iou, nme(pred, gt, "bbox"), nme(pred, gt, "interocular")))
    found = sum(f.found for f in faces)
    return PrecisionEval(
        precision=precision, detector=Path(det_p).name, regressor=Path(reg_p).name, roi=roi,
        faces_total=len(faces), faces_found=found, detector_recall=found / len(faces) if faces else 0.0,
        unmatched_detections=unmatched,
        nme_bbox=nme_summary([f.nme_bbox for f in faces if f.found]),
        nme_interocular=nme_summary([f.nme_interocular for f in faces if f.found]),
        faces=faces,
    )


def evaluate(folder: Union[str, Path], precisions: Sequence[str] = ("fp32", "int8"), regressor: str = "mb05",
             detector_size: Tuple[int, int] = (640, 480), roi: str = "detector", root: Optional[Path] = None,
             threads: int = 1) -> EvalReport:
    """NME of the 68 landmarks per precision on a folder of images with .pts files (see the module doc)."""
    from . import store

    items, orphans = find_annotated_images(folder)
    detector = store.detector_name(*detector_size)
    results = [evaluate_precision(items, p, regressor, detector, roi, root, threads) for p in precisions]
    return EvalReport(dataset=str(Path(folder)), images=len(items), faces=sum(len(i.annotations) for i in items),
                      results=results, orphan_annotations=[p.name for p in orphans])


def load_report(path: Union[str, Path]) -> dict:
    """A saved `EvalReport.to_json()` (checked by its format tag)."""
    import json

    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise EdgefaceError(f"cannot read eval JSON {path} ({e})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise EdgefaceError(f"{path} is not an edgeface eval report (expected format {FORMAT})")
    return d
