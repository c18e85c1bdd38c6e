"""Sinks (JSONL, video, image, folder, window) and the overlay drawn into them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeface.viz import overlay
from edgeface.errors import EdgefaceError
from edgeface.results import Face, FrameResult, Pose
from edgeface.sink import Sink
from edgeface.sinks.group import SinkGroup, make_sink
from edgeface.sinks.images import DirSink, ImageSink
from edgeface.sinks.jsonl import JsonlSink
from edgeface.sinks.video import VideoSink
from edgeface.sinks.window import ShowSink, has_display
from edgeface.frames import Frame
from edgeface import records
from edgeface.sources.spec import open_source
from record_schemas import check

UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "upstream"
U_BASE = UPSTREAM / "3ddfa_v1" / "c++" / "weights" / "u_base.txt"
JIANZHU = UPSTREAM / "3ddfa_v2" / "examples" / "inputs" / "JianzhuGuo.jpg"


def mean_shape() -> np.ndarray:
    """68x3 3DMM mean shape at the landmarks (3DDFA v1 sparse base), centred."""
    u = np.loadtxt(U_BASE).reshape(68, 3)
    return u - u.mean(axis=0)


def project(shape, yaw, pitch, roll, scale, center):
    """3DDFA-style scaled orthographic projection: image x = (sRX)_x + cx, image y = -(sRX)_y + cy."""
    X = scale * shape @ overlay.rotation_from_angles(yaw, pitch, roll).T
    return np.stack([X[:, 0] + center[0], -X[:, 1] + center[1], X[:, 2]], axis=1)


def make_face(fid=0, center=(320, 240), pose=(0.0, 0.0, 0.0), scale=1.5e-3, dense=False):
    lm = project(mean_shape(), *pose, scale, center)
    bbox = np.array([lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max()])
    R = overlay.rotation_from_angles(*pose)
    return Face(id=fid, bbox=bbox, score=0.97, landmarks=lm, pose=Pose(*pose), params=np.zeros(62),
                roi=bbox.copy(), camera=np.hstack([scale * R, np.zeros((3, 1))]),
                dense=lm.copy() if dense else None)


def make_result(i=0, faces=None):
    faces = [make_face()] if faces is None else faces
    return FrameResult(frame=i, source="test", faces=faces, time_ms={"detect": 5.0, "regress": 2.0, "decode": 1.0, "total": 9.0},
                       timestamp_ms=i * 40.0)


def frame(i=0, h=480, w=640, value=None):
    v = (i * 20) % 255 if value is None else value
    return Frame(index=i, image=np.full((h, w, 3), v, np.uint8), timestamp_ms=i * 40.0, source="test")


# ----------------------------------------------------------------------------- JSONL


def test_jsonl_streams_one_line_per_frame(tmp_path):
    out = tmp_path / "sub" / "out.jsonl"
    sink = JsonlSink(out)
    assert isinstance(sink, Sink)
    sink.write(frame(0), make_result(0))
    # flushed per frame into out.jsonl.part: readable before close; out.jsonl appears at close
    lines = (out.parent / "out.jsonl.part").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == {"schema": "edgeface.frame/2", **make_result(0).to_dict()}
    assert not out.exists()
    sink.write(frame(1), make_result(1, faces=[]))
    sink.close()
    recs = [json.loads(s) for s in out.read_text().splitlines()]
    assert [r["frame"] for r in recs] == [0, 1] and recs[1]["faces"] == []
    assert len(recs[0]["faces"][0]["landmarks"]) == 68 and len(recs[0]["faces"][0]["params"]) == 62


def test_jsonl_lines_are_tagged_frame_records_without_params_too(tmp_path):
    """Each line is an `edgeface.frame/2` record (its published schema; real runs: tests/test_records.py)."""
    for with_params in (True, False):
        out = tmp_path / f"params-{with_params}.jsonl"
        with JsonlSink(out, with_params=with_params) as sink:
            sink.write(frame(0), make_result(0, faces=[make_face(0), make_face(1, center=(100, 100))]))
            sink.write(frame(1), make_result(1, faces=[]))
        recs = [json.loads(s) for s in out.read_text().splitlines()]
        for rec in recs:
            check(rec, records.FRAME)
        assert all(("params" in f) == with_params for f in recs[0]["faces"])


def test_jsonl_on_error_keeps_complete_lines_and_the_earlier_file(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"frame": 0, "earlier": true}\n')
    with pytest.raises(RuntimeError):
        with JsonlSink(out) as sink:
            for i in range(3):
                sink.write(frame(i), make_result(i))
            raise RuntimeError("pipeline failed")
    assert out.read_text() == '{"frame": 0, "earlier": true}\n'  # a failed run clobbers nothing
    text = (tmp_path / "out.jsonl.part").read_text()
    assert text.endswith("\n") and [json.loads(s)["frame"] for s in text.splitlines()] == [0, 1, 2]


def test_jsonl_reports_and_keeps_a_killed_runs_part(tmp_path, caplog):
    out = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.part").write_text('{"frame": 0}\n{"frame": 1}\n{"fra')  # killed mid-write
    with caplog.at_level("WARNING"):
        with JsonlSink(out) as sink:
            sink.write(frame(0), make_result(0))
    kept = sink.recovered
    assert kept is not None and kept.name.startswith("out.killed-") and kept.suffix == ".jsonl"
    assert kept.read_text() == '{"frame": 0}\n{"frame": 1}\n'  # the partial last line dropped
    assert "killed (2 complete lines)" in caplog.text and kept.name in caplog.text
    assert len(out.read_text().splitlines()) == 1 and not (tmp_path / "out.jsonl.part").exists()


# ----------------------------------------------------------------------------- video


def read_video(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return frames, fps


def test_video_sink_writes_mp4_atomically(tmp_path):
    out = tmp_path / "out.mp4"
    sink = VideoSink(out, fps=None, size=None)  # unknown fps -> 25, size from the first frame
    for i in range(6):
        sink.write(frame(i), make_result(i), annotated=None)
        assert not out.exists()  # only a temporary file while writing
    assert len(list(tmp_path.glob(".out.*.part.mp4"))) == 1
    sink.close()
    assert out.exists() and not list(tmp_path.glob("*.part*"))
    frames, fps = read_video(out)
    assert len(frames) == 6 and frames[0].shape == (480, 640, 3) and fps == pytest.approx(25.0)
    assert [int(round(f.mean())) for f in frames] == pytest.approx([0, 20, 40, 60, 80, 100], abs=6)  # mp4v is lossy


def test_video_sink_uses_annotated_and_resizes(tmp_path):
    out = tmp_path / "clip.avi"
    with VideoSink(out, fps=10, size=(320, 240)) as sink:
        sink.write(frame(0), make_result(0), annotated=np.full((480, 640, 3), 200, np.uint8))
        sink.write(frame(1, h=240, w=320), make_result(1), annotated=None)
    frames, fps = read_video(out)
    assert len(frames) == 2 and frames[0].shape == (240, 320, 3) and fps == pytest.approx(10.0)
    assert abs(frames[0].mean() - 200) < 3 and abs(frames[1].mean() - 20) < 3


def test_video_sink_error_leaves_nothing(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(ValueError):
        with VideoSink(out, fps=25) as sink:
            sink.write(frame(0), make_result(0))
            raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


def test_video_sink_ctrl_c_keeps_the_video(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        with VideoSink(out, fps=25) as sink:
            sink.write(frame(0), make_result(0))
            raise KeyboardInterrupt
    assert len(read_video(out)[0]) == 1


# ----------------------------------------------------------------------------- images


def test_image_sink_keeps_last_frame(tmp_path):
    out = tmp_path / "out.png"
    with ImageSink(out) as sink:
        sink.write(frame(1), make_result(1))
        sink.write(frame(2), make_result(2), annotated=np.full((480, 640, 3), 77, np.uint8))
        assert not out.exists()
    img = cv2.imread(str(out))
    assert img.shape == (480, 640, 3) and int(img.mean()) == 77  # PNG: lossless


def test_image_sink_abort_and_empty(tmp_path):
    out = tmp_path / "out.jpg"
    with pytest.raises(RuntimeError):
        with ImageSink(out) as sink:
            sink.write(frame(1), make_result(1))
            raise RuntimeError("x")
    ImageSink(out).close()  # nothing written: no file
    assert list(tmp_path.iterdir()) == []


def test_dir_sink_names_and_atomic(tmp_path):
    d = tmp_path / "frames"
    with DirSink(d) as sink:
        for i in (0, 1, 12):
            sink.write(frame(i), make_result(i))
    names = sorted(p.name for p in d.iterdir())
    assert names == ["frame_000000.jpg", "frame_000001.jpg", "frame_000012.jpg"]
    assert abs(cv2.imread(str(d / "frame_000012.jpg")).mean() - 240) < 3


def test_make_sink_by_spec(tmp_path):
    assert isinstance(make_sink(tmp_path / "a.jsonl"), JsonlSink)
    assert isinstance(make_sink(tmp_path / "a.mp4", fps=30, size=(64, 48)), VideoSink)
    assert isinstance(make_sink(tmp_path / "a.avi"), VideoSink)
    assert isinstance(make_sink(tmp_path / "a.jpg"), ImageSink)
    assert isinstance(make_sink(str(tmp_path / "frames") + "/"), DirSink)
    assert isinstance(make_sink(tmp_path / "frames2"), DirSink)
    assert isinstance(make_sink(tmp_path), DirSink)
    with pytest.raises(EdgefaceError, match="unknown output type"):
        make_sink(tmp_path / "a.xyz")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(EdgefaceError, match="is a file"):
        DirSink(tmp_path / "file.txt")


def test_show_sink_needs_a_display():
    assert not has_display({})
    assert has_display({"WAYLAND_DISPLAY": "wayland-0"})
    with pytest.raises(EdgefaceError, match="no display"):
        ShowSink(environ={})


def test_sink_group_closes_all_even_if_one_fails(tmp_path):
    class Broken:
        def write(self, *a):
            pass

        def close(self):
            raise OSError("disk full")

    j = JsonlSink(tmp_path / "a.jsonl")
    img = ImageSink(tmp_path / "a.png")
    group = SinkGroup([Broken(), j, img])
    group.write(frame(0), make_result(0), None)
    with pytest.raises(OSError, match="disk full"):
        group.close()
    assert j.closed and img.closed and (tmp_path / "a.png").exists()


def test_image_to_image_end_to_end(tmp_path):
    """A real photo through source -> overlay -> ImageSink."""
    out = tmp_path / "annotated.jpg"
    with open_source(JIANZHU) as src, make_sink(out) as sink:
        for fr in src:
            res = make_result(fr.index, faces=[make_face(center=(200, 250), pose=(20, 5, -5))])
            sink.write(fr, res, overlay.draw_result(fr.image, res))
    img = cv2.imread(str(out))
    src_img = cv2.imread(str(JIANZHU))
    assert img.shape == src_img.shape
    assert np.abs(img.astype(int) - src_img).max() > 100  # drawn on


# ----------------------------------------------------------------------------- overlay


def matrix2angle_3ddfa(R):
    """3DDFA_V2 utils/pose.py matrix2angle (non-gimbal branch), in degrees."""
    x = math.asin(R[2, 0])
    y = math.atan2(R[2, 1] / math.cos(x), R[2, 2] / math.cos(x))
    z = math.atan2(R[1, 0] / math.cos(x), R[0, 0] / math.cos(x))
    return tuple(math.degrees(v) for v in (x, y, z))


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, 0, 0), (-25, 10, 5), (40, -20, 170), (-70, 35, -120)])
def test_rotation_from_angles_inverts_3ddfa_matrix2angle(angles):
    R = overlay.rotation_from_angles(*angles)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(matrix2angle_3ddfa(R), angles, atol=1e-9)
    np.testing.assert_allclose(overlay.angles_from_rotation(R), angles, atol=1e-9)
    cam = np.hstack([2.5e-3 * R, np.array([[10.0], [20.0], [0.0]])])
    np.testing.assert_allclose(overlay.rotation_from_camera(cam), R, atol=1e-12)


def test_pose_axes_agree_with_projected_landmarks():
    """The z axis points where the nose points, the y axis from chin to brows, x from jaw point 0 to 16."""
    for pose in [(35, 0, 0), (-35, 0, 0), (0, 30, 0), (0, -30, 0), (20, 10, 25)]:
        lm = project(mean_shape(), *pose, 1.0e-3, (0, 0))
        ends = overlay.axis_endpoints((0, 0), overlay.rotation_from_angles(*pose), 1.0)
        ex, ey, ez = ends
        assert np.dot(ex, lm[16, :2] - lm[0, :2]) > 0
        assert np.dot(ey, lm[27, :2] - lm[8, :2]) > 0  # nose root above the chin
        nose = lm[30, :2] - lm[:, :2].mean(axis=0)
        assert np.dot(ez, nose) > 0
    # frontal: x right, y up (image y down), z towards the viewer (zero length in the image)
    ex, ey, ez = overlay.axis_endpoints((0, 0), np.eye(3), 10.0)
    np.testing.assert_allclose(ex, [10, 0])
    np.testing.assert_allclose(ey, [0, -10])
    np.testing.assert_allclose(ez, [0, 0], atol=1e-12)


def test_draw_result_copy_and_in_place():
    img = np.zeros((720, 1280, 3), np.uint8)
    res = make_result(0, faces=[make_face(center=(640, 360), pose=(20, 0, 0), dense=True)])
    out = overlay.draw_result(img, res, fps=12.0)
    assert out is not img and img.max() == 0 and out.max() > 0
    bbox = res.faces[0].bbox.astype(int)
    inside = out[bbox[1]:bbox[3], bbox[0]:bbox[2]]
    assert (inside.reshape(-1, 3) == overlay.Style().point_color).all(axis=1).sum() > 50  # landmark dots
    assert out[:40, :200].max() > 0  # HUD
    same = overlay.draw_result(img, res, in_place=True, hud=False)
    assert same is img and img.max() > 0


def test_draw_dense_points_vectorized():
    img = np.zeros((100, 200, 3), np.uint8)
    pts = np.array([[10.2, 20.7], [199.4, 99.4], [-5, 3], [250, 50], [50, 50]])
    overlay.draw_dense_points(img, pts, color=(1, 2, 3))
    ys, xs = np.nonzero(img[..., 0])
    assert sorted(zip(xs.tolist(), ys.tolist())) == [(10, 21), (50, 50), (199, 99)]
    assert tuple(img[21, 10]) == (1, 2, 3)
    img2 = np.zeros((100, 200, 3), np.uint8)
    overlay.draw_dense_points(img2, pts, step=2, size=3)  # points 0, 2, 4; 3x3 dots
    assert (img2[..., 0] > 0).sum() == 9 + 9  # (-5,3) is off-image
    img3 = np.full((10, 10, 3), 100, np.uint8)
    overlay.draw_dense_points(img3, np.array([[5, 5]]), color=(200, 200, 200), alpha=0.5)
    assert tuple(img3[5, 5]) == (150, 150, 150)


def test_style_scales_with_image():
    small, big = overlay.Style.for_image((480, 640)), overlay.Style.for_image((2160, 3840))
    assert big.thickness > small.thickness and big.font_scale > small.font_scale
    assert overlay.Style.for_image((480, 640), axes=False).axes is False
