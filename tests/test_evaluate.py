"""edgeface bench eval: .pts parsing, NME / matching / statistics on hand-computed cases, and a run on faces68."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeface.tools.bench.eval import annotations
from edgeface.tools.bench.eval import metrics
from edgeface.tools.bench.eval import evaluate as ev
from edgeface.runtime import boxes
from edgeface.errors import EdgefaceError

REPO = Path(__file__).resolve().parents[1]
FACES68 = REPO.parent / "shared" / "eval" / "faces68"


def _pts_text(points, header=True, n_points=None) -> str:
    lines = []
    if header:
        lines += ["version: 1", f"n_points:  {len(points) if n_points is None else n_points}"]
    lines.append("{")
    lines += [f"{x:.3f} {y:.3f}" for x, y in points]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _face68(offset=(0.0, 0.0)) -> np.ndarray:
    """68 points on an 8 x 2 box (x 0..8, y 0..2) with points 36 = (0, 0) and 45 = (6, 0)... plus offset."""
    p = np.zeros((68, 2))
    p[:, 0] = np.linspace(0, 8, 68)
    p[:, 1] = np.tile([0.0, 2.0], 34)
    p[36] = (0.0, 0.0)
    p[45] = (6.0, 0.0)
    return p + np.asarray(offset)


# ----------------------------------------------------------------------------- .pts parsing

def test_parse_pts_reads_the_real_file():
    p = annotations.parse_pts(FACES68 / "2008_001009_01.pts")
    assert p.shape == (68, 2) and p.dtype == np.float64
    assert p[0].tolist() == [145.0, 115.0]
    assert p[1].tolist() == [148.0, 124.0]


def test_parse_pts_roundtrip_and_no_header(tmp_path):
    pts = _face68((10.5, 20.25))
    f = tmp_path / "a.pts"
    f.write_text(_pts_text(pts))
    np.testing.assert_allclose(annotations.parse_pts(f), pts, atol=1e-3)
    g = tmp_path / "b.pts"
    g.write_text("\n" + _pts_text(pts, header=False).replace("\n", "\r\n"))  # CRLF, blank lines, no header
    np.testing.assert_allclose(annotations.parse_pts(g), pts, atol=1e-3)


@pytest.mark.parametrize("text, words", [
    ("", "no '{'"),
    ("version: 1\nn_points: 68\n", "no '{'"),
    ("version: 1\n{\n1 2\n", "no '}'"),
    ("n_points: 3\n{\n1 2\n3 4\n}\n", "n_points 3 but 2"),
    ("n_points: x\n{\n1 2\n}\n", "not an integer"),
    ("{\n1 2 3\n}\n", "exactly 2 numbers"),
    ("{\n1 abc\n}\n", "not two numbers"),
    ("{\n1 nan\n}\n", "non-finite"),
    ("version 1\n{\n1 2\n}\n", "not 'key: value'"),
    ("{\n}\n", "0 points, expected 68"),
])
def test_parse_pts_malformed_is_one_line_error(tmp_path, text, words):
    f = tmp_path / "bad.pts"
    f.write_text(text)
    with pytest.raises(EdgefaceError) as e:
        annotations.parse_pts(f)
    msg = str(e.value)
    assert words in msg and "\n" not in msg and "bad.pts" in msg


def test_parse_pts_wrong_count_and_unreadable(tmp_path):
    f = tmp_path / "five.pts"
    f.write_text(_pts_text([(1, 2)] * 5))
    with pytest.raises(EdgefaceError, match="5 points, expected 68"):
        annotations.parse_pts(f)
    assert annotations.parse_pts(f, n_points=None).shape == (5, 2)
    b = tmp_path / "bin.pts"
    b.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(EdgefaceError, match="cannot read landmark file"):
        annotations.parse_pts(b)
    with pytest.raises(EdgefaceError, match="cannot read"):
        annotations.parse_pts(tmp_path / "missing.pts")


def test_find_annotated_images(tmp_path):
    items, orphans = annotations.find_annotated_images(FACES68)
    assert [i.image.name for i in items] == ["2007_007763.jpg", "2008_001009.jpg", "2008_001322.jpg", "2008_002079.jpg"]
    assert sum(len(i.annotations) for i in items) == 18 and orphans == []
    for name in ("a.jpg", "a_b.png", "c.jpg"):
        (tmp_path / name).write_bytes(b"")
    for name in ("a.pts", "a_1.pts", "a_b_2.pts", "zz_3.pts", "c_x.pts"):
        (tmp_path / name).write_text("")
    items, orphans = annotations.find_annotated_images(tmp_path)
    got = {i.image.name: [p.name for p in i.annotations] for i in items}
    assert got == {"a.jpg": ["a.pts", "a_1.pts"], "a_b.png": ["a_b_2.pts"]}
    assert sorted(p.name for p in orphans) == ["c_x.pts", "zz_3.pts"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.jpg").write_bytes(b"")
    with pytest.raises(EdgefaceError, match="no image"):
        annotations.find_annotated_images(empty)
    with pytest.raises(EdgefaceError, match="does not exist"):
        annotations.find_annotated_images(tmp_path / "nope")


# ----------------------------------------------------------------------------- geometry

def test_landmark_box_and_iou():
    assert boxes.points_box([[1, 5], [3, 2], [2, 9]]).tolist() == [1, 2, 3, 9]
    assert boxes.iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)
    assert boxes.iou([0, 0, 2, 2], [0, 0, 2, 2]) == 1.0
    assert boxes.iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    assert boxes.iou([0, 0, 4, 4], [1, 1, 3, 3]) == pytest.approx(4 / 16)
    assert boxes.iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0


def test_match_faces_greedy_one_to_one():
    gt = [[0, 0, 10, 10], [5, 0, 15, 10]]
    # det 0 = gt 0 exactly; det 1 overlaps gt 0 by 1/3 and gt 1 by 1.0
    dets = [[0, 0, 10, 10], [5, 0, 15, 10]]
    assert metrics.match_faces(gt, dets) == [0, 1]
    # only one detection: it goes to the better overlap, the other face is not found
    assert metrics.match_faces(gt, [[5, 0, 15, 10]]) == [None, 0]
    # IoU below the threshold never matches
    assert metrics.match_faces([[0, 0, 10, 10]], [[8, 8, 18, 18]]) == [None]
    assert metrics.match_faces([[0, 0, 10, 10]], [[0, 0, 10, 4]], iou_threshold=0.4) == [0]
    assert metrics.match_faces([[0, 0, 10, 10]], [[0, 0, 10, 2]], iou_threshold=0.3) == [None]
    assert metrics.match_faces([], [[0, 0, 1, 1]]) == [] and metrics.match_faces([[0, 0, 1, 1]], []) == [None]


# ----------------------------------------------------------------------------- NME

def test_nme_hand_computed():
    gt = _face68()
    pred = gt + np.array([3.0, 4.0])  # every point off by 5 px
    assert metrics.bbox_norm(gt) == pytest.approx(4.0)  # sqrt(8 * 2)
    assert metrics.interocular_norm(gt) == pytest.approx(6.0)
    assert metrics.nme(pred, gt, "bbox") == pytest.approx(5 / 4)
    assert metrics.nme(pred, gt, "interocular") == pytest.approx(5 / 6)
    assert metrics.nme(pred, gt, 10.0) == pytest.approx(0.5)
    assert metrics.nme(gt, gt) == 0.0
    # half the points exact, half off by 2 px -> mean error 1 px
    pred2 = gt.copy()
    pred2[::2, 0] += 2.0
    assert metrics.nme(pred2, gt, 1.0) == pytest.approx(1.0)
    # z (a third column) is ignored
    assert metrics.nme(np.c_[pred, np.full(68, 100.0)], np.c_[gt, np.zeros(68)], "bbox") == pytest.approx(5 / 4)


def test_nme_errors():
    gt = _face68()
    with pytest.raises(EdgefaceError, match="same N"):
        metrics.nme(gt[:10], gt)
    flat = gt.copy()
    flat[:, 1] = 0.0
    with pytest.raises(EdgefaceError, match="degenerate"):
        metrics.nme(flat, flat, "bbox")
    with pytest.raises(EdgefaceError, match="unknown NME normalization"):
        metrics.nme(gt, gt, "diag")
    with pytest.raises(EdgefaceError, match="68 iBUG points"):
        metrics.interocular_norm(gt[:40])


def test_nme_summary_and_cdf():
    s = metrics.nme_summary([0.05, 0.2, None, 0.1])
    assert s["count"] == 3
    assert s["mean"] == pytest.approx(0.35 / 3)
    assert s["median"] == pytest.approx(0.1)
    assert s["max"] == pytest.approx(0.2)
    assert s["failure_rate"] == pytest.approx(1 / 3)  # 0.1 is not > 0.1
    assert metrics.nme_summary([])["count"] == 0 and metrics.nme_summary([])["mean"] is None
    np.testing.assert_allclose(metrics.cdf([1.0, 2.0, 3.0], [0.0, 1.0, 2.5, 3.0, 9.0]), [0, 1 / 3, 2 / 3, 1, 1])
    assert metrics.cdf([], [1.0]).tolist() == [0.0]


# ----------------------------------------------------------------------------- on the models

def test_eval_faces68_int8(converted_home):
    rep = ev.evaluate(FACES68, ["fp32", "int8"], root=converted_home)
    assert rep.images == 4 and rep.faces == 18
    fp32, int8 = rep.results
    for r in (fp32, int8):
        assert r.faces_total == 18 and r.faces_found == 18 and r.unmatched_detections == 0
        assert r.faces_found == sum(f.found for f in r.faces)
        m = r.nme_bbox["mean"]
        assert math.isfinite(m) and 0.03 < m
        assert r.nme_interocular["mean"] > m  # the inter-ocular distance is shorter than sqrt(w*h)
        assert all(f.iou >= metrics.MATCH_IOU for f in r.faces if f.found)
    # README: fp32 3.78% (upstream demo.py 4.31%, upstream + one re-crop 3.99%), INT8 within 2% of fp32
    assert fp32.nme_bbox["mean"] <= 0.0399
    assert int8.nme_bbox["mean"] <= 1.02 * fp32.nme_bbox["mean"]
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["format"] == ev.FORMAT and len(d["results"][1]["faces"]) == 18
    assert d["results"][1]["precision"] == "int8" and d["results"][1]["detector"].endswith("_int8.tflite")


def test_eval_roi_from_landmarks_and_cli(converted_home, tmp_path):
    rep = ev.evaluate(FACES68, ["int8"], roi="landmarks", root=converted_home)
    r = rep.results[0]
    assert r.faces_found == 18 and r.unmatched_detections == 0 and r.nme_bbox["mean"] < 0.08

    from edgeface.cli.main import main

    out = tmp_path / "eval.json"
    md = tmp_path / "eval.md"
    png = tmp_path / "cdf.png"
    main(["bench", "eval", str(FACES68), "--precision", "int8", "--json", str(out), "--markdown", str(md), "--plot", str(png)])
    d = json.loads(out.read_text())
    assert d["results"][0]["faces_total"] == 18
    assert "| int8 | detector |" in md.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit) as e:
        main(["bench", "eval", str(FACES68), "--precision", "int4"])
    assert e.value.code == 2


def test_eval_and_run_give_identical_landmarks(converted_home, tmp_path):
    """`edgeface bench eval` scores exactly what `edgeface run` writes for the same photos."""
    from edgeface.cli.main import main

    jsonl = tmp_path / "run.jsonl"
    try:
        main(["run", "--source", str(FACES68), "--precision", "int8", "--json", str(jsonl), "--quiet"])
    except SystemExit as e:
        assert not e.code
    rows = {Path(r["source"]).name: r for r in map(json.loads, jsonl.read_text().splitlines())}
    rep = ev.evaluate(FACES68, ["int8"], root=converted_home)
    checked = 0
    for f in rep.results[0].faces:
        gt = annotations.parse_pts(FACES68 / f.annotation)
        run_faces = rows[f.image]["faces"]
        gt_box = boxes.points_box(gt)
        best = max(run_faces, key=lambda r: boxes.iou(np.asarray(r["bbox"]), gt_box))
        pred = np.asarray(best["landmarks"], np.float64)[:, :2]
        assert metrics.nme(pred, gt, "bbox") == pytest.approx(f.nme_bbox, abs=1e-4)  # JSONL rounds to 0.01 px
        checked += 1
    assert checked == 18
    with ev.make_aligner("int8", root=converted_home) as al:  # the aligner eval uses: the very same numbers
        for name, row in rows.items():
            got = al.detect(cv2.imread(str(FACES68 / name))).to_dict()["faces"]
            assert [f["landmarks"] for f in got] == [f["landmarks"] for f in row["faces"]]
