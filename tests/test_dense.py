"""Dense reconstruction: BFM conversion (hub.bfm_npz), the exact model (dense.model), the BFM-free
`dense_approx` model, decimation. The BFM itself is not redistributable: its tests use
synthetic pickles with the upstream keys, shapes and dtypes, written as real pickle files."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeface.hub import assets
from edgeface.hub.bfm_npz import bfm_arrays_from_dict, bfm_npz_from_pickle, load_bfm_npz
from edgeface.hub.derive import derive
from edgeface.runtime import tdmm
from edgeface.dense.decimate import cluster_vertices, decimate_mesh
from edgeface.dense.float16_error import float16_vertex_error
from edgeface.dense.loading import load_dense_model
from edgeface.dense.model import DenseModel, dense_model_from_bfm, interleaved_to_planar
from edgeface.dense.approx import (KIND, ApproxDenseModel, build_approx_model, keypoint_vertices, load_approx_model, loo_error,
                                   rbf_matrix)
from edgeface.errors import EdgefaceError, MissingAssetError

N_FULL = 38365


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def mesh(edgeface_home):
    return assets.load_mesh(edgeface_home)


@pytest.fixture(scope="module")
def sparse(edgeface_home):
    return assets.load_sparse_bases(edgeface_home)


@pytest.fixture(scope="module")
def realistic_params(edgeface_home):
    """24 parameter vectors drawn around the regressor's own statistics (mean + 0.7 std noise)."""
    st = assets.load_param_stats(edgeface_home)
    rng = np.random.default_rng(7)
    p = st.mean + 0.7 * st.std * rng.standard_normal((24, 62))
    return p.astype(np.float32)


@pytest.fixture(scope="module")
def approx(edgeface_home):
    return load_approx_model(edgeface_home)


def _synthetic_bfm(n: int, n_shp: int, n_exp: int, seed: int, fdtype=np.float32, kp_dtype=np.float64, tri=True) -> dict:
    """A dict laid out like configs/bfm_noneck_v3.pkl: u (3N, 1), w_shp (3N, K), w_exp (3N, L),
    keypoints (204,), tri (3, M). Magnitudes like the real basis (u ~ 1e5, w_shp ~ 1e-3, w_exp ~ 1e3)."""
    rng = np.random.default_rng(seed)
    d = {
        "u": (rng.standard_normal((3 * n, 1)) * 5e4).astype(fdtype),
        "w_shp": (rng.standard_normal((3 * n, n_shp)) * 2e-3).astype(fdtype),
        "w_exp": (rng.standard_normal((3 * n, n_exp)) * 1e3).astype(fdtype),
    }
    verts = np.sort(rng.choice(n, size=68, replace=False))
    d["keypoints"] = np.stack([3 * verts, 3 * verts + 1, 3 * verts + 2], axis=1).reshape(-1).astype(kp_dtype)
    if tri:
        m = 2 * n
        d["tri"] = rng.integers(0, n, size=(3, m)).astype(np.int64)
    return d


def _write_pickle(d: dict, path: Path, protocol: int = 2) -> Path:
    with open(path, "wb") as fh:
        pickle.dump(d, fh, protocol=protocol)
    return path


def _reference_vertices(params, u, w_shp, w_exp) -> np.ndarray:
    """R @ (u + W_shp a + W_exp b) + t in float64, written out independently of edgeface."""
    p = np.asarray(params, np.float64)
    cam = p[:12].reshape(3, 4)
    shape = np.asarray(u, np.float64).reshape(-1) + np.asarray(w_shp, np.float64)[:, :40] @ p[12:52] \
        + np.asarray(w_exp, np.float64)[:, :10] @ p[52:62]
    xyz = np.stack([shape[0::3], shape[1::3], shape[2::3]])  # vertex i = rows 3i, 3i+1, 3i+2
    return cam[:, :3] @ xyz + cam[:, 3:4]


