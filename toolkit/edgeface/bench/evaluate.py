"""`edgeface eval`: 68-landmark accuracy (NME) of the converted models on annotated photos.

Data: a folder of images with iBUG `.pts` files beside them (`annotations.py`). Per precision
(`fp32`, `int8`, ...; `onnx` = the ONNX originals under onnxruntime) the pipeline of `edgeface run`
is applied to each image: detector (same precision) -> ROI from the box -> regressor -> 68
landmarks in the image (x, y; z dropped); the metrics (`metrics.py`) score them.

A ground-truth face paired with a detection (`metrics.match_faces`) is *found*; detector recall =
found / all faces. Unpaired detections are counted as `unmatched_detections` (faces without
annotation, or false positives). NME statistics are over found faces only (a missed face has no
landmarks to score; it shows in the recall). `roi="landmarks"` instead takes the regressor ROI from
the ground-truth points (as tracking does from the previous frame, `roi.roi_from_landmarks`): the
regressor's accuracy without the detector.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from edgeface.bench.annotations import AnnotatedImage, find_annotated_images, parse_pts
from edgeface.bench.metrics import FAIL_THRESHOLD, MATCH_RULE, match_faces, nme, nme_summary
from edgeface.errors import EdgefaceError
from edgeface.hub import store
from edgeface.runtime.boxes import iou, points_box
from edgeface.vocab import detector_name

FORMAT = "edgeface-eval/1"


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

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EvalReport:
    dataset: str
    images: int
    faces: int
    results: List[PrecisionEval]
    orphan_annotations: List[str]

    def to_dict(self) -> dict:
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
            "results": [r.to_dict() for r in self.results],
            "orphan_annotations": self.orphan_annotations,
        }


def _backends(precision: str, regressor: str, detector: str, root: Optional[Path], threads: int):
    if precision == "onnx":
        from edgeface.bench.cases import onnx_original
        from edgeface.runtime.onnx_backend import OnnxModel

        det_p, reg_p = onnx_original(detector, root), onnx_original(regressor, root)
        for p in (det_p, reg_p):
            if not p.is_file():
                raise EdgefaceError(f"{p.name} is not in the cache; run `edgeface export` (needed for --precision onnx)")
        return OnnxModel(det_p, num_threads=threads), OnnxModel(reg_p, num_threads=threads), det_p, reg_p
    from edgeface.runtime.tflite_backend import TFLiteModel

    det_p = store.find_model(detector, precision, root)
    reg_p = store.find_model(regressor, precision, root)
    return TFLiteModel(det_p, threads), TFLiteModel(reg_p, threads), det_p, reg_p


def predict_landmarks(regressor, bases, frame: np.ndarray, roi) -> np.ndarray:
    """68 x 2 image points of the face in `roi` (regressor -> 3DMM -> sparse landmarks -> image)."""
    from edgeface.runtime import tdmm

    params = regressor(frame, roi)
    pts = tdmm.to_image(tdmm.sparse_landmarks(params, bases.u, bases.w_shp, bases.w_exp), roi)
    return pts[:2].T.astype(np.float64)


def evaluate_precision(items: Sequence[AnnotatedImage], precision: str, regressor: str = "mb05",
                       detector: str = "faceboxes_640x480", roi: str = "detector", root: Optional[Path] = None,
                       threads: int = 1) -> PrecisionEval:
    from edgeface.hub import assets
    from edgeface.runtime.networks import FaceDetector, LandmarkRegressor
    from edgeface.runtime.roi import roi_from_bbox, roi_from_landmarks
    from edgeface.io.images import read_image

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
        gt_boxes = [points_box(g) for g in gts]
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
                box_iou = iou(box, gt_boxes[k])
            else:
                r = roi_from_landmarks(gt)
                box_iou = None
            pred = predict_landmarks(reg, bases, frame, r)
            faces.append(FaceEval(item.image.name, pts_path.name, True, box_iou, nme(pred, gt, "bbox"), nme(pred, gt, "interocular")))
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
    items, orphans = find_annotated_images(folder)
    detector = detector_name(*detector_size)
    results = [evaluate_precision(items, p, regressor, detector, roi, root, threads) for p in precisions]
    return EvalReport(dataset=str(Path(folder)), images=len(items), faces=sum(len(i.annotations) for i in items),
                      results=results, orphan_annotations=[p.name for p in orphans])


def load_report(path: Union[str, Path]) -> dict:
    """A saved `EvalReport.to_dict()` (checked by its format tag)."""
    from edgeface.bench.report import read_report

    return read_report(path, FORMAT, "eval")
