"""The real data the ONNX exports are verified on, and the models' input contract.

- `detector_blob` / `regressor_blob`: BGR uint8 image -> the float NCHW tensor the torch nets and
  their ONNX exports take (FaceBoxes: x - (104, 117, 123); the regressor: (x - 127.5) / 128 on the
  120x120 crop), with the constants the export sidecars record;
- `sample_images` / `sample_frames`: the sample photos plus a few obama.mp4 frames, read from the
  upstream layout `<root>/<repo alias>/<path>` (the edgeface file cache or a mirror folder);
- `sample_crops`: 120x120 face crops of them, found by the torch FaceBoxes (needs torch).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from edgeface.errors import EdgefaceError, MissingAssetError, VerificationError
from edgeface.hub import paths
from edgeface.sources.video import open_video
from edgeface.runtime.detection import PAD_VALUE, Letterbox, postprocess, priors
from edgeface.runtime.networks import REGRESSOR_SIZE
from edgeface.runtime.roi import crop_roi, roi_from_bbox

REGRESSOR_MEAN = (127.5, 127.5, 127.5)
REGRESSOR_STD = (128.0, 128.0, 128.0)
DETECTOR_MEAN = tuple(float(v) for v in PAD_VALUE)  # BGR; the letterbox pads with it
DETECTOR_STD = (1.0, 1.0, 1.0)

# Sample media in the upstream layout <root>/<repo alias>/<path>.
SAMPLE_PHOTOS = (
    ("emma", "3ddfa_v2/examples/inputs/emma.jpg"),
    ("trump_hillary", "3ddfa_v2/examples/inputs/trump_hillary.jpg"),
    ("jianzhuguo", "3ddfa_v2/examples/inputs/JianzhuGuo.jpg"),
    ("group", "3ddfa_v1/samples/5.png"),
)
SAMPLE_VIDEO = ("obama", "3ddfa_v1/demo@obama/obama.mp4")
DETECTOR_CHECKPOINT_PATH = "3ddfa_v2/FaceBoxes/weights/FaceBoxesProd.pth"
DEFAULT_VIDEO_FRAMES = (0, 52, 105, 157)


def _check_image(image: np.ndarray, what: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise EdgefaceError(f"{what} must be a BGR uint8 HxWx3 image, got {desc}")


def detector_blob(image: np.ndarray) -> np.ndarray:
    """BGR uint8 HxWx3 -> float32 1x3xHxW, x - (104, 117, 123), std 1."""
    _check_image(image, "detector input")
    x = image.astype(np.float32) - np.array(DETECTOR_MEAN, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def regressor_blob(crop: np.ndarray) -> np.ndarray:
    """BGR uint8 120x120x3 crop -> float32 1x3x120x120, (x - 127.5) / 128."""
    _check_image(crop, "regressor crop")
    if crop.shape[:2] != (REGRESSOR_SIZE, REGRESSOR_SIZE):
        raise EdgefaceError(f"regressor crop must be {REGRESSOR_SIZE}x{REGRESSOR_SIZE}, got "
                            f"{crop.shape[1]}x{crop.shape[0]}: resize it with cv2.INTER_LINEAR first")
    x = (crop.astype(np.float32) - np.array(REGRESSOR_MEAN, np.float32)) / np.array(REGRESSOR_STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def _media_root(root: str | os.PathLike | None) -> Path:
    return Path(root) if root is not None else paths.files_dir()


def _video_frames(path: Path, indices: Sequence[int]) -> list[np.ndarray]:
    """The given frames (BGR uint8) of a video, decoded by `edgeface.sources.video` with PyAV (MP4 edit
    lists ignored, so every coded frame counts) and its bit-exact YUV->BGR conversion, so that a
    calibration or verification set is the same on every CPU."""
    wanted = {int(i) for i in indices}
    got: dict[int, np.ndarray] = {}
    decoded = 0
    with open_video(path, max_frames=max(wanted) + 1, backend="pyav", exact=True) as src:
        for frame in src:
            decoded = frame.index + 1
            if frame.index in wanted:
                got[frame.index] = frame.image
    missing = sorted(wanted - set(got))
    if missing:
        raise EdgefaceError(f"{path} has no frame {missing[0]} (it has {decoded} frames): "
                            "pick smaller video frame indices")
    return [got[int(i)] for i in indices]


def sample_images(media_root: str | os.PathLike | None = None,
                  video_frames: Sequence[int] = DEFAULT_VIDEO_FRAMES) -> list[tuple[str, np.ndarray]]:
    """(name, BGR uint8 image) of the sample photos plus a few obama.mp4 frames.

    media_root holds the files in the upstream layout (default: the edgeface file cache)."""
    root = _media_root(media_root)
    out: list[tuple[str, np.ndarray]] = []
    for name, rel in SAMPLE_PHOTOS:
        p = root / rel
        if not p.is_file():
            raise MissingAssetError(f"sample photo {p} is missing: run `edgeface fetch samples`")
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise EdgefaceError(f"cannot decode {p}: re-fetch it with `edgeface fetch samples`")
        out.append((name, img))
    if video_frames:
        name, rel = SAMPLE_VIDEO
        p = root / rel
        if not p.is_file():
            raise MissingAssetError(f"sample video {p} is missing: run `edgeface fetch samples`")
        for i, frame in zip(video_frames, _video_frames(p, video_frames)):
            out.append((f"{name}#{i}", frame))
    return out


def sample_frames(media_root: str | os.PathLike | None = None,
                  video_frames: Sequence[int] = DEFAULT_VIDEO_FRAMES) -> list[np.ndarray]:
    """The real frames the detector export is verified on (any size; letterboxed at export)."""
    return [img for _, img in sample_images(media_root, video_frames)]


def sample_crops(detector_checkpoint: str | os.PathLike | None = None,
                 media_root: str | os.PathLike | None = None,
                 video_frames: Sequence[int] = DEFAULT_VIDEO_FRAMES,
                 max_faces_per_image: int = 4, score_threshold: float = 0.5) -> list[np.ndarray]:
    """120x120 BGR uint8 face crops from the sample media for verifying the regressor.

    Faces are found by the torch FaceBoxes (image scaled to fit 1080x720 as in 3DDFA_V2) and
    decoded by `edgeface.runtime.detection.postprocess` (boxes not clipped to the frame, as upstream),
    the best `max_faces_per_image` per image; each crop is `edgeface.runtime.roi.crop_roi` of the
    3DDFA_V2 square ROI (`edgeface.runtime.roi.roi_from_bbox`)."""
    import torch

    from edgeface.tools.convert.torch_nets import load_detector  # lazy: torch

    root = _media_root(media_root)
    ckpt = Path(detector_checkpoint) if detector_checkpoint is not None else root / DETECTOR_CHECKPOINT_PATH
    net = load_detector(ckpt)
    crops = []
    for _, img in sample_images(root, video_frames):
        h, w = img.shape[:2]
        scale = min(1.0, 720 / h, 1080 / w)
        sw, sh = int(w * scale), int(h * scale)
        small = img if scale == 1.0 else cv2.resize(img, (sw, sh), interpolation=cv2.INTER_LINEAR)
        # upstream resizes without padding: a canvas-sized "letterbox" with the exact per-axis factors
        lb = Letterbox(scale=scale, scale_x=sw / w, scale_y=sh / h, new_w=sw, new_h=sh,
                       frame_w=w, frame_h=h, width=sw, height=sh)
        with torch.no_grad():
            loc, conf = net(torch.from_numpy(detector_blob(small)))
        boxes, _ = postprocess(loc[0].numpy(), conf[0].numpy(), priors(sw, sh), lb, sw, sh,
                               score_threshold=score_threshold, max_faces=max_faces_per_image,
                               clip_to_frame=False)
        crops.extend(crop_roi(img, roi_from_bbox(box), REGRESSOR_SIZE)[0] for box in boxes)
    if not crops:
        raise VerificationError("no face found in the sample media: check the FaceBoxes checkpoint")
    return crops