# ----------------------------------------------------------------------------- BFM conversion (hub.bfm_npz)

def test_bfm_pickle_small_roundtrip_matches_formula(tmp_path, realistic_params):
    d = _synthetic_bfm(500, 199, 29, seed=1, fdtype=np.float64)
    src = _write_pickle(d, tmp_path / "bfm_noneck_v3.pkl")
    dest = bfm_npz_from_pickle(src, tmp_path / "assets" / "bfm.npz", root=tmp_path / "empty_cache")
    assert dest.is_file() and not list(dest.parent.glob(".*part*"))
    b = load_bfm_npz(dest)
    assert b.u.shape == (1500,) and b.u.dtype == np.float32
    assert b.w_shp.shape == (1500, 40) and b.w_exp.shape == (1500, 10) and b.w_shp.dtype == np.float32
    assert b.keypoints.dtype == np.int64 and np.array_equal(b.keypoints, d["keypoints"].astype(np.int64))
    assert b.tri.shape == (1000, 3) and b.tri.dtype == np.int32 and np.array_equal(b.tri, d["tri"].T)
    np.testing.assert_array_equal(b.w_shp, d["w_shp"][:, :40].astype(np.float32))
    model = dense_model_from_bfm(b)
    for p in realistic_params[:6]:
        ref = _reference_vertices(p, d["u"], d["w_shp"], d["w_exp"])
        got = model.vertices(p)
        assert got.shape == (3, 500) and got.dtype == np.float32
        # 120-crop pixels; float32 rounding only
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5 * np.abs(ref).max())
    # the sparse landmarks picked out of the dense model by its keypoints
    kp_ref = _reference_vertices(realistic_params[0], d["u"], d["w_shp"], d["w_exp"])[:, d["keypoints"][0::3].astype(int) // 3]
    np.testing.assert_allclose(model.vertices(realistic_params[0])[:, model.keypoints], kp_ref, rtol=1e-4, atol=1e-2)


def test_bfm_full_size_uses_mesh_triangles(tmp_path, edgeface_home, mesh, realistic_params):
    d = _synthetic_bfm(N_FULL, 40, 10, seed=2, kp_dtype=np.int64, tri=False)
    src = _write_pickle(d, tmp_path / "bfm_noneck_v3.pkl", protocol=4)
    b = load_bfm_npz(bfm_npz_from_pickle(src, tmp_path / "bfm.npz", root=edgeface_home))
    assert b.n_vertices == N_FULL and b.w_shp.shape == (3 * N_FULL, 40) and b.w_exp.shape == (3 * N_FULL, 10)
    np.testing.assert_array_equal(b.tri, mesh["tri"])  # configs/tri.pkl, as upstream for bfm_noneck_v3
    model = dense_model_from_bfm(b)
    p = realistic_params[3]
    ref = _reference_vertices(p, d["u"], d["w_shp"], d["w_exp"])
    got = model.vertices(p)
    assert got.shape == (3, N_FULL)
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5 * np.abs(ref).max())
    np.testing.assert_allclose(got, tdmm.dense_vertices(p, d["u"], d["w_shp"], d["w_exp"]), rtol=0, atol=2e-5 * np.abs(ref).max())
    roi = np.array([100.0, 50.0, 400.0, 350.0])
    np.testing.assert_array_equal(model.image_vertices(p, roi), tdmm.to_image(got, roi))


