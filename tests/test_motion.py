"""Motion-aware tracking (runtime/motion.py, runtime/track_motion.py): the motion model on synthetic tracks,
then real models on real photos: ids kept across a one-frame loss and across two faces crossing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edgeface.errors import EdgefaceError
from edgeface.frames import Frame
from edgeface.runtime.loading import build_pipeline
from edgeface.runtime.motion import BoxMotion, MotionConfig, apply_similarity, fit_similarity, off_centre
from edgeface.runtime.options import PipelineOptions
from edgeface.runtime.smoothing import SmoothingConfig
from edgeface.runtime.tracks import TrackerConfig
from edgeface.tools.bench.motion.metrics import ClipScore, match
from edgeface.tools.bench.motion.run import MotionBenchOptions, build_world, render_clip


def box(cx, cy, side=80.0):
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


# ----------------------------------------------------------------------------- the motion model alone

def test_constant_velocity_is_predicted():
    m = BoxMotion(MotionConfig())
    for f in range(4):
        m.observe(box(100 + 25 * f, 200 - 10 * f), f)
    dx, dy, ds = m.shift(4)
    assert dx == pytest.approx(25.0) and dy == pytest.approx(-10.0) and ds == pytest.approx(0.0, abs=1e-12)
    roi = np.array([150.0, 100.0, 270.0, 220.0])
    assert np.allclose(m.predict_roi(roi, 4), roi + [25, -10, 25, -10])
    assert np.allclose(m.predict_roi(roi, 5), roi + [50, -20, 50, -20])  # two frames ahead: twice the step


def test_still_face_keeps_upstreams_crop():
    """Below min_speed (landmark noise) the crop is the very same object: upstream's crop, bit for bit."""
    rng = np.random.default_rng(0)
    m = BoxMotion(MotionConfig())
    for f in range(20):
        m.observe(box(300 + rng.normal(0, 0.3), 240 + rng.normal(0, 0.3)), f)
    roi = np.array([240.0, 180.0, 360.0, 300.0])
    assert m.predict_roi(roi, 20) is roi


def test_reversal_is_followed_within_a_few_frames():
    m = BoxMotion(MotionConfig(gain=0.7))
    xs = [100 + 20 * f for f in range(8)] + [240 - 20 * f for f in range(1, 8)]
    for f, x in enumerate(xs):
        m.observe(box(x, 200), f)
    assert m.velocity[0] == pytest.approx(-20.0, abs=0.5)  # 7 frames after the reversal


def test_zoom_is_predicted_as_a_scale_change():
    m = BoxMotion(MotionConfig())
    for f in range(5):
        m.observe(box(320, 240, 60 * 1.05 ** f), f)
    dx, dy, ds = m.shift(5)
    assert math.exp(ds) == pytest.approx(1.05, rel=1e-6) and abs(dx) < 1e-9 and abs(dy) < 1e-9
    assert m.config.scale and not BoxMotion(MotionConfig(scale=False)).config.scale


def test_shift_is_capped_and_history_kept():
    m = BoxMotion(MotionConfig(max_shift=0.5))
    for f in range(3):
        m.observe(box(100 + 200 * f, 100), f)  # 200 px a frame on an 80 px face: capped at 40 px
    assert math.hypot(*m.shift(3)[:2]) == pytest.approx(40.0)
    assert np.allclose(m.box_at(1), box(300, 100)) and m.box_at(7) is None
    m.rollback()  # forget the last observation (another face's)
    assert m.frame == 1 and m.box_at(2) is None


def test_camera_pan_and_zoom_are_fitted():
    before = [box(100, 100, 60), box(400, 300, 80), box(250, 50, 70)]
    sim = (1.2, -15.0, 7.0)
    after = [apply_similarity(b, sim) for b in before]
    k, tx, ty = fit_similarity(before, after)
    assert (k, tx, ty) == pytest.approx(sim)
    assert fit_similarity([], []) is None


def test_reacquire_gate():
    m = BoxMotion(MotionConfig())
    for f in range(3):
        m.observe(box(100 + 10 * f, 100), f)
    face = box(120, 100)
    assert m.reacquire_score(box(140, 100), face, 4) == pytest.approx(0.0, abs=1e-9)  # where it should be
    assert m.reacquire_score(box(400, 100), face, 4) is None  # too far
    assert m.reacquire_score(box(140, 100, 200), face, 4) is None  # wrong size
    assert m.reacquire_score(box(140, 100), face, 2 + 31) is None  # lost too long ago


def test_off_centre():
    roi = np.array([0.0, 0.0, 100.0, 100.0])
    assert off_centre(roi, roi) == 0.0 and off_centre(roi, roi + 12) == pytest.approx(0.12)


@pytest.mark.parametrize("bad", [dict(model="kalman"), dict(gain=0.0), dict(max_shift=0), dict(history=0),
                                 dict(reacquire_size=0.9), dict(recrop=-1), dict(min_scan_interval=0), dict(size_jump=1.0)])
def test_config_is_validated(bad):
    with pytest.raises(EdgefaceError):
        MotionConfig(**bad)
    with pytest.raises(EdgefaceError):
        TrackerConfig(motion="velocity")


# ----------------------------------------------------------------------------- real models, real photos

