"""Head pose angles <-> rotation matrix, in 3DDFA_V2's convention (pure numpy).

`R = Rz(roll) @ Ry(-yaw) @ Rx(pitch)` (upstream `matrix2angle` inverts it; `runtime.tdmm.matrix_to_angles`).
R maps the face model's axes to the camera's: x to the image's right, y UP (the image's y axis flipped),
z out of the screen toward the viewer; a frontal face looks along +z. Signs, in the image: yaw > 0 turns
the face toward the image's left (its forward axis R[:, 2] gets x < 0), pitch > 0 tilts it down (R[1, 2] < 0),
roll > 0 rotates it counter-clockwise (its x axis R[:, 0] gets y > 0, i.e. up in the y-up frame).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def rotation_from_angles(yaw: float, pitch: float, roll: float, degrees: bool = True) -> npt.NDArray[np.float64]:
    """The (3, 3) rotation `Rz(roll) @ Ry(-yaw) @ Rx(pitch)` of head pose angles (degrees unless
    `degrees=False`: radians), whose `runtime.tdmm.matrix_to_angles` is (yaw, pitch, roll) outside the
    gimbal-lock zone (|yaw| near 90 degrees)."""
    if degrees:
        yaw, pitch, roll = (math.radians(v) for v in (yaw, pitch, roll))
    cx, sx_ = math.cos(pitch), math.sin(pitch)
    cy, sy_ = math.cos(-yaw), math.sin(-yaw)
    cz, sz_ = math.cos(roll), math.sin(roll)
    rx = np.array([[1, 0, 0], [0, cx, -sx_], [0, sx_, cx]])
    ry = np.array([[cy, 0, sy_], [0, 1, 0], [-sy_, 0, cy]])
    rz = np.array([[cz, -sz_, 0], [sz_, cz, 0], [0, 0, 1]])
    out: npt.NDArray[np.float64] = rz @ ry @ rx
    return out
