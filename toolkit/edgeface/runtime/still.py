"""Still images (IMAGE mode, `Pipeline.process(frame, still=True)`): a more accurate path than video.

A photo is processed once, so it can afford what a 30 fps stream cannot. Three things differ from
the video path, each chosen by measurement on the dev set (docs/concepts/accuracy.md):

1. **Detector scale** (`StillConfig.detector`): `"native"` (default) runs FaceBoxes at upstream
   3DDFA_V2's own scale policy: the photo keeps its size unless it is taller than 720 or wider
   than 1080 pixels, then it is shrunk to fit (`native_scale`, upstream FaceBoxes' HEIGHT/WIDTH
   rule). The scaled photo sits at the top-left of a fixed canvas (`detector_size`, default
   1088x736, the smallest multiple of 32 that holds any upstream-scaled photo) padded with the
   detector mean (0 after normalization), so one TFLite shape serves every photo. `"letterbox"`
   fits the photo to the video detector's canvas as video frames are (640x480 upscales a 500x375
   photo and shrinks a 3913x1901 one to 640x311, losing small faces).
2. **Landmark re-crops** (`recrops`; default 1 with float models, 2 with INT8 ones, whose detector
   boxes are less exact): after the crop from the detector box, the face is cropped again from its
   own landmarks (`roi.roi_from_landmarks`, upstream's `crop_policy='landmark'`) and regressed
   again; one regressor run per re-crop.
3. **Horizontal-flip test-time augmentation** (`flip`, default on): the final crop is also regressed
   mirrored; its 68 model-space landmarks are mirrored back (`mirror_points`: x -> 120 - x and the
   iBUG left/right index permutation `MIRROR_68`) and averaged with the direct ones. One more
   regressor run. `params`, pose and camera stay those of the direct (unmirrored) crop.

`StillConfig.upstream()` is upstream demo.py (native scale, crop from the box, nothing else): the
setting the parity tests compare with upstream's own outputs. Pure numpy (the canvas: `detection.place`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Optional

import numpy as np

from edgeface.errors import OptionsError
from edgeface.runtime import detection as detect_post
from edgeface.runtime import roi as roi_mod
from edgeface.runtime import tdmm
from edgeface.runtime.networks import Detections
from edgeface.vocab import STILL_DETECTOR_SIZE
from edgeface.results import Face, Pose
from edgeface.vocab import Precision, check_detector_size

#: upstream FaceBoxes scale policy (FaceBoxes.py HEIGHT, WIDTH): photos larger than this are shrunk
UPSTREAM_MAX_HEIGHT, UPSTREAM_MAX_WIDTH = 720, 1080
#: the smallest canvas of multiples of 32 holding any photo scaled by that policy
DETECTOR_POLICIES = ("native", "letterbox")
#: re-crops by model precision, measured on the dev set (README): INT8 boxes need one more
DEFAULT_RECROPS = {"float": 1, "int8": 2}
INT8 = (Precision.INT8, Precision.INT8_FLOATIO)
#: the regressor's crop side (model space x runs over [0, 120])
CROP = 120

#: iBUG 68-point index of each point's mirror image (left <-> right)
MIRROR_68 = np.array(
    list(range(16, -1, -1))                                  # jaw 0-16
    + list(range(26, 16, -1))                                # eyebrows 17-21 <-> 22-26
    + [27, 28, 29, 30]                                       # nose bridge
    + [35, 34, 33, 32, 31]                                   # nostrils
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]       # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]       # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65],                      # inner lips
    dtype=np.int64)


@dataclass
class StillConfig:
    """How still images are processed (see the module doc). Defaults: the measured best."""

    detector: str = "native"  # native (upstream scale policy in a fixed canvas) | letterbox (as video)
    detector_size: tuple = STILL_DETECTOR_SIZE  # the still detector's canvas (native policy)
    recrops: Optional[int] = None  # landmark re-crops after the box crop (None: DEFAULT_RECROPS by precision)
    flip: bool = True  # horizontal-flip test-time augmentation of the final crop

    def __post_init__(self):
        if self.detector not in DETECTOR_POLICIES:
            raise OptionsError(f"unknown still-image detector policy '{self.detector}': use native or letterbox")
        if self.recrops is not None:
            if isinstance(self.recrops, bool) or not isinstance(self.recrops, (int, np.integer)) or not 0 <= self.recrops <= 5:
                raise OptionsError(f"still-image re-crops must be an integer from 0 to 5, got {self.recrops!r}")
            self.recrops = int(self.recrops)
        self.flip = bool(self.flip)
        self.detector_size = check_detector_size(*self.detector_size, what="still-image detector size")

    @classmethod
    def upstream(cls) -> "StillConfig":
        """Upstream demo.py: detector at its native scale, crop from the box, no re-crop, no flip."""
        return cls(detector="native", recrops=0, flip=False)

    def for_precision(self, precision) -> "StillConfig":
        """This config with `recrops` filled in for models of `precision` (a `vocab.Precision`)."""
        if self.recrops is not None:
            return self
        return replace(self, recrops=DEFAULT_RECROPS["int8" if Precision.parse(precision) in INT8 else "float"])

    @property
    def regressor_runs(self) -> int:
        """Regressor runs per face (recrops resolved)."""
        return 1 + int(self.recrops or 0) + int(self.flip)


def from_flags(detector: Optional[str] = None, recrops: Optional[int] = None, flip: Optional[bool] = None) -> Optional[StillConfig]:
    """The StillConfig of the CLI's --still-detector / --still-recrops / --still-flip (None: all defaults)."""
    if detector is None and recrops is None and flip is None:
        return None
    return StillConfig(detector=detector or "native", recrops=recrops, flip=True if flip is None else flip)