def test_derive_builds_bfm_card(tmp_path, edgeface_home, mesh):
    """`edgeface fetch bfm` path: hub.derive.derive() hands the verified pickle to hub.bfm_npz."""
    from edgeface.hub.cards import get_card

    card = get_card("bfm")
    root = tmp_path / "home"
    (root / "assets").mkdir(parents=True)
    for name in ("mesh", "sparse_bases"):
        shutil.copy(assets.asset_path(name, edgeface_home), root / "assets" / f"{name}.npz")
    pkl = root / "files" / card.file("pickle").mirror_relpath
    pkl.parent.mkdir(parents=True)
    _write_pickle(_synthetic_bfm(N_FULL, 40, 10, seed=3), pkl)
    dest = derive(card, root)
    assert dest == assets.asset_path("bfm", root)
    b = load_bfm_npz(dest)
    assert b.n_vertices == N_FULL and np.array_equal(b.tri, mesh["tri"])
    m = load_dense_model(root, prefer="bfm")
    assert isinstance(m, DenseModel) and m.kind == "bfm" and m.n_vertices == N_FULL
    assert load_dense_model(root, prefer="approx").kind == KIND


def test_bfm_float16_storage(tmp_path, realistic_params, sparse):
    d = _synthetic_bfm(300, 40, 10, seed=4)
    src = _write_pickle(d, tmp_path / "b.pkl")
    b16 = load_bfm_npz(bfm_npz_from_pickle(src, tmp_path / "b16.npz", dtype="float16"))
    b32 = load_bfm_npz(bfm_npz_from_pickle(src, tmp_path / "b32.npz"))
    assert b16.w_shp.dtype == np.float16 and b16.w_exp.dtype == np.float16 and b16.u.dtype == np.float32
    assert (tmp_path / "b16.npz").stat().st_size < 0.6 * (tmp_path / "b32.npz").stat().st_size
    np.testing.assert_array_equal(b16.w_shp, d["w_shp"].astype(np.float16))
    m16, m32 = dense_model_from_bfm(b16), dense_model_from_bfm(b32)
    assert m16.w.dtype == np.float32  # computed in float32
    p = realistic_params[0]
    err = np.abs(m16.vertices(p) - m32.vertices(p)).max()  # 120-crop pixels
    assert 0 < err < 0.05
    # the real sparse rows of the basis (the 68 landmarks) in float16: far below a pixel
    e = float16_vertex_error(sparse.u, sparse.w_shp, sparse.w_exp, realistic_params, rois=[[0, 0, 300, 300]] * len(realistic_params))
    assert e.n_faces == len(realistic_params) and e.n_vertices == 68
    assert 0 < e.mean_px <= e.max_px < 0.05


def test_bfm_rejects_bad_inputs(tmp_path):
    good = _synthetic_bfm(100, 40, 10, seed=5)
    with pytest.raises(EdgefaceError, match="missing w_exp"):
        bfm_arrays_from_dict({k: v for k, v in good.items() if k != "w_exp"})
    with pytest.raises(EdgefaceError, match="fewer than the 40"):
        bfm_arrays_from_dict({**good, "w_shp": good["w_shp"][:, :30]})
    with pytest.raises(EdgefaceError, match="to match u"):
        bfm_arrays_from_dict({**good, "w_exp": good["w_exp"][:-3]})
    with pytest.raises(EdgefaceError, match="x, y, z row triples"):
        bfm_arrays_from_dict({**good, "keypoints": good["keypoints"][::-1].copy()})
    with pytest.raises(EdgefaceError, match="triangle indices"):
        bfm_arrays_from_dict({**good, "tri": good["tri"] + 100})
    with pytest.raises(EdgefaceError, match="no triangles"):
        bfm_arrays_from_dict({k: v for k, v in good.items() if k != "tri"})
    with pytest.raises(EdgefaceError, match="float16"):
        bfm_arrays_from_dict({**good, "w_exp": good["w_exp"] * 1e3}, dtype="float16")
    with pytest.raises(EdgefaceError, match="storage dtype"):
        bfm_arrays_from_dict(good, dtype="int8")
    with pytest.raises(MissingAssetError):
        bfm_npz_from_pickle(tmp_path / "absent.pkl", tmp_path / "x.npz")
    # a pickle that would run code is refused before anything runs, and nothing is written
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(EdgefaceError, match="not allowed|refusing"):
        bfm_npz_from_pickle(evil, tmp_path / "evil.npz")
    assert not (tmp_path / "evil.npz").exists()


