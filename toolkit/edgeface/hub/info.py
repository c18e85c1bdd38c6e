"""`edgeface info`: what is in the cache, and what is missing."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from edgeface.hub import locate, paths
from edgeface.hub.cards import load_cards
from edgeface.hub.installed import installed_models


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cache_rows(root: Path | None = None) -> list:
    """One dict per upstream file: card, path, present, size, digest, licence, url."""
    rows = []
    for card in load_cards().values():
        for f in card.files:
            p = paths.files_dir(root) / f.mirror_relpath
            rows.append(
                dict(card=card.name, key=f.key, path=f.path, present=p.is_file(), size=p.stat().st_size if p.is_file() else 0,
                     digest=f.digest_label, license=card.license, url=f.url, optional=card.optional, without=card.without)
            )
    return rows


def converted_rows(root: Path | None = None) -> list:
    rows = []
    for d in (paths.onnx_dir(root), paths.tflite_dir(root), paths.assets_dir(root), paths.calibration_dir(root)):
        if d.is_dir():
            for p in sorted(d.rglob("*")):
                if p.is_file() and not p.name.startswith("."):
                    rows.append(dict(path=p, size=p.stat().st_size))
    return rows


def _covered_by_sources(root: Path | None) -> set:
    """Cards a board needs no upstream file of: networks with converted models in a source (their checkpoints
    only serve conversion), derived assets found in a source, and assets the installed models package fetches
    on first use."""
    held = {n for s in locate.model_sources(root) for n, _ in s.pairs()}
    out = set()
    for card in load_cards().values():
        if card.kind in ("regressor", "detector") and any(n == card.name or n.startswith(card.name + "_") for n in held):
            out.add(card.name)
        elif card.derived and locate.find_asset(card.derived["asset"], root) is not None:
            out.add(card.name)
    pkg = installed_models()
    if pkg is not None:
        out |= {name for name, _ in pkg.fetch_on_first_use}
    return out


def cache_table(root: Path | None = None):
    """A rich renderable: upstream files, derived/converted files, and how to get what is missing."""
    from rich.console import Group
    from rich.text import Text

    t = Table(title=f"edgeface cache: {paths.home(root) if root else paths.home()}")
    for c in ("card", "file", "status", "size", "digest", "licence"):
        t.add_column(c, overflow="fold")
    missing = []
    for r in cache_rows(root):
        status = "[green]cached[/]" if r["present"] else ("[yellow]not fetched[/]" if r["optional"] else "[red]not fetched[/]")
        if not r["present"]:
            missing.append(r)
        lic = "ACADEMIC USE ONLY" if "ACADEMIC" in r["license"] else r["license"].split(" ")[0]
        t.add_row(r["card"], r["path"], status, _human(r["size"]) if r["present"] else "", r["digest"][:19] + "...", lic)
    parts = [t]
    conv = converted_rows(root)
    if conv:
        t2 = Table(title="derived and converted")
        t2.add_column("file", overflow="fold")
        t2.add_column("size")
        for r in conv:
            t2.add_row(str(r["path"]), _human(r["size"]))
        parts.append(t2)
    t3 = Table(title="converted models the runtime finds, in lookup order (bundle, cache, installed package)")
    t3.add_column("source", overflow="fold")
    t3.add_column("models", overflow="fold")
    for s in locate.model_sources(root):
        t3.add_row(s.label, ", ".join(s.models()) or "none")
    if not any(s.kind == "package" for s in locate.model_sources(root)):
        t3.add_row("edgeface-models", 'not installed (pip install "edgeface[models]")')
    parts.append(t3)
    covered = _covered_by_sources(root)
    for r in {m["card"]: m for m in missing if m["card"] not in covered}.values():
        parts.append(Text(f"missing {r['card']}: `edgeface fetch {r['card']}` downloads {r['url']}. Without it: {r['without']}"))
    return Group(*parts)