# ----------------------------------------------------------------------------- detector scale

def native_scale(frame_w: int, frame_h: int, max_w: int = UPSTREAM_MAX_WIDTH, max_h: int = UPSTREAM_MAX_HEIGHT) -> float:
    """Upstream FaceBoxes' resize factor: 1 unless the frame is taller than `max_h` (then
    `max_h / h`) or, after that, wider than `max_w` (then shrunk further to `max_w`)."""
    scale = 1.0
    if frame_h > max_h:
        scale = max_h / frame_h
    if frame_w * scale > max_w:
        scale *= max_w / (frame_w * scale)
    return scale


def native_geometry(frame_w: int, frame_h: int, width: int, height: int) -> detect_post.Letterbox:
    """Placement of a frame at upstream's scale (sizes truncated as upstream's `int(scale * w)`) in a
    `width` x `height` canvas; a canvas too small for that gets the ordinary fit-to-canvas letterbox."""
    fit = detect_post.letterbox_geometry(frame_w, frame_h, width, height)
    scale = native_scale(frame_w, frame_h)
    new_w, new_h = (frame_w, frame_h) if scale == 1.0 else (max(1, int(scale * frame_w)), max(1, int(scale * frame_h)))
    if new_w > width or new_h > height:
        return fit
    return detect_post.Letterbox(scale=scale, scale_x=new_w / frame_w, scale_y=new_h / frame_h, new_w=new_w,
                                 new_h=new_h, frame_w=int(frame_w), frame_h=int(frame_h), width=int(width),
                                 height=int(height))


def detect_native(detector, frame: np.ndarray):
    """`networks.Detections` of a `networks.FaceDetector` run at upstream's scale policy."""
    cfg = detector.config
    lb = native_geometry(frame.shape[1], frame.shape[0], cfg.width, cfg.height)
    return Detections(*detector.detect_letterboxed(detect_post.place(frame, lb, cfg.pad_value, cfg.exact_resize), lb))


# ----------------------------------------------------------------------------- flip TTA

def mirror_points(pts_model: np.ndarray, size: int = CROP) -> np.ndarray:
    """Model-space landmarks `(3, 68)` regressed from a mirrored crop, mapped back to the unmirrored
    crop: x -> size - x, and each point takes its mirror partner's index (`MIRROR_68`)."""
    out = np.array(pts_model, dtype=np.float32)[:, MIRROR_68]
    out[0] = np.float32(size) - out[0]
    return out


# ----------------------------------------------------------------------------- one face

RegressFn = Callable[[np.ndarray, np.ndarray, dict], np.ndarray]  # (image, roi, times) -> params (62,)


