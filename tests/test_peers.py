"""`edgeface bench peers` on real systems: upstream 3DDFA_V2 run from its own sources (copied to a
scratch folder, its Cython NMS built, its ONNX exported) and edgeface through the public API, on the
same pre-decoded frames, each in its own pinned process; a peer that cannot run is one skipped line."""

from __future__ import annotations

import json

import pytest

from pathlib import Path

from edgeface.tools.bench.peers.compare import BASELINE_KEY, PeerOptions, baseline_worker, run_peers
from edgeface.tools.bench.peers import report as peers_report
from edgeface.errors import OptionsError


@pytest.fixture(scope="module")
def report(converted_home, mirror, tmp_path_factory):
    opts = PeerOptions(systems=["upstream-video", "upstream-perframe", "mediapipe", "edgeface-int8-track25",
                                "edgeface-int8-floor25", "edgeface-int8-detect"], cores=[1], passes=1, frames=12, upstream=mirror / "3ddfa_v2",
                       work_dir=tmp_path_factory.mktemp("peers"), mediapipe_python=tmp_path_factory.mktemp("x") / "no-python",
                       root=converted_home, live_fps=[], baseline=REPO)
    return run_peers(opts, log=lambda m: None)


REPO = Path(__file__).resolve().parents[1]  # this checkout, run as its own baseline


def test_every_system_ran_or_was_skipped_with_a_reason(report):
    ran = {r["system"]: r for r in report["results"]}
    assert set(ran) == {"upstream-video", "upstream-perframe", "edgeface-int8-track25", "edgeface-int8-floor25",
                        "edgeface-int8-detect", "edgeface-int8-track", BASELINE_KEY}  # the last two: the baseline pair
    for key, r in ran.items():
        assert "error" not in r, (key, r)
        assert r["frames"] == 12 and r["cores"] == 1 and r["fps"] > 0
        assert r["faces_per_frame"] == 1.0, key  # every system found the one face on every frame
    assert ran["upstream-video"]["runtime"].startswith("onnxruntime")
    assert ran["edgeface-int8-track25"]["detect_interval"] == 25
    assert ran["edgeface-int8-track25"]["xnnpack"] is True and report["machine"]["xnnpack"] is True
    assert "XNNPACK on" in peers_report.peers_markdown(report)
    assert ran["edgeface-int8-floor25"]["detect_interval"] == 25 and ran["edgeface-int8-floor25"]["scan"] in ("async", "in-line")
    assert [s["system"] for s in report["skipped"]] == ["mediapipe"]
    assert "does not exist" in report["skipped"][0]["reason"]


