"""3DMM decoding of the regressor output, numerically as 3DDFA_V2 (pure numpy).

The regressor outputs 62 normalized values; `denormalize` turns them into the 3DMM parameters
`params = output * std + mean`: 12 pose values (a 3x4 scaled-orthographic camera `[s*R | t]`,
row-major), 40 shape and 10 expression coefficients (upstream `_parse_param`).

Vertices are `R @ (u + W_shp a_shp + W_exp a_exp).reshape(3, -1, order="F") + t` in the model
space of the 120x120 crop (x right, y UP, units of crop pixels); `to_image` maps them into the
frame (upstream `similar_transform`). The same formula serves the 68 sparse landmarks (bases of
204 rows: x, y, z interleaved per point) and the dense mesh (3 * N rows, any N).

Pose (upstream utils/pose.py) uses the rotation `R = Rz(roll) @ Ry(-yaw) @ Rx(pitch)` with the
standard right-handed elementary rotations, in the model space above (x right, y up, z toward
the camera). Angles are degrees:
  yaw   = asin(R[2, 0])          rotation about the vertical y axis,
  pitch = atan2(R[2, 1], R[2, 2]) rotation about the horizontal x axis,
  roll  = atan2(R[1, 0], R[0, 0]) rotation about the optical z axis,
with upstream's gimbal-lock branch when |R[2, 0]| > 0.998 (roll = 0, yaw = +-90 degrees).
Signs as seen in the image (checked on the mean face in tests/test_tdmm.py):
  yaw > 0:   the face turns toward the image's left (the nose moves left; the subject turns
             to their own right),
  pitch > 0: the face tilts down (the nose moves down in the image),
  roll > 0:  the face rotates counter-clockwise in the image (the eye on the image's right goes up).
The mean params (param_mean_std_62d_120x120.pkl) give about (0.1, 5.0, -0.1) degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence, Union

import numpy as np

from edgeface.errors import EdgefaceError, MissingAssetError
from edgeface.pose import rotation_from_angles  # re-exported: the pose convention lives in edgeface.pose

#: parameter layouts upstream knows: total -> (pose, shape, expression)
PARAM_TEMPLATES = {62: (12, 40, 10), 72: (12, 40, 20), 141: (12, 100, 29)}
#: upstream matrix2angle gimbal-lock threshold on |R[2, 0]|
GIMBAL_THRESHOLD = 0.998

SPARSE_BASIS_FILES = ("u_base.txt", "w_shp_base.txt", "w_exp_base.txt")


# ----------------------------------------------------------------------------- parameters

def denormalize(output, mean, std) -> np.ndarray:
    """3DMM parameters from the regressor's normalized output: `output * std + mean` (float32).

    `output` may be (62,) or (B, 62); `mean`/`std` are the (62,) whitening vectors of the
    model (upstream configs/param_mean_std_62d_120x120.pkl).
    """
    out = np.asarray(output, dtype=np.float32)
    mean = np.asarray(mean, dtype=np.float32).reshape(-1)
    std = np.asarray(std, dtype=np.float32).reshape(-1)
    if mean.shape != std.shape or out.shape[-1:] != mean.shape:
        raise EdgefaceError(
            f"regressor output has {out.shape[-1] if out.ndim else 0} values but the param mean/std have "
            f"{mean.size}/{std.size}: use the param statistics that belong to this model"
        )
    return out * std + mean


def _params_vector(params) -> np.ndarray:
    p = np.asarray(params)
    if p.dtype.kind != "f":
        p = p.astype(np.float32)
    p = p.reshape(-1)
    if p.size not in PARAM_TEMPLATES:
        raise EdgefaceError(
            f"3DMM params must have one of {sorted(PARAM_TEMPLATES)} values, got {p.size}: pass the "
            "de-normalized regressor output of one face"
        )
    return p


def split_params(params) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split a parameter vector into `(R, offset, alpha_shp, alpha_exp)` (upstream `_parse_param`).

    `R` (3, 3) is the scaled rotation `s * R` (first 3 columns of the row-major 3x4 camera),
    `offset` (3, 1) its last column, `alpha_shp` (40, 1), `alpha_exp` (10, 1) for 62 params
    (72 and 141 use upstream's other templates). Views of the input where possible; dtype kept.
    """
    p = _params_vector(params)
    n_pose, n_shp, _ = PARAM_TEMPLATES[p.size]
    cam = p[:n_pose].reshape(3, -1)
    R = cam[:, :3]
    offset = cam[:, -1].reshape(3, 1)
    alpha_shp = p[n_pose:n_pose + n_shp].reshape(-1, 1)
    alpha_exp = p[n_pose + n_shp:].reshape(-1, 1)
    return R, offset, alpha_shp, alpha_exp


