"""Release artifacts as a user gets them (issue 23), system tier (`-m system`, `make test-system`).

- `make dist` (`python -m edgeface.tools.dist`) builds the sdist, the edgeface wheel and the edgeface-models
  wheel; a second build gives the same sha256 for each; `twine check` passes on all three.
- Every file of the models wheel is cleared by the provenance table, which the wheel carries with each
  file's sha256; nothing BFM-derived, no sample photo, no torch/TF/ONNX dependency.
- A clean x86_64 venv with only the two wheels (plus [video]) and an empty EDGEFACE_HOME runs every board
  profile at each precision it supports on a photo, the video path, and the README's Python example;
  torch, TensorFlow and onnx are not installed; an uncovered precision is one line that never says `convert`.

Real wheels, real venvs, real models: the models come from the cache ($EDGEFACE_HOME, default
~/.cache/edgeface; `make dist` converts what it lacks, which needs the [convert] extra). The pip installs
need the package index; upstream files fetched on first use come from $EDGEFACE_MIRROR or ../shared/upstream
beside the clone when it exists, else from their pinned URLs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[1]
VERSION = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
ARTIFACTS = (f"edgeface-{VERSION}.tar.gz", f"edgeface-{VERSION}-py3-none-any.whl",
             f"edgeface_models-{VERSION}-py3-none-any.whl")
HEAVY = ("torch", "tensorflow", "onnx", "onnxruntime", "onnx2tf", "tf_keras")
PROFILES = ("rpi-zero2w", "rpi3", "rpi4", "rpi5", "generic-aarch64", "x86_64")


def _mirror() -> dict:
    m = os.environ.get("EDGEFACE_MIRROR") or next((str(p) for p in [REPO.parent / "shared" / "upstream"] if p.is_dir()), "")
    return {"EDGEFACE_MIRROR": m} if m else {}


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _build(out: Path) -> dict:
    env = dict(os.environ, **_mirror())  # the installed edgeface (make test-system: the wheel of this tree)
    proc = subprocess.run([sys.executable, "-m", "edgeface.tools.dist", "--out", str(out), "--repo", str(REPO)],
                          env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {name: _sha(out / name) for name in ARTIFACTS}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    first = _build(out)
    again = _build(tmp_path_factory.mktemp("dist-again"))
    assert first == again, "a second build gave other bytes"
    return out


def _venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin"


def _pip(bin_dir: Path, *args) -> None:
    proc = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", *args], capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_dist_is_reproducible_and_twine_clean(dist, tmp_path):
    sums = (dist / "SHA256SUMS").read_text().split("\n")
    assert [line.split()[1] for line in sums if line] == list(ARTIFACTS)
    bin_dir = _venv(tmp_path / "twine")
    _pip(bin_dir, "twine")
    proc = subprocess.run([str(bin_dir / "twine"), "check", "--strict", *(str(dist / a) for a in ARTIFACTS)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.count("PASSED") == 3, proc.stdout + proc.stderr


def test_models_wheel_holds_only_what_its_provenance_clears(dist):
    sys.path.insert(0, str(REPO / "toolkit"))
    from edgeface.tools.dist import provenance

    with zipfile.ZipFile(dist / ARTIFACTS[2]) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        table = z.read("edgeface_models/PROVENANCE.md").decode()
        index = json.loads(z.read("edgeface_models/data/index.json"))
        metadata = z.read(f"edgeface_models-{VERSION}.dist-info/METADATA").decode()
        for n in names:
            if ".dist-info/" not in n and n != "edgeface_models/PROVENANCE.md":
                assert f"`{n}` | {len(z.read(n))} | `{hashlib.sha256(z.read(n)).hexdigest()}`" in table, n
    assert provenance.check(names) == []
    assert not [n for n in names if re.search(r"sparse_bases|mesh|bfm|\.jpg|\.png|\.mp4|\.pth|\.onnx", n)]
    assert sorted(index["fetch_on_first_use"]) == ["mesh", "sparse_bases"]
    assert "Requires-Dist" not in metadata  # no torch / TF / ONNX, nothing at all
    assert "License-File: edgeface_models/LICENSES/3DDFA_V2-LICENSE" in metadata
    with zipfile.ZipFile(dist / ARTIFACTS[1]) as z:  # the main wheel pins the models at its own version
        main_meta = z.read(f"edgeface-{VERSION}.dist-info/METADATA").decode()
    assert f"Requires-Dist: edgeface-models=={VERSION}; extra == \"models\"" in main_meta
    assert "Classifier: Programming Language :: Python :: 3.13" in main_meta


@pytest.fixture(scope="module")
def clean_venv(dist, tmp_path_factory):
    """A venv with only the two wheels (+[video]) and an empty model cache, outside the repository."""
    root = tmp_path_factory.mktemp("clean")
    bin_dir = _venv(root / "venv")
    _pip(bin_dir, f"{dist / ARTIFACTS[1]}[models,video]", str(dist / ARTIFACTS[2]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGEFACE_", "PYTHON"))}
    env.update(EDGEFACE_HOME=str(root / "home"), PATH=f"{bin_dir}:{env.get('PATH', '')}", **_mirror())
    return bin_dir, env, root


def _ef(clean_venv, *args, ok=True) -> subprocess.CompletedProcess:
    bin_dir, env, root = clean_venv
    proc = subprocess.run([str(bin_dir / "edgeface"), *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=root, timeout=900)
    if ok:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def test_clean_venv_has_no_conversion_toolchain(clean_venv):
    bin_dir, env, root = clean_venv
    code = f"import importlib.util as u; print([m for m in {HEAVY!r} if u.find_spec(m)])"
    out = subprocess.run([str(bin_dir / "python"), "-c", code], capture_output=True, text=True, env=env, cwd=root)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _faces(path: Path) -> list:
    return [len(json.loads(line)["faces"]) for line in path.read_text().splitlines() if line.strip()]


def test_every_profile_and_precision_from_the_wheels(clean_venv):
    _ef(clean_venv, "fetch", "samples")
    root = clean_venv[2]
    ran = []
    for target in PROFILES:
        for precision in (None, "fp32", "int8"):
            out = root / f"{target}-{precision}.jsonl"
            proc = _ef(clean_venv, "run", "--source", "samples:trump_hillary", "--target", target, "-q", "--json", out,
                       *(["--precision", precision] if precision else []))
            assert "models from edgeface-models" in proc.stderr, proc.stderr
            assert _faces(out) == [2], (target, precision)
            ran.append((target, precision))
    assert len(ran) == 3 * len(PROFILES)
    # the first run fetched the BFM-derived assets once, saying so
    assert (Path(clean_venv[1]["EDGEFACE_HOME"]) / "assets" / "sparse_bases.npz").is_file()


def test_video_path_from_the_wheels(clean_venv):
    _ef(clean_venv, "fetch", "samples")
    out = clean_venv[2] / "obama.jsonl"
    _ef(clean_venv, "run", "--source", "samples:obama", "--target", "rpi5", "--max-frames", "12", "-q", "--json", out)
    assert _faces(out) == [1] * 12


def test_readme_python_example_from_the_wheels(clean_venv):
    _ef(clean_venv, "fetch", "samples")
    bin_dir, env, root = clean_venv
    text = (REPO / "README.md").read_text(encoding="utf-8")
    code = dict(re.findall(r"<!-- example: (\w+) -->\n```python\n(.*?)```", text, re.S))["photo"]
    proc = subprocess.run([str(bin_dir / "python"), "-c", code], capture_output=True, text=True, env=env, cwd=root,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len([line for line in proc.stdout.splitlines() if "yaw" in line]) == 2


def test_uncovered_precision_is_one_line_without_convert(clean_venv):
    _ef(clean_venv, "fetch", "samples")
    proc = _ef(clean_venv, "run", "--source", "samples:emma", "--precision", "fp16", "-q", ok=False)
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("INFO")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "is not installed" in lines[0] and "edgeface-models" in lines[0] and "convert" not in lines[0]


@pytest.mark.parametrize("release", ["trixie", "bookworm"])
def test_wheels_on_emulated_arm64(dist, release, tmp_path):
    """tests/arm/run.sh --wheels: the emulated Debian arm64 guest installs only the two wheels (no clone),
    runs the sample photos from them, serves the sample video and hands one JPEG frame over the stream,
    and runs the README's Python example; the log closes with `N passed, 0 failed`."""
    if os.environ.get("EDGEFACE_SKIP_ARM") == "1" or os.geteuid() != 0 or sys.platform != "linux":
        pytest.skip("needs root on Linux (debootstrap, chroot, binfmt_misc); EDGEFACE_SKIP_ARM=1 skips it")
    proc = subprocess.run(["bash", str(REPO / "tests" / "arm" / "run.sh"), "--release", release, "--wheels", str(dist),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=int(os.environ.get("EDGEFACE_ARM_TIMEOUT", "2400")))
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0 and re.fullmatch(r"\d+ passed, 0 failed", last), proc.stderr[-4000:] + proc.stdout[-2000:]
    sizes = dict(line.split() for line in (tmp_path / "out" / "sizes.txt").read_text().splitlines())
    assert int(sizes["board_venv_wheels_mib"]) < int(sizes["board_venv_wheels_video_mib"])
