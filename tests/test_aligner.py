"""The public API, `edgeface.FaceAligner`, on the converted TFLite models and the sample photos/video.

It must give exactly what `edgeface run` gives (the CLI is a loop over it), keep its running mode,
check its inputs with one-line errors a library user can catch as standard exceptions, and in
LIVE_STREAM mode never block the caller nor queue frames.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time

import numpy as np
import pytest

import edgeface
from edgeface import BaseOptions, FaceAligner, FaceAlignerOptions, Precision, RunningMode
from edgeface.errors import EdgefaceError, MissingAssetError, OptionsError
from edgeface.sources.images import read_image
from edgeface.sources.spec import open_source
from inprocess_cli import cli

COMMON = dict(target="x86_64", threads=2)


def _records(path) -> list:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        r.pop("time_ms")
        assert r.pop("schema") == "edgeface.frame/2"  # the record's tag (edgeface.records), not part of to_dict()
    return rows


def _strip(result) -> dict:
    d = json.loads(json.dumps(result.to_dict()))
    d.pop("time_ms")
    return d


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_image_mode_equals_edgeface_run(converted_home, samples, tmp_path, capsys, precision):
    jsonl = tmp_path / "run.jsonl"
    code, _, err = cli(capsys, "run", "--source", samples["trump_hillary"], "--precision", precision, "--target", "x86_64",
                       "--threads", "2", "--quiet", "--json", jsonl)
    assert code == 0, err
    (expected,) = _records(jsonl)
    image = read_image(samples["trump_hillary"])
    with FaceAligner.create(precision=precision, **COMMON) as aligner:
        result = aligner.detect(image, source=expected["source"])
    assert _strip(result) == expected
    assert len(result.faces) == 2
    for face in result.faces:
        assert face.landmarks.shape == (68, 3) and face.params.shape == (62,)
        assert isinstance(face.pose, edgeface.Pose)


def test_video_mode_equals_edgeface_run(converted_home, samples, tmp_path, capsys):
    jsonl = tmp_path / "obama.jsonl"
    code, _, err = cli(capsys, "run", "--source", samples["obama"], "--precision", "int8", "--target", "x86_64",
                       "--threads", "2", "--quiet", "--json", jsonl)
    assert code == 0, err
    expected = _records(jsonl)
    assert len(expected) == 158
    got = []
    with FaceAligner.create(precision="int8", running_mode="video", **COMMON) as aligner, \
            open_source(samples["obama"]) as src:
        for frame in src:
            got.append(_strip(aligner.detect_for_video(frame.image, frame.timestamp_ms, source=frame.source)))
    assert got == expected


def test_rgb_input_gives_the_bgr_result(converted_home, samples):
    bgr = read_image(samples["jianzhuguo"])
    with FaceAligner.create(precision="int8", **COMMON) as a, FaceAligner.create(precision="int8", color="rgb", **COMMON) as b:
        ra, rb = a.detect(bgr), b.detect(np.ascontiguousarray(bgr[:, :, ::-1]))
    assert len(ra.faces) == 1
    np.testing.assert_array_equal(ra.faces[0].landmarks, rb.faces[0].landmarks)


def test_running_mode_is_fixed_and_inputs_checked(converted_home, samples):
    image = read_image(samples["jianzhuguo"])
    with FaceAligner.create(precision="int8", running_mode=RunningMode.VIDEO, **COMMON) as aligner:
        with pytest.raises(OptionsError, match="needs running_mode=image.*use detect_for_video"):
            aligner.detect(image)
        with pytest.raises(OptionsError, match="needs running_mode=live_stream"):
            aligner.detect_async(image, 0)
        aligner.detect_for_video(image, 40)
        with pytest.raises(OptionsError, match="timestamp 40 ms is not after the previous frame's 40 ms"):
            aligner.detect_for_video(image, 40)
        with pytest.raises(ValueError, match="HxWx3 uint8"):  # an OptionsError is a ValueError
            aligner.detect_for_video(image.astype(np.float32), 80)
        with pytest.raises(OptionsError, match="HxWx3 uint8"):
            aligner.detect_for_video(image[:, :, 0], 120)
        aligner.reset()  # a new video: timestamps start again
        assert len(aligner.detect_for_video(image, 0).faces) == 1
        assert aligner.dropped_frames == 0 and aligner.running_mode is RunningMode.VIDEO
    with pytest.raises(EdgefaceError, match="closed"):
        aligner.detect_for_video(image, 1000)


def test_options_are_validated_at_creation(tmp_path):
    with pytest.raises(OptionsError, match="unknown precision 'int4'"):
        BaseOptions(precision="int4")
    with pytest.raises(OptionsError, match="needs a result_callback"):
        FaceAlignerOptions(running_mode="live_stream")
    with pytest.raises(OptionsError, match="only used in live_stream mode"):
        FaceAlignerOptions(result_callback=print)
    with pytest.raises(OptionsError, match="unknown running mode"):
        FaceAlignerOptions(running_mode="batch")
    with pytest.raises(OptionsError, match="bad size"):
        BaseOptions(detector_size="640")
    with pytest.raises(OptionsError, match="threads must be an integer >= 1"):
        BaseOptions(threads=0)
    with pytest.raises(OptionsError, match="unknown color order"):
        FaceAlignerOptions(color="yuv")
    with pytest.raises(OptionsError, match="score_threshold must be a detector score in"):
        FaceAlignerOptions(score_threshold=1.5)
    with pytest.raises(OptionsError, match="unknown FaceAligner option precison: the options are .*precision"):
        FaceAligner.create(precison="int8")
    assert BaseOptions(precision="float32").precision is Precision.FP32
    opts = FaceAlignerOptions.from_keywords(precision="int8", max_faces=1)  # what create(**kw) does: sorted in two
    assert opts.base_options.precision is Precision.INT8 and opts.max_faces == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.max_faces = 2  # type: ignore[misc]
    # nothing converted in an empty cache: a FileNotFoundError naming the fix
    with pytest.raises(FileNotFoundError, match="edgeface") as e:
        FaceAligner.create(precision="int8", cache_root=tmp_path, **COMMON)
    assert isinstance(e.value, MissingAssetError) and "\n" not in str(e.value)


def test_live_stream_drops_frames_instead_of_queueing(converted_home, samples):
    with open_source(samples["obama"], max_frames=40) as src:
        frames = [f.image for f in src]
    got, lock = [], threading.Lock()
    done = threading.Event()

    def on_result(result, image, timestamp_ms):
        time.sleep(0.005)  # a slow consumer: the worker stays busy while frames keep coming
        with lock:
            got.append((timestamp_ms, len(result.faces), image.shape))
        done.set()

    with FaceAligner.create(precision="int8", running_mode="live_stream", result_callback=on_result, **COMMON) as aligner:
        taken = [aligner.detect_async(img, i * 33.0) for i, img in enumerate(frames)]
        aligner.close()  # waits for the frame in progress
    # never blocked on the pipeline: a frame that comes while the worker is busy is dropped, not queued
    assert sum(taken) == len(got) and aligner.dropped_frames == len(frames) - len(got) > 0
    ts = [g[0] for g in got]
    assert ts == sorted(ts) and all(n == 1 for _, n, _ in got)

    # paced like a camera that the pipeline keeps up with: nothing dropped
    got.clear()
    with FaceAligner.create(precision="int8", running_mode="live_stream", result_callback=on_result, **COMMON) as aligner:
        for i, img in enumerate(frames[:10]):
            done.clear()
            assert aligner.detect_async(img, i * 33.0)
            assert done.wait(10)
            time.sleep(0.002)
        assert aligner.dropped_frames == 0
    assert len(got) == 10


def test_live_stream_reports_a_failing_callback(converted_home, samples):
    def broken(result, image, ts):
        raise RuntimeError("callback bug")

    image = read_image(samples["jianzhuguo"])
    aligner = FaceAligner.create(precision="int8", running_mode="live_stream", result_callback=broken, **COMMON)
    assert aligner.detect_async(image, 0)
    with pytest.raises(RuntimeError, match="callback bug"):
        deadline = time.time() + 10
        while time.time() < deadline:
            aligner.detect_async(image, (time.time() + 1) * 1000)
            time.sleep(0.01)
    aligner.close()


def test_target_auto_applies_the_board_profile(converted_home):
    from edgeface.boards.machine import usable_cores
    from edgeface.boards.profiles import resolve_target

    with FaceAligner.create(precision="int8") as aligner:
        prof = resolve_target("auto").profile
        d = aligner.describe()
        # one usable core (e.g. the suite run under taskset -c 0): the profile's one-core interval
        interval = prof.one_core_interval if usable_cores() == 1 and prof.one_core_interval else prof.detect_interval
        assert d["target"] == prof.name and aligner.pipeline.options.detect_interval == interval
        assert d["running_mode"] == "image" and d["precision"] == "int8"


def test_list_models(converted_home):
    models = {m.name: m for m in edgeface.list_models(converted_home)}
    assert set(models) == {"mb05", "mb1", "faceboxes"}
    assert {Precision.FP32, Precision.INT8} <= set(models["mb05"].precisions)
    assert models["mb05"].fetched and not models["mb1"].fetched and models["mb1"].converted == ()
    assert (640, 480) in models["faceboxes"].detector_sizes and models["faceboxes"].kind == "detector"


def test_one_usable_core_scans_at_the_profile_one_core_interval(converted_home):
    """x86_64: scans every 10 frames with 2+ cores (closer while faces move fast: motion), every 25 and never
    closer when the process may use one core only (taskset): each scan takes that core from the tracking; one
    regressor interpreter on one core, two on two (the profile's regressor_workers, capped at the cores)."""
    import subprocess
    import sys

    code = ("import edgeface; from edgeface.aligner import resolve_options; "
            "o, _ = resolve_options(edgeface.FaceAlignerOptions.from_keywords(target='x86_64', running_mode='video')); "
            "print(o.detect_interval, o.roi_deadband, o.bitexact, o.min_scan_interval, o.regressor_workers)")
    one = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert one.stdout.split() == ["25", "0.02", "False", "25", "1"]
    if len(os.sched_getaffinity(0)) > 1:
        two = subprocess.run(["taskset", "-c", "0,1", sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert two.stdout.split() == ["10", "0.02", "False", "1", "2"]


def test_results_do_not_depend_on_the_visible_core_count(converted_home, samples):
    """The same frames give bit-identical params on 1 and 2 usable cores (the float head's product is
    not split over BLAS threads: runtime/tflite_backend.py)."""
    import subprocess
    import sys

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 usable cores")
    code = ("import hashlib, edgeface; from edgeface.sources.video import open_video; h = hashlib.sha256(); "
            f"v = r'{samples['obama']}'; root = r'{converted_home}'\n"
            "for prec in ('fp32', 'int8'):\n"
            " with edgeface.FaceAligner.create(precision=prec, cache_root=root, running_mode='video', target='x86_64',"
            " detect_interval=5, scan='inline', threads=1) as al, open_video(v, max_frames=30) as src:\n"
            "  for f in src:\n"
            "   for face in al.detect_for_video(f.image, int(f.index) * 40).faces: h.update(face.params.tobytes())\n"
            "print(h.hexdigest())")
    runs = [subprocess.run(["taskset", "-c", cores, sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip() for cores in ("0", "0,1")]
    assert len(runs[0]) == 64 and runs[0] == runs[1]


def test_bitexact_resamples_with_the_exact_kernel(converted_home, samples):
    import cv2

    img = cv2.imread(str(samples["emma"]))
    roi = np.array([1650.0, 250.0, 2110.0, 710.0])
    for bitexact, kernel in ((False, cv2.INTER_LINEAR), (True, cv2.INTER_LINEAR_EXACT)):
        with FaceAligner.create(precision="int8", bitexact=bitexact) as al:
            p = al.pipeline
            assert p.regressor.exact_resize is bitexact and p.detector.config.exact_resize is bitexact
            want = cv2.resize(img[250:710, 1650:2110], (120, 120), interpolation=kernel)
            np.testing.assert_array_equal(p.regressor.crop(img, roi), want)
    with pytest.raises(OptionsError):
        FaceAligner.create(roi_deadband=0.7)
