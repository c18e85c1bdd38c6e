"""`edgeface tune` (issue 25): it measures this machine with its converted models on the sample video, writes
a local profile into the cache, and `--target auto` then prefers that profile on this machine (and only on a
machine like it). The guests smoke-run it (tests/arm/steps/tune.sh); their timings are not used."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeface.app.tune import (PipelineTiming, StageChoice, StageTiming, TuneOptions, WorkerTiming, choose_pipeline,
                               choose_stage, choose_workers, clip_frames, pipeline_options, worker_candidates)
from edgeface.app.tune_clip import multi_face_clip
from edgeface.boards import profiles as P
from edgeface.boards.machine import read_machine
from edgeface.errors import EdgefaceError, OptionsError
from edgeface.hub import package_data, paths
from edgeface.runtime.loading import build_pipeline

REPO = Path(__file__).resolve().parents[1]


def st(stage, prec, threads, ms):
    return StageTiming(stage, prec, threads, ms, ms * 1.2)


def test_choose_stage_fastest_precision_fewest_threads_within_tolerance():
    t = [st("regressor", "int8", 1, 10.0), st("regressor", "int8", 2, 9.7), st("regressor", "int8", 4, 9.6),
         st("regressor", "fp32", 1, 20.0), st("regressor", "fp32", 4, 8.0), st("detector", "fp32", 1, 100.0)]
    c = choose_stage(t, "regressor")
    assert (c.precision, c.threads) == ("fp32", 4)  # fp32 at 4 threads beats every INT8 row
    t[4] = st("regressor", "fp32", 4, 12.0)
    c = choose_stage(t, "regressor")
    # INT8: 4 threads are fastest (9.6) but 1 thread is within 5 %: one thread, the cores stay free
    assert (c.precision, c.threads) == ("int8", 1)
    assert "int8, 1 thread(s)" in c.reason and "fastest 9.6 ms at 4" in c.reason and "fp32 12.0 ms" in c.reason
    with pytest.raises(EdgefaceError, match="no scan"):
        choose_stage(t, "scan")


def test_choose_pipeline_faster_threads_then_smallest_interval_within_tolerance():
    def run(label, rt, dt, interval, fps):
        return PipelineTiming(label, rt, dt, interval, fps, 1000 / fps, 1200 / fps, 30)

    runs = [run("tuned threads", 1, 2, 5, 40.0), run("tuned threads", 1, 2, 10, 50.0), run("tuned threads", 1, 2, 20, 52.0),
            run("1 thread per stage", 1, 1, 5, 45.0), run("1 thread per stage", 1, 1, 10, 55.0),
            run("1 thread per stage", 1, 1, 20, 60.0)]
    pick, why = choose_pipeline(runs)
    # 1 thread per stage is faster (60 fps best); interval 10 is within 10 % of it (55 >= 54), 5 is not
    assert (pick.label, pick.interval, pick.detector_threads) == ("1 thread per stage", 10, 1)
    assert "interval 5 40.0 fps" in why and "interval 20 60.0 fps" in why


def test_choose_workers_fewest_within_tolerance_of_the_fastest():
    def run(workers, fps):
        return WorkerTiming(workers, 4, fps, 1000 / fps, 1300 / fps, 40)

    # 3 workers are fastest (100); 2 are within 5 % (96 >= 95): two interpreters, a thread left free
    n, why = choose_workers([run(3, 100.0), run(1, 60.0), run(2, 96.0), run(4, 99.0)])
    assert n == 2 and "fastest, 100.0 fps at 3" in why and "measured 1: 60.0 fps, 2: 96.0 fps, 3: 100.0 fps, 4: 99.0 fps" in why
    n, why = choose_workers([run(1, 100.0), run(2, 104.0)])  # a worker that buys 4 % is not taken
    assert n == 1 and "on 4 faces" in why
    assert choose_workers([run(1, 50.0), run(2, 80.0)])[0] == 2
    with pytest.raises(EdgefaceError, match="no regressor worker"):
        choose_workers([])
    with pytest.raises(EdgefaceError):
        run(0, 10.0)


def test_worker_candidates_stay_within_the_usable_cores():
    assert worker_candidates((), 2) == (1, 2) and worker_candidates((), 8) == (1, 2, 3, 4)
    assert worker_candidates((), 1) == (1,) and worker_candidates((4, 1, 2, 2), 2) == (1, 2)
    assert worker_candidates((3,), 2) == ()


def test_options_are_checked_at_creation():
    with pytest.raises(OptionsError):
        TuneOptions(frames=1)
    with pytest.raises(OptionsError):
        TuneOptions(threads=(0,))
    with pytest.raises(OptionsError, match="--workers"):
        TuneOptions(workers=(0,))
    with pytest.raises(OptionsError, match="int8"):
        TuneOptions(precisions=("fp64",))


def test_every_shipped_profile_round_trips_through_the_local_profile_writer():
    for name, prof in P.load_targets().items():
        text = P.profile_toml(prof, {"board": "b", "cores": 4}, ["a comment"])
        back = P.parse_profile(package_data.parse_file(text, name))
        assert dataclasses.replace(back, tuned=()) == prof, name
        assert back.tune_info == {"board": "b", "cores": 4}


def _this_machine_key() -> dict:
    return P.machine_key(*read_machine())


def test_auto_prefers_the_local_profile_only_on_the_machine_it_was_tuned_on(tmp_path):
    base = P.resolve_target("auto", root=tmp_path).profile
    assert base.name != P.LOCAL  # no local profile yet
    local = dataclasses.replace(base, name=P.LOCAL, detect_interval=base.detect_interval + 7, regressor_threads=1)
    P.write_local_profile(local, {**_this_machine_key(), "based_on": base.name, "date": "2026-12-06"}, root=tmp_path)
    choice = P.resolve_target("auto", root=tmp_path)
    assert choice.profile.name == P.LOCAL and choice.profile.detect_interval == base.detect_interval + 7
    assert "edgeface tune" in choice.reason and f"based on {base.name}" in choice.reason
    assert P.resolve_target("local", root=tmp_path).profile.name == P.LOCAL
    # copied to another kind of machine: ignored, and the reason says why
    other = {**_this_machine_key(), "cores": 99}
    P.write_local_profile(local, {**other, "based_on": base.name}, root=tmp_path)
    choice = P.resolve_target("auto", root=tmp_path)
    assert choice.profile.name == base.name and "local profile ignored" in choice.reason and "cores" in choice.reason


def test_damaged_or_missing_local_profile_is_one_line(tmp_path):
    with pytest.raises(EdgefaceError, match="no local profile .* run `edgeface tune`"):
        P.resolve_target("local", root=tmp_path)
    p = paths.local_profile_path(tmp_path)
    p.parent.mkdir(parents=True)
    p.write_text("name = 'local'\n[runtime]\nthreads = 'many'\n")
    with pytest.raises(EdgefaceError) as e:
        P.resolve_target("auto", root=tmp_path)
    assert "damaged" in str(e.value) and "edgeface tune" in str(e.value) and "\n" not in str(e.value)


@pytest.fixture
def tune_home(tmp_path, converted_home, samples) -> Path:
    """A cache of its own (the profile goes there) that reads the session's converted models and samples."""
    home = tmp_path / "home"
    home.mkdir()
    for sub in ("tflite", "files", "assets"):
        (home / sub).symlink_to(converted_home / sub)
    return home


