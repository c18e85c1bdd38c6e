"""The Python examples of the README and of the library guide (docs/guides/python.md) run as written (the
camera one on the sample video instead of camera 0). The README shows the photo example, the guide all three."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
GUIDE = REPO / "docs" / "guides" / "python.md"


def examples(path: Path = GUIDE) -> dict:
    text = path.read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- example: (\w+) -->\n```python\n(.*?)```", text, re.S))


def _run(code: str, home: Path) -> str:
    env = dict(os.environ, EDGEFACE_HOME=str(home))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_guide_has_the_three_examples():
    assert set(examples()) == {"photo", "video", "camera"}


def test_readme_shows_the_guides_photo_example():
    """One example on the README (tests/arm/run.sh and test_dist_system run it from there), the same as the guide's."""
    assert examples(README) == {"photo": examples()["photo"]}


def test_examples_import_only_edgeface():
    """Everything edgeface in the examples comes from `import edgeface` (besides OpenCV and the standard library)."""
    for name, code in {**examples(), **{f"readme {k}": v for k, v in examples(README).items()}}.items():
        imports = re.findall(r"^\s*(?:import|from)\s+([\w.]+)", code, re.M)
        assert {m for m in imports if m.split(".")[0] == "edgeface"} <= {"edgeface"}, (name, imports)
        assert set(imports) <= {"edgeface", "cv2", "time"}, (name, imports)


def test_photo_example(converted_home):
    lines = _run(examples()["photo"], converted_home).splitlines()
    assert len(lines) == 2 and all(l.endswith("(68, 3)") for l in lines)  # trump_hillary: 2 faces


def test_video_example(converted_home):
    out = _run(examples()["video"], converted_home)
    assert out.startswith("158 frames; last nose tip at")


def test_camera_example_on_the_sample_video(converted_home):
    code = examples()["camera"]
    camera = 'open_source("camera:0", max_frames=300)'
    assert camera in code
    out = _run(code.replace(camera, 'open_source("samples:obama", max_frames=60)'), converted_home)
    lines = out.splitlines()
    assert lines[-1].startswith("dropped while busy: ")
    assert len(lines) >= 2 and all(re.match(r"\s*\d+ ms  face 0  yaw", l) for l in lines[:-1])
