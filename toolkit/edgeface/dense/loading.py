"""Choosing and loading the dense model: the exact BFM model (`dense.model`) when its asset is
cached, else the BFM-free `dense_approx` model (`dense.approx`), optionally decimated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from edgeface.dense.approx import load_approx_model
from edgeface.dense.model import DenseReconstructor, dense_model_from_bfm
from edgeface.errors import EdgefaceError
from edgeface.hub import assets, first_use
from edgeface.hub.bfm_npz import load_bfm_npz

PREFERENCES = ("bfm", "approx")


def load_dense_model(root: Optional[Path] = None, prefer: str = "bfm", decimate: Optional[int] = None) -> DenseReconstructor:
    """The dense model for `edgeface run --dense`.

    `prefer="bfm"`: the exact BFM model when its asset (`edgeface fetch bfm`) is cached, else the
    BFM-free `dense_approx` model; `prefer="approx"`: always `dense_approx`. `decimate`: keep
    about that many vertices (slow boards). Check `.kind` ("bfm" / "dense_approx") to label output.
    """
    if prefer not in PREFERENCES:
        raise EdgefaceError(f"dense model preference {prefer!r} is unknown: use one of {', '.join(PREFERENCES)}")
    first_use.ensure(("mesh",), root)  # the models package leaves the BFM-derived mesh out (hub.first_use)
    model: Optional[DenseReconstructor] = None
    if prefer == "bfm":
        p = assets.asset_path("bfm", root)
        if p.is_file():
            model = dense_model_from_bfm(load_bfm_npz(p))
    if model is None:
        model = load_approx_model(root)
    if decimate is not None:
        model = model.decimate(int(decimate))
    return model
