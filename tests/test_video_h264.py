"""Video a browser plays (issue 24): `--save out.mp4` is H.264 (yuv420p) through PyAV when it is installed,
and OpenCV's mp4v with one line saying why when it is not; odd sizes are padded to even ones; .avi stays MJPG."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import av
import cv2
import numpy as np

from edgeface.frames import Frame
from edgeface.results import FrameResult
from edgeface.sinks.video import VideoSink
from inprocess_cli import cli


def _codec(path) -> tuple:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = sum(1 for _ in c.decode(s))
        return s.codec_context.name, s.codec_context.pix_fmt, s.width, s.height, frames


def test_run_save_mp4_is_h264(converted_home, samples, tmp_path, capsys):
    out = tmp_path / "clip.mp4"
    code, _, err = cli(capsys, "run", "--source", samples["obama"], "--max-frames", "12", "--target", "x86_64",
                       "--precision", "int8", "--save", out, "--quiet")
    assert code == 0, err
    assert _codec(out) == ("h264", "yuv420p", 1280, 720, 12)
    assert "mp4v" not in err  # no fallback line
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temporary file left


def _frames(n, w, h):
    for i in range(n):
        img = np.full((h, w, 3), 40, np.uint8)
        img[:, (i * 7) % w] = 255
        yield Frame(i, img, i * 40.0, "synthetic"), FrameResult(frame=i, faces=[], time_ms={}, source="synthetic")


def test_odd_size_is_padded_to_even(tmp_path):
    sink = VideoSink(tmp_path / "odd.mp4", fps=30)
    for frame, result in _frames(9, 321, 241):
        sink.write(frame, result)
    sink.close()
    assert sink.codec == "libx264"
    assert _codec(tmp_path / "odd.mp4") == ("h264", "yuv420p", 322, 242, 9)


def test_avi_stays_mjpg(tmp_path):
    sink = VideoSink(tmp_path / "a.avi", fps=25)
    for frame, result in _frames(5, 160, 120):
        sink.write(frame, result)
    sink.close()
    cap = cv2.VideoCapture(str(tmp_path / "a.avi"))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    cap.release()
    assert sink.codec == "MJPG" and fourcc == "MJPG"


def test_without_pyav_mp4v_and_one_line_why(tmp_path):
    """In a Python where `import av` fails (as on a board without the [video] extra)."""
    out = tmp_path / "noav.mp4"
    code = textwrap.dedent(f"""
        import sys
        class _NoAV:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "av":
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, _NoAV())
        import numpy as np
        from edgeface.frames import Frame
        from edgeface.results import FrameResult
        from edgeface.sinks.video import VideoSink
        sink = VideoSink({str(out)!r}, fps=25)
        for i in range(6):
            sink.write(Frame(i, np.full((120, 160, 3), 30 * i, np.uint8), i * 40.0, "s"), FrameResult(frame=i, faces=[], time_ms={{}}, source="s"))
        sink.close()
        print(sink.codec)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "mp4v"
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "PyAV is not installed" in lines[0] and "edgeface[video]" in lines[0], lines
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    cap.release()
