"""INT8 percentile activation ranges (convert/ranges.py) and the INT8 regressor's sensor-noise response."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeface.tools.convert import calibrate, range_spec, ranges
from edgeface.errors import EdgefaceError


@pytest.fixture(scope="module")
def raw_graph(converted_home):
    """The raw-pixel mb05 backbone exactly as `edgeface convert` quantizes it, and calibration crops."""
    from edgeface.tools.convert import onnx_graph

    graph, _head = onnx_graph.split_float_head(onnx_graph.load_checked(converted_home / "onnx" / "mb05.onnx"))
    crops = calibrate.load(calibrate.default_path(converted_home)).regressor
    return onnx_graph.prepend_normalization(graph, [127.5] * 3, [128.0] * 3), crops


def _run(model, crops):
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: c[None].astype(np.float32).transpose(0, 3, 1, 2)})[0] for c in crops])


def _plain_clips(model, rng: dict):
    """The reference: each ReLU replaced by an explicit Clip(0, p) node, nothing folded."""
    import onnx
    from onnx import numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in m.graph.node:
        if n.op_type == "Relu" and n.output[0] in rng:
            lo, hi = n.output[0] + "_lo", n.output[0] + "_hi"
            m.graph.initializer.extend([numpy_helper.from_array(np.array(0.0, np.float32), lo),
                                        numpy_helper.from_array(np.array(rng[n.output[0]], np.float32), hi)])
            n.op_type = "Clip"
            n.input.extend([lo, hi])
    return m


def test_percentile_is_the_rank_of_all_values(raw_graph):
    """The per-crop tails give exactly the q-th largest value of all values."""
    model, crops = raw_graph
    sess, names = ranges.relu_session(model)
    inp = sess.get_inputs()[0].name
    few = crops[:4]
    got = ranges.relu_percentiles(model, few, 99.9)
    outs = [sess.run(names, {inp: c[None].astype(np.float32).transpose(0, 3, 1, 2)}) for c in few]
    for i in list(range(6)) + [len(names) - 2, len(names) - 1]:
        n = names[i]
        allv = np.sort(np.concatenate([o[i].ravel() for o in outs]))[::-1]
        assert got[n] == pytest.approx(float(allv[int(allv.size * 0.001)]), rel=1e-6), n
    top = ranges.relu_percentiles(model, few, 100.0)
    assert all(top[n] >= got[n] > 0 for n in names)


def test_folded_clip_is_the_plain_clip(raw_graph):
    """ReLU6 with the scales folded into the convs computes exactly Conv -> Clip(0, p): at the
    measured 99.9th percentiles (clipping active everywhere) and at huge ranges (the original)."""
    model, crops = raw_graph
    rng = ranges.relu_percentiles(model, crops[:20], 99.9)
    test = crops[200:206]
    ref = _run(_plain_clips(model, rng), test)
    got = _run(ranges.clip_relus(model, rng), test)
    assert np.abs(got - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())
    orig = _run(model, test)
    assert np.abs(orig - ref).max() > 1e-3  # the clipping really changes the function at 99.9
    same = _run(ranges.clip_relus(model, {n: 1e4 for n in rng}), test)
    assert np.abs(same - orig).max() <= 1e-4 * max(1.0, np.abs(orig).max())


@pytest.mark.parametrize("spec", ["percentile:50", "percentile:100", "percentile:x", "median", "percentile"])
def test_bad_ranges_spec_one_line_error(spec):
    with pytest.raises(EdgefaceError, match="minmax.*percentile:Q") as e:
        range_spec.parse_ranges(spec)
    assert "\n" not in str(e.value)


def test_recipe_ranges(tmp_path):
    rec = calibrate.load_recipe()
    assert range_spec.parse_ranges(rec.regressor_ranges) == 99.99
    assert "regressor_ranges" not in rec.to_dict()  # the set's identity is its data, not how it is used
    bad = tmp_path / "bad.toml"
    text = (Path(__file__).resolve().parents[1] / "calibration" / "default.toml").read_text()
    assert 'ranges = "percentile:99.99"' in text
    bad.write_text(text.replace('ranges = "percentile:99.99"', 'ranges = "percentile:42"'))
    with pytest.raises(EdgefaceError, match="percentile:42"):
        calibrate.load_recipe(bad)


def test_int8_noise_response_at_a_fixed_crop(converted_home, samples):
    """On a real photo (not the converter's held-out crops), the face's crop fixed, the default INT8
    regressor's landmarks scatter under sensor noise (sigma 2) more than fp32's but within the model card's
    limit, and its mean landmarks stay within a pixel of fp32's."""
    import cv2

    import edgeface
    from edgeface.hub import assets, store
    from edgeface.hub.cards import get_card
    from edgeface.runtime.networks import LandmarkRegressor
    from edgeface.runtime.tflite_backend import TFLiteModel
    from edgeface.tools.convert.verify import landmarks_in_crop, noise_response

    photo = cv2.imread(str(samples["jianzhuguo"]))
    with edgeface.FaceAligner.create(precision="fp32", cache_root=converted_home, running_mode="image") as al:
        (face,) = al.detect(photo).faces
    stats, bases = assets.load_param_stats(converted_home), assets.load_sparse_bases(converted_home)
    models = {p: TFLiteModel(store.model_path("mb05", p, converted_home)) for p in ("float32", "int8")}
    crop = LandmarkRegressor(models["float32"], stats.mean, stats.std).crop(photo, np.asarray(face.roi, np.float64))
    ratio = noise_response(models["float32"], models["int8"], crop[None], stats.mean, stats.std, bases, copies=50)
    assert 1.0 < ratio <= get_card("mb05").int8["max_noise_ratio"], ratio
    f32, i8 = (landmarks_in_crop(next(iter(models[p].run(crop[None]).values())), stats.mean, stats.std, bases)
               for p in ("float32", "int8"))
    assert np.linalg.norm(i8 - f32, axis=-1).mean() < 1.0


def test_manifest_records_ranges_and_noise(converted_home):
    """The INT8 manifest records the activation ranges and the noise check, within the model card's limits
    (the measured figures are published in the README from the converted manifest, not asserted here)."""
    import json

    from edgeface.hub import store
    from edgeface.hub.cards import get_card

    m = json.loads(store.model_path("mb05", "int8", converted_home).with_suffix(".json").read_text())
    assert m["converter"]["quantization"]["activation_ranges"].startswith("percentile 99.99")
    ver, limits = m["verification"], get_card("mb05").int8
    assert ver["passed"] and any(c.startswith("noise_ratio") for c in ver["checks"])
    assert 1.0 < ver["noise_ratio"] <= limits["max_noise_ratio"]  # INT8 never scatters less than its float original
    assert 0 < ver["landmark_px_mean"] <= ver["landmark_px_max"] <= limits["max_max_landmark_px"]
    assert ver["landmark_px_mean"] <= limits["max_mean_landmark_px"]


def test_convert_bad_ranges_option_one_line(tmp_path):
    """`edgeface convert --ranges` with a bad value: one line naming the problem and the fix, exit 2."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, EDGEFACE_HOME=str(tmp_path / "home"), COLUMNS="200")
    r = subprocess.run([sys.executable, "-m", "edgeface", "convert", "--model", "mb05", "--int8", "--ranges", "percentile:50"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2, r.stderr
    err = (r.stderr + r.stdout).strip()
    assert "percentile:50" in err and "percentile:Q" in err and "Traceback" not in err
    assert not (tmp_path / "home" / "tflite").exists()
