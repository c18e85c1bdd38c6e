"""`make dist` (`python -m edgeface.tools.dist`): from a clone, build

    dist/edgeface-<v>.tar.gz                 the sdist
    dist/edgeface-<v>-py3-none-any.whl       built from that sdist (so the sdist is proven complete)
    dist/edgeface_models-<v>-py3-none-any.whl   the pre-converted models (`models_wheel`)

converting first whatever the cache ($EDGEFACE_HOME) lacks (`edgeface fetch` + `edgeface convert`, with their
progress). Each archive is normalized (`repro`): building twice gives the same sha256 (dist/SHA256SUMS).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

from edgeface import __version__
from edgeface.errors import EdgefaceError
from edgeface.hub import paths
from edgeface.hub.locate import convert_available
from edgeface.hub.package_data import loads
from edgeface.tools.dist import models_wheel, repro

FETCH_CARDS = ("mb05", "faceboxes", "param_stats", "sparse_bases", "mesh", "samples")
_BACKEND = "import sys; from setuptools import build_meta as b; print(getattr(b, sys.argv[1])(sys.argv[2]))"


@dataclass(frozen=True)
class Artifact:
    path: Path
    size_bytes: int
    sha256: str


def _run(cmd: List[str], cwd: Path, env: dict, what: str) -> str:
    r = subprocess.run(cmd, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise EdgefaceError(f"{what} failed in {cwd}: {tail[0]}")
    return r.stdout.strip().splitlines()[-1]


def _backend(hook: str, src: Path, out: Path, env: dict) -> Path:
    """Run a PEP 517 hook of setuptools (the build backend of both projects) in `src`; the file it wrote."""
    name = _run([sys.executable, "-c", _BACKEND, hook, str(out)], src, env, f"setuptools {hook}")
    return out / name


def convert_missing(home: Path, say: Callable[[str], None]) -> None:
    """Fetch and convert what the cache lacks, showing the commands' own progress."""
    missing = models_wheel.missing_models(home)
    if not missing:
        return
    names = ", ".join(w.file_stem for w in missing)
    if not convert_available():
        raise EdgefaceError(f"the cache {home} lacks {names}, and this Python has no conversion toolchain: install "
                            "the [convert] extra (`pip install -e \".[convert]\"` or `make install`), then run make dist again")
    cli = [sys.executable, "-m", "edgeface"]
    say(f"converting what the cache lacks: {names}")
    subprocess.run(cli + ["fetch", *FETCH_CARDS], check=True)
    for w in missing:
        cmd = cli + ["convert", "--model", w.model] + (["--int8"] if w.precision.value == "int8" else [])
        if w.model == "faceboxes":
            cmd += ["--detector-size", f"{w.size[0]}x{w.size[1]}", "--no-still-detector"]
        say(" ".join(cmd[2:]))
        subprocess.run(cmd, check=True)
    still = models_wheel.missing_models(home)
    if still:
        raise EdgefaceError(f"conversion did not produce {', '.join(w.file_stem for w in still)} (see its output above)")


def _check_version(repo: Path) -> str:
    version = loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    if version != __version__:
        raise EdgefaceError(f"pyproject.toml says {version} but edgeface.__version__ is {__version__}: make them equal")
    return version


def _leftovers(repo: Path) -> set:
    """Build by-products setuptools writes into the tree: build/ and *.egg-info beside the packages."""
    return {p for p in [repo / "build", *repo.glob("*.egg-info"), *(repo / "toolkit").glob("*.egg-info")] if p.exists()}


def _artifact(p: Path) -> Artifact:
    return Artifact(p, p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())


def build_all(repo: Path, out: Path, say: Callable[[str], None] = print) -> List[Artifact]:
    """Build the three artifacts into `out` (replacing older ones of this version); returns them."""
    repo, out = repo.resolve(), out.resolve()
    version = _check_version(repo)
    home = paths.home()
    convert_missing(home, say)
    epoch = repro.source_date_epoch(repo)
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch), PYTHONHASHSEED="0")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"edgeface*-{version}*"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="edgeface-dist-") as tmp:
        tmp = Path(tmp)
        say("sdist from the clone")
        before = _leftovers(repo)
        sdist = _backend("build_sdist", repo, tmp, env)
        for leftover in _leftovers(repo) - before:  # only what this build made (an editable install keeps its own)
            shutil.rmtree(leftover, ignore_errors=True)
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp / "src", filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(tmp / "src")
        say("wheel from the sdist")
        wheel = _backend("build_wheel", tmp / "src" / f"edgeface-{version}", tmp, env)
        say(f"models wheel from the cache {home}")
        stage = tmp / "models"
        models_wheel.stage(home, stage, version, (repo / "LICENSE").read_text(encoding="utf-8"))
        models = _backend("build_wheel", stage, tmp, env)
        results = []
        for p, norm in ((sdist, repro.normalize_sdist), (wheel, repro.normalize_wheel), (models, repro.normalize_wheel)):
            norm(p, epoch)
            dest = out / p.name
            shutil.copyfile(p, dest)
            results.append(_artifact(dest))
    (out / "SHA256SUMS").write_text("".join(f"{a.sha256}  {a.path.name}\n" for a in results), encoding="utf-8")
    return results
