"""Mesh export: PLY (binary little endian, ASCII) and OBJ, read back by small readers written
here from the format specifications (not from edgeface.sinks.mesh_files)."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from edgeface.hub import assets
from edgeface.sinks import mesh_files as meshio
from edgeface.errors import EdgefaceError

# PLY scalar types (Turk's spec names and the later sized aliases) -> struct codes
PLY_TYPES = {
    "char": "b", "int8": "b", "uchar": "B", "uint8": "B", "short": "h", "int16": "h", "ushort": "H", "uint16": "H",
    "int": "i", "int32": "i", "uint": "I", "uint32": "I", "float": "f", "float32": "f", "double": "d", "float64": "d",
}


def read_ply(data: bytes) -> dict:
    """A generic PLY reader following the spec: parses the header grammar, then reads every
    element's records as declared (scalar and list properties), ASCII or binary (either endian)."""
    assert data.startswith(b"ply\n"), "magic line must be exactly 'ply' + LF"
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").split("\n")[:-1]
    assert header[0] == "ply" and header[-1] == "end_header"
    fmt = header[1].split()
    assert fmt[0] == "format" and fmt[2] == "1.0" and fmt[1] in ("ascii", "binary_little_endian", "binary_big_endian")
    elements = []  # (name, count, [(prop name, type | (list count type, item type))])
    for line in header[2:-1]:
        words = line.split()
        if words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "element":
            assert len(words) == 3 and int(words[2]) >= 0
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property":
            assert elements, "property before any element"
            if words[1] == "list":
                assert len(words) == 5 and words[2] in PLY_TYPES and words[3] in PLY_TYPES
                assert PLY_TYPES[words[2]] in "bBhHiI", "list counts must be integers"
                elements[-1][2].append((words[4], (words[2], words[3])))
            else:
                assert len(words) == 3 and words[1] in PLY_TYPES, line
                elements[-1][2].append((words[2], words[1]))
        else:
            raise AssertionError(f"unknown header keyword in {line!r}")
    out = {"format": fmt[1], "comments": [ln[8:] for ln in header if ln.startswith("comment ")], "elements": {}}
    body = data[end:]
    if fmt[1] == "ascii":
        tokens = body.split()
        pos = 0
        for name, count, props in elements:
            recs = []
            for _ in range(count):
                rec = {}
                for pname, ptype in props:
                    if isinstance(ptype, tuple):
                        n = int(tokens[pos])
                        rec[pname] = [float(t) for t in tokens[pos + 1:pos + 1 + n]]
                        pos += 1 + n
                    else:
                        rec[pname] = float(tokens[pos])
                        pos += 1
                recs.append(rec)
            out["elements"][name] = recs
        assert pos == len(tokens), "trailing data after the last element"
        return out
    e = "<" if fmt[1] == "binary_little_endian" else ">"
    pos = 0
    for name, count, props in elements:
        recs = []
        for _ in range(count):
            rec = {}
            for pname, ptype in props:
                if isinstance(ptype, tuple):
                    (n,) = struct.unpack_from(e + PLY_TYPES[ptype[0]], body, pos)
                    pos += struct.calcsize(PLY_TYPES[ptype[0]])
                    code = e + str(n) + PLY_TYPES[ptype[1]]
                    rec[pname] = list(struct.unpack_from(code, body, pos))
                    pos += struct.calcsize(code)
                else:
                    (rec[pname],) = struct.unpack_from(e + PLY_TYPES[ptype], body, pos)
                    pos += struct.calcsize(e + PLY_TYPES[ptype])
            recs.append(rec)
        out["elements"][name] = recs
    assert pos == len(body), f"{len(body) - pos} trailing bytes after the last element"
    return out