def run_cli(args, home: Path, cores=None) -> subprocess.CompletedProcess:
    """`edgeface ARGS` (the installed edgeface); `cores`: the CPU affinity it starts with."""
    env = dict(os.environ, EDGEFACE_HOME=str(home), COLUMNS="250", NO_COLOR="1")
    pin = None if cores is None else (lambda: os.sched_setaffinity(0, cores))
    return subprocess.run([sys.executable, "-m", "edgeface", *args], capture_output=True, text=True, env=env, timeout=600,
                          preexec_fn=pin)


def test_the_worker_clip_is_four_tracked_faces_on_the_scaling_grid(converted_home):
    """The worker step's clip: 4 faces of the sample photos on `bench scaling`'s grid, each tracked in VIDEO mode."""
    clip = multi_face_clip(12, "int8", "int8", "x86_64", converted_home)
    assert clip.shape == (12, 480, 640, 3) and clip.dtype == np.uint8
    reg = StageChoice("int8", 1, "")
    opts = pipeline_options(P.get_target("x86_64"), reg, reg, 1, 1, 10, converted_home, workers=2)
    pipe = build_pipeline(opts)
    try:
        assert [len(pipe.process(f).faces) for f in clip_frames(clip)] == [4] * 12
        assert pipe.describe()["regressor_workers"] == 2
    finally:
        pipe.close()


