"""The benchmark inputs (`BenchInputs`) from the first frame of the sample video (`make_inputs`).

Its letterbox for each detector size, and the 120x120 crop of the highest-scoring face, made by the
runtime's own preprocessing (`roi.crop_roi`, as `networks.LandmarkRegressor.crop`, and
`detection.letterbox`). Made once by the parent process (`runner.run_bench`); the workers only load them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.hub import store
from edgeface.hub.assets import sample_path
from edgeface.runtime import detection
from edgeface.runtime.networks import REGRESSOR_SIZE, FaceDetector
from edgeface.runtime.onnx_backend import OnnxModel
from edgeface.runtime.roi import crop_roi, roi_from_bbox
from edgeface.runtime.tflite_backend import TFLiteModel
from edgeface.sources.video import open_video
from edgeface.tools.bench.latency.cases import TFLITE_VARIANTS, onnx_original
from edgeface.tools.bench.latency.inputs import BenchInputs
from edgeface.vocab import detector_name, parse_detector_name


def _first_frame(video: Path) -> np.ndarray:
    with open_video(video, max_frames=1) as src:
        for f in src:
            return f.image
    raise EdgefaceError(f"no frame could be read from {video}")


def _face_detector(name: str, root: Optional[Path]):
    """The most exact detector at hand: TFLite float32, else the ONNX original, else any TFLite."""
    p = store.model_path(name, "float32", root)
    if p.is_file():
        return FaceDetector(TFLiteModel(p))
    onnx = onnx_original(name, root)
    if onnx.is_file():
        try:
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
