"""Stability of tracked landmarks: jitter on a still photo with sensor noise, and the lag smoothing costs.

The measurement (issue 12, item 5), for each photo and each precision:

- **jitter**: the photo repeated as a video of `frames` frames (60), each with its own Gaussian
  sensor noise (sigma 2 grey levels, seeded), tracked by `edgeface.FaceAligner` in VIDEO mode.
  For each face: the std of each of the 68 landmarks' image position (x, y: the RMS distance
  from its mean position) over frames `skip`..end (10-59), averaged over the 68 landmarks and
  divided by the face size (sqrt(w*h) of the mean landmarks' box); a photo's figure is the mean
  over its faces. Measured raw (smoothing off) and smoothed (the target profile's smoothing).
- **lag**: the same photo translated by `speed_px` pixels per frame (2, to the right, same noise),
  tracked raw and smoothed side by side. lag = the mean over frames `skip`..end and landmarks of
  (raw - smoothed) along the motion, divided by the speed: the frames by which the smoothed output
  trails the raw per-frame landmarks. `raw_lag` is the same for the raw landmarks against the true
  motion (the first frame's raw landmarks moved by speed * frame index): the tracker's own lag.

Every noisy frame is made once and handed to all the aligners (fp32/INT8 x raw/smoothed) side
by side, so they see exactly the same pixels. `smoother_cost` times `FaceSmoother` alone on the
recorded raw results (CPU ms per face per frame).

Pure numpy for the metrics (`landmark_jitter`, `lag_frames`); `measure_stability` runs it all.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from edgeface.aligner import FaceAligner
from edgeface.errors import EdgefaceError
from edgeface.hub.paths import files_dir, home
from edgeface.runtime.smoothing import FaceSmoother
from edgeface.sources.images import read_image
from edgeface.vocab import Precision

SCHEMA = "edgeface.stability/1"
DEFAULT_PHOTOS = ("JianzhuGuo.jpg", "emma.jpg")
Progress = Callable[[str, int, int], None]


# ----------------------------------------------------------------------------- metrics (pure numpy)


def face_size_of(landmarks: np.ndarray) -> float:
    """sqrt(w*h) of the box around (68, >=2) landmarks (x, y)."""
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    w, h = np.ptp(xy[:, 0]), np.ptp(xy[:, 1])
    return float(np.sqrt(max(w, 0.0) * max(h, 0.0)))


def landmark_jitter(track: np.ndarray) -> float:
    """Jitter of one face's track (frames, 68, >=2): mean over landmarks of the std of its (x, y)
    position over the frames (RMS distance from its mean position), divided by the face size."""
    xy = np.asarray(track, dtype=np.float64)[:, :, :2]
    if xy.shape[0] < 2:
        raise EdgefaceError(f"jitter needs at least 2 frames, got {xy.shape[0]}")
    std = np.sqrt(xy.var(axis=0).sum(axis=1))  # (68,)
    return float(std.mean() / face_size_of(xy.mean(axis=0)))


def lag_frames(leader: np.ndarray, follower: np.ndarray, velocity_px: Sequence[float]) -> float:
    """Frames by which `follower` (frames, 68, >=2) trails `leader` moving at `velocity_px` (px/frame):
    the mean offset (leader - follower) projected on the motion direction, divided by the speed."""
    v = np.asarray(velocity_px, dtype=np.float64)[:2]
    speed = float(np.linalg.norm(v))
    if speed <= 0:
        raise EdgefaceError("lag needs a motion: velocity_px must not be zero")
    d = np.asarray(leader, dtype=np.float64)[:, :, :2] - np.asarray(follower, dtype=np.float64)[:, :, :2]
    return float((d @ (v / speed)).mean() / speed)


# ----------------------------------------------------------------------------- frames


def noisy(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """image + Gaussian noise (sigma grey levels), rounded and clipped to uint8."""
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    noise *= np.float32(sigma)
    noise += image
    np.rint(noise, out=noise)
    return np.clip(noise, 0, 255, out=noise).astype(np.uint8)


def shifted(image: np.ndarray, dx: float, dy: float = 0.0) -> np.ndarray:
    """The image translated by (dx, dy) pixels (bilinear, edges replicated)."""
    import cv2

    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], dtype=np.float64)
    h, w = image.shape[:2]
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# ----------------------------------------------------------------------------- options and results


@dataclass
class StabilityOptions:
    """What `measure_stability` measures. Validated at creation."""

    photos: Sequence[Path] = ()          # empty: the sample photos JianzhuGuo.jpg and emma.jpg from the cache
    precisions: Sequence[Precision] = (Precision.FP32, Precision.INT8)
    frames: int = 60
    skip: int = 10                        # frames 0..skip-1 let the tracker and the smoother settle
    sigma: float = 2.0                    # sensor noise, grey levels
    seed: int = 0
    speed_px: float = 2.0                 # lag sequence: pixels per frame, to the right
    fps: float = 30.0                     # timestamps of the synthetic video
    target: str = "auto"                  # board profile (smoothing parameters, detect interval)
    threads: int = 1
    cache_root: Optional[Path] = None

    def __post_init__(self):
        self.photos = tuple(Path(p) for p in self.photos)
        self.precisions = tuple(Precision.parse(p) for p in self.precisions)
        if not self.precisions:
            raise EdgefaceError("stability: give at least one precision (e.g. fp32,int8)")
        if self.frames < 3 or not 0 <= self.skip <= self.frames - 2:
            raise EdgefaceError(f"stability: need frames >= 3 and 0 <= skip <= frames - 2, got frames={self.frames} "
                                f"skip={self.skip}")
        if not (self.sigma >= 0 and self.speed_px > 0 and self.fps > 0 and self.threads >= 1):
            raise EdgefaceError("stability: sigma must be >= 0, speed_px, fps and threads > 0")


@dataclass
class PhotoStability:
    photo: str
    precision: str
    faces: int
    jitter_raw: float            # fraction of the face size
    jitter_smoothed: float
    lag_frames: float            # smoothed behind raw, frames, on the moving sequence
    raw_lag_frames: float        # raw behind the true motion
    per_face: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class StabilityReport:
    rows: list
    settings: dict
    smoother_ms_per_face: float   # CPU ms per face per frame
    smoothing: dict

    def to_dict(self) -> dict:
        return {"format": SCHEMA, "settings": self.settings, "smoothing": self.smoothing,
                "smoother_ms_per_face": self.smoother_ms_per_face,
                "rows": [r.to_dict() for r in self.rows]}


# ----------------------------------------------------------------------------- the measurement


def default_photos(cache_root: Optional[Path]) -> tuple:
    folder = files_dir(home(cache_root)) / "3ddfa_v2" / "examples" / "inputs"
    return tuple(folder / name for name in DEFAULT_PHOTOS)


def _read(path: Path) -> np.ndarray:
    if not path.is_file():
        raise EdgefaceError(f"stability: no photo {path} (run `edgeface fetch` for the sample photos, or pass --photo)")
    return read_image(path)


def _aligners(opts: StabilityOptions) -> dict:
    out = {}
    for p in opts.precisions:
        for smooth in (False, True):
            out[(p.value, smooth)] = FaceAligner.create(
                precision=p, running_mode="video", smoothing=smooth, target=opts.target, threads=opts.threads,
                cache_root=opts.cache_root)
    return out


def _run_sequence(image: np.ndarray, aligners: dict, opts: StabilityOptions, moving: bool, tick: Callable) -> dict:
    """Feed the same noisy frames to every aligner; {key: [FrameResult per frame]}."""
    rng = np.random.default_rng([opts.seed, int(moving)])
    results = {k: [] for k in aligners}
    for a in aligners.values():
        a.reset()
    for i in range(opts.frames):
        frame = noisy(shifted(image, opts.speed_px * i) if moving else image, opts.sigma, rng)
        ts = i * 1000.0 / opts.fps
        for k, a in aligners.items():
            results[k].append(a.detect_for_video(frame, ts))
        tick()
    return results


def _tracks(results: list, skip: int, photo: str) -> dict:
    """{face id: (frames, 68, 3) landmarks over frames skip..end}; only ids present in all those frames."""
    window = results[skip:]
    ids = set.intersection(*[{f.id for f in r.faces} for r in window]) if window else set()
    if not ids:
        raise EdgefaceError(f"stability: no face tracked through frames {skip}-{len(results) - 1} of {photo}")
    return {i: np.stack([next(f for f in r.faces if f.id == i).landmarks for r in window]) for i in sorted(ids)}


def _centroid(track: np.ndarray) -> np.ndarray:
    return track[0, :, :2].mean(axis=0)


def _nearest(tracks: dict, point: np.ndarray, shift: np.ndarray) -> int:
    """The id of the track whose first-frame centroid, moved by `shift`, is nearest to `point`."""
    return min(tracks, key=lambda j: float(np.linalg.norm(_centroid(tracks[j]) + shift - point)))


def _photo_rows(name: str, still: dict, moving: dict, opts: StabilityOptions) -> list:
    rows = []
    v = np.array([opts.speed_px, 0.0])
    frame_idx = np.arange(opts.skip, opts.frames, dtype=np.float64)
    zero = np.zeros(2)
    for p in opts.precisions:
        s_raw, s_sm = (_tracks(still[(p.value, k)], opts.skip, name) for k in (False, True))
        m_raw, m_sm = (_tracks(moving[(p.value, k)], opts.skip, name) for k in (False, True))
        per_face = []
        for fid, raw in s_raw.items():
            c = _centroid(raw)
            sm = s_sm[_nearest(s_sm, c, zero)]
            # the same face in the moving runs: where it is at frame `skip`
            mr = m_raw[_nearest(m_raw, c + v * opts.skip, zero)]
            ms = m_sm[_nearest(m_sm, c + v * opts.skip, zero)]
            truth = raw.mean(axis=0)[None, :, :2] + frame_idx[:, None, None] * v  # the still face, moved
            per_face.append({"id": int(fid), "size_px": face_size_of(raw.mean(axis=0)),
                             "jitter_raw": landmark_jitter(raw), "jitter_smoothed": landmark_jitter(sm),
                             "lag_frames": lag_frames(mr, ms, v), "raw_lag_frames": lag_frames(truth, mr, v)})
        mean = lambda key: float(np.mean([f[key] for f in per_face]))  # noqa: E731
        rows.append(PhotoStability(photo=name, precision=p.value, faces=len(per_face), jitter_raw=mean("jitter_raw"),
                                   jitter_smoothed=mean("jitter_smoothed"), lag_frames=mean("lag_frames"),
                                   raw_lag_frames=mean("raw_lag_frames"), per_face=per_face))
    return rows


def smoother_cost(results: Sequence, smoothing, repeats: int = 5) -> float:
    """CPU ms (this thread's: other processes' load does not count, as it would in wall time) per face per
    frame of `FaceSmoother(smoothing)` over recorded raw results, best of `repeats`."""
    faces = sum(len(r.faces) for r in results)
    if not faces:
        return float("nan")
    best = float("inf")
    for _ in range(repeats):
        sm = FaceSmoother(dataclasses.replace(smoothing, enabled=True))
        t0 = time.thread_time()
        for r in results:
            sm(r)
        best = min(best, (time.thread_time() - t0) * 1000.0 / faces)
    return best


def measure_stability(opts: StabilityOptions, progress: Optional[Progress] = None) -> StabilityReport:
    """Jitter and lag of every photo x precision (see the module docstring)."""
    photos = opts.photos or default_photos(opts.cache_root)
    images = [(p.name, _read(p)) for p in photos]
    aligners = _aligners(opts)
    total, done = 2 * opts.frames * len(images), [0]

    def tick(label=""):
        done[0] += 1
        if progress:
            progress(label or "stability", done[0], total)

    rows, recorded = [], []
    try:
        first = next(iter(aligners.values()))
        smoothing = first.pipeline.options.smoothing
        target = first.target.profile.name
        for name, img in images:
            still = _run_sequence(img, aligners, opts, False, lambda: tick(f"{name}: still"))
            moving = _run_sequence(img, aligners, opts, True, lambda: tick(f"{name}: moving"))
            rows += _photo_rows(name, still, moving, opts)
            recorded += still[(opts.precisions[0].value, False)]
    finally:
        for a in aligners.values():
            a.close()
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(opts).items()
                if k not in ("photos", "precisions", "cache_root")}
    settings.update(photos=[n for n, _ in images], precisions=[p.value for p in opts.precisions], target=target)
    sm = {k: getattr(smoothing, k) for k in ("min_cutoff", "beta", "d_cutoff", "speed_floor", "shape_cutoff",
                                             "shape_beta", "shape_floor")}
    cost = smoother_cost(recorded, smoothing)
    settings["load_avg_smoother"] = round(os.getloadavg()[0], 2)  # the 1-min load while the smoother was timed
    return StabilityReport(rows=rows, settings=settings, smoother_ms_per_face=cost, smoothing=sm)
