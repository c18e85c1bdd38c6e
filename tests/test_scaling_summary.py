"""The scaling benchmark's figures from made-up rows: the cost of each extra face is the slope of ms per frame,
the ratios compare 2 cores with 1 for the pipeline and the models alone, and the median of the rounds is taken
per measurement (one slow round does not move it)."""

from __future__ import annotations

import pytest

from edgeface.tools.bench.scaling import report as scaling_report
from edgeface.tools.bench.scaling.summary import median_rows, slope, summarize


def _rows(rnd: int, extra_ms: float, slow: float = 1.0) -> list:
    """Rows of one round: 1 ms + `extra_ms` per extra face (pipeline), 0.8 ms + 0.3 ms per face (floor); 2 cores
    with 2 workers twice as fast; `slow` multiplies the 16-face pipeline time of 1 core."""
    out = []
    for cores, workers, k in ((1, 1, 1.0), (2, 1, 1.0), (2, 2, 0.5)):
        for n in (1, 2, 4, 8, 16):
            for mode, base, per in (("pipeline", 1.0, extra_ms), ("floor", 0.8, 0.3)):
                ms = (base + per * (n - 1)) * k * (slow if (n, cores, mode) == (16, 1, "pipeline") else 1.0)
                out.append({"round": rnd, "precision": "int8", "cores": cores, "workers": workers, "mode": mode,
                            "faces": n, "fps": 1000.0 / ms, "invoke_ms": 0.35})
    return out


def test_slope_is_ms_per_extra_face():
    assert slope([1, 2, 4, 8, 16], [1.0 + 0.4 * (n - 1) for n in (1, 2, 4, 8, 16)]) == pytest.approx(0.4)


def test_one_slow_round_does_not_move_the_median():
    rows = _rows(0, 0.4) + _rows(1, 0.4, slow=1.5) + _rows(2, 0.4)
    med = median_rows(rows)
    assert {r["round"] for r in med} == {"median"} and len(med) == len(rows) // 3
    s = summarize(rows)
    cost = {(c["round"], c["cores"], c["workers"]): c["ms_per_extra_face"] for c in s["costs"]}
    assert cost[("median", 1, 1)] == pytest.approx(0.4)
    assert cost[(1, 1, 1)] > 0.5  # the slow round on its own
    assert cost[("median", 2, 2)] == pytest.approx(0.2)
    ratio = {(q["round"], q["faces"]): q for q in s["ratios"]}
    q = ratio[("median", 16)]
    assert q["pipeline_ratio"] == pytest.approx(2.0) and q["floor_ratio"] == pytest.approx(2.0)
    assert q["quotient"] == pytest.approx(1.0)


def test_markdown_leads_with_the_median_of_the_rounds():
    rows = _rows(0, 0.4) + _rows(1, 0.4, slow=1.5) + _rows(2, 0.4)
    rep = {"date": "d", "machine": {"host": "h", "cores": 2, "load_avg_start": 0.1, "load_avg_end": 0.2},
           "options": {"frames": 60, "passes": 3, "rounds": 3, "faces": [1, 2, 4, 8, 16]}, "rows": rows}
    md = scaling_report.markdown(rep)
    assert md.index("## Median of the 3 rounds") < md.index("## Round 1")
    assert "| int8 | 1 | 1 | 0.400 | 0.350 | 0.450 | yes |" in md


def test_plot_draws_the_median_of_the_rounds():
    rows = _rows(0, 0.4) + _rows(1, 0.4, slow=1.5) + _rows(2, 0.4)
    series = scaling_report.plot_series({"rows": rows})
    v = series[("int8", 1, 1, "pipeline")]
    assert v["faces"] == [1, 2, 4, 8, 16]
    assert v["ms"][-1] == pytest.approx(1.0 + 0.4 * 15)  # the median, not the slow round
    assert v["slowest"][-1] == pytest.approx(1.5 * (1.0 + 0.4 * 15)) and v["fastest"][-1] == pytest.approx(7.0)
    one = scaling_report.plot_series({"rows": _rows(0, 0.4, slow=1.5)})  # one round: drawn as it is
    assert one[("int8", 1, 1, "pipeline")]["ms"][-1] == pytest.approx(1.5 * 7.0)


def test_pipeline_and_floor_passes_are_timed_in_turn():
    """`time_alternating`: a warm-up pass of each loop, then one timed pass of each in turn, each loop's own
    results (as `time_passes` gives for one loop)."""
    from edgeface.tools.bench.peers.timing import time_alternating, time_passes

    calls = []

    def loop(name, faces):
        return (lambda f: calls.append((name, f)) or faces), (lambda: calls.append((name, "reset")))

    frames = [0, 1, 2]
    res = time_alternating({"a": loop("a", 2), "b": loop("b", 1)}, frames, passes=2)
    passes = [c for c in calls if c[1] != "reset"]
    order = [passes[i][0] for i in range(0, len(passes), 3)]
    assert order == ["a", "b", "a", "b", "a", "b"]  # warm-ups, then timed passes in turn
    assert [c for c in calls if c[1] == "reset"] == [("a", "reset"), ("b", "reset")] * 3
    assert len(res["a"]["pass_fps"]) == len(res["b"]["pass_fps"]) == 2
    assert res["a"]["faces_per_frame"] == 2 and res["b"]["faces_per_frame"] == 1 and res["a"]["frames"] == 3
    one = time_passes(*loop("c", 3), frames, passes=2)
    assert set(one) == set(res["a"]) and one["faces_per_frame"] == 3
