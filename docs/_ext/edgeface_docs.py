"""Sphinx extension of the edgeface docs: included repository files keep working links; docstrings read right.

The benchmark results and the lab notebook stay where they are written (benchmarks/, read on GitHub too);
the site includes them (` ```{include} ../../benchmarks/X.md``` ` from a page docs/<section>/<page>.md).
Their relative links point at their neighbours in benchmarks/; on `include-read` this rewrites each to
what the including page (always two levels below the repository root) reaches: a Markdown file that the
site shows as a page (`PAGES`) becomes a link to that page, anything else (a plot, a JSON, a script) a
link to the file itself, which Sphinx copies into the site as a download. A link to a file that does not
exist is left as it is, so the build's warnings-as-errors report it.

Docstrings are Google style (napoleon), written as prose: a property's "LIVE_STREAM: frames dropped ..." and
a "Returns:" line of prose with a colon in it are kept as prose instead of being split into a type and a
description.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

#: repository Markdown file -> the docs page (from docs/) that shows it
PAGES = {
    "benchmarks/README.md": "benchmarks/methods.md",
    "benchmarks/experiments/README.md": "lab/index.md",
    "tests/arm/README.md": "concepts/arm-harness.md",
    "CHANGELOG.md": "reference/changelog.md",
    "README.md": "index.md",
}
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")


def page_for(repo_path: str, docs: Path) -> str | None:
    """The docs page that shows a repository Markdown file, if there is one."""
    if repo_path in PAGES:
        return PAGES[repo_path]
    if repo_path.startswith("docs/"):
        return repo_path[len("docs/"):]
    for prefix, section in (("benchmarks/experiments/", "lab"), ("benchmarks/", "benchmarks")):
        if repo_path.startswith(prefix) and "/" not in repo_path[len(prefix):]:
            candidate = f"{section}/{repo_path[len(prefix):]}"
            return candidate if (docs / candidate).is_file() else None
    return None


def rewrite(text: str, included: str, docs: Path) -> str:
    """`text` of the repository file `included` (a path from the repository root), links rewritten."""
    repo = docs.parent
    base = posixpath.dirname(included)

    def one(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return m.group(0)
        path, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(base, path))
        if not (repo / repo_path).exists():
            return m.group(0)
        page = page_for(repo_path, docs) if repo_path.endswith(".md") and not m.group(1).startswith("!") else None
        new = f"../{page}" if page else f"../../{repo_path}"
        return m.group(1) + new + (f"#{anchor}" if anchor else "") + m.group(3)

    return LINK.sub(one, text)


def _on_include_read(app, relative_path, parent_docname, content) -> None:
    docs = Path(app.srcdir)
    included = (docs / relative_path).resolve()
    try:
        rel = included.relative_to(docs.parent).as_posix()
    except ValueError:
        return
    if not rel.startswith("docs/"):
        content[0] = rewrite(content[0], rel, docs)


_ORIGINAL: dict = {}


_TYPE = re.compile(r"^`?[\w.]+(\[[^\]]*\])?`?( \| `?[\w.]+(\[[^\]]*\])?`?)*$")


def _before_napoleon(app, what, name, obj, options, lines) -> None:
    if what in ("property", "attribute"):
        _ORIGINAL[name] = list(lines)
    # "Returns: `precision` as a `Precision` (None: the profile's)." is prose: napoleon would take the text
    # before the first colon as a type; a leading ": " tells it there is no type
    for i, line in enumerate(lines[:-1]):
        if line.strip() in ("Returns:", "Yields:"):
            nxt = lines[i + 1]
            head = re.split(r"(?<!:):(?!:)", re.sub(r"`[^`]*`", lambda m: "x" * len(m.group(0)), nxt), maxsplit=1)
            if len(head) == 2 and not _TYPE.match(nxt[:len(head[0])].strip()):
                indent = nxt[:len(nxt) - len(nxt.lstrip())]
                lines[i + 1] = f"{indent}: {nxt.lstrip()}"


def _after_napoleon(app, what, name, obj, options, lines) -> None:
    """A property's docstring that opens with "LIVE_STREAM: frames dropped ..." is prose, not napoleon's
    "type: description" form: give it back as written (else `LIVE_STREAM` becomes a type reference)."""
    original = _ORIGINAL.pop(name, None)
    if not original:
        return
    types = [line.strip()[len(":type: "):] for line in lines if line.strip().startswith(":type: ")]
    head = re.match(r"^\s*([^:`]+?): \S", original[0])
    if types and ((head and types[0] == head.group(1).strip()) or not _TYPE.match(types[0])):
        lines[:] = original


def setup(app):
    app.connect("include-read", _on_include_read)
    app.connect("autodoc-process-docstring", _before_napoleon, priority=100)
    app.connect("autodoc-process-docstring", _after_napoleon, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
