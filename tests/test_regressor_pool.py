"""The regressor pool (runtime/regressor_pool.py): the faces of a frame regressed on several interpreters
give each face the same bits as the serial path. Real models, a real frame of 16 faces cut from the sample photos."""

from __future__ import annotations

import numpy as np
import pytest

from edgeface.frames import Frame
from edgeface.runtime.loading import build_pipeline
from edgeface.runtime.options import PipelineOptions
from edgeface.runtime.regressor_pool import RegressorPool
from edgeface.runtime.smoothing import SmoothingConfig
from edgeface.tools.bench.scaling.frames import face_sprites, grid_frames


@pytest.fixture(scope="module")
def frames(converted_home) -> np.ndarray:
    return grid_frames(face_sprites(cache_root=str(converted_home)), 16, frames=12)


def _run(home, frames, workers, precision):
    pipe = build_pipeline(PipelineOptions(precision=precision, threads=1, root=home, scan="inline", motion="velocity",
                                          regressor_workers=workers, smoothing=SmoothingConfig(enabled=False)))
    try:
        assert (pipe.pool is not None) == (workers > 1)
        out = [{f.id: (f.landmarks.copy(), f.params.copy(), f.roi.copy()) for f in pipe.process(Frame(i, im, i / 30, "grid")).faces}
               for i, im in enumerate(frames)]
        return out, pipe.counters.regressor_runs, (pipe.pool.batches if pipe.pool else 0)
    finally:
        pipe.close()


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_pool_is_bit_identical_to_serial(converted_home, frames, precision):
    serial, runs1, _ = _run(converted_home, frames, 1, precision)
    pooled, runs2, batches = _run(converted_home, frames, 3, precision)
    assert batches > 0 and runs1 == runs2
    assert len(serial[-1]) >= 12  # most of the 16 faces tracked
    for a, b in zip(serial, pooled):
        assert a.keys() == b.keys()
        for k in a:
            for x, y in zip(a[k], b[k]):
                assert np.array_equal(x, y), (k,)


def test_pool_map_order_errors_and_single_item():
    seen = []

    class Reg:
        def __init__(self, name):
            self.name = name

    pool = RegressorPool([Reg("a"), Reg("b")])
    try:
        assert pool.size == 3
        assert pool.map(lambda x, r: (x * 2, seen.append(r.name)), range(50), Reg("own"))[7][0] == 14
        assert [v for v, _ in pool.map(lambda x, r: (x, None), range(20), Reg("own"))] == list(range(20))
        assert pool.map(lambda x, r: r.name, [1], Reg("own")) == ["own"]  # one item: the caller's thread alone

        def boom(x, r):
            if x == 3:
                raise ValueError("bad face")
            return x

        with pytest.raises(ValueError, match="bad face"):
            pool.map(boom, range(8), Reg("own"))
        assert pool.map(lambda x, r: x, range(4), Reg("own")) == [0, 1, 2, 3]  # usable after an error
    finally:
        pool.close()
