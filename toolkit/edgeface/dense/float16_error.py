"""How far float16-stored BFM bases (`edgeface.hub.bfm_npz`, storage dtype "float16") move the
dense vertices, measured against float32 with the runtime's own reconstruction formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from edgeface.runtime.tdmm import dense_vertices


@dataclass(frozen=True)
class Float16Error:
    """Vertex error of float16 bases against float32, for a set of params."""

    n_faces: int
    n_vertices: int
    max_px: float  # max over faces/vertices, in pixels of the frame (ROI given) or the 120 crop
    mean_px: float
    p99_px: float


def float16_vertex_error(u, w_shp, w_exp, params: Sequence, rois: Optional[Sequence] = None, size: int = 120) -> Float16Error:
    """How far float16-stored bases move the vertices, in pixels (of the frame when `rois` is
    given, else of the `size` crop). The float32 reference and the float16 bases (cast back to
    float32 for the product, as the runtime does) use the same formula."""
    u = np.asarray(u, np.float32).reshape(-1)
    ws32 = np.asarray(w_shp, np.float32)
    we32 = np.asarray(w_exp, np.float32)
    ws16 = ws32.astype(np.float16).astype(np.float32)
    we16 = we32.astype(np.float16).astype(np.float32)
    errs = []
    for i, p in enumerate(params):
        a = dense_vertices(p, u, ws32, we32).astype(np.float64)
        b = dense_vertices(p, u, ws16, we16).astype(np.float64)
        e = np.hypot(a[0] - b[0], a[1] - b[1])
        if rois is not None:
            sx, sy, ex, ey = np.asarray(rois[i], np.float64)[:4]
            e = e * ((ex - sx) + (ey - sy)) / 2 / size
        errs.append(e)
    e = np.concatenate(errs)
    return Float16Error(n_faces=len(errs), n_vertices=u.size // 3, max_px=float(e.max()), mean_px=float(e.mean()),
                        p99_px=float(np.percentile(e, 99)))
