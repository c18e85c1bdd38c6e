"""`edgeface bench motion`: tracking under camera and face motion, scored against still images.

    edgeface bench motion --precision int8 --json m.json --md m.md --png m.png

For each motion pattern (`paths.PATTERNS`) and speed (5, 15, 25, 40 px/frame) one clip of `frames`
frames is rendered once (`scene.render`: the composite of the sample photos, and any `--photo`),
then every system processes the same frames in VIDEO mode (a fresh aligner per clip, timestamps at
30 fps) and is scored (`metrics.ClipScore`). Systems: edgeface with `motion="velocity"` and
`motion="none"` (upstream's crop from the previous landmarks), the rest of the options the board
profile's; MediaPipe FaceMesh (`max_num_faces` = the most faces in view in the clip) where it imports
(recall and fps only: it has no ids). Rendering and scoring are never timed; fps is frames / the
time spent in `detect_for_video`.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgeface.aligner import FaceAligner
from edgeface.tools.bench.motion import report as motion_report
from edgeface.tools.bench.motion.metrics import ClipScore
from edgeface.tools.bench.motion.paths import PATTERNS, make_clip
from edgeface.tools.bench.motion.scene import build_scene, render
from edgeface.tools.bench.motion.truth import load_photos, scaled_pieces, sprites_from

FORMAT = "edgeface-motion/1"
SPEEDS = (5, 15, 25, 40)


@dataclass(frozen=True)
class MotionBenchOptions:
    precision: str = "int8"
    motions: tuple = ("velocity", "none")
    patterns: tuple = PATTERNS
    speeds: tuple = SPEEDS
    frames: int = 80
    photos: tuple = ()  # extra photo files composited with the samples
    target: str = "auto"
    cache_root: Optional[str] = None
    mediapipe: bool = True  # score MediaPipe FaceMesh too when it imports (here or in `mediapipe_python`)
    mediapipe_python: Optional[str] = None  # a python with mediapipe (its own venv)
    seed: int = 0

    def __post_init__(self):
        if int(self.frames) < 10:
            raise ValueError(f"clips need at least 10 frames, got {self.frames}")
        bad = [p for p in self.patterns if p not in PATTERNS]
        if bad:
            raise ValueError(f"unknown motion patterns {bad}: use {', '.join(PATTERNS)}")
        if any(float(s) <= 0 for s in self.speeds):
            raise ValueError(f"speeds must be > 0 px/frame, got {self.speeds}")


def build_world(opts: MotionBenchOptions):
    """(scene, sprites): the composite canvas and the crossing sprites with their still-image truth."""
    with FaceAligner.create(precision=opts.precision, cache_root=opts.cache_root, target=opts.target) as still:
        photos = load_photos(opts.photos)
        pieces = scaled_pieces(still, photos)
        sprites = sprites_from(still, photos)
    return build_scene(pieces), sprites


def render_clip(scene, sprites, pattern: str, speed: float, frames: int, seed: int) -> tuple:
    """(frames [BGR], truth per frame) of one clip."""
    start = (scene.period * 0.37, scene.canvas.shape[0] * 0.5)
    clip = make_clip(pattern, speed, frames, start, [s.patch.shape[1::-1] for s in sprites], seed)
    images, truth = [], []
    for view, pos in zip(clip.views, clip.sprites):
        img, tf = render(scene, view, sprites[:len(pos)], pos)
        images.append(img)
        truth.append(tf)
    return images, truth


def run_edgeface(images: Sequence[np.ndarray], truth: Sequence[list], aligner: FaceAligner) -> dict:
    score = ClipScore()
    busy = 0.0
    aligner.reset()
    for t, img in enumerate(images):
        t0 = time.perf_counter()
        res = aligner.detect_for_video(img, int(t * 1000 / 30))
        busy += time.perf_counter() - t0
        score.add(t, [(f.id, f.landmarks) for f in res.faces], truth[t])
    out = score.summary()
    out["fps"] = len(images) / busy if busy > 0 else None
    return out


def mediapipe_python(given: Optional[str]) -> tuple:
    """(a python that imports mediapipe, or None; why / which version)."""
    for py in ([given] if given else []) + [sys.executable]:
        p = subprocess.run([py, "-c", "import mediapipe; print(mediapipe.__version__)"], capture_output=True, text=True)
        if p.returncode == 0:
            return py, f"mediapipe {p.stdout.strip()} ({py})"
    return None, ("mediapipe does not import in " + (given or sys.executable) +
                  " (its own venv: pip install mediapipe==0.10.18 on Python <= 3.12; --mediapipe-python)")


def run_mediapipe(python: str, images: Sequence[np.ndarray], truth: Sequence[list], max_faces: int) -> dict:
    """Recall and fps of FaceMesh (tracking mode) in its own process (`mediapipe_worker.py`). It has no
    ids (no id switches) and 468 points: a face counts as found by the box IoU of its points with the
    true landmarks' box (the metric's matching), no landmark error."""
    with tempfile.TemporaryDirectory() as d:
        fp, out = Path(d) / "frames.npy", Path(d) / "mp.npz"
        np.save(fp, np.stack(images))
        p = subprocess.run([python, str(Path(__file__).with_name("mediapipe_worker.py")), "--frames", str(fp),
                            "--out", str(out), "--max-faces", str(max_faces)], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"mediapipe worker failed: {p.stderr.strip().splitlines()[-1:]}")
        z = np.load(out)
        pts, off, ms = z["points"], z["offsets"], z["ms"]
    score = ClipScore()
    for t in range(len(images)):
        score.add(t, [(-1, pts[k]) for k in range(off[t], off[t + 1])], truth[t])
    out = score.summary()
    out.update(fps=len(images) / (float(ms.sum()) / 1000.0), landmark_error=None, landmark_error_p95=None,
               id_switches=None)
    return out


def run_motion_bench(opts: MotionBenchOptions, log=print) -> dict:
    """The report dict (`FORMAT`): one row per system, pattern and speed."""
    load0 = os.getloadavg()[0]
    scene, sprites = build_world(opts)
    aligners = {m: FaceAligner.create(precision=opts.precision, running_mode="video", motion=m,
                                      cache_root=opts.cache_root, target=opts.target) for m in opts.motions}
    mp, mp_note = mediapipe_python(opts.mediapipe_python) if opts.mediapipe else (None, "not asked for")
    rows = []
    try:
        for pattern in opts.patterns:
            for speed in opts.speeds:
                images, truth = render_clip(scene, sprites, pattern, speed, opts.frames, opts.seed)
                for m, al in aligners.items():
                    r = run_edgeface(images, truth, al)
                    rows.append({"system": f"edgeface-{m}", "pattern": pattern, "speed": speed, **r})
                    log(motion_report.row_line(rows[-1]))
                if mp is not None:
                    r = run_mediapipe(mp, images, truth, max(1, max(len(t) for t in truth)))
                    rows.append({"system": "mediapipe", "pattern": pattern, "speed": speed, **r})
                    log(motion_report.row_line(rows[-1]))
        describe = next(iter(aligners.values())).describe() if aligners else {}
    finally:
        for al in aligners.values():
            al.close()
    return {"format": FORMAT, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": {"host": platform.node(), "cpu_count": os.cpu_count(), "cores": len(os.sched_getaffinity(0)),
                        "load_avg_start": load0, "load_avg_end": os.getloadavg()[0], "python": platform.python_version()},
            "options": {"precision": opts.precision, "frames": opts.frames, "patterns": list(opts.patterns),
                        "speeds": list(opts.speeds), "photos": list(opts.photos), "seed": opts.seed},
            "scene": {"period_px": scene.period, "faces": len(scene.faces), "pieces": [p.name for p in scene.pieces],
                      "sprites": [s.name for s in sprites]},
            "pipeline": {k: describe.get(k) for k in ("runtime", "precision", "threads", "detect_interval", "scan",
                                                      "regressor_threads", "detector_threads", "target")},
            "mediapipe": mp_note, "rows": rows}


__all__ = ("FORMAT", "SPEEDS", "MotionBenchOptions", "build_world", "render_clip", "run_edgeface", "run_motion_bench")