def shape_expression(params, n_shp: int, n_exp: int, what: str) -> np.ndarray:
    """The (n_shp + n_exp,) float32 shape-then-expression coefficients of `params`, checked against
    the counts a basis (`what`, e.g. "the dense model") was built for."""
    _, _, a_shp, a_exp = split_params(params)
    if a_shp.shape[0] != n_shp or a_exp.shape[0] != n_exp:
        raise EdgefaceError(f"params have {a_shp.shape[0]} shape / {a_exp.shape[0]} expression values but {what} "
                            f"has {n_shp} / {n_exp}: use the 62-value params of 3DDFA_V2")
    return np.concatenate([a_shp[:, 0], a_exp[:, 0]]).astype(np.float32)


# ----------------------------------------------------------------------------- bases

class DenseModel(Protocol):
    """Anything holding 3DMM bases: `u` (3N,) or (3N, 1), `w_shp` (3N, >=40), `w_exp` (3N, >=10),
    rows x, y, z interleaved per vertex (upstream BFMModel layout). `SparseBases` is one (N = 68);
    the dense BFM (N = 38,365) is another."""

    u: np.ndarray
    w_shp: np.ndarray
    w_exp: np.ndarray


@dataclass
class SparseBases:
    """The 68-landmark bases: `u` (204,), `w_shp` (204, 40), `w_exp` (204, 10), float32,
    rows x, y, z interleaved per landmark."""

    u: np.ndarray
    w_shp: np.ndarray
    w_exp: np.ndarray

    @property
    def n_points(self) -> int:
        return self.u.size // 3


def _check_bases(u: np.ndarray, w_shp: np.ndarray, w_exp: np.ndarray, n_shp: int, n_exp: int) -> None:
    rows = u.size
    if rows == 0 or rows % 3:
        raise EdgefaceError(f"3DMM mean shape has {rows} values, not a positive multiple of 3 (x, y, z per vertex)")
    if w_shp.ndim != 2 or w_exp.ndim != 2 or w_shp.shape[0] != rows or w_exp.shape[0] != rows:
        raise EdgefaceError(
            f"3DMM bases disagree: u has {rows} rows, w_shp {w_shp.shape}, w_exp {w_exp.shape}: "
            "load u, w_shp and w_exp from the same model"
        )
    if w_shp.shape[1] < n_shp or w_exp.shape[1] < n_exp:
        raise EdgefaceError(
            f"3DMM bases have {w_shp.shape[1]} shape / {w_exp.shape[1]} expression columns but the params need "
            f"{n_shp} / {n_exp}: use bases that match the regressor"
        )


def load_sparse_bases_txt(directory: Union[str, Path]) -> SparseBases:
    """Load the 3DDFA v1 sparse bases from `directory` (c++/weights of cleardusk/3DDFA):
    u_base.txt (204 values, one a line), w_shp_base.txt (204 lines x 40), w_exp_base.txt (204 x 10)."""
    d = Path(directory)
    missing = [n for n in SPARSE_BASIS_FILES if not (d / n).is_file()]
    if missing:
        raise MissingAssetError(f"sparse 3DMM bases {', '.join(missing)} not found in {d}: run `edgeface fetch`")
    try:
        u = np.loadtxt(d / "u_base.txt", dtype=np.float64).astype(np.float32).reshape(-1)
        w_shp = np.loadtxt(d / "w_shp_base.txt", dtype=np.float64, ndmin=2).astype(np.float32)
        w_exp = np.loadtxt(d / "w_exp_base.txt", dtype=np.float64, ndmin=2).astype(np.float32)
    except ValueError as e:
        raise EdgefaceError(f"sparse 3DMM bases in {d} are not plain number tables ({e}): re-run `edgeface fetch`") from e
    if u.shape != (204,) or w_shp.shape != (204, 40) or w_exp.shape != (204, 10):
        raise EdgefaceError(
            f"sparse 3DMM bases in {d} have shapes u {u.shape}, w_shp {w_shp.shape}, w_exp {w_exp.shape}; "
            "expected (204,), (204, 40), (204, 10): re-run `edgeface fetch`"
        )
    return SparseBases(u=u, w_shp=w_shp, w_exp=w_exp)