def _pipe(home, motion="velocity"):
    # in-line scans: the detector runs on the frame it looks at (a deterministic sequence for the assertions)
    return build_pipeline(PipelineOptions(precision="int8", threads=1, root=home, scan="inline", motion=motion,
                                          max_misses=2, smoothing=SmoothingConfig(enabled=False)))


@pytest.fixture(scope="module")
def world(converted_home):
    return build_world(MotionBenchOptions(cache_root=str(converted_home)))


def _ids_of(results, truth, key):
    """Per frame: the id of the face matched to true face `key` (None: not reported or not in view)."""
    out = []
    for res, tf in zip(results, truth):
        keys = [t.key for t in tf]
        pairs = dict((j, i) for i, j in match([f.landmarks[:, :2] for f in res.faces], tf))
        j = keys.index(key) if key in keys else None
        out.append(res.faces[pairs[j]].id if j is not None and j in pairs else None)
    return out


def test_id_kept_across_a_one_frame_loss(converted_home, world):
    scene, sprites = world
    images, truth = render_clip(scene, sprites, "constant", 10, 30, 0)
    # frame 15: a camera jerk (the picture 130 px to the right for one frame): tracks are lost, then the faces are
    # back where they were (a grey frame would not do: the regressor finds a plausible face in a grey crop)
    keys = [t.key for t in truth[14] if t.inside >= 0.999]
    assert len(keys) >= 3
    images[15] = np.roll(images[15], 130, axis=1)
    pipe = _pipe(converted_home)
    results, lost = [], []
    try:
        for i, im in enumerate(images):
            results.append(pipe.process(Frame(i, im, i / 30, "pan")))
            lost.append(dict(pipe.tracker.lost_reasons))
    finally:
        pipe.close()
    revived = 0
    for key in keys:
        ids = _ids_of(results, truth, key)
        assert ids[14] is not None
        if ids[14] in lost[15]:  # its track was lost on the jerked frame
            assert ids[14] not in {f.id for f in results[15].faces}
            assert ids[17] == ids[14], (key, ids)  # and it is back with its id
            revived += 1
    assert revived >= 2, (lost[15], [_ids_of(results, truth, k)[13:18] for k in keys])


def test_crossing_faces_keep_their_ids(converted_home, world):
    scene, sprites = world
    images, truth = render_clip(scene, sprites, "crossing", 15, 80, 0)
    pipe = _pipe(converted_home)
    try:
        results = [pipe.process(Frame(i, im, i / 30, "crossing")) for i, im in enumerate(images)]
    finally:
        pipe.close()
    for sp in sprites:
        ids = _ids_of(results, truth, f"s{sp.name}")
        seen = [i for i in ids if i is not None]
        assert len(seen) > 30 and len(set(seen)) == 1, (sp.name, ids)  # one id before, through and after the crossing


def test_async_scans_every_frame_while_faces_enter_a_zooming_view(converted_home, world):
    """Zoom and pan at 25 px/frame: faces enter at the edge as the view widens. While the tracker asks for a
    scan every frame, the asynchronous scanner starts one on every frame (the frame that merges the previous
    frame's scan starts the next: before, only every other frame did), and the entering faces are found."""
    scene, sprites = world
    images, truth = render_clip(scene, sprites, "zoom", 25, 80, 0)
    pipe = build_pipeline(PipelineOptions(precision="int8", threads=1, root=converted_home, scan="async",
                                          motion="velocity", max_misses=2, smoothing=SmoothingConfig(enabled=False)))
    score, every_frame, started = ClipScore(), 0, 0
    try:
        for i, im in enumerate(images):
            res = pipe.process(Frame(i, im, i / 30, "zoom"))
            score.add(i, [(f.id, f.landmarks) for f in res.faces], truth[i])
            if pipe.tracker.scan_interval == 1 and pipe.tracker.frames_since_detection is not None:
                every_frame += 1
                started += pipe.scanner.pending_since == i  # a scan of this frame is under way
    finally:
        pipe.close()
    assert every_frame >= 40 and started >= every_frame - 2, (every_frame, started)
    s = score.summary()
    assert s["recall"] >= 0.975 and s["id_switches"] == 0, s


def test_motion_none_is_upstreams_tracker(converted_home, samples):
    """motion="none" builds the tracker without any motion state (its crops are upstream demo_video's)."""
    pipe = _pipe(converted_home, motion="none")
    try:
        assert pipe.tracker.config.motion is None and pipe.tracker._limbo is None and pipe._recrop == 0.0
        assert pipe.tracker.scan_interval == pipe.options.detect_interval
    finally:
        pipe.close()


@pytest.mark.parametrize("name", ["motion", "scaling"])
def test_bench_subcommand_rerenders_the_committed_report(name, tmp_path, capsys):
    """`edgeface bench motion|scaling --from-json` renders a saved report to the committed Markdown; a report
    of another kind is one line, exit 2."""
    from edgeface.cli.main import main

    repo = Path(__file__).resolve().parents[1]
    src = repo / "benchmarks" / f"{name}-x86_64.json"
    main(["bench", name, "--from-json", str(src), "--markdown", str(tmp_path / "r.md")])
    assert (tmp_path / "r.md").read_text() == (repo / "benchmarks" / f"{name}-x86_64.md").read_text()
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["bench", name, "--from-json", str(repo / "benchmarks" / "soak-x86_64.json")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
