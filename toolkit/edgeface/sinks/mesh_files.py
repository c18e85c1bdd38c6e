"""Export a triangle mesh as `.ply` (binary little-endian or ASCII) or `.obj`, written atomically.

PLY (Greg Turk's format, as read by MeshLab, Blender, trimesh, Open3D):
    ply
    format binary_little_endian 1.0      (or: format ascii 1.0)
    comment ...
    element vertex N
    property float x / y / z
    property uchar red / green / blue     (optional per-vertex colours)
    element face M
    property list uchar int vertex_indices
    end_header
then N vertex records and M face records (a uint8 count 3 and three int32 indices, 0-based).
Each header line ends with a single LF.

OBJ (Wavefront): `v x y z` lines (with the widespread `v x y z r g b` extension, colours as
floats in [0, 1], when colours are given), then `f i j k` lines with 1-BASED indices.

Vertices are (N, 3) (an (3, N) array with N != 3 is transposed: the layout of edgeface's dense
vertices); colours (N, 3) uint8 0-255 or float 0-1, in RGB order unless `color_order="bgr"`
(colours sampled from an OpenCV frame).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from edgeface.dense.model import check_triangles
from edgeface.errors import EdgefaceError
from edgeface.hub.atomic import atomic_path

PathLike = Union[str, "os.PathLike[str]"]
FORMATS = ("ply", "ply-ascii", "obj")


def _vertices(vertices) -> np.ndarray:
    v = np.asarray(vertices)
    if v.ndim == 2 and v.shape[0] == 3 and v.shape[1] != 3:
        v = v.T
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] == 0:
        raise EdgefaceError(f"mesh vertices must be (N, 3) or (3, N), got {v.shape}")
    if v.dtype.kind not in "fiu" or not np.all(np.isfinite(v)):
        raise EdgefaceError("mesh vertices must be finite numbers")
    return np.ascontiguousarray(v, dtype=np.float32)


def _colors(colors, n: int, color_order: str) -> Optional[np.ndarray]:
    if colors is None:
        return None
    if color_order not in ("rgb", "bgr"):
        raise EdgefaceError(f"color_order must be 'rgb' or 'bgr', got {color_order!r}")
    c = np.asarray(colors)
    if c.ndim == 2 and c.shape[0] == 3 and c.shape[1] != 3:
        c = c.T
    if c.shape != (n, 3):
        raise EdgefaceError(f"vertex colours must be (N, 3) = ({n}, 3), got {c.shape}")
    if c.dtype == np.uint8:
        c8 = c
    elif c.dtype.kind == "f":
        if not np.all(np.isfinite(c)) or c.min() < 0 or c.max() > 1:
            raise EdgefaceError("float vertex colours must lie in [0, 1] (or pass uint8 0-255)")
        c8 = np.rint(c * 255.0).astype(np.uint8)
    else:
        raise EdgefaceError(f"vertex colours must be uint8 0-255 or float 0-1, got {c.dtype}")
    if color_order == "bgr":
        c8 = c8[:, ::-1]
    return np.ascontiguousarray(c8)


def _ply_header(n: int, m: int, binary: bool, with_colors: bool, comment: str) -> bytes:
    lines = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0"]
    for c in comment.splitlines():
        lines.append(f"comment {c}".rstrip())
    lines += [f"element vertex {n}", "property float x", "property float y", "property float z"]
    if with_colors:
        lines += ["property uchar red", "property uchar green", "property uchar blue"]
    lines += [f"element face {m}", "property list uchar int vertex_indices", "end_header"]
    return ("\n".join(lines) + "\n").encode("ascii")


def ply_bytes(vertices, triangles, colors=None, binary: bool = True, comment: str = "edgeface",
              color_order: str = "rgb") -> bytes:
    """The bytes of a PLY file (see the module docstring for the layout)."""
    v = _vertices(vertices)
    t = check_triangles(triangles, v.shape[0])
    c = _colors(colors, v.shape[0], color_order)
    if not comment.isascii():
        raise EdgefaceError("PLY comments must be ASCII")
    head = _ply_header(v.shape[0], t.shape[0], binary, c is not None, comment)
    if binary:
        fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
        if c is not None:
            fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
        vrec = np.empty(v.shape[0], dtype=np.dtype(fields))
        vrec["x"], vrec["y"], vrec["z"] = v[:, 0], v[:, 1], v[:, 2]
        if c is not None:
            vrec["red"], vrec["green"], vrec["blue"] = c[:, 0], c[:, 1], c[:, 2]
        frec = np.empty(t.shape[0], dtype=np.dtype([("n", "u1"), ("i", "<i4", (3,))]))
        frec["n"] = 3
        frec["i"] = t
        return head + vrec.tobytes() + frec.tobytes()
    out = [head]
    if c is None:
        out.append("".join(f"{x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in v.astype(np.float64).tolist()).encode("ascii"))
    else:
        out.append("".join(f"{x:.9g} {y:.9g} {z:.9g} {r} {g} {b}\n"
                           for (x, y, z), (r, g, b) in zip(v.astype(np.float64).tolist(), c.tolist())).encode("ascii"))
    out.append("".join(f"3 {a} {b} {cc}\n" for a, b, cc in t.tolist()).encode("ascii"))
    return b"".join(out)


def obj_bytes(vertices, triangles, colors=None, comment: str = "edgeface", color_order: str = "rgb") -> bytes:
    """The bytes of a Wavefront OBJ file (1-based faces; `v x y z r g b` with colours)."""
    v = _vertices(vertices)
    t = check_triangles(triangles, v.shape[0])
    c = _colors(colors, v.shape[0], color_order)
    lines = [f"# {line}" for line in comment.splitlines()]
    head = ("\n".join(lines) + "\n") if lines else ""
    vf = v.astype(np.float64).tolist()
    if c is None:
        body = "".join(f"v {x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in vf)
    else:
        cf = (c.astype(np.float64) / 255.0).tolist()
        body = "".join(f"v {x:.9g} {y:.9g} {z:.9g} {r:.6g} {g:.6g} {b:.6g}\n" for (x, y, z), (r, g, b) in zip(vf, cf))
    faces = "".join(f"f {a} {b} {cc}\n" for a, b, cc in (t.astype(np.int64) + 1).tolist())
    return (head + body + faces).encode("utf-8")


def write_mesh(path: PathLike, vertices, triangles, colors=None, fmt: Optional[str] = None, comment: str = "edgeface",
               color_order: str = "rgb") -> Path:
    """Write a mesh atomically. `fmt`: "ply" (binary little endian), "ply-ascii" or "obj";
    by default from the file extension (.ply -> binary, .obj)."""
    p = Path(path)
    if fmt is None:
        ext = p.suffix.lower()
        fmt = {".ply": "ply", ".obj": "obj"}.get(ext)
        if fmt is None:
            raise EdgefaceError(f"cannot tell the mesh format of {p.name}: use a .ply or .obj name or pass fmt")
    if fmt not in FORMATS:
        raise EdgefaceError(f"mesh format {fmt!r} is unknown: use one of {', '.join(FORMATS)}")
    if fmt == "obj":
        data = obj_bytes(vertices, triangles, colors, comment, color_order)
    else:
        data = ply_bytes(vertices, triangles, colors, binary=(fmt == "ply"), comment=comment, color_order=color_order)
    with atomic_path(p) as tmp:
        tmp.write_bytes(data)
    return p


def write_ply(path: PathLike, vertices, triangles, colors=None, binary: bool = True, comment: str = "edgeface",
              color_order: str = "rgb") -> Path:
    return write_mesh(path, vertices, triangles, colors, "ply" if binary else "ply-ascii", comment, color_order)


def write_obj(path: PathLike, vertices, triangles, colors=None, comment: str = "edgeface", color_order: str = "rgb") -> Path:
    return write_mesh(path, vertices, triangles, colors, "obj", comment, color_order)


def sample_colors(image, vertices_img) -> np.ndarray:
    """RGB uint8 (N, 3) colours of a BGR frame under image-space vertices (3, N) (nearest pixel,
    clamped to the frame, as upstream get_colors)."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise EdgefaceError(f"colour source must be a BGR image (H, W, 3), got {img.shape}")
    v = np.asarray(vertices_img, dtype=np.float64)
    h, w = img.shape[:2]
    x = np.clip(np.rint(v[0]), 0, w - 1).astype(np.int64)
    y = np.clip(np.rint(v[1]), 0, h - 1).astype(np.int64)
    return np.ascontiguousarray(img[y, x][:, ::-1]).astype(np.uint8)