def sparse_from_dense(model: DenseModel, keypoints) -> SparseBases:
    """Sparse bases picked out of dense ones: rows `keypoints` (204 indices into the 3N rows,
    upstream BFMModel.keypoints / 3DDFA keypoints_sim)."""
    k = np.asarray(keypoints, dtype=np.int64).reshape(-1)
    u = np.asarray(model.u, dtype=np.float32).reshape(-1)
    if k.size % 3 or k.min(initial=0) < 0 or k.max(initial=0) >= u.size:
        raise EdgefaceError(f"keypoint indices do not fit the dense model ({u.size} rows, {k.size} indices)")
    return SparseBases(
        u=u[k].copy(),
        w_shp=np.asarray(model.w_shp, dtype=np.float32)[k],
        w_exp=np.asarray(model.w_exp, dtype=np.float32)[k],
    )


# ----------------------------------------------------------------------------- reconstruction

def dense_vertices(params, u, w_shp, w_exp) -> np.ndarray:
    """Model-space vertices `(3, N)`: `R @ (u + w_shp a_shp + w_exp a_exp).reshape(3, -1, order="F") + offset`.

    Works for any N (68 landmarks or the dense mesh); the bases may have more columns than the
    params use (upstream keeps the first 40 / 10). Computed in the params' float type (float32
    for the regressor output), in upstream's order of operations.
    """
    R, offset, a_shp, a_exp = split_params(params)
    u = np.asarray(u)
    w_shp = np.asarray(w_shp)
    w_exp = np.asarray(w_exp)
    _check_bases(u, w_shp, w_exp, a_shp.shape[0], a_exp.shape[0])
    if w_shp.shape[1] != a_shp.shape[0]:
        w_shp = w_shp[:, :a_shp.shape[0]]
    if w_exp.shape[1] != a_exp.shape[0]:
        w_exp = w_exp[:, :a_exp.shape[0]]
    shape = u.reshape(-1, 1) + w_shp @ a_shp + w_exp @ a_exp  # (3N, 1)
    # Fortran reshape of the interleaved column == rows x, y, z of a (N, 3) C-order view, transposed
    pts = shape.reshape(-1, 3).T  # (3, N)
    return R @ pts + offset


def sparse_landmarks(params, u_base, w_shp_base, w_exp_base) -> np.ndarray:
    """The 68 landmarks `(3, 68)` in model space (upstream `recon_sparse` before `similar_transform`)."""
    return dense_vertices(params, u_base, w_shp_base, w_exp_base)


def to_image(pts3d, roi, size: int = 120) -> np.ndarray:
    """Map model-space points `(3, N)` into frame pixels (upstream `similar_transform`).

    x -= 1, z -= 1 (upstream's Matlab-to-Python 1-pixel shift), y = size - y (model y is up);
    then x, y scaled by the ROI's side / `size` and offset by the ROI's top-left corner, z scaled
    by the mean of the two scales and shifted so that min(z) = 0. Returns a new float32 `(3, N)`
    array (the input is not modified). Vectorized for any N.
    """
    pts = np.asarray(pts3d)
    if pts.ndim != 2 or pts.shape[0] != 3 or pts.shape[1] == 0:
        raise EdgefaceError(f"points must have shape (3, N) with N > 0, got {pts.shape}")
    sx, sy, ex, ey = (float(v) for v in np.asarray(roi, dtype=np.float64).reshape(-1)[:4])
    dt = np.float64 if pts.dtype == np.float64 else np.float32
    # upstream's scalars are Python floats applied to float32 rows: cast them to the row type
    scale_x = (ex - sx) / size
    scale_y = (ey - sy) / size
    s = (scale_x + scale_y) / 2
    x = (pts[0].astype(dt) - dt(1)) * dt(scale_x) + dt(sx)
    y = (dt(size) - pts[1].astype(dt)) * dt(scale_y) + dt(sy)
    z = (pts[2].astype(dt) - dt(1)) * dt(s)
    z = z - z.min()
    return np.stack([x, y, z]).astype(np.float32, copy=False)


