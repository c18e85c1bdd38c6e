"""`--render mesh|depth|pncc` shows the rendered mesh only: the dense vertices are not painted on top
as dots (they were: `draw_result` drew every 4th vertex over the shaded mesh)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeface.sources.images import read_image
from edgeface.viz.overlay import Style, draw_result


@pytest.mark.parametrize("mode", ["mesh", "depth"])
def test_rendered_mesh_has_no_dots(converted_home, samples, mode):
    import edgeface
    from edgeface.viz.dense_overlay import DenseOverlay, model_topology

    image = read_image(samples["trump_hillary"])
    with edgeface.FaceAligner.create(precision="int8", dense=True, cache_root=converted_home) as aligner:
        result = aligner.detect(image)
        tri, ncc = model_topology(aligner.dense_model)
    assert len(result.faces) == 2 and all(f.dense is not None for f in result.faces)
    rendered = DenseOverlay(tri, ncc, mode)(image, result)
    dot = np.array(Style.for_image(image.shape).dense_color, np.uint8)

    def dots(img):
        return int(np.all(img == dot, axis=2).sum())

    fixed = draw_result(rendered, result, hud=False, dense_points=False)
    old = draw_result(rendered, result, hud=False)  # the old behaviour, still what a points overlay wants
    assert dots(fixed) <= dots(rendered)  # nothing painted in the dense colour beyond what the render has
    assert dots(old) > dots(rendered) + 500
    # the rest of the annotation (boxes, landmarks) is still drawn
    assert np.any(fixed != rendered)


def test_run_render_mesh_end_to_end_has_no_dots(converted_home, samples, tmp_path, capsys):
    """`edgeface run --render mesh --save x.png` (the run loop's wiring, not just `draw_result`): the
    saved picture has the shaded mesh and no dense-colour dots; `--render points` has the dots."""
    import cv2
    from inprocess_cli import cli

    counts = {}
    for mode in ("mesh", "points"):
        out = tmp_path / f"{mode}.png"
        code, _, err = cli(capsys, "run", "--source", samples["trump_hillary"], "--precision", "int8", "--render", mode,
                           "--save", out, "--quiet")
        assert code == 0, err
        img = cv2.imread(str(out))
        dot = np.array(Style.for_image(img.shape).dense_color, np.uint8)
        counts[mode] = int(np.all(img == dot, axis=2).sum())
    assert counts["mesh"] < 50 and counts["points"] > 1000, counts


def test_dense_without_a_consumer_is_not_computed(converted_home, samples, tmp_path, capsys):
    """`--dense` with only --json: nothing draws or writes the mesh, so it is not computed (a note says so)."""
    import json

    from inprocess_cli import cli

    jsonl = tmp_path / "out.jsonl"
    code, out, err = cli(capsys, "run", "--source", samples["trump_hillary"], "--precision", "int8", "--dense",
                         "--json", jsonl, "--quiet")
    assert code == 0, err
    assert "no output uses the dense mesh" in err
    rec = json.loads(jsonl.read_text().splitlines()[0])
    assert len(rec["faces"]) == 2 and "dense" not in rec["time_ms"] and all("dense" not in f for f in rec["faces"])