def mesh_from_frame(vertices_img, triangles, height: int, image=None):
    """A face in frame pixels (3, N) (y down) as a mesh for 3D viewers, like upstream
    ser_to_ply / ser_to_obj: y flipped to `height - y` (y up) and every triangle's winding
    reversed so that the face stays front-facing (counter-clockwise). Returns
    `(vertices (N, 3) float32, triangles (M, 3) int32, colours (N, 3) RGB uint8 or None)`."""
    v = np.asarray(vertices_img, dtype=np.float32)
    if v.ndim != 2 or v.shape[0] != 3:
        raise EdgefaceError(f"image-space vertices must be (3, N), got {v.shape}")
    out = np.stack([v[0], np.float32(height) - v[1], v[2]], axis=1)
    t = check_triangles(triangles, out.shape[0])[:, ::-1]
    cols = None if image is None else sample_colors(image, v)
    return out, np.ascontiguousarray(t), cols


def merge_meshes(meshes) -> tuple:
    """Concatenate meshes `[(vertices (N_i, 3), triangles (M_i, 3), colours or None), ...]` into one
    (several faces in one file); colours are kept only when every mesh has them."""
    meshes = list(meshes)
    if not meshes:
        raise EdgefaceError("no meshes to merge")
    vs, ts, cs, off = [], [], [], 0
    for v, t, c in meshes:
        v = _vertices(v)
        ts.append(check_triangles(t, v.shape[0]) + off)
        vs.append(v)
        cs.append(c)
        off += v.shape[0]
    cols = None if any(c is None for c in cs) else np.concatenate([np.asarray(c) for c in cs])
    return np.concatenate(vs), np.concatenate(ts).astype(np.int32), cols


__all__: Sequence[str] = ("FORMATS", "ply_bytes", "obj_bytes", "write_mesh", "write_ply", "write_obj", "sample_colors",
                          "mesh_from_frame", "merge_meshes")
