"""CPU mesh rendering: rasterizer geometry, z-buffer, both backends, the four modes."""

from __future__ import annotations

import numpy as np
import pytest

from edgeface.hub import assets
from edgeface.viz import render as R
from edgeface.errors import EdgefaceError

HAS_NUMBA = R._numba_kernels() is not None


@pytest.fixture(scope="module")
def mesh(edgeface_home):
    return assets.load_mesh(edgeface_home)


@pytest.fixture(scope="module")
def face(edgeface_home):
    """The dense_approx model posed frontally (mean params) into a 300 px ROI of a 640x480 frame."""
    from edgeface.dense.loading import load_dense_model

    model = load_dense_model(edgeface_home, prefer="approx")
    p = assets.load_param_stats(edgeface_home).mean
    roi = np.array([170.0, 90.0, 470.0, 390.0])
    return model, model.image_vertices(p, roi)


def _brute_force(v, tri, attrs, h, w):
    """Per-pixel reference: for every pixel centre and triangle, barycentric weights; nearest z wins."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    depth = np.full((h, w), -np.inf)
    img = np.zeros((h, w, attrs.shape[1]))
    for a, b, c in tri:
        (ax, bx, cx), (ay, by, cy) = v[0, [a, b, c]], v[1, [a, b, c]]
        area = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay)
        if area == 0:
            continue
        w0 = ((bx - xs) * (cy - ys) - (cx - xs) * (by - ys)) / area
        w1 = ((cx - xs) * (ay - ys) - (ax - xs) * (cy - ys)) / area
        w2 = ((ax - xs) * (by - ys) - (bx - xs) * (ay - ys)) / area
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        z = w0 * v[2, a] + w1 * v[2, b] + w2 * v[2, c]
        win = inside & (z > depth)
        depth[win] = z[win]
        for k in range(attrs.shape[1]):
            img[..., k][win] = (w0 * attrs[a, k] + w1 * attrs[b, k] + w2 * attrs[c, k])[win]
    return depth, img


def _backends():
    return ["numpy", "python"] + (["numba"] if HAS_NUMBA else [])


def _rasterize(v, tri, attrs, h, w, backend):
    if backend != "python":
        return R.rasterize(v, tri, attrs, h, w, backend=backend)
    # the numba kernel's body run as plain Python: checks the compiled path's logic without numba
    v = np.asarray(v, np.float64)
    x0, y0 = max(int(np.floor(v[0].min())), 0), max(int(np.floor(v[1].min())), 0)
    x1, y1 = min(int(np.ceil(v[0].max())) + 1, w), min(int(np.ceil(v[1].max())) + 1, h)
    zbuf = np.full((y1 - y0, x1 - x0), -np.inf)
    out = np.zeros((y1 - y0, x1 - x0, attrs.shape[1]), np.float32)
    R._raster_kernel(v[0] - x0, v[1] - y0, v[2], np.asarray(tri, np.int64), np.asarray(attrs, np.float32), zbuf, out)
    return R.Raster(x0=x0, y0=y0, depth=zbuf, image=out)


def _full(r: R.Raster, h, w):
    d = np.full((h, w), -np.inf)
    img = np.zeros((h, w, r.image.shape[2]), np.float32)
    d[r.y0:r.y0 + r.depth.shape[0], r.x0:r.x0 + r.depth.shape[1]] = r.depth
    img[r.y0:r.y0 + r.depth.shape[0], r.x0:r.x0 + r.depth.shape[1]] = r.image
    return d, img


@pytest.mark.parametrize("backend", _backends())
def test_rasterize_matches_brute_force_with_zbuffer(backend):
    # two overlapping triangles (the second nearer over part of the first) and one partly off-frame
    v = np.array([
        [2.3, 17.6, 4.1, 6.2, 15.0, 9.9, 25.0, 33.0, 29.5],
        [3.1, 5.4, 16.8, 2.0, 9.5, 18.2, 20.0, 26.0, 31.0],
        [1.0, 1.0, 1.0, 5.0, 0.0, 4.0, 2.0, 2.0, 2.0],
    ])
    tri = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    attrs = np.stack([v[0], v[1], v[2] * 10], axis=1)  # interpolating x, y gives back the pixel coordinates
    h, w = 28, 30
    ref_d, ref_img = _brute_force(v, tri, attrs, h, w)
    r = _rasterize(v, tri, attrs, h, w, backend)
    d, img = _full(r, h, w)
    np.testing.assert_array_equal(np.isfinite(d), np.isfinite(ref_d))
    m = np.isfinite(ref_d)
    assert 100 < m.sum() < 400
    np.testing.assert_allclose(d[m], ref_d[m], atol=1e-9)
    np.testing.assert_allclose(img[m], ref_img[m], atol=1e-4)
    ys, xs = np.nonzero(m)
    np.testing.assert_allclose(img[ys, xs, 0], xs, atol=1e-4)
    np.testing.assert_allclose(img[ys, xs, 1], ys, atol=1e-4)
    # the nearer triangle (z 0..5) hides the far one (z = 1) where it is above it
    assert (d[m] > 1.0).any() and (np.isclose(d[m], 1.0)).any()


@pytest.mark.parametrize("backend", _backends())
def test_zbuffer_is_independent_of_triangle_order(backend):
    v = np.array([[0.0, 20, 0, 0, 20, 0], [0, 0, 20, 0, 0, 20], [1, 1, 1, 3, 3, 3]])
    attrs = np.array([[1.0], [1], [1], [2], [2], [2]])
    for tri in (np.array([[0, 1, 2], [3, 4, 5]]), np.array([[3, 4, 5], [0, 1, 2]])):
        r = _rasterize(v, tri, attrs, 25, 25, backend)
        np.testing.assert_allclose(r.image[r.mask], 2.0, rtol=1e-6)
        assert r.mask.sum() == 21 * 22 // 2  # pixel centres with x + y <= 20


def test_backends_agree_on_a_face(face):
    model, v = face
    attrs = np.ascontiguousarray(v.T)
    ref = R.rasterize(v, model.tri, attrs, 480, 640, backend="numpy")
    assert 20000 < ref.mask.sum() < 40000
    d, img = ref.depth, ref.image
    m = ref.mask
    np.testing.assert_allclose(img[m][:, 2], d[m], rtol=0, atol=1e-3)  # z attribute == depth buffer
    if HAS_NUMBA:
        nb = R.rasterize(v, model.tri, attrs, 480, 640, backend="numba")
        np.testing.assert_array_equal(nb.mask, m)
        np.testing.assert_allclose(nb.depth[m], d[m], rtol=0, atol=1e-9)
        np.testing.assert_allclose(nb.image[m], img[m], rtol=0, atol=1e-3)
        np.testing.assert_allclose(R.vertex_normals(v, model.tri, "numba"), R.vertex_normals(v, model.tri, "numpy"), atol=1e-9)


def test_numpy_backend_chunks_give_the_same_result(face):
    model, v = face
    attrs = v[2:3].T
    a = R.rasterize(v, model.tri, attrs, 480, 640, backend="numpy")
    b = R.Raster(a.x0, a.y0, np.full_like(a.depth, -np.inf), np.zeros_like(a.image))
    R._raster_numpy(v[0].astype(np.float64) - a.x0, v[1].astype(np.float64) - a.y0, v[2].astype(np.float64),
                    model.tri.astype(np.int64), np.ascontiguousarray(attrs, dtype=np.float32), b.depth, b.image, max_candidates=5000)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_allclose(a.depth[a.mask], b.depth[a.mask], atol=1e-9)


def test_backend_selection():
    assert R.available_backends()[-1] == "numpy"
    assert ("numba" in R.available_backends()) == HAS_NUMBA
    with pytest.raises(EdgefaceError, match="backend"):
        R.rasterize(np.zeros((3, 3)), np.array([[0, 1, 2]]), np.zeros((3, 1)), 4, 4, backend="gpu")
    if not HAS_NUMBA:
        with pytest.raises(EdgefaceError, match="needs numba"):
            R.rasterize(np.zeros((3, 3)), np.array([[0, 1, 2]]), np.zeros((3, 1)), 4, 4, backend="numba")


def test_normals_point_out_of_a_frontal_face(face):
    model, v = face
    n = R.vertex_normals(v, model.tri)
    np.testing.assert_allclose(np.linalg.norm(n, axis=0), 1.0, atol=1e-9)
    assert n[2, model.keypoints[30]] > 0.8  # nose tip faces the camera (z toward the viewer)
    assert n[2].mean() > 0.3
    # jaw contour points face sideways: the image-left jaw (landmark 2) normal points left (-x)
    assert n[0, model.keypoints[2]] < -0.3 and n[0, model.keypoints[14]] > 0.3
    # a flat square in the image plane: every normal is +z
    sq = np.array([[0.0, 10, 10, 0], [0, 0, 10, 10], [0, 0, 0, 0]])
    tri = np.array([[0, 1, 2], [0, 2, 3]])  # clockwise on screen (y down), like the face mesh
    np.testing.assert_allclose(R.vertex_normals(sq, tri), np.array([[0, 0, 1]] * 4).T, atol=1e-12)


def test_lambert():
    n = np.array([[0.0, 0, 1], [0, 0, -1], [1, 0, 0]]).T
    np.testing.assert_allclose(R.lambert(n, light=(0, 0, 1), ambient=0.2, diffuse=0.8), [1.0, 0.2, 0.2], atol=1e-6)


@pytest.mark.parametrize("backend", ["numpy"] + (["numba"] if HAS_NUMBA else []))
def test_render_modes(face, mesh, backend):
    model, v = face
    frame = np.full((480, 640, 3), 40, np.uint8)
    ncc = mesh["ncc_code"][:, model.vertex_ids]
    outside = np.ones((480, 640), bool)
    outside[int(v[1].min()):int(v[1].max()) + 2, int(v[0].min()):int(v[0].max()) + 2] = False
    outs = {}
    for mode in R.MODES:
        out = R.render(frame, v, model.tri, mode, ncc_code=ncc, backend=backend)
        assert out.shape == frame.shape and out.dtype == np.uint8 and out is not frame
        assert (out[outside] == 40).all()  # nothing drawn off the face
        assert (out[~outside] != 40).any(axis=-1).mean() > 0.4
        outs[mode] = out
    assert (frame == 40).all()  # the input is untouched
    nose = np.rint(v[:2, model.keypoints[30]]).astype(int)
    cheek = np.rint(v[:2, model.keypoints[3]] * 0.7 + v[:2, model.keypoints[30]] * 0.3).astype(int)
    # depth: near is bright; the nose tip is the nearest point
    assert outs["depth"][nose[1], nose[0], 0] > outs["depth"][cheek[1], cheek[0], 0] > 40
    assert (outs["depth"][..., 0] == outs["depth"][..., 2]).all()
    # pncc: the colour under the nose tip is its ncc code (x -> B, y -> G, z -> R) within a pixel's variation
    np.testing.assert_allclose(outs["pncc"][nose[1], nose[0]], ncc[:, model.keypoints[30]] * 255, atol=12)
    # mesh: blended (alpha 0.6) shaded colour, brighter where the surface faces the light
    m = outs["mesh"][~outside].astype(int)
    assert m.max() <= 0.4 * 40 + 0.6 * 200 + 1
    # points: the pixels under the vertices carry the point colour
    px = np.rint(v[:2, ::50]).astype(int)
    assert (outs["points"][px[1], px[0]] == (255, 200, 60)).all()


def test_render_in_place_alpha_and_clipping(face):
    model, v = face
    frame = np.zeros((480, 640, 3), np.uint8)
    out = R.render(frame, v, model.tri, "depth", in_place=True, alpha=0.5, backend="numpy")
    assert out is frame and frame.max() <= 128
    # a face hanging over the frame's corner renders its visible part only
    shifted = v.copy()
    shifted[0] -= 300
    shifted[1] -= 200
    small = np.zeros((120, 160, 3), np.uint8)
    out2 = R.render(small, shifted, model.tri, "depth", backend="numpy")
    assert out2.any() and out2.shape == small.shape
    # entirely off-frame: unchanged
    shifted[0] += 5000
    assert not R.render(small, shifted, model.tri, "mesh", backend="numpy").any()


def test_depth_map(face):
    model, v = face
    d = R.depth_map(v, model.tri, 480, 640, backend="numpy")
    assert d.shape == (480, 640) and d.dtype == np.float32
    m = np.isfinite(d)
    assert 20000 < m.sum() < 40000
    assert d[m].min() >= v[2].min() - 1e-3 and d[m].max() <= v[2].max() + 1e-3
    nose = np.rint(v[:2, model.keypoints[30]]).astype(int)
    assert d[nose[1], nose[0]] > np.nanpercentile(d, 99)


def test_render_rejects_bad_input(face, mesh):
    model, v = face
    frame = np.zeros((480, 640, 3), np.uint8)
    with pytest.raises(EdgefaceError, match="mode"):
        R.render(frame, v, model.tri, "wireframe")
    with pytest.raises(EdgefaceError, match="BGR uint8"):
        R.render(frame.astype(np.float32), v, model.tri)
    with pytest.raises(EdgefaceError, match=r"\(3, N\)"):
        R.render(frame, v.T, model.tri)
    with pytest.raises(EdgefaceError, match="triangles index"):
        R.render(frame, v[:, :100], model.tri)
    with pytest.raises(EdgefaceError, match="ncc_code"):
        R.render(frame, v, model.tri, "pncc")
    with pytest.raises(EdgefaceError, match="ncc_code must be"):
        R.render(frame, v, model.tri, "pncc", ncc_code=mesh["ncc_code"][:, :10])
    with pytest.raises(EdgefaceError, match="alpha"):
        R.render(frame, v, model.tri, "mesh", alpha=2.0)
    bad = v.copy()
    bad[0, 5] = np.nan
    with pytest.raises(EdgefaceError, match="not finite"):
        R.render(frame, bad, model.tri)


def test_decimated_mesh_renders_similar_coverage(face, edgeface_home):
    from edgeface.dense.loading import load_dense_model

    model, v = face
    dm = load_dense_model(edgeface_home, prefer="approx", decimate=6000)
    dv = v[:, dm.vertex_ids]
    full = R.rasterize(v, model.tri, v[2:].T, 480, 640, backend="numpy")
    dec = R.rasterize(dv, dm.tri, dv[2:].T, 480, 640, backend="numpy")
    a, b = _full(full, 480, 640)[0], _full(dec, 480, 640)[0]
    fa, fb = np.isfinite(a), np.isfinite(b)
    assert (fa & fb).sum() / (fa | fb).sum() > 0.95  # same silhouette within its border
    both = fa & fb
    assert np.median(np.abs(a[both] - b[both])) < 1.0  # depth within a pixel
