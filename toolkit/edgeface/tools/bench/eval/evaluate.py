"""`edgeface bench eval`: 68-landmark accuracy (NME) of the converted models on annotated photos.

Data: a folder of images with iBUG `.pts` files beside them (`annotations.py`). Per precision
(`fp32`, `int8`, ...; `onnx` = the ONNX originals under onnxruntime) each image goes through
`edgeface.FaceAligner` in IMAGE mode, built as `edgeface run` builds it for photos (target profile,
still-image detector, landmark re-crop, flip TTA: runtime/still.py), so the numbers are the
product's; the 68 landmarks (x, y; z dropped) are scored by the metrics (`metrics.py`).

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

from edgeface.aligner import FaceAligner
from edgeface.errors import EdgefaceError
from edgeface.runtime.boxes import iou, points_box
from edgeface.runtime.roi import roi_from_landmarks
from edgeface.sources.image_header import DEFAULT_MAX_PIXELS
from edgeface.sources.images import read_image
from edgeface.tools.bench.eval.annotations import AnnotatedImage, find_annotated_images, parse_pts
from edgeface.tools.bench.eval.metrics import FAIL_THRESHOLD, MATCH_RULE, match_faces, nme, nme_summary
from edgeface.tools.bench.report import read_report

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
    skipped: List[str] = field(default_factory=list)  # images that could not be read: "<name>: <why>"

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


def make_aligner(precision: str, regressor: str = "mb05", detector_size: Optional[Tuple[int, int]] = None,
                 root: Optional[Path] = None, threads: int = 1, target: str = "auto", still=None):
    """The `edgeface.FaceAligner` (IMAGE mode) that `edgeface run --precision P` builds for photos;
    `precision="onnx"`: the same with the ONNX originals (backend onnx)."""
    kw = {"backend": "onnx"} if precision == "onnx" else {"precision": precision}
    return FaceAligner.create(regressor=regressor, detector_size=detector_size, cache_root=root, threads=threads,
                              target=target, running_mode="image", still=still, **kw)


def evaluate_precision(items: Sequence[AnnotatedImage], precision: str, regressor: str = "mb05",
                       detector_size: Optional[Tuple[int, int]] = None, roi: str = "detector",
                       root: Optional[Path] = None, threads: int = 1, target: str = "auto", still=None,
                       max_pixels: int = DEFAULT_MAX_PIXELS) -> PrecisionEval:
    """One precision through `make_aligner`: `roi="detector"` scores `aligner.detect(image)`, exactly
    what `edgeface run` reports for the photo; `roi="landmarks"` runs the aligner's regressor on the
    ROI of the ground-truth points (the regressor's accuracy without the detector). An image that cannot
    be read, or declares more than `max_pixels` pixels, is skipped and listed in `skipped`."""
    if roi not in ("detector", "landmarks"):
        raise EdgefaceError(f"unknown ROI source '{roi}': use detector or landmarks")
    faces: List[FaceEval] = []
    skipped: List[str] = []
    unmatched = 0
    with make_aligner(precision, regressor, detector_size, root, threads, target, still) as aligner:
        pipe = aligner.pipeline
        for item in items:
            try:
                frame = read_image(item.image, max_pixels)
            except EdgefaceError as e:  # a corrupt or oversized image: skipped and counted, as `edgeface run` does
                skipped.append(f"{item.image.name}: {e}")
                continue
            gts = [parse_pts(p) for p in item.annotations]
            gt_boxes = [points_box(g) for g in gts]
            if roi == "detector":
                found = aligner.detect(frame, source=item.image.name).faces
                pairs = match_faces(gt_boxes, [f.bbox for f in found])
                unmatched += len(found) - sum(j is not None for j in pairs)
            for k, (gt, pts_path) in enumerate(zip(gts, item.annotations)):
                if roi == "landmarks":
                    r = roi_from_landmarks(gt)
                    pred, box_iou = pipe.landmarks(pipe.regressor(frame, r), r)[:, :2], None
                elif pairs[k] is None:
                    faces.append(FaceEval(item.image.name, pts_path.name, False, None, None, None))
                    continue
                else:
                    face = found[pairs[k]]
                    pred, box_iou = face.landmarks[:, :2], iou(face.bbox, gt_boxes[k])
                pred = np.asarray(pred, np.float64)
                faces.append(FaceEval(item.image.name, pts_path.name, True, box_iou, nme(pred, gt, "bbox"),
                                      nme(pred, gt, "interocular")))
        info = aligner.describe()  # after the photos: the still detector is loaded on the first one
    n_found = sum(f.found for f in faces)
    det_model = info.get("still_detector_model", info.get("detector_model", ""))
    return PrecisionEval(
        precision=precision, detector=Path(det_model).name, regressor=Path(info.get("regressor_model", "")).name,
        roi=roi, faces_total=len(faces), faces_found=n_found, detector_recall=n_found / len(faces) if faces else 0.0,
        unmatched_detections=unmatched,
        nme_bbox=nme_summary([f.nme_bbox for f in faces if f.found]),
        nme_interocular=nme_summary([f.nme_interocular for f in faces if f.found]),
        faces=faces, skipped=skipped,
    )


def evaluate(folder: Union[str, Path], precisions: Sequence[str] = ("fp32", "int8"), regressor: str = "mb05",
             detector_size: Optional[Tuple[int, int]] = None, roi: str = "detector", root: Optional[Path] = None,
             threads: int = 1, target: str = "auto", still=None, max_pixels: int = DEFAULT_MAX_PIXELS) -> EvalReport:
    """NME of the 68 landmarks per precision on a folder of images with .pts files (see the module doc).
    `detector_size`, `target`, `still` (a `runtime.still.StillConfig`): as `edgeface run` / `FaceAligner`."""
    items, orphans = find_annotated_images(folder)
    results = [evaluate_precision(items, p, regressor, detector_size, roi, root, threads, target, still, max_pixels)
               for p in precisions]
    return EvalReport(dataset=str(Path(folder)), images=len(items), faces=sum(len(i.annotations) for i in items),
                      results=results, orphan_annotations=[p.name for p in orphans])


def load_report(path: Union[str, Path]) -> dict:
    """A saved `EvalReport.to_dict()` (checked by its format tag)."""
    return read_report(path, FORMAT, "eval")
