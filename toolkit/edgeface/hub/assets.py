"""Cached assets: verified upstream files and the arrays derived from them.

Everything the runtime loads goes through here, so a missing file gives one clear line
("run `edgeface fetch NAME`") instead of a traceback. Each derived `.npz` gets a record beside it
(`<asset>.json`: size and sha256, written when it is derived by `hub.derive`) and is verified
against it before `np.load` reads it; a damaged asset is one `VerificationError` line.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeface.hub import locate, paths
from edgeface.errors import MissingAssetError, VerificationError
from edgeface.hub.atomic import sha256_file, write_json_atomic
from edgeface.hub.manifest import read_verified
from edgeface.hub.cards import get_card


ASSET_RECORD_FORMAT = "edgeface-asset/1"


def file_path(card_name: str, key: str, root: Path | None = None) -> Path:
    """The cached, verified path of one upstream file of a card."""
    f = get_card(card_name).file(key)
    p = paths.files_dir(root) / f.mirror_relpath
    if not p.is_file():
        raise MissingAssetError(f"{card_name} ({f.path}) is not in the cache {paths.files_dir(root)}; run `edgeface fetch {card_name}` (add --mirror DIR for a local mirror)")
    return p


def asset_path(card_name: str, root: Path | None = None) -> Path:
    card = get_card(card_name)
    return paths.assets_dir(root) / card.derived["asset"]


def record_path(asset: Path) -> Path:
    """The record beside a derived asset (`param_stats.npz` -> `param_stats.json`): its size and sha256."""
    return Path(asset).with_suffix(".json")


def write_record(asset: Path) -> Path:
    """Record a derived asset's size and sha256 so every later load can verify it first."""
    return write_json_atomic(record_path(asset), {"format": ASSET_RECORD_FORMAT, "file": Path(asset).name,
                                                  "sha256": sha256_file(asset), "size_bytes": Path(asset).stat().st_size})


def _locate_npz(card_name: str, root: Path | None = None) -> Path:
    """The asset's path in the first model source that has it (`hub.locate`: bundle, cache, installed
    models package). Assets the models package leaves out are fetched before this by `hub.first_use`."""
    found = locate.find_asset(get_card(card_name).derived["asset"], root)
    if found is not None:
        return found.path
    p = asset_path(card_name, root)
    raise MissingAssetError(f"{card_name} is not in the cache ({p}); run `edgeface fetch {card_name}` (add --mirror DIR for a local mirror)")


def _load_npz(card_name: str, root: Path | None = None) -> dict:
    p = _locate_npz(card_name, root)
    fix = f"run `edgeface fetch {card_name}` to rebuild it (or copy the cache again)"
    rec = record_path(p)
    source = p
    if rec.is_file():  # verify before load: np.load only ever sees the checked bytes
        try:
            r = json.loads(rec.read_text(encoding="utf-8"))
            sha, size = str(r["sha256"]), int(r["size_bytes"])
        except (ValueError, KeyError, TypeError, OSError) as e:
            raise VerificationError(f"record {rec} is unreadable ({e}); {fix}") from None
        source = io.BytesIO(read_verified(p, sha, size, fix))
    try:  # a cache from before records: guarded load, still one line on a damaged file
        with np.load(source, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise VerificationError(f"{p} is damaged ({str(e).splitlines()[0] if str(e) else type(e).__name__}); {fix}") from None


@dataclass(frozen=True)
class ParamStats:
    mean: np.ndarray  # (62,) float32
    std: np.ndarray  # (62,) float32


@dataclass(frozen=True)
class SparseBasesArrays:
    u: np.ndarray  # (204,) x,y,z interleaved per landmark
    w_shp: np.ndarray  # (204, 40)
    w_exp: np.ndarray  # (204, 10)


def load_param_stats(root: Path | None = None) -> ParamStats:
    d = _load_npz("param_stats", root)
    return ParamStats(mean=d["mean"], std=d["std"])


def load_sparse_bases(root: Path | None = None) -> SparseBasesArrays:
    d = _load_npz("sparse_bases", root)
    return SparseBasesArrays(u=d["u"], w_shp=d["w_shp"], w_exp=d["w_exp"])


def load_mesh(root: Path | None = None) -> dict:
    """tri (M,3) int32, indices (38365,), ncc_code (3,38365), u_mean (3*53215,), keypoints (204,)."""
    return _load_npz("mesh", root)


def sample_path(key: str, root: Path | None = None) -> Path:
    """A sample photo or video: emma, trump_hillary, jianzhuguo, group, obama."""
    return file_path("samples", key, root)