# ----------------------------------------------------------------------------- dense model layout

def test_interleaved_to_planar():
    a = np.arange(12).reshape(12, 1) * np.array([[1, 10]])
    p = interleaved_to_planar(a)
    np.testing.assert_array_equal(p[:, 0], [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11])
    np.testing.assert_array_equal(p[:, 1], 10 * p[:, 0])


def test_dense_model_checks_params_and_dtypes(realistic_params):
    d = _synthetic_bfm(80, 40, 10, seed=6)
    m = DenseModel.from_interleaved(d["u"], d["w_shp"], d["w_exp"], d["tri"].T, d["keypoints"])
    assert m.keypoints.shape == (68,) and np.array_equal(m.keypoints, d["keypoints"][0::3].astype(int) // 3)
    with pytest.raises(EdgefaceError, match="62-value params"):
        m.vertices(np.zeros(72, np.float32))
    with pytest.raises(EdgefaceError, match="float32"):
        DenseModel(u=m.u, w=m.w.astype(np.float16), tri=m.tri, keypoints=m.keypoints, vertex_ids=m.vertex_ids)


# ----------------------------------------------------------------------------- decimation

def test_decimate_keeps_keypoints_and_valid_topology(mesh, approx, realistic_params):
    target = 6000
    keep, tri = decimate_mesh(approx.mean, approx.tri, target, keep=approx.keypoints)
    assert abs(keep.size - target) <= 0.05 * target
    assert np.all(np.diff(keep) > 0) and np.isin(approx.keypoints, keep).all()
    assert tri.dtype == np.int32 and tri.min() >= 0 and tri.max() < keep.size
    assert np.all((tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2]))
    assert np.unique(np.sort(tri, axis=1), axis=0).shape[0] == tri.shape[0]
    assert 1.5 * keep.size < tri.shape[0] < 2.5 * keep.size  # still a triangulated surface (~2 triangles / vertex)
    # orientation kept: triangle normals of the decimated mean face agree with the full mesh's overall direction
    v = approx.mean[:, keep].astype(np.float64)
    n = np.cross(v[:, tri[:, 1]] - v[:, tri[:, 0]], v[:, tri[:, 2]] - v[:, tri[:, 0]], axis=0)
    vf = approx.mean.astype(np.float64)
    tf = approx.tri
    nf = np.cross(vf[:, tf[:, 1]] - vf[:, tf[:, 0]], vf[:, tf[:, 2]] - vf[:, tf[:, 0]], axis=0)
    assert np.sign(n[2].sum()) == np.sign(nf[2].sum()) and (np.sign(n[2]) == np.sign(nf[2].sum())).mean() > 0.9
    # the decimated model evaluates exactly the kept vertices
    dm = approx.decimate(target)
    p = realistic_params[1]
    np.testing.assert_allclose(dm.vertices(p), approx.vertices(p)[:, dm.vertex_ids], rtol=0, atol=1e-2)
    np.testing.assert_array_equal(dm.vertex_ids[dm.keypoints], approx.keypoints)


def test_cluster_vertices_on_a_grid():
    # a 10 x 10 vertex grid; cells of 2 units merge 2 x 2 blocks -> 25 vertices
    xs, ys = np.meshgrid(np.arange(10.0), np.arange(10.0))
    v = np.stack([xs.ravel(), ys.ravel(), np.zeros(100)])
    tri = []
    for r in range(9):
        for c in range(9):
            i = r * 10 + c
            tri += [(i, i + 1, i + 11), (i, i + 11, i + 10)]
    kept, t = cluster_vertices(v, np.array(tri), 2.0)
    assert kept.size == 25 and t.max() < 25 and t.shape[0] == 2 * 4 * 4
    kept2, _ = cluster_vertices(v, np.array(tri), 2.0, keep=[99])
    assert 99 in kept2 and kept2.size == 26
    with pytest.raises(EdgefaceError):
        decimate_mesh(v, np.array(tri), 50)