class StillAligner:
    """Detection and per-face alignment for still images, as `StillConfig` says.

    `load_detector(info)` gives the still detector (a `networks.FaceDetector`) and may note in `info`
    which model it loaded; it is called once, on the first photo, so video-only users never load it."""

    def __init__(self, config: StillConfig, bases, load_detector: Callable[[dict], object], exact_resize: bool = False):
        self.config = config if config.recrops is not None else config.for_precision(Precision.FP32)
        self.exact_resize = bool(exact_resize)  # the mirrored crop is resized as the regressor's (roi.crop_roi)
        self.u = np.asarray(bases.u, dtype=np.float32).reshape(-1)
        self.w_shp = np.asarray(bases.w_shp, dtype=np.float32)
        self.w_exp = np.asarray(bases.w_exp, dtype=np.float32)
        self._load_detector = load_detector
        self._detector = None
        self.info: dict = {}  # what load_detector noted (merged into Pipeline.describe())

    @property
    def detector(self):
        if self._detector is None:
            self._detector = self._load_detector(self.info)
        return self._detector

    def detect(self, image: np.ndarray):
        """Face boxes of a photo (`networks.Detections`, unclipped)."""
        if self.config.detector == "native":
            return detect_native(self.detector, image)
        return self.detector(image)

    def describe(self) -> str:
        """One line for logs: which detector, scale policy, re-crops and flip (loads the detector)."""
        det = self.detector
        c = self.config
        name = f"faceboxes {det.config.width}x{det.config.height}"
        policy = "upstream's scale" if c.detector == "native" else "the video letterbox"
        crops = f"{c.recrops} re-crop{'s' if c.recrops != 1 else ''}"
        note = f" ({self.info['still_note'].split(':')[0]})" if "still_note" in self.info else ""
        return f"still images: {name} at {policy}{note}, {crops}, {'flip TTA' if c.flip else 'no flip'}"

    def _model_points(self, params) -> np.ndarray:
        return tdmm.sparse_landmarks(params, self.u, self.w_shp, self.w_exp)

    def align(self, image: np.ndarray, roi, regress: RegressFn, regress_crop: Optional[Callable], times: dict):
        """(params, final roi, landmarks (68, 3) frame pixels) of the face whose detector ROI is `roi`.

        `regress(image, roi, times)` is the pipeline's timed regressor call; `regress_crop(crop, times)`
        regresses a ready 120x120 crop (for the mirrored one; None disables the flip)."""
        roi = np.asarray(roi, dtype=np.float64)
        params = regress(image, roi, times)
        pts = None
        for _ in range(self.config.recrops):
            lm = tdmm.to_image(self._model_points(params), roi)
            if not np.all(np.isfinite(lm)):
                break
            roi = roi_mod.roi_from_landmarks(lm[:2])
            params = regress(image, roi, times)
        t0 = time.perf_counter()
        pts = self._model_points(params)
        if self.config.flip and regress_crop is not None:
            crop = roi_mod.crop_roi(image, roi, CROP, self.exact_resize)[0]
            times["decode"] += (time.perf_counter() - t0) * 1000.0
            flipped = regress_crop(np.ascontiguousarray(crop[:, ::-1]), times)
            t0 = time.perf_counter()
            pts = (pts + mirror_points(self._model_points(flipped))) / np.float32(2)
        lm = tdmm.to_image(pts, roi).T.copy()
        times["decode"] += (time.perf_counter() - t0) * 1000.0
        return params, roi, lm

    def face(self, image: np.ndarray, target, regress: RegressFn, regress_crop: Optional[Callable], times: dict) -> Face:
        """The `Face` of one detection target (`tracks.Target`)."""
        params, roi, lm = self.align(image, target.roi, regress, regress_crop, times)
        t0 = time.perf_counter()
        yaw, pitch, roll = tdmm.pose_from_params(params)
        face = Face(id=int(target.track_id), bbox=np.asarray(target.bbox, np.float32), score=float(target.score),
                    landmarks=lm, pose=Pose(yaw, pitch, roll), params=np.asarray(params, np.float32).reshape(-1),
                    roi=roi, camera=tdmm.camera_from_params(params), tracked=False)
        times["decode"] += (time.perf_counter() - t0) * 1000.0
        return face


__all__ = ("StillConfig", "StillAligner", "from_flags", "MIRROR_68", "STILL_DETECTOR_SIZE", "native_scale", "native_geometry",
           "detect_native", "mirror_points")
