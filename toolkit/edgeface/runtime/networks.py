"""The two networks of the pipeline behind one interface, whatever runs them (TFLite or ONNX).

`FaceDetector`: frame -> letterbox -> FaceBoxes -> boxes in frame pixels.
`LandmarkRegressor`: frame + ROI -> 120x120 crop -> 62 de-normalized 3DMM params.
Both take a backend with `run(raw_bgr_nhwc_uint8) -> {name: float32 array}`
(`interpreter.TFLiteModel` or `onnx_backend.OnnxModel`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from edgeface.runtime import detection
from edgeface.runtime import roi as roi_mod
from edgeface.runtime import tdmm
from edgeface.errors import EdgefaceError

REGRESSOR_SIZE = 120


def _pick_detector_outputs(outputs: dict) -> tuple:
    """(loc, conf) by name when present, else by shape (last dim 4 vs 2), never by order."""
    if "loc" in outputs and "conf" in outputs:
        return outputs["loc"], outputs["conf"]
    loc = [v for v in outputs.values() if v.shape[-1] == 4]
    conf = [v for v in outputs.values() if v.shape[-1] == 2]
    if len(loc) != 1 or len(conf) != 1:
        raise EdgefaceError(f"detector outputs {[(k, v.shape) for k, v in outputs.items()]} are not (loc [...,4], conf [...,2])")
    return loc[0], conf[0]


@dataclass
class Detections:
    boxes: np.ndarray  # (K, 4) x1, y1, x2, y2 frame pixels, best first
    scores: np.ndarray  # (K,)


class FaceDetector:
    def __init__(self, backend, config: Optional[detection.DetectorConfig] = None):
        self.backend = backend
        shape = tuple(backend.input_shape)
        # TFLite: NHWC (1, H, W, 3); ONNX: NCHW (1, 3, H, W)
        h, w = (shape[1], shape[2]) if shape[-1] == 3 else (shape[2], shape[3])
        cfg = config or detection.DetectorConfig()
        self.config = replace(cfg, width=int(w), height=int(h))
        self.priors = detection.priors(self.config.width, self.config.height)

    def letterbox(self, frame: np.ndarray):
        cfg = self.config
        return detection.letterbox(frame, cfg.width, cfg.height, cfg.pad_value, cfg.exact_resize)

    def detect_letterboxed(self, canvas: np.ndarray, lb) -> tuple:
        """(boxes, scores) in frame pixels from a canvas made by `letterbox` (`lb` its geometry)."""
        loc, conf = _pick_detector_outputs(self.backend.run(canvas))
        return detection.postprocess_with_config(loc, conf, self.priors, lb, self.config)

    def __call__(self, frame: np.ndarray) -> Detections:
        return Detections(*self.detect_letterboxed(*self.letterbox(frame)))


class LandmarkRegressor:
    """Crop + regressor + de-normalization; `params_mean/std` from the param_stats asset.
    `exact_resize`: crops resized with cv2.INTER_LINEAR_EXACT (cross-CPU parity) instead of INTER_LINEAR."""

    def __init__(self, backend, params_mean: np.ndarray, params_std: np.ndarray, exact_resize: bool = False):
        self.backend = backend
        self.exact_resize = bool(exact_resize)
        self.mean = np.asarray(params_mean, np.float32)
        self.std = np.asarray(params_std, np.float32)

    def crop(self, frame: np.ndarray, roi: np.ndarray) -> np.ndarray:
        return roi_mod.crop_square(frame, roi, REGRESSOR_SIZE, self.exact_resize)

    def params_from_crop(self, crop: np.ndarray) -> np.ndarray:
        out = next(iter(self.backend.run(crop).values())).reshape(-1)
        if out.dtype != np.float32 or out.shape != self.mean.shape or self.std.shape != self.mean.shape:
            return tdmm.denormalize(out, self.mean, self.std)  # converts, or says what does not fit
        params = out * self.std  # tdmm.denormalize's output * std + mean, without its per-call checks
        params += self.mean
        return params

    def __call__(self, frame: np.ndarray, roi: np.ndarray) -> np.ndarray:
        return self.params_from_crop(self.crop(frame, roi))
