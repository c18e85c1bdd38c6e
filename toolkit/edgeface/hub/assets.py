"""Cached assets: verified upstream files and the arrays derived from them.

Everything the runtime loads goes through here, so a missing file gives one clear line
("run `edgeface fetch NAME`") instead of a traceback. Each derived `.npz` gets a record beside it
(`<asset>.json`: size and sha256, written when it is derived by `hub.derive`) and is verified
against it before `np.load` reads it; a damaged asset is one `VerificationError` line.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeface.hub import locate, paths
from edgeface.errors import MissingAssetError, VerificationError
from edgeface.hub.atomic import sha256_file, write_json_atomic
from edgeface.hub.manifest import read_verified
from edgeface.hub.cards import get_card
from edgeface.hub.installed import installed_models


ASSET_RECORD_FORMAT = "edgeface-asset/1"
_log = logging.getLogger("edgeface.hub")


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
    models package); an asset the installed package does not redistribute (BFM-derived, see
    docs/provenance.md) is fetched on first use into the cache from its pinned upstream URL (or
    $EDGEFACE_MIRROR), digests checked, with one line saying so."""
    asset = get_card(card_name).derived["asset"]
    found = locate.find_asset(asset, root)
    if found is not None:
        return found.path
    pkg = installed_models()
    why = pkg.fetched_on_first_use(card_name) if pkg is not None else ""
    if why:
        return fetch_on_first_use(card_name, why)
    p = asset_path(card_name, root)
    raise MissingAssetError(f"{card_name} is not in the cache ({p}); run `edgeface fetch {card_name}` (add --mirror DIR for a local mirror)")


def fetch_on_first_use(card_name: str, why: str) -> Path:
    """Fetch a card into the cache ($EDGEFACE_HOME) and derive its asset, saying so in one log line."""
    # lazy: hub.fetch imports hub.derive, which imports this module
    from edgeface.hub.fetch import default_mirror, fetch

    card = get_card(card_name)
    mirror = default_mirror()
    origin = f"the mirror {mirror}" if mirror is not None else ", ".join(sorted({f.repo.repository for f in card.files}))
    _log.warning("edgeface: fetching %s on first use from %s into %s, digests checked (not in the edgeface-models "
                 "wheel: %s)", card_name, origin, paths.home(), why)
    report = fetch([card_name])
    if not report.card_ok(card_name):
        bad = next((s.message for s in report.files if s.status not in ("cached", "fetched")), "")
        raise MissingAssetError(f"{card_name} could not be fetched on first use ({bad}); run `edgeface fetch "
                                f"{card_name}` when the network is up, or with --mirror DIR")
    return asset_path(card_name)


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