def test_dense_model_decimate_matches_full(realistic_params, mesh):
    d = _synthetic_bfm(N_FULL, 40, 10, seed=8, tri=False)
    # put the mean face into u so clustering sees a face-shaped mesh
    d["u"] = mesh["u_mean"].reshape(-1, 3)[mesh["indices"]].reshape(-1, 1)
    kp, _ = keypoint_vertices(mesh["keypoints"], mesh["indices"])
    m = DenseModel.from_interleaved(d["u"], d["w_shp"], d["w_exp"], mesh["tri"], kp)
    dm = m.decimate(5000)
    assert abs(dm.n_vertices - 5000) <= 250 and dm.w.shape == (50, 3 * dm.n_vertices)
    p = realistic_params[2]
    np.testing.assert_allclose(dm.vertices(p), m.vertices(p)[:, dm.vertex_ids], rtol=1e-6, atol=1e-2)


# ----------------------------------------------------------------------------- loading

def test_load_dense_model_falls_back_to_approx(tmp_path, edgeface_home):
    root = tmp_path / "home"  # a cache without the (optional) BFM
    (root / "assets").mkdir(parents=True)
    for name in ("mesh", "sparse_bases"):
        shutil.copy(assets.asset_path(name, edgeface_home), root / "assets" / f"{name}.npz")
    m = load_dense_model(root, prefer="bfm")
    assert isinstance(m, ApproxDenseModel) and m.kind == "dense_approx" and m.n_vertices == N_FULL
    md = load_dense_model(root, prefer="approx", decimate=4000)
    assert md.kind == "dense_approx" and abs(md.n_vertices - 4000) <= 200
    with pytest.raises(EdgefaceError, match="preference"):
        load_dense_model(root, prefer="exact")


def test_load_dense_model_without_mesh_names_the_fix(tmp_path):
    with pytest.raises(MissingAssetError, match="edgeface fetch"):
        load_dense_model(tmp_path, prefer="approx")


# ----------------------------------------------------------------------------- dense_approx

def test_all_68_keypoints_are_no_neck_vertices(mesh):
    pos, missing = keypoint_vertices(mesh["keypoints"], mesh["indices"])
    assert missing.size == 0 and pos.min() >= 0 and pos.max() < N_FULL
    v53 = mesh["keypoints"][0::3] // 3
    np.testing.assert_array_equal(mesh["indices"][pos], v53)
    # a mesh missing one of them is reported, by landmark number
    idx = np.setdiff1d(mesh["indices"], v53[[5, 40]])
    _, miss = keypoint_vertices(mesh["keypoints"], idx)
    np.testing.assert_array_equal(miss, [5, 40])


def test_approx_mean_face_is_the_no_neck_mean_shape(approx, mesh):
    full = mesh["u_mean"].reshape(-1, 3)[mesh["indices"]].T
    np.testing.assert_array_equal(approx.mean, full.astype(np.float32))
    # its normalised coordinates are the PNCC code of 3DDFA_V2
    n = (full - full.min(1, keepdims=True)) / (full.max(1, keepdims=True) - full.min(1, keepdims=True))
    np.testing.assert_allclose(n, mesh["ncc_code"], atol=1e-6)
    p = np.zeros(62, np.float32)
    p[:12] = [6e-4, 0, 0, 60, 0, 6e-4, 0, 70, 0, 0, 6e-4, -60]
    # alpha = 0: the posed mean face, exactly the 3DMM formula with zero coefficients
    ref = np.asarray(p[:12], np.float64).reshape(3, 4)[:, :3] @ full + np.asarray(p[:12], np.float64).reshape(3, 4)[:, 3:]
    np.testing.assert_allclose(approx.vertices(p), ref, rtol=0, atol=1e-3)


