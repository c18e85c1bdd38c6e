"""Assets the installed models package does not redistribute, fetched on first use.

The `edgeface-models` wheel leaves out what its licence does not clear (the BFM-derived 68-point bases
and mesh data, docs/reference/provenance.md); its index names them. When the runtime needs one and no model source
has it, `ensure` fetches it into the cache ($EDGEFACE_HOME) from its pinned upstream URL (or the mirror
$EDGEFACE_MIRROR), digests checked as `edgeface fetch` does, and says so in one log line. Without the
models package nothing is fetched implicitly: a missing asset stays one line naming `edgeface fetch`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Optional

from edgeface.errors import MissingAssetError
from edgeface.hub import locate, paths
from edgeface.hub.cards import get_card
from edgeface.hub.fetch import default_mirror, fetch
from edgeface.hub.installed import installed_models

_log = logging.getLogger("edgeface.hub")


def ensure(cards: Iterable[str], root: Optional[Path] = None) -> list:
    """Fetch each card whose asset no model source holds and the installed models package leaves out;
    returns the cards fetched."""
    pkg = installed_models()
    if pkg is None:
        return []
    done = []
    for name in cards:
        why = pkg.fetched_on_first_use(name)
        if not why or locate.find_asset(get_card(name).derived["asset"], root) is not None:
            continue
        card = get_card(name)
        mirror = default_mirror()
        origin = f"the mirror {mirror}" if mirror is not None else ", ".join(sorted({f.repo.repository for f in card.files}))
        _log.warning("edgeface: fetching %s on first use from %s into %s, digests checked (not in the edgeface-models "
                     "wheel: %s)", name, origin, paths.home(), why)
        report = fetch([name])
        if not report.card_ok(name):
            bad = next((s.message for s in report.files if s.status not in ("cached", "fetched")), "")
            raise MissingAssetError(f"{name} could not be fetched on first use ({bad}); run `edgeface fetch {name}` "
                                    "when the network is up, or with --mirror DIR")
        done.append(name)
    return done
