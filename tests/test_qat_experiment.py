"""The quantization-aware fine-tuning experiment (benchmarks/qat_*.py, benchmarks/qat-x86_64.md): its
torch model of the ONNX graph, its fake quantization against the real INT8 TFLite model, the
range equalization, and that fine-tuning lowers the quantized student's error where it trains."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def parts(converted_home):
    import onnx

    from edgeface.tools.convert import calibrate
    from edgeface.hub import assets

    model = onnx.load(str(converted_home / "onnx" / "mb05.onnx"))
    crops = calibrate.load(calibrate.default_path(converted_home)).regressor
    return model, crops, assets.load_param_stats(converted_home), assets.load_sparse_bases(converted_home)


def _tensor(crops):
    import torch

    return torch.from_numpy(np.ascontiguousarray(crops, np.float32).transpose(0, 3, 1, 2).copy())


def _ort(model, crops, raw: bool):
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = crops.astype(np.float32).transpose(0, 3, 1, 2)
    x = x if raw else (x - 127.5) / 128.0
    return np.concatenate([sess.run(None, {sess.get_inputs()[0].name: x[i:i + 1]})[0] for i in range(len(x))])


def test_torch_module_is_the_onnx_graph(parts):
    import torch

    qt = _load("qat_torch")
    model, crops, _s, _b = parts
    net = qt.OnnxNet(model)
    test = crops[::37]
    ref = _ort(model, test, raw=False)
    with torch.no_grad():
        got = net(_tensor(test), raw=True).numpy()
    assert np.abs(got - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())
    with torch.no_grad():  # written back unchanged, the graph computes the same
        again = _ort(net.write_back(model), test, raw=False)
    np.testing.assert_allclose(again, ref, rtol=0, atol=1e-5)


def test_fake_quant_tracks_the_real_int8_model(parts, converted_home):
    """The fake-quantized float graph is closer to the converted INT8 model than either is to float
    (measured: fake 0.25 px, real 0.24 px from float; fake vs real 0.15 px on calibration crops)."""
    import torch

    from edgeface.hub import store
    from edgeface.runtime.tflite_backend import TFLiteModel

    ft = _load("qat_finetune")
    model, crops, stats, bases = parts
    net, quant = ft.quant_setup(model, crops, 99.99)
    lmap = ft.LandmarkMap(stats, bases)
    test = crops[::10]
    int8 = TFLiteModel(store.model_path("mb05", "int8", converted_home), num_threads=1)
    with torch.no_grad():
        x = _tensor(test)
        flt, fake = lmap(net(x, raw=True)), lmap(net(x, quant, raw=True))
        real = lmap(torch.from_numpy(np.stack([int8.run(c)["params"].reshape(-1) for c in test])))
    d = lambda a, b: float((a - b).norm(dim=-1).mean())  # noqa: E731
    assert 0.1 < d(real, flt) < 0.4 and 0.1 < d(fake, flt) < 0.4
    assert d(fake, real) < 0.8 * min(d(real, flt), d(fake, flt)), (d(fake, real), d(real, flt), d(fake, flt))


def test_equalization_keeps_the_float_function(parts):
    from edgeface.tools.convert.onnx_graph import prepend_normalization

    eq = _load("qat_equalize")
    model, crops, _s, _b = parts
    rng = eq.channel_ranges(prepend_normalization(model, [127.5] * 3, [128.0] * 3), crops[:20])
    for power, head in ((1.0, False), (0.5, True)):
        m, scales = eq.equalize(model, rng, 16.0, power, head)
        assert max(float(s.max()) for s in scales.values()) > 4.0  # it really rescales channels
        test = crops[200:204]
        ref = _ort(model, test, raw=False)
        np.testing.assert_allclose(_ort(m, test, raw=False), ref, rtol=0, atol=2e-4 * np.abs(ref).max())


def test_finetune_lowers_the_quantized_error_where_it_trains(parts):
    """40 steps lower the INT8 student's landmark error vs the float teacher on its training crops,
    with the head (the float head every variant shares) untouched."""
    from onnx import numpy_helper

    ft = _load("qat_finetune")
    model, crops, stats, bases = parts
    train = crops[:64]
    opts = ft.FinetuneOptions(steps=40, batch=8, lr=5e-5, noise=2.0)
    tuned, ranges, rec = ft.finetune(model, crops, train, train[:16], 99.99, stats, bases, opts)
    assert rec["heldout_error_px"]["after"] < rec["heldout_error_px"]["before"] * 0.95, rec
    assert len(ranges) == 27 and all(v > 0 for v in ranges.values())
    orig = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    new = {t.name: numpy_helper.to_array(t) for t in tuned.graph.initializer}
    assert np.array_equal(orig["fc_param.weight"], new["fc_param.weight"])
    assert any(not np.array_equal(orig[k], new[k]) for k in orig if k != "fc_param.weight")