def test_approx_keypoints_follow_sparse_landmarks(approx, sparse, realistic_params):
    worst = 0.0
    for p in realistic_params:
        lm = tdmm.sparse_landmarks(p, sparse.u, sparse.w_shp, sparse.w_exp)
        v = approx.vertices(p)
        worst = max(worst, float(np.abs(v[:, approx.keypoints] - lm).max()))  # 120-crop pixels
        roi = np.array([50.0, 40.0, 350.0, 340.0])
        img = approx.image_vertices(p, roi)
        lm_img = tdmm.to_image(lm, roi)
        np.testing.assert_allclose(img[:2, approx.keypoints], lm_img[:2], atol=1e-3)
    assert worst < 1e-3
    # and the mesh really moves with the params (not just the 68 points)
    a, b = approx.shape(realistic_params[0]), approx.shape(realistic_params[1])
    assert np.median(np.linalg.norm(a - b, axis=0)) > 100.0  # model units (~0.06 crop px per 100)


def test_approx_is_smooth_for_realistic_params(approx, realistic_params):
    t = approx.tri.astype(np.int64)

    def normals(v):
        v = v.astype(np.float64)
        n = np.cross(v[:, t[:, 1]] - v[:, t[:, 0]], v[:, t[:, 2]] - v[:, t[:, 0]], axis=0)
        return n / np.linalg.norm(n, axis=0)

    n0 = normals(approx.mean)
    for p in realistic_params[:8]:
        cosang = (normals(approx.shape(p)) * n0).sum(0)
        # random params combine extreme expressions (the regressor's own outputs on the faces68
        # photos flip none); allow a handful in the lips, never a fold of the surface
        assert (cosang < 0).sum() <= 0.0005 * t.shape[0]
        assert np.median(np.degrees(np.arccos(np.clip(cosang, -1, 1)))) < 5.0


def test_rbf_matrix_interpolates_and_reproduces_affine():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((30, 3)) * 1e4
    points = rng.standard_normal((200, 3)) * 1e4
    for kernel in ("linear", "cubic", "gaussian"):
        m = rbf_matrix(centers, centers, kernel)
        np.testing.assert_allclose(m, np.eye(30), atol=1e-8)
        A = rng.standard_normal((3, 3))
        b = rng.standard_normal((3, 1))
        vals = A @ centers.T + b  # an affine field sampled at the centres
        np.testing.assert_allclose(vals @ rbf_matrix(centers, points, kernel), A @ points.T + b, rtol=0, atol=1e-6 * np.abs(vals).max())
    with pytest.raises(EdgefaceError, match="kernel"):
        rbf_matrix(centers, points, "sinc")


def test_loo_error_linear_beats_zero_offsets(sparse, mesh, realistic_params):
    k0 = mesh["u_mean"][mesh["keypoints"]].reshape(-1, 3)
    offs = []
    for p in realistic_params[:6]:
        _, _, a, b = tdmm.split_params(p)
        s = (sparse.u + sparse.w_shp @ a[:, 0] + sparse.w_exp @ b[:, 0]).reshape(-1, 3)
        offs.append((s - k0).T)
    offs = np.array(offs)
    e = loo_error(k0, offs, "linear")
    assert e.shape == (6, 68)
    assert e.mean() < 0.6 * np.linalg.norm(offs, axis=1).mean()


def test_build_approx_model_rejects_mismatched_inputs(mesh, sparse):
    with pytest.raises(EdgefaceError, match="not vertices of the no-neck mesh"):
        idx = np.setdiff1d(mesh["indices"], mesh["keypoints"][0::3][:1] // 3)
        build_approx_model(mesh["u_mean"], idx, mesh["tri"][:10], mesh["keypoints"], sparse.u, sparse.w_shp, sparse.w_exp)
    with pytest.raises(EdgefaceError, match="204 rows"):
        build_approx_model(mesh["u_mean"], mesh["indices"], mesh["tri"], mesh["keypoints"], sparse.u[:-3], sparse.w_shp, sparse.w_exp)