# ----------------------------------------------------------------------------- pose

def camera_from_params(params) -> np.ndarray:
    """The scaled-orthographic camera `[s*R | t]` (3, 4): the first 12 params, row-major (a copy)."""
    p = _params_vector(params)
    return p[:12].reshape(3, 4).copy()


def p2srt(P) -> tuple[float, np.ndarray, np.ndarray]:
    """Decompose an affine camera `P` (3, 4) into `(s, R, t3d)` (upstream `P2sRt`).

    `s` = mean norm of the first two rows of `P[:, :3]`; `R` (3, 3) has those rows normalized and
    their cross product as third row (not re-orthogonalized, as upstream); `t3d` (3,) = `P[:, 3]`.
    """
    P = np.asarray(P, dtype=np.float64)
    if P.shape != (3, 4):
        raise EdgefaceError(f"camera matrix must be 3x4, got {P.shape}")
    r1, r2 = P[0, :3], P[1, :3]
    n1, n2 = float(np.linalg.norm(r1)), float(np.linalg.norm(r2))
    if n1 == 0.0 or n2 == 0.0:
        raise EdgefaceError("camera matrix has a zero row: the params do not describe a face pose")
    s = (n1 + n2) / 2.0
    r1 = r1 / n1
    r2 = r2 / n2
    R = np.stack([r1, r2, np.cross(r1, r2)])
    return s, R, P[:, 3].copy()


def matrix_to_angles(R) -> tuple[float, float, float]:
    """Euler angles `(yaw, pitch, roll)` in RADIANS of a rotation matrix (upstream `matrix2angle`).

    `R = Rz(roll) @ Ry(-yaw) @ Rx(pitch)`; when |R[2, 0]| > 0.998 (yaw near +-90 degrees) roll
    is set to 0 and pitch taken from the first row, as upstream.
    """
    R = np.asarray(R, dtype=np.float64)
    r20 = float(R[2, 0])
    if r20 > GIMBAL_THRESHOLD:
        roll = 0.0
        yaw = math.pi / 2
        pitch = roll + math.atan2(-float(R[0, 1]), -float(R[0, 2]))
    elif r20 < -GIMBAL_THRESHOLD:
        roll = 0.0
        yaw = -math.pi / 2
        pitch = -roll + math.atan2(float(R[0, 1]), float(R[0, 2]))
    else:
        yaw = math.asin(r20)
        c = math.cos(yaw)
        pitch = math.atan2(float(R[2, 1]) / c, float(R[2, 2]) / c)
        roll = math.atan2(float(R[1, 0]) / c, float(R[0, 0]) / c)
    return yaw, pitch, roll


def calc_pose(params) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Upstream `calc_pose`: `(P, (yaw, pitch, roll))` with `P = [R | t3d]` (3, 4, scale removed)
    and the angles in degrees (convention in the module docstring)."""
    _, R, t3d = p2srt(camera_from_params(params))
    angles = tuple(a * 180 / math.pi for a in matrix_to_angles(R))
    return np.concatenate([R, t3d.reshape(3, 1)], axis=1), angles  # type: ignore[return-value]


def pose_from_params(params) -> tuple[float, float, float]:
    """Head pose `(yaw, pitch, roll)` in degrees from 3DMM params (see the module docstring for
    axes and signs)."""
    return calc_pose(params)[1]


def scale_from_params(params) -> float:
    """The camera scale `s` of `[s*R | t]` (model units to 120-crop pixels)."""
    return p2srt(camera_from_params(params))[0]


__all__: Sequence[str] = (
    "PARAM_TEMPLATES", "DenseModel", "SparseBases", "denormalize", "split_params", "load_sparse_bases_txt",
    "sparse_from_dense", "dense_vertices", "sparse_landmarks", "to_image", "camera_from_params", "p2srt",
    "matrix_to_angles", "rotation_from_angles", "calc_pose", "pose_from_params", "scale_from_params",
)
