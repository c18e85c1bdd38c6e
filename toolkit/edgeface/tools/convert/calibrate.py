"""Calibration sets for INT8 quantization, built from real faces by the runtime's own preprocessing.

Regressor set: detector box -> 3DDFA ROI -> crop -> 120x120 (exactly `roi.crop_roi`, as `networks.LandmarkRegressor.crop`),
widened with augmentation (rotation, scale/shift jitter, flips, brightness/contrast/gamma, blur).
Detector set: whole frames letterboxed to the detector input (exactly `networks.FaceDetector.letterbox`).
The set is one `.npz` (uint8 arrays + a JSON `meta` record) whose digest is recorded in every
model manifest that used it.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

import cv2
import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.hub import package_data, paths
from edgeface.hub.assets import sample_path
from edgeface.hub.atomic import atomic_path
from edgeface.runtime import detection
from edgeface.runtime import roi as roi_mod
from edgeface.runtime.networks import REGRESSOR_SIZE
from edgeface.sources.spec import open_source
from edgeface.tools.convert.range_spec import parse_ranges

#: the runtime's crop kernel (roi.crop_roi, bitexact off): a set built with another is rebuilt
CROP_RESIZE = "cv2.INTER_LINEAR"


@dataclass
class Augment:
    seed: int = 0
    rotation_deg: float = 15.0
    scale_jitter: float = 0.10
    shift_jitter: float = 0.06
    flip_prob: float = 0.5
    brightness: float = 25.0
    contrast: float = 0.25
    gamma: tuple = (0.75, 1.35)
    blur_prob: float = 0.3
    blur_sigma: tuple = (0.4, 1.2)


@dataclass
class Recipe:
    name: str
    regressor_sources: list
    detector_sources: list
    holdout_sources: list
    regressor_count: int = 300
    detector_count: int = 48
    augment: Augment = field(default_factory=Augment)
    description: str = ""
    regressor_ranges: str = "minmax"  # INT8 activation ranges of the regressor: "minmax" | "percentile:Q"

    def __post_init__(self):
        parse_ranges(self.regressor_ranges)  # a bad value fails when the recipe is read

    def to_dict(self) -> dict:
        """The recipe of the calibration DATA (what the set's identity and meta record); how the
        converter uses the data (`regressor_ranges`) is recorded in each model's manifest."""
        d = dict(self.__dict__)
        d.pop("regressor_ranges")
        d["augment"] = dict(self.augment.__dict__)
        return d


def load_recipe(path: Optional[Path] = None) -> Recipe:
    """A recipe TOML (default: the packaged `calibration/default.toml`)."""
    if path is not None and not Path(path).is_file():
        raise EdgefaceError(f"calibration recipe {path} does not exist")
    try:
        d = (package_data.read_toml("edgeface.recipes", "default.toml") if path is None
             else package_data.loads(Path(path).read_text(encoding="utf-8")))
        aug = d.get("augment", {})
        return Recipe(
            name=d.get("name", "custom"),
            description=d.get("description", ""),
            regressor_sources=list(d["regressor"]["sources"]),
            regressor_count=int(d["regressor"].get("count", 300)),
            detector_sources=list(d["detector"]["sources"]),
            detector_count=int(d["detector"].get("count", 48)),
            holdout_sources=list(d.get("holdout", {}).get("sources", [])),
            regressor_ranges=str(d["regressor"].get("ranges", "minmax")),
            augment=Augment(**{k: tuple(v) if isinstance(v, list) else v for k, v in aug.items()}),
        )
    except (KeyError, TypeError, ValueError, OSError) as e:  # ValueError: TOMLDecodeError, bad UTF-8
        raise EdgefaceError(f"calibration recipe {path or 'default'} is malformed ({e}); see calibration/default.toml") from None


# ----------------------------------------------------------------------------- sources

def _parse_spec(spec: str, root: Optional[Path]) -> tuple:
    """(path, frame selection slice or None) for 'samples:key[?frames=a:b:c]' or a path."""
    frames = None
    base = spec
    if "?frames=" in spec:
        base, sel = spec.split("?frames=", 1)
        parts = [int(p) if p else None for p in sel.split(":")]
        frames = slice(*parts)
    if base.startswith("samples:"):
        return sample_path(base.split(":", 1)[1], root), frames
    return Path(base).expanduser(), frames


def iter_frames(specs: Iterable[str], root: Optional[Path] = None):
    """Yield (source label, frame index, BGR frame) for every selected frame of every source. Videos are
    decoded with the bit-exact YUV->BGR conversion: a calibration set is the same on every CPU (the
    INT8 models are sensitive to it: with swscale's fast conversion, one grey level away, the default
    set's INT8 dev-set NME moved from 3.84% to 3.93%)."""
    for spec in specs:
        path, sel = _parse_spec(spec, root)
        with open_source(str(path), bitexact=True) as src:
            for fr in src:
                if sel is not None:
                    start, step = sel.start or 0, sel.step or 1
                    if sel.stop is not None and fr.index >= sel.stop:
                        break
                    if fr.index < start or (fr.index - start) % step:
                        continue
                yield f"{path.name}#{fr.index}", fr.index, fr.image


# ----------------------------------------------------------------------------- augmentation

def _photometric(img: np.ndarray, rng: np.random.Generator, a: Augment) -> np.ndarray:
    x = img.astype(np.float32)
    x = (x - 128.0) * (1.0 + rng.uniform(-a.contrast, a.contrast)) + 128.0 + rng.uniform(-a.brightness, a.brightness)
    x = np.clip(x, 0, 255)
    g = rng.uniform(*a.gamma)
    x = 255.0 * (x / 255.0) ** g
    out = np.clip(np.round(x), 0, 255).astype(np.uint8)
    if rng.random() < a.blur_prob:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(*a.blur_sigma))
    return out


