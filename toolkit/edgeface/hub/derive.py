"""Deriving a card's runtime `.npz` asset from its verified upstream files (run by `hub.fetch`).

param_stats, sparse_bases and mesh are written here with their record (`hub.assets.write_record`);
the dense BFM goes through `hub.bfm_npz`, which owns its layout. Pickles are read with the
restricted unpickler (`hub.safe_pickle`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeface.errors import MissingAssetError
from edgeface.hub import paths, safe_pickle
from edgeface.hub.assets import write_record
from edgeface.hub.atomic import atomic_path
from edgeface.hub.bfm_npz import bfm_npz_from_pickle
from edgeface.hub.cards import Card


def _write_npz(dest: Path, **arrays) -> Path:
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    write_record(dest)
    return dest


def _read_txt(path: Path) -> np.ndarray:
    return np.loadtxt(path, dtype=np.float64).astype(np.float32)


def derive(card: Card, root: Path | None = None) -> Path:
    """Build the card's runtime `.npz` from its verified files (pickles via the restricted unpickler)."""
    dest = paths.assets_dir(root) / card.derived["asset"]
    fp = {f.key: paths.files_dir(root) / f.mirror_relpath for f in card.files}
    if card.name == "param_stats":
        d = safe_pickle.load(fp["pickle"], name=card.file("pickle").path)
        return _write_npz(dest, mean=np.asarray(d["mean"], np.float32), std=np.asarray(d["std"], np.float32))
    if card.name == "sparse_bases":
        u = _read_txt(fp["u_base"]).reshape(-1)
        w_shp = _read_txt(fp["w_shp_base"]).reshape(204, -1)
        w_exp = _read_txt(fp["w_exp_base"]).reshape(204, -1)
        return _write_npz(dest, u=u, w_shp=w_shp, w_exp=w_exp)
    if card.name == "mesh":
        tri = np.asarray(safe_pickle.load(fp["tri"], name=card.file("tri").path))
        tri = (tri.T if tri.shape[0] == 3 else tri).astype(np.int32)
        u_mean = (np.load(fp["u_shp"], allow_pickle=False) + np.load(fp["u_exp"], allow_pickle=False)).reshape(-1)
        return _write_npz(
            dest,
            tri=np.ascontiguousarray(tri),
            indices=np.load(fp["indices"], allow_pickle=False).astype(np.int64).reshape(-1),
            ncc_code=np.load(fp["ncc_code"], allow_pickle=False).astype(np.float32),
            u_mean=u_mean.astype(np.float32),
            keypoints=np.load(fp["keypoints"], allow_pickle=False).astype(np.int64).reshape(-1),
        )
    if card.name == "bfm":
        return bfm_npz_from_pickle(fp["pickle"], dest, root)
    raise MissingAssetError(f"no derivation for '{card.name}'")
