"""Sphinx configuration of the edgeface documentation (MyST Markdown, furo, autodoc, and docs/_ext).

`make docs` builds it into docs/_build/html with warnings as errors (-W --keep-going -n);
tests/test_docs.py builds it the same way. Why Sphinx + MyST + furo: about-generator.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(REPO / "toolkit"))  # the tree's edgeface (the one these docs describe)

project = "edgeface"
author = "the edgeface authors"
copyright = "the edgeface authors; MIT licence"  # noqa: A001 (Sphinx's name)
release = version = __import__("edgeface").__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "edgeface_cli",  # docs/_ext: the CLI reference from the Typer app (why not sphinx-click: its docstring)
    "edgeface_docs",  # docs/_ext: links of included repository files (benchmarks/) resolved for the site
]
source_suffix = {".md": "markdown"}
root_doc = "index"
# the docstrings write code in single backticks, as Markdown does: render it as code, not as italics
default_role = "literal"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 4  # `page.md#a-heading` links resolve (and are checked)
# the JSONL examples hold placeholders (`[x1, y1, x2, y2]`, `...68`): shown unhighlighted, not an error
suppress_warnings = ["misc.highlighting_failure"]

html_theme = "furo"
html_title = f"edgeface {release}"
html_static_path = ["_static"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_mock_imports: list = []
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# nitpicky (-n): every cross-reference must resolve; what has no page in this site (numpy, OpenCV and the
# standard library's types are not linked: no intersphinx, the build is offline) is listed here.
nitpick_ignore_regex = [
    ("py:class", r"(numpy|np|cv2|pathlib|typing|collections\.abc|os|threading|concurrent\.futures)\..*"),
    ("py:class", r"(ndarray|NDArray|Path|PathLike|Callable|Iterator|Iterable|Sequence|Mapping|Any|Optional|Union)"),
    ("py:class", r"(int|float|str|bool|bytes|dict|list|tuple|set|object|None|type)"),
]
# internal types that public signatures name but that are not part of `edgeface.__all__` (so have no page)
nitpick_ignore = [
    ("py:class", "edgeface.sources.capture.LatestFrameCapture"),
    ("py:class", "edgeface.frames.FrameSource"),
    ("py:class", "edgeface.viz.overlay.Style"),
    ("py:class", "edgeface.boards.profiles.TargetChoice"),
    ("py:class", "edgeface.runtime.pipeline.Pipeline"),
]