def augmented_crop(frame: np.ndarray, roi: np.ndarray, rng: np.random.Generator, a: Augment, size: int = REGRESSOR_SIZE) -> np.ndarray:
    """A jittered, rotated, maybe flipped crop of the ROI: one affine warp (zero padding, as crop_roi)."""
    sx, sy, ex, ey = (float(v) for v in roi)
    side = (ex - sx) * (1.0 + rng.uniform(-a.scale_jitter, a.scale_jitter))
    cx = (sx + ex) / 2 + rng.uniform(-a.shift_jitter, a.shift_jitter) * (ex - sx)
    cy = (sy + ey) / 2 + rng.uniform(-a.shift_jitter, a.shift_jitter) * (ey - sy)
    ang = np.deg2rad(rng.uniform(-a.rotation_deg, a.rotation_deg))
    s = size / side
    c, si = np.cos(ang) * s, np.sin(ang) * s
    # maps frame -> crop: rotate about the ROI centre, scale, move the centre to the crop centre
    m = np.array([[c, si, size / 2 - c * cx - si * cy], [-si, c, size / 2 + si * cx - c * cy]], np.float64)
    crop = cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if rng.random() < a.flip_prob:
        crop = crop[:, ::-1]
    return _photometric(np.ascontiguousarray(crop), rng, a)


# ----------------------------------------------------------------------------- builder

@dataclass
class CalibrationSet:
    regressor: np.ndarray  # (N, 120, 120, 3) uint8 BGR crops
    detector: np.ndarray  # (M, H, W, 3) uint8 BGR letterboxed frames
    meta: dict

    @property
    def digest(self) -> str:
        return self.meta["digest"]


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def find_faces(detector, specs: Iterable[str], root: Optional[Path], progress: Optional[Callable] = None) -> list:
    """[(label, frame, rois (K,4), boxes (K,4))] for every selected frame; frames without faces included."""
    found = []
    for label, _idx, frame in iter_frames(specs, root):
        det = detector(frame)
        rois = np.array([roi_mod.roi_from_bbox(b) for b in det.boxes], np.float32).reshape(-1, 4)
        found.append((label, frame, rois, det.boxes))
        if progress:
            progress(label)
    return found