def read_obj(text: str) -> dict:
    """Wavefront OBJ subset: `v x y z [r g b]`, `f a b c` (1-based, optionally a/b/c forms), comments."""
    verts, colors, faces = [], [], []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "v":
            assert len(words) in (4, 7), line
            verts.append([float(w) for w in words[1:4]])
            if len(words) == 7:
                colors.append([float(w) for w in words[4:7]])
        elif words[0] == "f":
            idx = [int(w.split("/")[0]) for w in words[1:]]
            assert len(idx) == 3 and min(idx) >= 1, "OBJ indices are 1-based"
            faces.append([i - 1 for i in idx])
        else:
            raise AssertionError(f"unexpected OBJ statement {line!r}")
    return {"v": np.array(verts), "c": np.array(colors) if colors else None, "f": np.array(faces, dtype=np.int64)}


@pytest.fixture()
def small():
    v = np.array([[0.0, 0, 0], [1.5, 0, 0], [0, 2.25, 0], [0, 0, -3.125], [1e5, -7.5e-3, 123456.7]], np.float32)
    t = np.array([[0, 1, 2], [0, 2, 3], [1, 3, 4]], np.int64)
    c = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [1, 2, 3]], np.uint8)
    return v, t, c


def test_binary_ply_follows_spec(tmp_path, small):
    v, t, c = small
    p = meshio.write_ply(tmp_path / "m.ply", v, t, c, comment="made by a test\nsecond line")
    data = p.read_bytes()
    head = data[:data.index(b"end_header\n") + 11].decode("ascii")
    assert head == (
        "ply\nformat binary_little_endian 1.0\ncomment made by a test\ncomment second line\n"
        "element vertex 5\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        "element face 3\nproperty list uchar int vertex_indices\nend_header\n")
    assert len(data) - len(head) == 5 * (3 * 4 + 3) + 3 * (1 + 3 * 4)  # exact record sizes, no padding
    r = read_ply(data)
    assert r["format"] == "binary_little_endian" and r["comments"] == ["made by a test", "second line"]
    vs = r["elements"]["vertex"]
    np.testing.assert_array_equal([[q["x"], q["y"], q["z"]] for q in vs], v)
    np.testing.assert_array_equal([[q["red"], q["green"], q["blue"]] for q in vs], c)
    np.testing.assert_array_equal([q["vertex_indices"] for q in r["elements"]["face"]], t)
    assert not list(tmp_path.glob(".*"))  # no temporary left behind


def test_ascii_ply_without_colours(tmp_path, small):
    v, t, _ = small
    p = meshio.write_mesh(tmp_path / "m.ply", v, t, fmt="ply-ascii")
    r = read_ply(p.read_bytes())
    assert r["format"] == "ascii"
    vs = r["elements"]["vertex"]
    assert set(vs[0]) == {"x", "y", "z"}
    # 9 significant digits round-trip float32 exactly
    np.testing.assert_array_equal(np.array([[q["x"], q["y"], q["z"]] for q in vs], np.float32), v)
    np.testing.assert_array_equal([q["vertex_indices"] for q in r["elements"]["face"]], t)
    lines = p.read_text().splitlines()
    assert lines[-1] == "3 1 3 4" and all(len(ln.split()) == 3 for ln in lines[lines.index("end_header") + 1:][:5])


def test_obj_with_colours_bgr_source(tmp_path, small):
    v, t, c = small
    p = meshio.write_obj(tmp_path / "m.obj", v, t, c[:, ::-1], color_order="bgr")
    r = read_obj(p.read_text())
    np.testing.assert_array_equal(r["v"].astype(np.float32), v)
    np.testing.assert_array_equal(r["f"], t)
    np.testing.assert_allclose(r["c"], c / 255.0, atol=1e-6)  # back to RGB in [0, 1]
    assert p.read_text().count("\nf ") == 3


def test_obj_plain_and_float_colours(tmp_path, small):
    v, t, c = small
    r = read_obj(meshio.obj_bytes(v.T, t).decode())  # (3, N) vertices accepted
    assert r["c"] is None and r["v"].shape == (5, 3) and r["f"].min() == 0
    r2 = read_obj(meshio.obj_bytes(v, t, c / 255.0).decode())
    np.testing.assert_allclose(r2["c"], c / 255.0, atol=1e-6)


def test_dense_face_export_like_upstream(tmp_path, edgeface_home):
    """The no-neck mesh of a posed face: y flipped and winding reversed, so that in the y-up file
    the face is front-facing (counter-clockwise seen from +z) as in upstream ser_to_ply/obj."""
    from edgeface.dense.loading import load_dense_model

    model = load_dense_model(edgeface_home, prefer="approx")
    p = assets.load_param_stats(edgeface_home).mean
    vi = model.image_vertices(p, [170.0, 90.0, 470.0, 390.0])
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, :, 2] = 200  # red in BGR
    verts, tri, cols = meshio.mesh_from_frame(vi, model.tri, 480, frame)
    np.testing.assert_allclose(verts[:, 1], 480 - vi[1])
    np.testing.assert_array_equal(tri, model.tri[:, ::-1])
    assert (cols == (200, 0, 0)).all()
    v64 = verts.astype(np.float64)
    n = np.cross(v64[tri[:, 1]] - v64[tri[:, 0]], v64[tri[:, 2]] - v64[tri[:, 0]])
    assert n[:, 2].sum() > 0 and (n[:, 2] > 0).mean() > 0.8
    path = meshio.write_ply(tmp_path / "face.ply", verts, tri, cols)
    r = read_ply(path.read_bytes())
    assert len(r["elements"]["vertex"]) == model.n_vertices and len(r["elements"]["face"]) == model.tri.shape[0]
    raw = np.frombuffer(path.read_bytes()[path.read_bytes().index(b"end_header\n") + 11:][:15 * model.n_vertices],
                        dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)])
    np.testing.assert_array_equal(raw["xyz"], verts)
    # two faces in one file
    mv, mt, mc = meshio.merge_meshes([(verts, tri, cols), (verts + 1, tri, cols)])
    assert mv.shape[0] == 2 * model.n_vertices and mt.max() == 2 * model.n_vertices - 1 and mc.shape == mv.shape


