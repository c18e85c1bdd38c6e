"""The documentation site builds with warnings as errors, and covers what it must.

Builds docs/ as `make docs` does (`sphinx-build -W --keep-going -n`: a broken cross-reference, a missing
page, a page in no toctree fails it) into a temporary folder, then checks the built HTML: every command of
the `edgeface` app (walked through `typer.main.get_command`) has its reference, every name of
`edgeface.__all__` is documented, and no link or image inside the site points at a file or anchor that does
not exist. Also: the README stays a short entry page whose links resolve. Skips only when Sphinx (the
[docs] extra, which [dev] pulls in) is not installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _require_sphinx() -> None:
    for module in ("sphinx", "myst_parser", "furo"):
        pytest.importorskip(module, reason=f"{module} is not installed: pip install 'edgeface[docs]' (the docs extra)")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    _require_sphinx()
    out = tmp_path_factory.mktemp("docs") / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", "-q",
                           str(DOCS), str(out)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, f"the docs build has warnings or errors:\n{proc.stderr[-6000:]}"
    return out


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set = set()
        self.links: list = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) and not (tag == "link" and key == "href" and "stylesheet" not in (a.get("rel") or "")):
                self.links.append(a[key])


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _commands():
    import typer.main

    from edgeface.cli.main import app

    def walk(command, path):
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            if not getattr(sub, "hidden", False):
                yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(app), ("edgeface",)))[1:]


def test_every_cli_command_has_a_reference_page(site):
    commands = _commands()
    assert {"run", "convert", "bench", "service"} <= {path[1] for path in commands}
    missing = []
    for path in commands:
        page = site / "reference" / "cli" / f"{path[1]}.html"
        anchor = "cli-" + "-".join(path)
        if not page.is_file() or anchor not in _parse(page).ids:
            missing.append(" ".join(path))
    assert not missing, f"no reference for: {', '.join(missing)} (add docs/reference/cli/NAME.md)"
    # and the page shows the command's options as --help does
    run_page = (site / "reference" / "cli" / "run.html").read_text(encoding="utf-8")
    assert "--serve-max-clients" in run_page and "--precision" in run_page


def test_every_public_name_is_documented(site):
    import edgeface

    ids = _parse(site / "reference" / "python-api.html").ids
    missing = [name for name in edgeface.__all__ if f"edgeface.{name}" not in ids]
    assert not missing, f"not in docs/reference/python-api.md: {missing}"
    assert "edgeface.FaceAligner.detect_for_video" in ids  # members too, from the docstrings


def test_no_broken_internal_link(site):
    pages = {p: _parse(p) for p in site.rglob("*.html")}
    assert len(pages) > 30
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "data:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site)} -> {link}")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in \
                    (pages.get(target) or _parse(target)).ids:
                broken.append(f"{page.relative_to(site)} -> {link} (no such anchor)")
    assert not broken, "\n".join(broken[:40])


def test_sections_and_committed_results_are_in_the_site(site):
    for section in ("guides", "concepts", "reference", "benchmarks", "lab"):
        assert (site / section / "index.html").is_file(), section
    # every committed benchmark result with a plot is shown on some page
    images = {p.name for p in (site / "_images").iterdir()}
    plots = {p.name for p in (REPO / "benchmarks").glob("*.png")}
    assert plots <= images, f"plots in benchmarks/ that no docs page shows: {sorted(plots - images)}"


def test_readme_is_a_short_entry_page():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    # the two set-up commands for a fresh machine, as the Makefile defines them
    assert re.search(r"^make demo +# ", text, re.M) and re.search(r"^make test +# ", text, re.M)
    for link in re.findall(r"\]\(([^)\s]+)\)", text):
        if not urlsplit(link).scheme:
            assert (REPO / urlsplit(link).path).exists(), f"README links to a missing file: {link}"
