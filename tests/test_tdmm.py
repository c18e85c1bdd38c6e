from __future__ import annotations

import math

import numpy as np
import pytest

from edgeface.hub import safe_pickle
from edgeface.runtime import tdmm
from edgeface.errors import EdgefaceError, MissingAssetError

@pytest.fixture(scope="module")
def param_stats(mirror):
    d = safe_pickle.load(mirror / "3ddfa_v2" / "configs" / "param_mean_std_62d_120x120.pkl")
    return np.asarray(d["mean"], dtype=np.float32), np.asarray(d["std"], dtype=np.float32)


@pytest.fixture(scope="module")
def bases(mirror):
    return tdmm.load_sparse_bases_txt(mirror / "3ddfa_v1" / "c++" / "weights")


def _Rx(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _Ry(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _Rz(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _params_with_camera(cam34, base=None):
    p = np.zeros(62, dtype=np.float64) if base is None else np.array(base, dtype=np.float64)
    p[:12] = np.asarray(cam34, dtype=np.float64).reshape(-1)
    return p


# ----------------------------------------------------------------------------- params

def test_denormalize_formula():
    rng = np.random.default_rng(1)
    out, mean, std = rng.normal(size=62), rng.normal(size=62), rng.uniform(0.1, 2, size=62)
    p = tdmm.denormalize(out, mean, std)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p, out * std + mean, rtol=1e-6, atol=1e-6)
    batch = tdmm.denormalize(np.stack([out, out]), mean, std)
    assert batch.shape == (2, 62)
    with pytest.raises(EdgefaceError):
        tdmm.denormalize(np.zeros(50), mean, std)


def test_split_params_layout():
    p = np.arange(62, dtype=np.float32)
    R, offset, a_shp, a_exp = tdmm.split_params(p)
    np.testing.assert_array_equal(R, [[0, 1, 2], [4, 5, 6], [8, 9, 10]])
    np.testing.assert_array_equal(offset, [[3], [7], [11]])
    assert a_shp.shape == (40, 1) and a_exp.shape == (10, 1)
    np.testing.assert_array_equal(a_shp[:, 0], np.arange(12, 52))
    np.testing.assert_array_equal(a_exp[:, 0], np.arange(52, 62))
    R72 = tdmm.split_params(np.arange(72.0))
    assert R72[2].shape == (40, 1) and R72[3].shape == (20, 1)
    with pytest.raises(EdgefaceError):
        tdmm.split_params(np.zeros(61))


# ----------------------------------------------------------------------------- reconstruction

def _loop_vertices(p, u, w_shp, w_exp):
    """Reference with explicit loops over vertices (float64)."""
    p = np.asarray(p, dtype=np.float64)
    cam = p[:12].reshape(3, 4)
    a, b = p[12:52], p[52:62]
    n = u.size // 3
    out = np.zeros((3, n))
    for j in range(n):
        rows = slice(3 * j, 3 * j + 3)
        v = u[rows].astype(np.float64) + w_shp[rows, :40].astype(np.float64) @ a + w_exp[rows, :10].astype(np.float64) @ b
        out[:, j] = cam[:, :3] @ v + cam[:, 3]
    return out


def test_dense_vertices_matches_loop_reference():
    rng = np.random.default_rng(2)
    n = 57
    u = rng.normal(size=3 * n).astype(np.float32) * 1e4
    w_shp = rng.normal(size=(3 * n, 40)).astype(np.float32)
    w_exp = rng.normal(size=(3 * n, 10)).astype(np.float32)
    p = rng.normal(size=62)
    p[:12] *= 1e-3
    p[12:] *= 1e3
    got = tdmm.dense_vertices(p, u, w_shp, w_exp)
    assert got.shape == (3, n)
    np.testing.assert_allclose(got, _loop_vertices(p, u, w_shp, w_exp), rtol=1e-9, atol=1e-9)
    # (3N, 1) mean shape and extra basis columns (upstream keeps the first 40 / 10) give the same points
    w_shp_wide = np.concatenate([w_shp, rng.normal(size=(3 * n, 159)).astype(np.float32)], axis=1)
    w_exp_wide = np.concatenate([w_exp, rng.normal(size=(3 * n, 19)).astype(np.float32)], axis=1)
    np.testing.assert_allclose(tdmm.dense_vertices(p, u.reshape(-1, 1), w_shp_wide, w_exp_wide), got)


def test_dense_vertices_large_n_matches_einsum():
    rng = np.random.default_rng(3)
    n = 38365
    u = rng.normal(size=3 * n).astype(np.float32)
    w_shp = rng.normal(size=(3 * n, 40)).astype(np.float32)
    w_exp = rng.normal(size=(3 * n, 10)).astype(np.float32)
    p = rng.normal(size=62).astype(np.float32)
    got = tdmm.dense_vertices(p, u, w_shp, w_exp)
    assert got.shape == (3, n) and got.dtype == np.float32
    verts = (u.astype(np.float64) + np.einsum("rk,k->r", w_shp, p[12:52].astype(np.float64))
             + np.einsum("rk,k->r", w_exp, p[52:].astype(np.float64))).reshape(n, 3)
    cam = p[:12].astype(np.float64).reshape(3, 4)
    ref = np.einsum("ij,nj->in", cam[:, :3], verts) + cam[:, 3:]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


def test_dense_vertices_rejects_mismatched_bases():
    with pytest.raises(EdgefaceError):
        tdmm.dense_vertices(np.zeros(62), np.zeros(12), np.zeros((12, 40)), np.zeros((9, 10)))
    with pytest.raises(EdgefaceError):
        tdmm.dense_vertices(np.zeros(62), np.zeros(12), np.zeros((12, 30)), np.zeros((12, 10)))


def test_sparse_from_dense_picks_rows():
    rng = np.random.default_rng(4)
    n = 30
    dense = tdmm.SparseBases(u=rng.normal(size=3 * n), w_shp=rng.normal(size=(3 * n, 40)), w_exp=rng.normal(size=(3 * n, 10)))
    keys = np.array([[3 * v, 3 * v + 1, 3 * v + 2] for v in (4, 9, 17)]).reshape(-1)
    sparse = tdmm.sparse_from_dense(dense, keys)
    p = rng.normal(size=62)
    np.testing.assert_allclose(
        tdmm.sparse_landmarks(p, sparse.u, sparse.w_shp, sparse.w_exp),
        tdmm.dense_vertices(p, dense.u, dense.w_shp, dense.w_exp)[:, [4, 9, 17]], rtol=1e-5, atol=1e-4,
    )


# ----------------------------------------------------------------------------- to_image

def test_to_image_hand_made_points():
    pts = np.array([[11.0, 61.0], [20.0, 60.0], [5.0, 9.0]], dtype=np.float32)
    before = pts.copy()
    # roi 240 wide, 360 high from (100, 200): scale_x = 2, scale_y = 3, z scale 2.5
    out = tdmm.to_image(pts, [100.0, 200.0, 340.0, 560.0], size=120)
    np.testing.assert_allclose(out[0], [(11 - 1) * 2 + 100, (61 - 1) * 2 + 100])
    np.testing.assert_allclose(out[1], [(120 - 20) * 3 + 200, (120 - 60) * 3 + 200])
    np.testing.assert_allclose(out[2], [0.0, (9 - 5) * 2.5])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(pts, before)  # input untouched


def test_to_image_vectorized_for_dense_n():
    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 120, size=(3, 38365)).astype(np.float32)
    roi = [12.5, -3.25, 212.5, 196.75]
    out = tdmm.to_image(pts, roi)
    s = 200 / 120
    np.testing.assert_allclose(out[0], (pts[0] - 1) * s + 12.5, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(out[1], (120 - pts[1]) * s - 3.25, rtol=1e-5, atol=1e-3)
    z = (pts[2] - 1) * s
    np.testing.assert_allclose(out[2], z - z.min(), rtol=1e-5, atol=1e-3)
    assert out[2].min() == 0.0


def test_to_image_rejects_bad_shape():
    with pytest.raises(EdgefaceError):
        tdmm.to_image(np.zeros((68, 3)), [0, 0, 120, 120])


# ----------------------------------------------------------------------------- pose

@pytest.mark.parametrize("yaw,pitch,roll", [(30.0, 0.0, 0.0), (0.0, -20.0, 0.0), (0.0, 0.0, 15.0), (-35.0, 12.0, -8.0), (60.0, -40.0, 25.0)])
def test_pose_of_known_rotation(yaw, pitch, roll):
    R = _Rz(math.radians(roll)) @ _Ry(-math.radians(yaw)) @ _Rx(math.radians(pitch))
    s = 4.6e-4
    p = _params_with_camera(np.concatenate([s * R, [[60.0], [70.0], [-65.0]]], axis=1))
    got = tdmm.pose_from_params(p)
    np.testing.assert_allclose(got, (yaw, pitch, roll), atol=1e-6)
    np.testing.assert_allclose(tdmm.rotation_from_angles(yaw, pitch, roll), R, atol=1e-12)
    assert tdmm.scale_from_params(p) == pytest.approx(s)


def test_pure_yaw_by_hand():
    # R[2, 0] = sin(yaw) = 0.5 -> yaw 30 degrees, pitch = roll = 0
    c = math.sqrt(3) / 2
    R = np.array([[c, 0, -0.5], [0, 1, 0], [0.5, 0, c]])
    yaw, pitch, roll = tdmm.pose_from_params(_params_with_camera(np.concatenate([R, np.zeros((3, 1))], axis=1)))
    assert (yaw, pitch, roll) == pytest.approx((30.0, 0.0, 0.0), abs=1e-9)


@pytest.mark.parametrize("sign", [1, -1])
def test_gimbal_lock_branch(sign):
    # yaw = +-90 degrees: upstream sets roll = 0 and reads pitch from the first row
    pitch = math.radians(25)
    R = _Ry(-sign * math.pi / 2) @ _Rx(pitch)
    yaw_r, pitch_r, roll_r = tdmm.matrix_to_angles(R)
    assert yaw_r == pytest.approx(sign * math.pi / 2)
    assert pitch_r == pytest.approx(pitch)
    assert roll_r == 0.0
    # just outside the threshold (R[2,0] = 0.998 exactly is the generic branch)
    R2 = np.array([[math.sqrt(1 - 0.998 ** 2), 0, -0.998], [0, 1, 0], [0.998, 0, math.sqrt(1 - 0.998 ** 2)]])
    assert math.degrees(tdmm.matrix_to_angles(R2)[0]) == pytest.approx(math.degrees(math.asin(0.998)))


def test_p2srt_and_calc_pose():
    P = np.array([[2.0, 0.0, 0.0, 5.0], [0.0, 4.0, 0.0, 6.0], [0.0, 0.0, 9.0, 7.0]])
    s, R, t = tdmm.p2srt(P)
    assert s == pytest.approx(3.0)  # mean of the first two row norms
    np.testing.assert_allclose(R, np.eye(3))  # third row = cross product, P's third row ignored
    np.testing.assert_allclose(t, [5.0, 6.0, 7.0])
    p = _params_with_camera(P)
    np.testing.assert_array_equal(tdmm.camera_from_params(p), P)
    P0, angles = tdmm.calc_pose(p)
    np.testing.assert_allclose(P0, np.concatenate([np.eye(3), [[5.0], [6.0], [7.0]]], axis=1))
    assert angles == pytest.approx((0.0, 0.0, 0.0))
    with pytest.raises(EdgefaceError):
        tdmm.p2srt(np.zeros((3, 4)))


# ----------------------------------------------------------------------------- real data

def test_sparse_bases_files_layout(bases, mirror):
    assert bases.u.shape == (204,) and bases.w_shp.shape == (204, 40) and bases.w_exp.shape == (204, 10)
    assert bases.u.dtype == bases.w_shp.dtype == bases.w_exp.dtype == np.float32
    assert bases.n_points == 68
    # the text u_base is the dense mean (shape + expression) at the 68 keypoints, x,y,z interleaved
    tc = mirror / "3ddfa_v1" / "train.configs"
    u_dense = (np.load(tc / "u_shp.npy") + np.load(tc / "u_exp.npy")).reshape(-1)
    keys = np.load(tc / "keypoints_sim.npy").reshape(-1)
    np.testing.assert_allclose(u_dense[keys], bases.u, rtol=0, atol=1e-3)
    assert np.all(keys.reshape(68, 3) - keys.reshape(68, 3)[:, :1] == [0, 1, 2])  # interleaved per point


def test_load_sparse_bases_missing_dir(tmp_path):
    with pytest.raises(MissingAssetError):
        tdmm.load_sparse_bases_txt(tmp_path)


def test_mean_face_lands_in_crop_like_a_face(param_stats, bases):
    mean, std = param_stats
    params = tdmm.denormalize(np.zeros(62, dtype=np.float32), mean, std)
    np.testing.assert_array_equal(params, mean)
    pts = tdmm.to_image(tdmm.sparse_landmarks(params, bases.u, bases.w_shp, bases.w_exp), [0.0, 0.0, 120.0, 120.0])
    x, y, z = pts
    assert pts.shape == (3, 68)
    assert x.min() > 0 and x.max() < 120 and y.min() > 0 and y.max() < 120
    assert 30 < x.max() - x.min() < 100 and 30 < y.max() - y.min() < 100  # a face filling the crop
    eye_l, eye_r = pts[:2, 36:42].mean(1), pts[:2, 42:48].mean(1)
    nose, mouth, chin = pts[:2, 30], pts[:2, 48:68].mean(1), pts[:2, 8]
    brows = pts[1, 17:27].mean()
    assert brows < eye_l[1] < nose[1] < mouth[1] < chin[1]  # image y grows downward
    assert abs(eye_l[1] - eye_r[1]) < 2  # level eyes
    assert x[0] < eye_l[0] < nose[0] < eye_r[0] < x[16]  # jaw 0 on the image left, 16 on the right
    assert x[48] < x[54]  # mouth corners
    assert abs(nose[0] - (x[0] + x[16]) / 2) < 3  # near-frontal
    assert z[30] > z[0] + 20 and z[30] > z[16] + 20  # nose tip nearer the camera than the jaw ends
    # the mean pose is near frontal; compare with an independent computation of upstream's formulas
    cam = mean[:12].astype(np.float64).reshape(3, 4)
    r1, r2 = cam[0, :3] / np.linalg.norm(cam[0, :3]), cam[1, :3] / np.linalg.norm(cam[1, :3])
    r3 = np.cross(r1, r2)
    yaw = math.degrees(math.asin(r3[0]))
    pitch = math.degrees(math.atan2(r3[1], r3[2]))
    roll = math.degrees(math.atan2(r2[0], r1[0]))
    np.testing.assert_allclose(tdmm.pose_from_params(params), (yaw, pitch, roll), atol=1e-6)
    assert max(abs(yaw), abs(roll)) < 2 and 0 < pitch < 10


def test_mean_face_into_a_frame_roi(param_stats, bases):
    mean, _ = param_stats
    roi = np.array([1500.0, 200.0, 2100.0, 800.0])
    pts = tdmm.to_image(tdmm.sparse_landmarks(mean, bases.u, bases.w_shp, bases.w_exp), roi)
    crop_pts = tdmm.to_image(tdmm.sparse_landmarks(mean, bases.u, bases.w_shp, bases.w_exp), [0, 0, 120, 120])
    np.testing.assert_allclose(pts[:2], crop_pts[:2] * 5 + roi[:2, None], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(pts[2], crop_pts[2] * 5, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("angle", [25.0])
def test_sign_conventions_on_the_mean_face(param_stats, bases, angle):
    """The signs documented in edgeface.runtime.tdmm: yaw > 0 moves the nose to the image's left,
    pitch > 0 moves it down, roll > 0 raises the eye on the image's right."""
    mean, _ = param_stats
    s = tdmm.scale_from_params(mean)

    def landmarks(yaw, pitch, roll):
        p = mean.astype(np.float64).copy()
        cam = p[:12].reshape(3, 4)
        cam[:, :3] = s * tdmm.rotation_from_angles(yaw, pitch, roll)
        return tdmm.to_image(tdmm.sparse_landmarks(p, bases.u, bases.w_shp, bases.w_exp), [0, 0, 120, 120])

    front = landmarks(0, 0, 0)
    d_yaw = landmarks(angle, 0, 0)[:2, 30] - front[:2, 30]
    d_pitch = landmarks(0, angle, 0)[:2, 30] - front[:2, 30]
    rolled = landmarks(0, 0, angle)
    assert d_yaw[0] < -5 and abs(d_yaw[1]) < 1e-3
    assert d_pitch[1] > 5 and abs(d_pitch[0]) < 1e-3
    assert rolled[1, 42:48].mean() < front[1, 42:48].mean() - 3  # image-right eye goes up
    assert rolled[1, 36:42].mean() > front[1, 36:42].mean() + 3  # image-left eye goes down