def test_failed_write_keeps_previous_file(tmp_path, small):
    v, t, c = small
    dest = meshio.write_ply(tmp_path / "m.ply", v, t)
    before = dest.read_bytes()
    with pytest.raises(EdgefaceError, match="triangles index"):
        meshio.write_ply(dest, v, t + 10)
    assert dest.read_bytes() == before and sorted(x.name for x in tmp_path.iterdir()) == ["m.ply"]


def test_rejects_bad_input(tmp_path, small):
    v, t, c = small
    with pytest.raises(EdgefaceError, match="format"):
        meshio.write_mesh(tmp_path / "m.stl", v, t)
    with pytest.raises(EdgefaceError, match="unknown"):
        meshio.write_mesh(tmp_path / "m.ply", v, t, fmt="stl")
    with pytest.raises(EdgefaceError, match=r"\(N, 3\)"):
        meshio.ply_bytes(v[:, :2], t)
    with pytest.raises(EdgefaceError, match="integer"):
        meshio.ply_bytes(v, t.astype(np.float32))
    with pytest.raises(EdgefaceError, match=r"\[0, 1\]"):
        meshio.ply_bytes(v, t, c * 2.0)
    with pytest.raises(EdgefaceError, match="colours must be"):
        meshio.ply_bytes(v, t, c[:3])
    with pytest.raises(EdgefaceError, match="finite"):
        meshio.ply_bytes(np.full((3, 3), np.nan), t[:1])
    with pytest.raises(EdgefaceError, match="ASCII"):
        meshio.ply_bytes(v, t, comment="caf\u00e9")
    assert not re.search(r"\.part", " ".join(x.name for x in tmp_path.iterdir()))
