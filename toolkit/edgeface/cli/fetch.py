"""`edgeface fetch`: download (or copy from a mirror) and verify upstream files into the cache (`edgeface.hub.fetch`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeface.cli.consoles import console, out, say
from edgeface.cli.progress import download_bars
from edgeface.errors import EdgefaceError
from edgeface.hub.cards import load_cards
from edgeface.hub.fetch import fetch


def fetch_command(
    names: Optional[List[str]] = typer.Argument(None, help="Cards to fetch (see `edgeface info`), or `all` (default)."),
    mirror: Optional[Path] = typer.Option(None, "--mirror", envvar="EDGEFACE_MIRROR", help="Local mirror folder laid out as <repo alias>/<upstream path>."),
):
    """Download (or copy from a mirror) and verify upstream files into the cache."""
    cards = load_cards()
    if "bfm" in (names or []):
        out.print("[yellow]licence[/] the BFM (configs/bfm_noneck_v3.pkl) is derived from the Basel Face Model: ACADEMIC USE ONLY, "
                  "no commercial use, no redistribution. Fetching it means you accept that licence.")
    with download_bars(console) as progress:

        def on_file(st):
            f = st.file
            if st.status in ("fetched", "cached"):
                say(f"     {f.card:13s} {f.path}  ({st.status}, {f.digest_label[:19]}...)", "ok", "green", to=out)
            elif st.status == "missing":
                say(f"{f.card:13s} {st.message} (without it: {cards[f.card].without})", "missing", "yellow", to=out)
            else:
                say(f"{f.card:13s} {st.message}", f"{st.status:7s}", "red", to=out)

        report = fetch(names or ["all"], mirror=mirror, progress=progress, on_file=on_file)
    for p in report.derived:
        say(f"     derived {p}", "ok", "green", to=out)
    if report.refused:
        raise EdgefaceError(report.refused[0].message, exit_code=3)
    if not report.ok:
        missing = sorted({s.file.card for s in report.files if s.status not in ("cached", "fetched")})
        raise EdgefaceError(f"not obtained: {', '.join(missing)} (see above for where to get them)", exit_code=1)
    bfm = [s for s in report.files if s.file.card == "bfm" and s.status in ("fetched", "cached")]
    if bfm:
        out.print("[yellow]note[/]    the BFM is licensed for ACADEMIC USE ONLY (University of Basel); do not redistribute it. "
                  "`edgeface run --dense` now uses the exact dense mesh.")
