"""Release building blocks, fast (the real builds and installs are in test_dist_system.py, tier `system`):
what the models wheel must hold per board profile, its provenance rules, reproducible archives, the pin of
the models package, and the one-line errors of the model lookup."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from edgeface.tools.dist import provenance, repro
from edgeface.tools.dist.contents import wanted_models

REPO = Path(__file__).resolve().parents[1]


def test_models_wheel_holds_every_model_a_profile_asks_for():
    stems = {w.file_stem for w in wanted_models()}
    assert stems == {"mb05_float32", "mb05_int8", "faceboxes_640x480_float32", "faceboxes_640x480_int8",
                     "faceboxes_320x256_float32", "faceboxes_1088x736_float32", "faceboxes_1088x736_int8"}


def test_provenance_clears_models_and_refuses_bfm_derived_or_unknown_files():
    ok = ["edgeface_models/data/tflite/mb05/mb05_int8.tflite", "edgeface_models/data/tflite/mb05/mb05_int8.json",
          "edgeface_models/data/tflite/mb05/mb05_head.npz", "edgeface_models/data/assets/param_stats.npz",
          "edgeface_models/data/tflite/faceboxes_320x256/faceboxes_320x256_float32.tflite",
          "edgeface_models/LICENSES/3DDFA_V2-LICENSE", "edgeface_models-0.1.0.dist-info/RECORD"]
    assert provenance.check(ok) == []
    bad = provenance.check(["edgeface_models/data/assets/sparse_bases.npz", "edgeface_models/data/files/x.jpg"])
    assert len(bad) == 2 and all("no provenance rule" in b for b in bad)


def test_docs_provenance_is_the_builders_table():
    assert provenance.markdown_rules() in (REPO / "docs" / "reference" / "provenance.md").read_text(encoding="utf-8")


def test_shipped_upstream_notice_is_upstreams_licence():
    notice = REPO / "toolkit/edgeface/tools/dist/notices/3DDFA_V2-LICENSE"
    # sha256 of LICENSE at cleardusk/3DDFA_V2@1b6c676 (the mirror's SHA256SUMS)
    assert hashlib.sha256(notice.read_bytes()).hexdigest() == "4e8e329d78d0dbd3be980d979f773d0c554b5deed5276c12d0de442cfecc2c24"


def test_models_extra_pins_this_version():
    text = (REPO / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', text, re.M).group(1)
    assert f'models = ["edgeface-models=={version}"]' in text


def _zip(path: Path, when: tuple, order: list) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name in order:
            z.writestr(zipfile.ZipInfo(name, date_time=when), f"content of {name}")


def test_normalized_wheels_are_byte_identical(tmp_path):
    names = ["pkg/b.py", "pkg-1.dist-info/RECORD", "pkg/a.py", "pkg-1.dist-info/METADATA"]
    a, b = tmp_path / "a.whl", tmp_path / "b.whl"
    _zip(a, (2024, 1, 1, 0, 0, 0), names)
    _zip(b, (2025, 6, 7, 8, 9, 10), list(reversed(names)))
    for p in (a, b):
        repro.normalize_wheel(p, 1_700_000_000)
    assert a.read_bytes() == b.read_bytes()
    assert zipfile.ZipFile(a).namelist()[-1] == "pkg-1.dist-info/RECORD"  # RECORD last


def _tgz(path: Path, mtime: int, order: list) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name in order:
            data = name.encode()
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.uid, ti.uname = len(data), mtime, 1000, "someone"
            tar.addfile(ti, io.BytesIO(data))


def test_normalized_sdists_are_byte_identical(tmp_path):
    names = ["p-1/setup.cfg", "p-1/PKG-INFO", "p-1/src/m.py"]
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    _tgz(a, 1, names)
    _tgz(b, 2, list(reversed(names)))
    for p in (a, b):
        repro.normalize_sdist(p, 1_700_000_000)
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tar:
        assert [m.name for m in tar] == sorted(names) and {m.mtime for m in tar} == {1_700_000_000}


def test_missing_model_names_the_sources_and_the_fix(tmp_path):
    from edgeface.errors import MissingAssetError
    from edgeface.hub import locate
    from edgeface.runtime.loading import find_regressor
    from edgeface.runtime.options import PipelineOptions

    with pytest.raises(MissingAssetError) as e:
        find_regressor(PipelineOptions(root=tmp_path, precision="int8"))
    line = str(e.value)
    assert "\n" not in line and line.startswith("mb05_int8.tflite is not installed (cache ")
    if locate.installed_models() is None:
        assert 'pip install "edgeface[models]"' in line
    # the conversion command only where the conversion toolchain is installed
    assert ("edgeface convert --model mb05 --int8" in line) == locate.convert_available()
