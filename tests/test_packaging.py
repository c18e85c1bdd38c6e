"""What users install is what the tree holds: the package list in pyproject.toml is the tree's, the built
wheel carries every module and every data file (model cards, board profiles, calibration recipes), and
under `make test` the suite runs against that wheel installed non-editable, not against the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9/3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
# data-only packages: the folders beside toolkit/ that the wheel carries under edgeface.*
DATA_PACKAGES = {name: REPO / folder for name, folder in SETUPTOOLS["package-dir"].items() if name != "edgeface"}
ROOT = REPO / "toolkit" / "edgeface"
# data-only folders inside the package (the records' JSON Schemas, licence notices): listed packages without __init__.py
DATA_DIRS = {name: ROOT.joinpath(*name.split(".")[1:]) for name in SETUPTOOLS["packages"]
             if name not in DATA_PACKAGES and not ROOT.joinpath(*name.split(".")[1:], "__init__.py").exists()}


def _code_packages() -> set:
    return {".".join(("edgeface",) + p.parent.relative_to(ROOT).parts) for p in ROOT.rglob("__init__.py")}


def _expected_files() -> set:
    """Paths inside the wheel: every module of toolkit/edgeface and every data file the package-data globs name."""
    files = {"edgeface/" + p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py")}
    files |= {"edgeface/py.typed"} if (ROOT / "py.typed").exists() else set()
    for name, folder in [("edgeface", ROOT), *DATA_DIRS.items()]:  # py.typed, the JSON Schemas, the notices
        for pattern in SETUPTOOLS["package-data"].get(name, []):
            files |= {"edgeface/" + p.relative_to(ROOT).as_posix() for p in folder.glob(pattern) if p.is_file()}
    for name, folder in DATA_PACKAGES.items():
        prefix = name.replace(".", "/")
        for pattern in SETUPTOOLS["package-data"].get(name, []) + ["__init__.py"]:
            files |= {f"{prefix}/{p.name}" for p in folder.glob(pattern)}
    return files


def test_package_list_is_the_trees():
    """A new subpackage that pyproject.toml does not list would be missing from the wheel."""
    listed = set(SETUPTOOLS["packages"])
    assert listed - set(DATA_PACKAGES) - set(DATA_DIRS) == _code_packages()
    assert all((folder / "__init__.py").exists() for folder in DATA_PACKAGES.values())
    # a data-only folder is listed with the files it ships (else setuptools warns on every install, and skips them)
    assert DATA_DIRS and all(any(f.glob(pat) for pat in SETUPTOOLS["package-data"].get(n, [])) for n, f in DATA_DIRS.items())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the tree (no stale build/ folder can leak into it)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    for folder in ["toolkit", *(p.relative_to(REPO).as_posix() for p in DATA_PACKAGES.values())]:
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (whl,) = out.glob("edgeface-*.whl")
    return whl


def test_wheel_carries_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {n for n in names if n.startswith("edgeface/")}
    assert packaged == _expected_files()
    assert any(n.startswith("edgeface/targets/") and n.endswith(".toml") for n in packaged)


def test_suite_runs_against_the_installed_wheel():
    """`make test` installs the built wheel (EDGEFACE_TEST_WHEEL=1): the package imported here must be
    that install, not the checkout, so a file missing from the wheel fails the tests that use it."""
    if os.environ.get("EDGEFACE_TEST_WHEEL") != "1":
        pytest.skip("run through `make test`, which installs the wheel (EDGEFACE_TEST_WHEEL=1)")
    import edgeface

    here = Path(edgeface.__file__).resolve()
    assert REPO / "toolkit" not in here.parents, f"edgeface imported from the checkout: {here}"
    direct_url = metadata.distribution("edgeface").read_text("direct_url.json")
    assert not (direct_url and json.loads(direct_url).get("dir_info", {}).get("editable")), direct_url
    from edgeface.boards.profiles import load_targets

    assert load_targets()  # package data read from the install