def test_tune_writes_a_profile_that_target_auto_then_uses(tune_home):
    r = run_cli(["tune", "--frames", "8", "--repeats", "2", "--threads", "1,2", "--intervals", "5,10"], tune_home)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    for line in ("detector int8 1 thread(s)", "regressor fp32 2 thread(s)", "interval 5:", "interval 10:", "chose:",
                 "workers: 8 frames of 4 faces", "regressor workers 1:", "regressor workers 2:", "  regressor workers: "):
        assert line in out  # progress: every measurement, and the choice with its alternatives
    prof_path = paths.local_profile_path(tune_home)
    measured = json.loads((prof_path.parent / "local.json").read_text())
    prof = P.read_local_profile(tune_home)
    assert len(measured["stages"]) == 8 and len(measured["pipelines"]) in (2, 4)
    chosen = measured["profile"]
    assert (prof.precision, prof.detector_precision, prof.regressor_threads, prof.detector_threads, prof.detect_interval) == (
        chosen["precision"], chosen["detector_precision"], chosen["regressor_threads"], chosen["detector_threads"],
        chosen["detect_interval"])
    assert prof.detect_interval in (5, 10) and {prof.regressor_threads, prof.detector_threads} <= {1, 2}
    # the choice is the measured optimum of its stage (pure choose_stage over the written measurements)
    stages = [StageTiming(**s) for s in measured["stages"]]
    assert choose_stage(stages, "regressor").precision == prof.precision
    # regressor workers: 1 and 2 measured on the 4-face clip (this machine has 2 usable cores), the choice written
    workers = [WorkerTiming(**w) for w in measured["workers"]]
    assert sorted(w.workers for w in workers) == [1, 2] and all(w.faces == 4 and w.fps > 0 for w in workers)
    assert prof.regressor_workers == chosen["regressor_workers"] == choose_workers(workers)[0]
    assert f"regressor_workers = {prof.regressor_workers}" in prof_path.read_text()
    r = run_cli(["run", "--source", "samples:obama", "--max-frames", "3", "-q"], tune_home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "target local (local profile from `edgeface tune`" in r.stdout + r.stderr
    assert f"async scan every {prof.detect_interval} frames" in r.stdout + r.stderr or prof.scan == "inline"
    # the header names the workers when there are more than one (the pipeline's describe())
    assert (f"regressor workers {prof.regressor_workers}," in r.stdout + r.stderr) == (prof.regressor_workers > 1)


def test_tune_dry_run_writes_nothing(tune_home):
    # on one usable core the worker step is skipped, and says why
    r = run_cli(["tune", "--frames", "4", "--repeats", "1", "--threads", "1", "--intervals", "10", "--precision", "int8",
                 "--dry-run"], tune_home, cores={sorted(os.sched_getaffinity(0))[0]})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "--dry-run: no profile written" in r.stdout and not paths.local_profile_path(tune_home).exists()
    assert "workers: skipped (1 usable core" in r.stdout + r.stderr
    assert "regressor workers: 1 (not measured: 1 usable core" in r.stdout


def test_doctor_says_when_auto_takes_the_local_profile(tmp_path):
    from edgeface.app import doctor

    model, cpuinfo, machine = read_machine()
    base = P.detect_target(model, cpuinfo, machine).profile
    P.write_local_profile(dataclasses.replace(base, name=P.LOCAL), {**_this_machine_key(), "date": "2026-12-06"},
                          root=tmp_path)
    r = doctor.diagnose(root=tmp_path, check_runtime=False)
    assert r.target == base.name and "takes the local profile from `edgeface tune` 2026-12-06" in r.target_reason
