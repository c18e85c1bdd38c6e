"""The per-frame hot path's fast variants give exactly the numbers of the general functions they stand in
for (the per-frame overhead work must not change results): landmark decoding (and the landmarks' extremes), crops, de-normalization,
box geometry on floats, boxes clipped to the frame, the smoother applied in place, the tracker's cached predicted box."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from edgeface.errors import EdgefaceError
from edgeface.hub import safe_pickle
from edgeface.sources.images import read_image
from edgeface.runtime import boxes, roi as roi_mod, tdmm
from edgeface.runtime.decode import SparseDecoder, pose_degrees
from edgeface.runtime.networks import LandmarkRegressor
from edgeface.results import Face, FrameResult, Pose
from edgeface.runtime.smoothing import FaceSmoother, blend_points
from edgeface.runtime.tracks import Track


@pytest.fixture(scope="module")
def bases(mirror):
    return tdmm.load_sparse_bases_txt(mirror / "3ddfa_v1" / "c++" / "weights")


@pytest.fixture(scope="module")
def param_stats(mirror):
    d = safe_pickle.load(mirror / "3ddfa_v2" / "configs" / "param_mean_std_62d_120x120.pkl")
    return np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32)


def _random_params(rng, param_stats, spread=1.5):
    mean, std = param_stats
    return (mean + std * rng.normal(size=62).astype(np.float32) * np.float32(spread)).astype(np.float32)


def _random_roi(rng):
    side = rng.uniform(30, 900)
    x, y = rng.uniform(-200, 1200), rng.uniform(-200, 700)
    return np.array([x, y, x + side, y + side])


def test_decoder_is_bit_identical_to_the_reference(bases, param_stats):
    dec = SparseDecoder(bases.u, bases.w_shp, bases.w_exp)
    rng = np.random.default_rng(0)
    for _ in range(500):
        p, roi = _random_params(rng, param_stats), _random_roi(rng)
        ref = tdmm.to_image(tdmm.sparse_landmarks(p, bases.u, bases.w_shp, bases.w_exp), roi).T
        got = dec.landmarks(p, roi)
        assert got.dtype == np.float32 and got.shape == (68, 3) and got.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_allclose(pose_degrees(p), tdmm.pose_from_params(p), rtol=0, atol=1e-9)
    # a list ROI and a fresh array per call (results never alias the decoder's buffers)
    a = dec.landmarks(p, list(roi))
    b = dec.landmarks(p, roi)
    np.testing.assert_array_equal(a, b)
    assert not np.shares_memory(a, b)
    with pytest.raises(EdgefaceError, match="float32"):
        dec.landmarks(p.astype(np.float64), roi)


def test_decoder_many_faces_at_once_is_face_by_face(bases, param_stats):
    """`landmarks_many` (all the faces of a frame in one pass) gives each face the bits `landmarks` gives it
    alone, whatever the number of faces (numpy's stacked matmul runs each face's product as the 2-D one)."""
    dec = SparseDecoder(bases.u, bases.w_shp, bases.w_exp)
    rng = np.random.default_rng(3)
    for f in (1, 2, 5, 16):
        p = np.stack([_random_params(rng, param_stats) for _ in range(f)])
        rois = np.stack([_random_roi(rng) for _ in range(f)])
        got = dec.landmarks_many(p, rois)
        assert got.shape == (f, 68, 3) and got.dtype == np.float32
        for i in range(f):
            np.testing.assert_array_equal(got[i], dec.landmarks(p[i], rois[i]))
    with pytest.raises(EdgefaceError, match="float32"):
        dec.landmarks_many(p.astype(np.float64), rois)


def test_decode_gives_the_landmarks_and_their_extremes(bases, param_stats):
    """`decode` (a frame's faces: landmarks and each face's x, y, z extremes) gives the bits of `landmarks` /
    `landmarks_many`, extremes equal to the min and max of those landmarks, and arrays of its own."""
    dec = SparseDecoder(bases.u, bases.w_shp, bases.w_exp)
    rng = np.random.default_rng(5)
    for f in (1, 2, 16):
        p = [_random_params(rng, param_stats) for _ in range(f)]
        rois = [_random_roi(rng) for _ in range(f)]
        lms, lo, hi = dec.decode(p, rois)
        assert lms.shape == (f, 68, 3) and lms.dtype == np.float32 and len(lo) == len(hi) == f
        np.testing.assert_array_equal(lms, dec.landmarks_many(np.stack(p), np.stack(rois)))
        for i in range(f):
            np.testing.assert_array_equal(lms[i], dec.landmarks(p[i], rois[i]))
            assert lo[i] == lms[i].min(axis=0).tolist() and hi[i] == lms[i].max(axis=0).tolist()
        again, _, _ = dec.decode(p, rois)
        assert not np.shares_memory(again, lms)
    bad = _random_params(rng, param_stats)
    bad[20] = np.nan
    _, lo, hi = dec.decode([bad], [_random_roi(rng)])
    assert all(math.isnan(v) for v in lo[0] + hi[0])


def test_smoother_faces_together_equal_faces_alone():
    """The landmarks of a frame's faces are filtered together (`step_faces`); each face gets the bits it gets
    when smoothed alone, including faces that start, stop or come back, and 2-D landmarks."""
    rng = np.random.default_rng(9)
    together, alone = FaceSmoother(), FaceSmoother()
    for i in range(15):
        ids = [k for k in range(5) if (k + i) % 7 != 0]
        faces = [_face(k, rng, shift=1.5 * i * (k - 2)) for k in ids]
        if i % 5 == 4:
            faces[0].landmarks = np.ascontiguousarray(faces[0].landmarks[:, :2])  # a shape change restarts it
        mine = [copy.deepcopy(f) for f in faces]
        t = i / 30.0
        together.apply(faces, t)
        for f in mine:
            alone.smooth_into(f, t)
        for k in set(alone.tracked_ids) - set(ids):
            alone.reset(k)  # as `apply` forgets the ids absent from the frame
        for x, y in zip(faces, mine):
            np.testing.assert_array_equal(x.landmarks, y.landmarks)
            np.testing.assert_array_equal(x.bbox, y.bbox)
            np.testing.assert_array_equal(x.roi, y.roi)
            assert x.pose == y.pose
        for f in faces:  # a caller's arrays are its own: never the filter's state
            assert not np.shares_memory(f.landmarks, together._states[f.id].motion._lm)


def test_crop_square_is_crop_roi(samples):
    img = read_image(samples["trump_hillary"])
    h, w = img.shape[:2]
    rng = np.random.default_rng(1)
    rois = [_random_roi(rng) for _ in range(200)]
    rois += [np.array([10.5, 20.5, 130.5, 140.5]), np.array([-0.5, -1.5, 119.5, 118.5]),  # halves: to even
             np.array([0.0, 0.0, 120.0, 120.0]), np.array([w - 60.0, h - 60.0, w + 60.0, h + 60.0]),
             np.array([5.0, 5.0, 125.0, 125.0, 0.9])]  # a 5th value is ignored
    for roi in rois:
        for exact in (False, True):
            ref = roi_mod.crop_roi(img, roi, 120, exact)[0]
            got = roi_mod.crop_square(img, roi, 120, exact)
            np.testing.assert_array_equal(got, ref)
    same = roi_mod.crop_square(img, np.array([0.0, 0.0, 120.0, 120.0]))
    assert not np.shares_memory(same, img)  # a crop of exactly 120 px is a copy, never a view of the frame
    # what the fast path does not take goes through crop_roi, with its errors
    np.testing.assert_array_equal(roi_mod.crop_square(img, [10, 20, 130, 140]), roi_mod.crop_roi(img, [10, 20, 130, 140])[0])
    with pytest.raises(EdgefaceError, match="non-finite"):
        roi_mod.crop_square(img, np.array([np.nan, 0.0, 100.0, 100.0]))
    with pytest.raises(EdgefaceError, match="empty"):
        roi_mod.crop_square(img, np.array([10.0, 10.0, 10.2, 50.0]))
    with pytest.raises(EdgefaceError, match="frame must be"):
        roi_mod.crop_square(np.zeros((0, 5, 3), np.uint8), np.array([0.0, 0.0, 10.0, 10.0]))


def test_landmark_box_roi_floats():
    rng = np.random.default_rng(2)
    for _ in range(200):
        pts = rng.uniform(0, 1000, size=(68, 2))
        x1, y1 = pts.min(axis=0)
        x2, y2 = pts.max(axis=0)
        t = roi_mod.landmark_box_roi(float(x1), float(y1), float(x2), float(y2))
        assert all(isinstance(v, float) for v in t)
        np.testing.assert_array_equal(np.array(t), roi_mod.roi_from_landmarks(pts))
        np.testing.assert_array_equal(roi_mod.roi_from_landmark_box(x1, y1, x2, y2), roi_mod.roi_from_landmarks(pts))


class _FixedBackend:
    def __init__(self, out):
        self.out = out

    def run(self, crop):
        return {"params": self.out.copy()}


def test_denormalize_fast_path(param_stats):
    mean, std = param_stats
    rng = np.random.default_rng(3)
    for shape, dtype in (((1, 62), np.float32), ((62,), np.float32), ((1, 62), np.float64)):
        out = rng.normal(size=shape).astype(dtype)
        got = LandmarkRegressor(_FixedBackend(out), mean, std).params_from_crop(np.zeros((120, 120, 3), np.uint8))
        assert got.dtype == np.float32 and got.shape == (62,)
        np.testing.assert_array_equal(got, tdmm.denormalize(out.reshape(-1), mean, std))
    with pytest.raises(EdgefaceError, match="param mean/std"):
        LandmarkRegressor(_FixedBackend(np.zeros((1, 50), np.float32)), mean, std).params_from_crop(np.zeros((120, 120, 3), np.uint8))


def test_box_geometry_on_floats():
    rng = np.random.default_rng(4)
    for _ in range(300):
        a = np.sort(rng.uniform(-50, 500, size=(2, 2)), axis=0).T.reshape(-1)[[0, 2, 1, 3]]
        b = np.sort(rng.uniform(-50, 500, size=(2, 2)), axis=0).T.reshape(-1)[[0, 2, 1, 3]]
        assert boxes.iou(a, b) == pytest.approx(float(boxes.iou_matrix(a[None], b[None])[0, 0]), abs=1e-12)
        rel = boxes.box_relative(a, b)
        np.testing.assert_allclose(boxes.box_from_relative(rel, b), a, atol=1e-9)
        w, h = max(b[2] - b[0], 1e-6), max(b[3] - b[1], 1e-6)
        np.testing.assert_array_equal(rel, [(a[0] - b[0]) / w, (a[1] - b[1]) / h, (a[2] - b[0]) / w, (a[3] - b[1]) / h])
    assert boxes.box_area(np.array([0, 0, 2, 3], np.float32)) == 6.0
    assert boxes.box_area([[1, 1, 3, 2]]) == 2.0
    assert boxes.iou([0, 0, 1, 1, 0.9], [0, 0, 1, 1]) == 1.0  # extra values (a score) are ignored
    with pytest.raises(EdgefaceError, match="4 values"):
        boxes.box_area([1, 2, 3])


def test_clipped_to_frame_few_and_many():
    """Boxes clipped on Python floats (a few) and in one array op (4 or more) give the same float32 numbers."""
    rng = np.random.default_rng(7)
    w, h = 640, 480
    for _ in range(50):
        bxs = [np.sort(rng.uniform(-100, 800, size=(2, 2)), axis=0).T.reshape(-1)[[0, 2, 1, 3]].astype(dt)
               for dt in rng.choice([np.float32, np.float64], size=int(rng.integers(4, 17)))]
        many = boxes.clipped_to_frame(bxs, w, h)
        few = [boxes.clipped_to_frame([b], w, h)[0] for b in bxs]
        for a, b, src in zip(many, few, bxs):
            assert a.dtype == b.dtype == np.float32 and a.shape == (4,)
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, np.clip(src.astype(np.float64), 0.0, [w, h, w, h]).astype(np.float32))
    assert boxes.clipped_to_frame([], w, h) == []


def test_predicted_box_follows_its_inputs():
    t = Track(id=0, bbox=np.array([0.0, 0.0, 10.0, 10.0]), score=1.0)
    assert t.predicted_box() is t.bbox  # no landmarks yet
    t.set_landmarks(np.array([[0.0, 0.0], [10.0, 20.0]]))
    t.box_rel = np.array([0.1, 0.1, 0.9, 0.9])
    p = t.predicted_box()
    np.testing.assert_array_equal(p, boxes.box_from_relative(t.box_rel, t.lm_box))
    assert t.predicted_box() is p  # computed once while box_rel and the landmarks stay
    t.set_landmarks(np.array([[5.0, 5.0], [15.0, 25.0]]))  # new landmarks: a new prediction
    np.testing.assert_array_equal(t.predicted_box(), boxes.box_from_relative(t.box_rel, t.lm_box))
    t.box_rel = np.array([0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(t.predicted_box(), t.lm_box)
    t.set_landmarks(None)
    assert t.predicted_box() is t.bbox


def _face(fid, rng, shift=0.0):
    lm = (rng.uniform(100, 300, size=(68, 3)) + shift).astype(np.float32)
    return Face(id=fid, bbox=np.array([100 + shift, 100, 300 + shift, 320], np.float32), score=0.9, landmarks=lm,
                pose=Pose(10.0 + shift, -5.0, 179.0), params=np.zeros(62, np.float32),
                roi=np.array([80.0 + shift, 60.0, 330.0 + shift, 310.0]), camera=np.zeros((3, 4), np.float32),
                dense=rng.uniform(0, 300, size=(500, 3)).astype(np.float32) if fid == 1 else None)


def test_smoother_in_place_equals_the_copying_call():
    rng = np.random.default_rng(5)
    a, b = FaceSmoother(), FaceSmoother()
    for i in range(12):
        faces = [_face(0, rng, shift=2.0 * i)] + ([_face(1, rng, shift=-1.0 * i)] if i < 8 else [])
        before = [copy.deepcopy(f) for f in faces]
        res = FrameResult(frame=i, source="test", faces=faces, timestamp_ms=i * 40.0)
        out = a(res)
        for f, g in zip(faces, before):  # __call__ leaves its input alone
            np.testing.assert_array_equal(f.landmarks, g.landmarks)
            np.testing.assert_array_equal(f.bbox, g.bbox)
            assert f.pose == g.pose
        own = [copy.copy(f) for f in faces]
        b.apply(own, b.time_of(i, i * 40.0))
        for x, y in zip(out.faces, own):
            for k in ("landmarks", "bbox", "roi"):
                np.testing.assert_array_equal(getattr(x, k), getattr(y, k))
                assert getattr(x, k).dtype == getattr(y, k).dtype
            assert x.pose == y.pose
            if x.dense is not None:
                np.testing.assert_array_equal(x.dense, y.dense)
            assert y.params is faces[y.id].params  # params and camera stay the raw regressor output
        assert a.tracked_ids == b.tracked_ids == sorted(f.id for f in faces)  # absent ids are forgotten
    assert b.time_of(50, None) == pytest.approx(50 / b.config.nominal_fps)


def test_blend_points_small_and_large():
    """A few values are blended in Python floats, many with cv2 (addWeighted, then add): the same numbers."""
    import cv2

    rng = np.random.default_rng(6)
    for n, k in ((8, 2), (4, 2), (21, 3), (68, 3), (38365, 3), (10, 5)):
        for _ in range(20):
            x = rng.uniform(-100, 1500, size=(n, k)).astype(np.float32)
            prev = (x + rng.normal(size=x.shape)).astype(np.float32)
            shift = rng.normal(size=max(3, k)).astype(np.float32)
            a = float(rng.uniform())
            got = blend_points(prev, x, a, shift, (n, k))
            assert got.dtype == np.float32 and got.shape == x.shape and not np.shares_memory(got, prev)
            if k <= 4:
                ref = cv2.addWeighted(x.reshape(n, 1, k), a, prev.reshape(n, 1, k), 1.0 - a, 0.0)
                ref = cv2.add(ref, tuple(shift[:k].tolist()) + (0.0,) * (4 - k)).reshape(n, k)
                np.testing.assert_array_equal(got, ref)
            else:
                ref = (x.astype(np.float64) * a + prev.astype(np.float64) * (1 - a)).astype(np.float32) + shift[:k]
                np.testing.assert_allclose(got, ref, rtol=0, atol=1e-3)


@pytest.mark.parametrize("variant", ["int8", "float32"])
def test_tflite_input_paths(converted_home, samples, variant):
    """Raw uint8 pixels go to an INT8 model as they are; the same pixels as floats are quantized to the
    same values (outputs equal); a float model gets float32 either way."""
    from edgeface.hub import store
    from edgeface.runtime.tflite_backend import TFLiteModel

    m = TFLiteModel(store.model_path("mb05", variant, converted_home))
    assert m._in_raw == (variant == "int8")
    crop = roi_mod.crop_square(read_image(samples["emma"]), np.array([100.0, 80.0, 400.0, 380.0]))
    a = m.run(crop)
    b = m.run(crop.astype(np.float32))
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == np.float32
        np.testing.assert_array_equal(a[k], b[k])
    with pytest.raises(EdgefaceError, match="input shape"):
        m.run(crop[:60])
