"""Warm start (issue 24): `FaceAligner.create` runs one Invoke per interpreter, so the first real frame
costs what the tenth does, and a live run at 30 fps drops no frame at its start."""

from __future__ import annotations

import json

import cv2

from edgeface import FaceAligner
from edgeface.app.live_feed import LiveFeed
from edgeface.app.run_loop import run
from edgeface.sinks.jsonl import JsonlSink
from edgeface.sources.capture import LatestFrameCapture
from edgeface.sources.spec import open_source


def test_create_invokes_every_interpreter_once(converted_home, samples):
    with FaceAligner.create(running_mode="video", target="x86_64", precision="int8", scan="async",
                            regressor_workers=2) as aligner:
        p = aligner.pipeline
        backends = p.backends()
        # detector, regressor, the async scanner's detector, the pool's second regressor: four interpreters
        assert len({id(b) for b in backends}) == 4
        assert p.scanner.detector.backend in backends and p.pool.regressors[0].backend in backends
        assert [b.invocations for b in backends] == [1, 1, 1, 1]  # warmed, before any frame
        image = cv2.imread(str(samples["jianzhuguo"]))
        result = aligner.detect_for_video(image, 0.0)
        assert len(result.faces) == 1
        assert p.detector.backend.invocations == 2 and p.regressor.backend.invocations >= 2


def test_image_mode_warms_too(converted_home):
    with FaceAligner.create(running_mode="image", target="x86_64", precision="fp32") as aligner:
        assert [b.invocations for b in aligner.pipeline.backends()] == [1, 1]


def test_live_run_drops_no_frame_at_start(converted_home, samples, tmp_path):
    """A simulated camera at 30 fps (the sample video on a real clock): every one of the first 15 frames
    gets a result (the warm-up happened in create, not on the first frames)."""
    out = tmp_path / "live.jsonl"
    feed = LiveFeed()
    with FaceAligner.create(running_mode="live_stream", result_callback=feed, target="x86_64",
                            precision="int8") as aligner:
        with open_source(f"sim:{samples['obama']}@30", max_frames=15) as camera:
            source = LatestFrameCapture(camera)
            try:
                summary = run(source, [JsonlSink(out)], aligner)
            finally:
                source.close()
    frames = [json.loads(line)["frame"] for line in out.read_text().splitlines()]
    assert frames == list(range(15)), summary.live
    assert summary.live["dropped"] == 0 and summary.live["results"] == 15
