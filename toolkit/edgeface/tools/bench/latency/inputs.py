"""The real inputs every benchmark case is timed on (`BenchInputs`, `make_inputs`).

From the first frame of the sample video: its letterbox for each detector size, and the 120x120
crop of the highest-scoring face, made by the runtime's own preprocessing
(`roi.crop_roi`, as `networks.LandmarkRegressor.crop`, and `detection.letterbox`). Saved as one .npz that every worker
process loads, so isolated and in-process cases time the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from edgeface.tools.bench.latency.cases import TFLITE_VARIANTS, onnx_original
from edgeface.errors import EdgefaceError
from edgeface.hub import store
from edgeface.vocab import detector_name, parse_detector_name


@dataclass
class BenchInputs:
    crop: np.ndarray  # (120, 120, 3) uint8 BGR face crop
    frames: Dict[str, np.ndarray]  # detector name -> (H, W, 3) uint8 letterboxed frame
    source: str

    def save(self, path: Path) -> None:
        np.savez(path, crop=self.crop, **{f"frame__{k}": v for k, v in self.frames.items()}, source=np.array(self.source))

    @classmethod
    def load(cls, path: Path) -> "BenchInputs":
        with np.load(path, allow_pickle=False) as z:
            frames = {k[len("frame__"):]: z[k] for k in z.files if k.startswith("frame__")}
            return cls(crop=z["crop"], frames=frames, source=str(z["source"]))


def _first_frame(video: Path) -> np.ndarray:
    from edgeface.sources.video import open_video

    with open_video(video, max_frames=1) as src:
        for f in src:
            return f.image
    raise EdgefaceError(f"no frame could be read from {video}")


def _face_detector(name: str, root: Optional[Path]):
    """The most exact detector at hand: TFLite float32, else the ONNX original, else any TFLite."""
    from edgeface.runtime.tflite_backend import TFLiteModel
    from edgeface.runtime.networks import FaceDetector

    p = store.model_path(name, "float32", root)
    if p.is_file():
        return FaceDetector(TFLiteModel(p))
    onnx = onnx_original(name, root)
    if onnx.is_file():
        try:
            from edgeface.runtime.onnx_backend import OnnxModel

            return FaceDetector(OnnxModel(onnx))
        except EdgefaceError:
            pass
    for v in TFLITE_VARIANTS:
        p = store.model_path(name, v, root)
        if p.is_file():
            return FaceDetector(TFLiteModel(p))
    raise EdgefaceError(f"no {name} detector in the cache to find the face for the regressor input; run `edgeface convert --model faceboxes`")


def make_inputs(detectors: Sequence[str], root: Optional[Path] = None, video: Optional[Path] = None) -> BenchInputs:
    """Real inputs from the first frame of the sample video: its letterbox for each detector size,
    and the 120x120 crop of the highest-scoring face (the pipeline's own preprocessing)."""
    from edgeface.runtime import detection
    from edgeface.hub.assets import sample_path
    from edgeface.runtime.networks import REGRESSOR_SIZE
    from edgeface.runtime.roi import crop_roi, roi_from_bbox

    video = Path(video) if video else sample_path("obama", root)
    frame = _first_frame(video)
    frames = {}
    for name in detectors:
        w, h = parse_detector_name(name)
        frames[name] = detection.letterbox(frame, w, h)[0].copy()
    det_name = detectors[0] if detectors else detector_name()
    dets = _face_detector(det_name, root)(frame)
    if len(dets.boxes) == 0:
        raise EdgefaceError(f"no face found in the first frame of {video}; give a video with a face")
    crop = crop_roi(frame, roi_from_bbox(dets.boxes[0]), REGRESSOR_SIZE)[0]
    return BenchInputs(crop=np.ascontiguousarray(crop), frames=frames, source=f"{video.name} frame 0")