def build(
    recipe: Recipe,
    detector,
    root: Optional[Path] = None,
    regressor_count: Optional[int] = None,
    detector_count: Optional[int] = None,
    progress: Optional[Callable] = None,
) -> CalibrationSet:
    """Build the calibration set of `recipe` with a float `networks.FaceDetector`."""
    a = recipe.augment
    rng = np.random.default_rng(a.seed)
    n_reg = int(regressor_count or recipe.regressor_count)
    n_det = int(detector_count or recipe.detector_count)
    if n_reg <= 0 or n_det <= 0:
        raise EdgefaceError("calibration counts must be positive (--count N)")
    reg_frames = find_faces(detector, recipe.regressor_sources, root, progress)
    if not reg_frames:
        raise EdgefaceError(f"no images or frames in {', '.join(recipe.regressor_sources)}; calibration needs face images")
    pairs = [(fr, r) for _l, fr, rois, _b in reg_frames for r in rois]
    if not pairs:
        raise EdgefaceError(f"no faces found in {', '.join(recipe.regressor_sources)}; calibration needs images with faces")
    crops = [roi_mod.crop_roi(fr, r, REGRESSOR_SIZE)[0] for fr, r in pairs[:n_reg]]  # exact runtime crops first
    while len(crops) < n_reg:
        fr, r = pairs[int(rng.integers(len(pairs)))]
        crops.append(augmented_crop(fr, r, rng, a))
    det_frames = [fr for _l, fr, _r, _b in (reg_frames if recipe.detector_sources == recipe.regressor_sources else
                                           [(l, f, None, None) for l, _i, f in iter_frames(recipe.detector_sources, root)])]
    if not det_frames:
        raise EdgefaceError(f"no images or frames in {', '.join(recipe.detector_sources)}")
    w, h = detector.config.width, detector.config.height
    canv = []
    for i in range(n_det):
        fr = det_frames[i % len(det_frames)]
        if i >= len(det_frames):  # beyond one pass: flipped / photometric variants
            fr = fr[:, ::-1] if rng.random() < a.flip_prob else fr
            fr = _photometric(np.ascontiguousarray(fr), rng, a)
        canv.append(detection.letterbox(fr, w, h, detector.config.pad_value)[0])
    reg = np.stack(crops).astype(np.uint8)
    det = np.stack(canv).astype(np.uint8)
    meta = {
        "format": "edgeface-calibration/1",
        "crop_resize": CROP_RESIZE,
        "recipe": recipe.to_dict(),
        "regressor": {"count": int(reg.shape[0]), "shape": list(reg.shape[1:]), "faces_found": len(pairs),
                      "frames": len(reg_frames), "exact_crops": min(len(pairs), n_reg)},
        "detector": {"count": int(det.shape[0]), "shape": list(det.shape[1:]), "frames": len(det_frames)},
        "layout": "NHWC uint8 BGR raw pixels",
        "digest": _digest(reg, det),
    }
    return CalibrationSet(reg, det, meta)


def save(cal: CalibrationSet, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, regressor=cal.regressor, detector=cal.detector, meta=np.array(json.dumps(cal.meta)))
    return Path(dest)


def load(path: Path) -> CalibrationSet:
    path = Path(path)
    if not path.is_file():
        raise EdgefaceError(f"calibration set {path} does not exist; build one with `edgeface calibrate`")
    if path.suffix.lower() != ".npz":
        raise EdgefaceError(f"calibration set {path} is a {path.suffix or 'file without extension'}, not the .npz "
                            "that `edgeface calibrate` writes; build one with `edgeface calibrate`")
    try:
        with np.load(path, allow_pickle=False) as z:
            cal = CalibrationSet(z["regressor"], z["detector"], json.loads(str(z["meta"])))
    except (ValueError, KeyError, OSError, EOFError, TypeError, AttributeError, zipfile.BadZipFile,
            json.JSONDecodeError) as e:
        raise EdgefaceError(f"{path} is not an edgeface calibration set ({e}); rebuild it with `edgeface calibrate`") from None
    if cal.digest != _digest(cal.regressor, cal.detector):
        raise EdgefaceError(f"calibration set {path} does not match its recorded digest; rebuild it with `edgeface calibrate`")
    return cal


def default_path(root: Optional[Path] = None, detector_size: tuple = (640, 480)) -> Path:
    return paths.calibration_dir(root) / f"default_{detector_size[0]}x{detector_size[1]}.npz"


def holdout(recipe: Recipe, detector, root: Optional[Path] = None) -> dict:
    """Held-out real data for verification: exact runtime crops, each also mirrored (what the still-image
    flip TTA feeds the regressor), and letterboxed frames; no other augmentation."""
    found = find_faces(detector, recipe.holdout_sources, root)
    crops = [roi_mod.crop_roi(fr, r, REGRESSOR_SIZE)[0] for _l, fr, rois, _b in found for r in rois]
    if not crops:
        raise EdgefaceError(f"no faces in the hold-out sources {recipe.holdout_sources}")
    crops += [np.ascontiguousarray(c[:, ::-1]) for c in crops]
    frames = [fr for _l, fr, _r, _b in found]
    return {"crops": np.stack(crops), "frames": frames, "labels": [l for l, *_ in found]}
