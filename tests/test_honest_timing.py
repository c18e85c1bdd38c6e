"""Honest timing (issue 24): the fps a run prints is frames over the wall time of the whole loop (reading,
models, drawing the mesh, encoding the video, closing it), not the models' time alone."""

from __future__ import annotations

import re
import time

import pytest

from edgeface import FaceAligner
from edgeface.app.run_loop import run
from edgeface.cli.run_status import summary_lines
from edgeface.sinks.group import make_sink
from edgeface.sources.spec import open_source
from edgeface.viz.dense_overlay import DenseOverlay, model_topology


def test_printed_fps_matches_wall_time_with_a_mesh_render(converted_home, samples, tmp_path):
    out = tmp_path / "mesh.mp4"
    with FaceAligner.create(running_mode="video", target="x86_64", precision="int8", dense=True) as aligner, \
            open_source(samples["obama"], max_frames=60) as src:
        tri, ncc = model_topology(aligner.dense_model)
        sink = make_sink(out, fps=src.fps)
        t0 = time.perf_counter()
        summary = run(src, [sink], aligner, render_fn=DenseOverlay(tri, ncc, "mesh"))
        wall = time.perf_counter() - t0
    assert summary.frames == 60 and out.is_file()
    measured = summary.frames / wall
    assert summary.fps / measured == pytest.approx(1.0, abs=0.05)
    printed = float(re.match(r"([\d.]+) fps over", summary_lines(summary)[1]).group(1))
    assert printed / measured == pytest.approx(1.0, abs=0.05)
    # the models are a part of the frame's time, the drawing and the encoding the rest of it: the parts add up
    loop = summary.loop_ms
    assert loop["frame"] == pytest.approx(1000.0 / summary.fps, rel=1e-6)
    assert loop["draw"] > 0 and loop["output"] > 0
    assert loop["wait"] + loop["draw"] + loop["output"] == pytest.approx(loop["frame"], rel=0.05)
    assert summary.mean_ms["total"] < loop["frame"]
