"""The stability measurement (`edgeface bench stability`): metrics by hand, frames, and the real run.

The end-to-end bounds are principled, not the published figures (benchmarks/stability-x86_64.json,
quoted by the README): the stability targets (tools.bench.stability.report), the model card's INT8 noise
limit, and ratios within the same run.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeface.tools.bench.stability import measure as st
from edgeface.tools.bench.stability import report as sr
from edgeface.errors import EdgefaceError
from inprocess_cli import cli

# the rows `measure_stability` makes for the two photos: (photo, precision)
ROWS = {("JianzhuGuo.jpg", "fp32"), ("JianzhuGuo.jpg", "int8"), ("emma.jpg", "fp32"), ("emma.jpg", "int8")}


def test_jitter_by_hand():
    rng = np.random.default_rng(0)
    base = np.stack(np.meshgrid(np.linspace(0, 200, 17), np.linspace(0, 100, 4)), -1).reshape(-1, 2)[:68]
    track = base[None] + rng.normal(0, 1.0, (4000, 68, 2))  # std 1 px in x and y: radial std sqrt(2)
    size = np.sqrt(200 * 100)
    assert st.landmark_jitter(track) == pytest.approx(np.sqrt(2) / size, rel=0.02)
    assert st.landmark_jitter(np.repeat(base[None], 5, 0)) == 0.0
    with pytest.raises(EdgefaceError):
        st.landmark_jitter(track[:1])


def test_lag_by_hand():
    v = np.array([2.0, 0.0])
    base = np.random.default_rng(1).uniform(0, 100, (68, 2))
    t = np.arange(50, dtype=np.float64)
    lead = base[None] + t[:, None, None] * v
    for k in (0.0, 1.0, 2.5):
        follow = base[None] + (t - k)[:, None, None] * v
        assert st.lag_frames(lead, follow, v) == pytest.approx(k, abs=1e-9)
    assert st.lag_frames(lead, lead + [[0.0, 5.0]], v) == pytest.approx(0.0)  # across the motion: no lag
    with pytest.raises(EdgefaceError):
        st.lag_frames(lead, lead, (0.0, 0.0))


def test_noisy_frames_are_seeded_gaussian():
    img = np.full((200, 300, 3), 128, np.uint8)
    a = st.noisy(img, 2.0, np.random.default_rng(3))
    b = st.noisy(img, 2.0, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and abs(float(a.std()) - 2.0) < 0.05 and abs(float(a.mean()) - 128) < 0.05
    edge = st.noisy(np.zeros_like(img), 2.0, np.random.default_rng(3))
    assert edge.min() == 0  # clipped, not wrapped around
    src = (np.arange(300) % 200).astype(np.uint8)[None, :, None].repeat(10, 0).repeat(3, 2)
    s = st.shifted(src, 2.0)  # 2 px to the right, exactly (whole pixels)
    np.testing.assert_array_equal(s[:, 2:], src[:, :-2])
    np.testing.assert_array_equal(s[:, :2], src[:, :1].repeat(2, 1))  # edge replicated


def test_bad_options():
    with pytest.raises(EdgefaceError):
        st.StabilityOptions(frames=10, skip=9)
    with pytest.raises(EdgefaceError):
        st.StabilityOptions(speed_px=0)
    with pytest.raises(EdgefaceError):
        st.StabilityOptions(precisions=())


@pytest.fixture(scope="module")
def report(converted_home):
    from edgeface.hub.assets import sample_path

    photos = (sample_path("jianzhuguo", converted_home), sample_path("emma", converted_home))
    opts = st.StabilityOptions(photos=photos, target="x86_64", cache_root=converted_home)
    return st.measure_stability(opts).to_dict()


def test_measured_stability_meets_the_targets(report):
    from edgeface.hub.cards import get_card

    rows = {(r["photo"], r["precision"]): r for r in report["rows"]}
    assert set(rows) == ROWS
    assert rows[("emma.jpg", "fp32")]["faces"] == 3 and rows[("JianzhuGuo.jpg", "int8")]["faces"] == 1
    noise_limit = get_card("mb05").int8["max_noise_ratio"]  # INT8 landmark scatter under sensor noise / float's
    for key, r in rows.items():
        assert 0 < r["jitter_smoothed"] < r["jitter_raw"] / 5, (key, r)  # the smoother removes most of the jitter
        assert r["lag_frames"] <= sr.TARGET_LAG, (key, r)
        # the tracker follows the motion itself; the held crop trails by up to 2% of its side, through which
        # INT8's bias shows as a fraction of a frame
        assert abs(r["raw_lag_frames"]) < 0.5, (key, r)
        if key[1] == "int8":
            assert r["jitter_raw"] <= noise_limit * rows[(key[0], "fp32")]["jitter_raw"], (key, r)
    # the targets (the INT8/fp32 ratio target is not met yet: the README says so)
    ok = {t: met for t, _, met in sr.verdicts(report)}
    assert ok[f"smoothed jitter <= {100 * sr.TARGET_JITTER:.2f}%"] and ok[f"lag <= {sr.TARGET_LAG:g} frame"]
    assert report["smoother_ms_per_face"] > 0  # how fast: the benchmark's figure, not a test's


def test_stability_cli_from_json(report, tmp_path, capsys):
    saved = tmp_path / "stab.json"
    saved.write_text(json.dumps(report))
    md, png = tmp_path / "stab.md", tmp_path / "stab.png"
    code, out, err = cli(capsys, "bench", "stability", "--from-json", saved, "--markdown", md, "--plot", png)
    assert code == 0, err
    assert "jitter smoothed %" in out and "Stability targets" in out
    assert "| JianzhuGuo.jpg | int8 |" in md.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = cli(capsys, "bench", "stability", "--precision", "ort", "--photo", tmp_path / "none.jpg")
    assert code == 2 and "--precision fp32,int8" in err and "Traceback" not in err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    code, out, err = cli(capsys, "bench", "stability", "--from-json", bad)
    assert code == 2 and "not an edgeface stability report" in err