def test_ratios_and_outputs(report, tmp_path):
    t = peers_report.fps_table(report)
    r = peers_report.ratio(report, "edgeface-int8-detect", "upstream-perframe", 1)
    assert r == pytest.approx(t["edgeface-int8-detect"][1] / t["upstream-perframe"][1], rel=0.01)
    assert r > 1.0  # INT8 with a 640x480 detector beats upstream's ONNX detector at 1080x608 even here
    md = peers_report.peers_markdown(report)
    assert "upstream 3DDFA_V2 demo_video.py loop" in md and "Skipped mediapipe" in md
    png = peers_report.plot_peers(report, tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(report)  # the report is plain JSON


def test_baseline_checkout_runs_beside_this_one(report):
    """`--baseline DIR`: an earlier checkout's INT8 tracking row, imported from its own tree (package and data folders),
    in the same run; here this checkout itself, so both rows find the face on every frame."""
    base = next(r for r in report["results"] if r["system"] == BASELINE_KEY)
    mine = next(r for r in report["results"] if r["system"] == "edgeface-int8-track")
    assert base["frames"] == 12 and base["faces_per_frame"] == 1.0 and base["xnnpack"] is True
    # timed as a pair: this checkout's row beside it, each in its own process, a pass of each in turn
    assert base["paired_with"] == ["edgeface-int8-track"] and mine["paired_with"] == [BASELINE_KEY]
    assert len(base["pass_fps"]) == len(mine["pass_fps"]) == 1 and mine["faces_per_frame"] == 1.0
    assert "timed as a pair" in peers_report.peers_markdown(report)
    assert peers_report.paired_ratio(report, "edgeface-int8-track", BASELINE_KEY, 1) > 0
    assert report["systems"][BASELINE_KEY]["label"].startswith("edgeface INT8, tracking (scans: profile interval), baseline ")
    assert baseline_worker(REPO) == "edgeface.tools.bench.peers.edgeface_loop"
    assert baseline_worker(REPO / "tests") is None
    with pytest.raises(OptionsError, match="not an edgeface checkout"):
        PeerOptions(baseline=REPO / "tests")


def test_bad_options():
    with pytest.raises(OptionsError, match="unknown peer system"):
        PeerOptions(systems=["tensorflow-js"])
    with pytest.raises(OptionsError, match="core counts"):
        PeerOptions(cores=[0])


def test_rounds_keep_the_median_round():
    from edgeface.tools.bench.peers.compare import PeerOptions, _median_round
    from edgeface.errors import OptionsError

    rows = [{"fps": 700.0, "pass_fps": [1]}, {"error": "timed out"}, {"fps": 500.0, "pass_fps": [2]}, {"fps": 650.0, "pass_fps": [3]}]
    best = _median_round(rows)
    assert best["fps"] == 650.0 and best["pass_fps"] == [3] and best["round_fps"] == [700.0, 500.0, 650.0]
    assert "error" in _median_round([{"error": "x"}])
    with pytest.raises(OptionsError):
        PeerOptions(rounds=0)
    assert "round_pass_fps" not in best  # only systems timed as a pair keep every round's passes
    paired = _median_round([dict(r, paired_with=["b"]) if "error" not in r else r for r in rows])
    assert paired["round_pass_fps"] == [[1], None, [2], [3]]  # aligned with the partner's rounds


def test_paired_ratio_is_the_median_of_passes_taken_one_after_the_other():
    """Two systems timed as a pair: their ratio compares each pass with the partner's pass next to it in time, not
    each system's median round (two rounds far apart); a round that failed for either is left out."""
    def row(system, rounds):
        return {"system": system, "cores_requested": 1, "fps": 1.0, "paired_with": ["x"], "round_pass_fps": rounds}

    report = {"results": [row("a", [[90.0, 95.0], [50.0, 60.0], [70.0, 80.0]]),
                          row("b", [[100.0, 100.0], None, [100.0, 100.0]])]}
    assert peers_report.paired_ratio(report, "a", "b", 1) == 0.85  # median of 0.9, 0.95, 0.7, 0.8
    assert peers_report.paired_ratio(report, "a", "b", 2) is None  # no such core count
    assert peers_report.paired_ratio({"results": [dict(row("a", [[1.0]]), round_pass_fps=None)]}, "a", "b", 1) is None



def test_floor_replays_the_recorded_crops_through_the_models_alone(converted_home):
    """The floor row: the first pass runs the aligner and records its crops; the passes after it run the
    regressor on exactly those crops and a scan every INTERVAL frames, and nothing of the pipeline around them."""
    import edgeface
    from edgeface.tools.bench.peers.edgeface_loop import ModelsOnlyLoop
    from edgeface.hub.assets import sample_path
    from edgeface.sources.video import open_video

    with open_video(sample_path("obama", converted_home), max_frames=12) as src:
        frames = [f.image for f in src]
    with edgeface.FaceAligner.create(precision="int8", running_mode="video", detect_interval=0,
                                     cache_root=converted_home) as aligner:
        loop = ModelsOnlyLoop(aligner, 5)
        loop.reset()
        assert [loop.process(f) for f in frames] == [1] * 12  # the recording pass: the aligner itself
        assert aligner.frames_processed == 12 and len(loop.rois) == 12
        calls = []
        real = loop.regressor

        def spy(frame, roi):
            calls.append((frame, roi))
            return real(frame, roi)

        loop.regressor = spy
        pipe = aligner.pipeline
        scans0 = pipe.scanner.scans if pipe.scanner is not None else None
        detector_runs0 = pipe.counters.detector_runs
        loop.reset()
        assert [loop.process(f) for f in frames] == [1] * 12
        assert aligner.frames_processed == 12  # the pipeline did not run
        assert [c[0] for c in calls] == frames and all(c[1] is r for c, r in zip(calls, loop.rois))
        if pipe.scanner is not None:
            pipe.scanner.wait()
            assert pipe.scanner.scans - scans0 == 3  # frames 0, 5 and 10
        assert pipe.counters.detector_runs == detector_runs0  # scans are not merged into any tracker


def test_load_note_judges_the_machine_by_the_load_before_the_first_run():
    """The loads before each run count the benchmark's own previous workers; only the load before the first
    run says whether other jobs shared the machine."""
    def notes(start):
        return " ".join(peers_report._notes({"machine": {"load_avg_start": [start, 0.5, 0.5]}, "video": {},
                                             "results": [{"load_before": 0.3}, {"load_before": 2.1}]}))

    assert "0.30 to 2.10" in notes(0.2) and "own previous workers" in notes(0.2)
    assert "not a quiet machine" not in notes(0.2)
    assert "0.90 before the first run (not a quiet machine" in notes(0.9)
