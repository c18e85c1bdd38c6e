"""One Euro filter (Casiez et al. 2012) and the per-face smoother."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from edgeface.errors import EdgefaceError
from edgeface.results import Face, FrameResult, Pose
from edgeface.runtime.one_euro import OneEuroFilter, smoothing_factor, wrap_angle
from edgeface.runtime.smoothing import FaceSmoother
from edgeface.runtime.smoothing_config import DEFAULT_POSE, SmoothingConfig

FPS = 25.0


def run(filt, xs, fps=FPS, **kw):
    return np.array([filt(x, i / fps, **kw) for i, x in enumerate(xs)])


def jitter(a):
    """Std of the frame-to-frame difference."""
    return float(np.diff(np.asarray(a), axis=0).std())


def test_alpha_formula_by_hand():
    te, fc = 1 / 30, 1.0
    tau = 1 / (2 * math.pi * fc)
    assert smoothing_factor(te, fc) == pytest.approx(1 / (1 + tau / te), rel=1e-12)
    assert smoothing_factor(te, fc) == pytest.approx(0.173171, abs=1e-6)  # (2pi/30) / (1 + 2pi/30)
    np.testing.assert_allclose(smoothing_factor(0.04, np.array([0.5, 2.0, 10.0])),
                               [1 / (1 + (1 / (2 * math.pi * c)) / 0.04) for c in (0.5, 2.0, 10.0)], rtol=1e-6)  # float32 arrays


def test_two_steps_by_hand():
    cfg = SmoothingConfig(min_cutoff=1.0, beta=0.5, d_cutoff=2.0, speed_floor=0.0)
    f = OneEuroFilter(cfg)
    assert f(0.0, 0.0) == 0.0  # first sample passes through
    y = f(1.0, 0.1)
    te = 0.1
    a_d = 1 / (1 + (1 / (2 * math.pi * 2.0)) / te)
    edx = a_d * (1.0 - 0.0) / te  # speed estimate from 0
    fc = 1.0 + 0.5 * abs(edx)
    a = 1 / (1 + (1 / (2 * math.pi * fc)) / te)
    assert float(y) == pytest.approx(a * 1.0, rel=1e-6)
    # third sample: speed relative to the previous filtered value
    y3 = f(1.0, 0.2)
    dx = (1.0 - a) / te
    edx2 = edx + a_d * (dx - edx)
    fc2 = 1.0 + 0.5 * abs(edx2)
    a2 = 1 / (1 + (1 / (2 * math.pi * fc2)) / te)
    assert float(y3) == pytest.approx(a + a2 * (1.0 - a), rel=1e-6)


def test_constant_signal_passes_unchanged():
    x = np.random.default_rng(1).normal(100, 30, (68, 3)).astype(np.float32)  # the filters work in float32
    f = OneEuroFilter(SmoothingConfig(min_cutoff=0.5, beta=3.0))
    for i in range(40):
        np.testing.assert_array_equal(f(x, i / FPS), x)


def test_vectorized_equals_elementwise():
    rng = np.random.default_rng(2)
    xs = np.cumsum(rng.normal(0, 3, (60, 4, 3)), axis=0)
    cfg = SmoothingConfig(min_cutoff=0.8, beta=0.2, d_cutoff=1.5)
    out = run(OneEuroFilter(cfg), xs)
    for idx in [(0, 0), (1, 2), (3, 1)]:
        single = run(OneEuroFilter(cfg), xs[:, idx[0], idx[1]])
        np.testing.assert_allclose(out[:, idx[0], idx[1]], single, rtol=0, atol=1e-12)


def test_noisy_constant_jitter_drops():
    rng = np.random.default_rng(3)
    xs = 50.0 + rng.normal(0, 1.0, (250, 68, 2))
    ys = run(OneEuroFilter(SmoothingConfig(min_cutoff=0.7, beta=0.0)), xs)
    assert jitter(xs) / jitter(ys) > 6.0
    assert abs(ys[50:].mean() - 50.0) < 0.05  # no bias


def test_step_is_followed():
    xs = np.r_[np.zeros(25), np.full(100, 10.0)]
    ys = run(OneEuroFilter(SmoothingConfig(min_cutoff=1.0, beta=0.5)), xs)
    after = ys[25:]
    assert np.all(np.diff(after) >= -1e-12) and np.all(after <= 10.0 + 1e-9)  # monotone, no overshoot
    first_90 = int(np.argmax(after >= 9.0))
    assert 0 < first_90 <= 8  # reaches 90% within 8 frames (320 ms)
    assert abs(after[-1] - 10.0) < 1e-3  # converges


def test_beta_reduces_lag_on_fast_motion():
    t = np.arange(100) / FPS
    xs = np.where(t > 1, (t - 1) * 200.0, 0.0)  # 200 units/s ramp after 1 s
    lag = {}
    for beta in (0.0, 0.05):
        ys = run(OneEuroFilter(SmoothingConfig(min_cutoff=1.0, beta=beta)), xs)
        lag[beta] = float(np.abs(ys - xs)[(t > 1.5)].mean())
    assert lag[0.05] < 0.3 * lag[0.0]


def test_timestamps_vs_nominal_fps():
    xs = np.r_[np.zeros(5), np.ones(10)]
    cfg = SmoothingConfig(min_cutoff=1.0, beta=0.0, nominal_fps=25.0)
    with_t = run(OneEuroFilter(cfg), xs, fps=25.0)
    f = OneEuroFilter(cfg)
    without = np.array([f(x) for x in xs])
    np.testing.assert_allclose(with_t, without, atol=1e-12)
    # a frame gap (dropped frames) lets the filter move further in one step
    f = OneEuroFilter(cfg)
    f(0.0, 0.0)
    slow = f(1.0, 0.04)
    f = OneEuroFilter(cfg)
    f(0.0, 0.0)
    gap = f(1.0, 0.2)
    assert gap > slow
    # repeated timestamp: treated as one nominal frame, no division by zero
    f = OneEuroFilter(cfg)
    f(0.0, 1.0)
    assert np.isfinite(f(1.0, 1.0))


def test_angles_wrap_around_180():
    rng = np.random.default_rng(4)
    raw = 180.0 + rng.normal(0, 1.5, 200)  # jitter across +-180
    wrapped = wrap_angle(raw)
    assert wrapped.min() < -170 and wrapped.max() > 170
    ys = run(OneEuroFilter(SmoothingConfig(min_cutoff=0.7, beta=0.03), period=360.0), wrapped)
    err = np.abs(wrap_angle(ys - 180.0))
    assert err.max() < 6.0  # never pulled towards 0
    assert np.all((ys >= -180) & (ys < 180))
    assert jitter(wrap_angle(np.diff(wrapped))) > 3 * float(np.std(wrap_angle(np.diff(ys))))


def test_bad_config():
    with pytest.raises(EdgefaceError):
        SmoothingConfig(min_cutoff=0)
    with pytest.raises(EdgefaceError):
        SmoothingConfig(beta=-1)


# ----------------------------------------------------------------------------- FaceSmoother


def make_face(fid, center, size=200.0, pose=(10.0, -5.0, 3.0), rng=None, noise=0.0, dense=False):
    rng = rng or np.random.default_rng(fid)
    base = np.linspace(-0.5, 0.5, 68 * 3).reshape(68, 3) * size
    lm = base + np.array([center[0], center[1], 0.0])
    if noise:
        lm = lm + rng.normal(0, noise, lm.shape)
    half = size / 2
    bbox = np.array([center[0] - half, center[1] - half, center[0] + half, center[1] + half])
    return Face(id=fid, bbox=bbox, score=0.9, landmarks=lm.astype(np.float32), pose=Pose(*pose),
                params=np.zeros(62, np.float32), roi=bbox.copy(), camera=np.eye(3, 4),
                dense=(lm[:10] + 1).astype(np.float32) if dense else None)


def test_face_smoother_defaults_on_synthetic_tracks():
    """White noise of 0.6 px (0.3% of the 200 px face: the raw jitter measured on real photos, README
    Stability): jitter / 6 at rest; the face then moves at one face size per second."""
    rng = np.random.default_rng(5)
    sm = FaceSmoother()
    t = np.arange(250) / FPS
    xs, ys, truth = [], [], []
    for i, ti in enumerate(t):
        cx = 300 + 200 * float(np.clip(ti - 5, 0, 1))  # still 5 s, then 1 face size per second for 1 s
        face = make_face(0, (cx, 240), noise=0.6, rng=rng)
        out = sm(FrameResult(frame=i, source="x", faces=[face], timestamp_ms=float(ti) * 1000.0))
        xs.append(face.landmarks[:, :2])
        ys.append(out.faces[0].landmarks[:, :2])
        truth.append(make_face(0, (cx, 240)).landmarks[:, :2])
    xs, ys, truth = map(np.asarray, (xs, ys, truth))
    still = t < 5
    assert jitter(xs[still]) / jitter(ys[still]) > 6.0
    moving = (t > 5.2) & (t < 6)
    lag_px = np.abs(ys - truth).mean(axis=(1, 2))[moving].mean()
    assert lag_px < 8.0  # < 40 ms at 200 px/s


def test_face_smoother_pose_defaults():
    rng = np.random.default_rng(6)
    sm = FaceSmoother()
    raw, out = [], []
    for i in range(200):
        p = (10 + rng.normal(0, 1), -5 + rng.normal(0, 1), 175 + rng.normal(0, 3))
        r = sm(FrameResult(frame=i, source="x", faces=[make_face(3, (100, 100), pose=p)]))
        raw.append(p)
        pose = r.faces[0].pose
        out.append((pose.yaw, pose.pitch, pose.roll))
    raw, out = np.asarray(raw), np.asarray(out)
    raw_j = np.std(wrap_angle(np.diff(raw, axis=0)), axis=0)
    out_j = np.std(wrap_angle(np.diff(out, axis=0)), axis=0)
    assert np.all(raw_j / out_j > 4.0)
    assert np.abs(wrap_angle(out[50:, 2] - 175)).max() < 5  # roll near +-180 handled


def test_face_smoother_per_id_reset_and_no_mutation():
    sm = FaceSmoother()
    a0, b0 = make_face(0, (100, 100)), make_face(1, (400, 100))
    r0 = sm(FrameResult(frame=0, source="x", faces=[a0, b0]))
    np.testing.assert_array_equal(r0.faces[0].landmarks, a0.landmarks)  # first sample unchanged
    a1, b1 = make_face(0, (110, 100)), make_face(1, (400, 100))
    r1 = sm(FrameResult(frame=1, source="x", faces=[a1, b1]))
    assert r1.faces[0].landmarks[0, 0] < a1.landmarks[0, 0]  # face 0 lags behind its jump
    np.testing.assert_array_equal(r1.faces[1].landmarks, b1.landmarks)  # face 1 did not move
    assert a1.landmarks[0, 0] == make_face(0, (110, 100)).landmarks[0, 0]  # input not modified
    assert r1.faces[0] is not a1 and r1.faces[0].landmarks.dtype == np.float32
    # face 1 disappears: its state is dropped; when an id 1 comes back it starts fresh
    sm(FrameResult(frame=2, source="x", faces=[make_face(0, (110, 100))]))
    assert sm.tracked_ids == [0]
    b3 = make_face(1, (600, 300))
    r3 = sm(FrameResult(frame=3, source="x", faces=[make_face(0, (110, 100)), b3]))
    np.testing.assert_array_equal(r3.faces[1].landmarks, b3.landmarks)
    sm.reset()
    assert sm.tracked_ids == []


def test_face_smoother_scale_invariant():
    """Scaling a whole scene by k scales the smoothed output by k (speeds measured in face sizes)."""
    outs = {}
    for k in (1.0, 3.0):
        sm = FaceSmoother()
        rng = np.random.default_rng(7)
        seq = []
        for i in range(40):
            f = make_face(0, (k * (100 + 5 * i), k * 100), size=200 * k, noise=k * 1.0, rng=rng)
            seq.append(sm(FrameResult(frame=i, source="x", faces=[f])).faces[0].landmarks.astype(np.float64))
        outs[k] = np.asarray(seq)
    np.testing.assert_allclose(outs[3.0], 3.0 * outs[1.0], rtol=1e-4, atol=1e-3)


def test_face_smoother_disabled_and_dense():
    off = FaceSmoother(SmoothingConfig(enabled=False))
    r = FrameResult(frame=0, source="x", faces=[make_face(0, (1, 1))])
    assert off(r) is r and not off.enabled
    sm = FaceSmoother()
    sm(FrameResult(frame=0, source="x", faces=[make_face(0, (100, 100), dense=True)]))
    f1 = make_face(0, (120, 100), dense=True)
    out = sm(FrameResult(frame=1, source="x", faces=[f1])).faces[0]
    assert out.dense is not None and out.dense.shape == f1.dense.shape
    assert np.all(out.dense[:, 0] < f1.dense[:, 0])  # smoothed too
    assert out.params is f1.params and out.camera is f1.camera  # raw regressor output kept
    sm.enabled = False
    assert not sm.enabled and sm.pose_config.beta == DEFAULT_POSE.beta


def test_frame_index_time_when_no_timestamp():
    cfg = SmoothingConfig(min_cutoff=1.0, beta=0.0, nominal_fps=10.0)
    a, b = FaceSmoother(cfg), FaceSmoother(cfg)
    f0, f1 = make_face(0, (0, 0)), make_face(0, (50, 0))
    a(FrameResult(frame=0, source="x", faces=[f0]))
    b(FrameResult(frame=0, source="x", faces=[f0], timestamp_ms=0.0))
    ra = a(FrameResult(frame=3, source="x", faces=[f1]))  # frame 3 at 10 fps = 0.3 s
    rb = b(FrameResult(frame=1, source="x", faces=[f1], timestamp_ms=300.0))
    np.testing.assert_allclose(ra.faces[0].landmarks, rb.faces[0].landmarks)
    assert dataclasses.is_dataclass(ra)


# ----------------------------------------------------------------------------- face-level motion (stability)


def _still_and_moving(sm_factory, noise=0.6, speed_px=2.0, frames=60, size=200.0, step=None, seed=0):
    """(still raw, still smoothed, moving raw, moving smoothed) landmark tracks (frames, 68, 2) at 30 fps."""
    out = []
    for speed in (0.0, speed_px):
        rng = np.random.default_rng(seed)
        sm = sm_factory()
        raw, smooth = [], []
        for i in range(frames):
            f = make_face(0, (300 + speed * i, 240), size=size, noise=noise, rng=rng)
            if step:  # INT8-like: positions on a coarse grid
                f = dataclasses.replace(f, landmarks=(np.round(f.landmarks / step) * step).astype(np.float32))
            raw.append(f.landmarks[:, :2])
            smooth.append(sm(FrameResult(frame=i, source="x", faces=[f], timestamp_ms=i * 1000.0 / 30.0)).faces[0].landmarks[:, :2])
        out += [np.asarray(raw, np.float64), np.asarray(smooth, np.float64)]
    return out


def _pos_jitter(track):
    return float(np.sqrt(track.var(axis=0).sum(axis=1)).mean())


def _lag(raw, smooth, speed):
    return float((raw[:, :, 0] - smooth[:, :, 0]).mean() / speed)


def test_defaults_still_face_steady_moving_face_followed():
    """White noise of 0.6 px on a 200 px face: smoothed jitter / 10 at rest, lag <= 1 frame at 2 px/frame."""
    s_raw, s_sm, m_raw, m_sm = _still_and_moving(FaceSmoother)
    assert _pos_jitter(s_sm[10:]) < _pos_jitter(s_raw[10:]) / 10
    assert _lag(m_raw[10:], m_sm[10:], 2.0) < 1.0


def test_dead_zones_keep_noise_from_opening_the_filter():
    """The INT8 hypothesis (docs/concepts/stability.md): a speed-dependent cutoff turns noise and quantization steps
    into speed. Below the dead zones a still, noisy (and quantized) face is smoothed exactly as with the speed
    terms switched off, while a moving face is not."""
    off = lambda: FaceSmoother(SmoothingConfig(beta=0.0, shape_beta=0.0))  # noqa: E731
    for step in (None, 1.0):
        _, s_on, m_raw, m_on = _still_and_moving(FaceSmoother, noise=0.4, step=step)
        _, s_off, _, m_off = _still_and_moving(off, noise=0.4, step=step)
        np.testing.assert_allclose(s_on, s_off, atol=1e-3)
        assert _lag(m_raw[10:], m_on[10:], 2.0) < 1.0 < _lag(m_raw[10:], m_off[10:], 2.0)


def test_warm_start_averages_the_first_samples():
    """With the speed term off, the n-th output of a new track is the mean of its first n samples while 1/n
    is above the rest alpha."""
    cfg = SmoothingConfig(min_cutoff=0.05, beta=0.0, shape_beta=0.0)
    sm = FaceSmoother(cfg)
    rng = np.random.default_rng(2)
    seen = []
    for i in range(8):
        f = make_face(0, (300, 240), noise=2.0, rng=rng)
        seen.append(f.landmarks.astype(np.float64))
        out = sm(FrameResult(frame=i, source="x", faces=[f], timestamp_ms=i * 1000.0 / 30.0)).faces[0].landmarks
        np.testing.assert_allclose(out, np.mean(seen, axis=0), atol=2e-3)


def test_one_alpha_for_everything_that_moves_with_the_face():
    sm = FaceSmoother()
    for i in range(30):
        sm(FrameResult(frame=i, source="x", faces=[make_face(0, (300, 240), dense=True)], timestamp_ms=i * 1000.0 / 30.0))
    f = make_face(0, (320, 240), dense=True)  # a 20 px jump: same fraction of it for every array
    out = sm(FrameResult(frame=30, source="x", faces=[f], timestamp_ms=1000.0)).faces[0]
    frac = [(out.landmarks[:, 0] - (f.landmarks[:, 0] - 20)) / 20, (out.bbox[0::2] - (f.bbox[0::2] - 20)) / 20,
            (out.roi[0::2] - (f.roi[0::2] - 20)) / 20, (out.dense[:, 0] - (f.dense[:, 0] - 20)) / 20]
    a = float(frac[0][0])
    assert 0 < a < 1
    for x in frac:
        np.testing.assert_allclose(x, a, atol=1e-4)


def test_hot_path_is_float32_without_float64_temporaries():
    """Smoothing a face with a 38k-vertex dense mesh allocates about one float32 copy per array, never float64."""
    import tracemalloc

    n = 38365
    rng = np.random.default_rng(4)
    dense = rng.uniform(0, 400, (n, 3)).astype(np.float32)
    sm = FaceSmoother()

    def face(i):
        f = make_face(0, (300 + i, 240), rng=rng, noise=0.5)
        return dataclasses.replace(f, dense=dense + np.float32(i))

    for i in range(3):
        sm(FrameResult(frame=i, source="x", faces=[face(i)], timestamp_ms=i * 1000.0 / 30.0))
    f = face(3)
    tracemalloc.start()
    out = sm(FrameResult(frame=3, source="x", faces=[f], timestamp_ms=100.0)).faces[0]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.dense.dtype == np.float32 and out.landmarks.dtype == np.float32
    assert peak < 1.3 * dense.nbytes  # one float64 temporary alone would be 2x
