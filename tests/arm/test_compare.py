"""tests/arm/compare.py: the arm64-vs-host comparer accepts what it should and rejects what it should.

Fast (no emulation): records are built with edgeface.results so they follow the JSONL contract.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeface.results import Face, FrameResult, Pose

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared"
STD_PKL = SHARED / "upstream/3ddfa_v2/configs/param_mean_std_62d_120x120.pkl"

_spec = importlib.util.spec_from_file_location("arm_compare", HERE / "compare.py")
compare = importlib.util.module_from_spec(_spec)
sys.modules["arm_compare"] = compare  # dataclasses look their module up there
_spec.loader.exec_module(compare)


def _face(fid: int, x0: float, params: np.ndarray, shift: float = 0.0) -> Face:
    rng = np.random.default_rng(fid)
    lm = np.column_stack([x0 + rng.uniform(0, 200, 68), 50 + rng.uniform(0, 200, 68), rng.uniform(-50, 50, 68)])
    lm = lm + shift
    return Face(id=fid, bbox=np.array([x0, 50.0, x0 + 200.0, 250.0]), score=0.99, landmarks=lm,
                pose=Pose(10.0, -5.0, 2.0), params=params, roi=np.array([x0, 50.0, x0 + 200.0, 250.0]),
                camera=np.zeros((3, 4)))


def _write(path: Path, frames: list[FrameResult]) -> Path:
    path.write_text("".join(json.dumps(fr.to_json()) + "\n" for fr in frames))
    return path


def _params(seed: int = 0) -> np.ndarray:
    std = compare.load_param_std(STD_PKL)
    return np.random.default_rng(seed).normal(size=62) * std


def _frames(n_faces: int = 2, shift: float = 0.0, dparams: np.ndarray | None = None, source: str = "/a/emma.jpg"):
    out = []
    for i in range(3):
        faces = []
        for fid in range(n_faces):
            p = _params(fid) + (dparams if dparams is not None else 0.0)
            faces.append(_face(fid, 100.0 + 300 * fid, p, shift))
        out.append(FrameResult(frame=i, source=source, faces=faces, time_ms={"total": 5.0 + i}))
    return out


def _bounds() -> "compare.Bounds":
    return compare.Bounds(param_std=compare.load_param_std(STD_PKL))


def test_identical_jsonl_passes_even_with_other_source_folder_and_timings(tmp_path):
    host = _write(tmp_path / "host.jsonl", _frames())
    arm = _write(tmp_path / "arm.jsonl", _frames(source="/work/shared/x/emma.jpg"))
    res = compare.compare_files(arm, host, _bounds())
    assert res.ok, res.report()
    assert "3 frame(s) paired, 6 face(s) compared" in res.lines[0]


def test_landmark_shift_beyond_float_bound_fails_but_passes_int8(tmp_path):
    # face size 200 px: float bound 0.2 + 0.011 px, INT8 bound 2 + 0.011 px
    host = _write(tmp_path / "host.jsonl", _frames())
    arm = _write(tmp_path / "arm.jsonl", _frames(shift=0.5))
    assert not compare.compare_files(arm, host, _bounds(), int8=False).ok
    assert compare.compare_files(arm, host, _bounds(), int8=True).ok
    small = _write(tmp_path / "small.jsonl", _frames(shift=0.15))
    assert compare.compare_files(small, host, _bounds(), int8=False).ok


def test_int8_named_file_uses_int8_bounds(tmp_path):
    std = compare.load_param_std(STD_PKL)
    (tmp_path / "h").mkdir()
    (tmp_path / "a").mkdir()
    host = _write(tmp_path / "h" / "emma.int8.jsonl", _frames())
    arm = _write(tmp_path / "a" / "emma.int8.jsonl", _frames(dparams=0.03 * std))  # ~1 LSB everywhere
    res = compare.compare_files(arm, host, _bounds())
    assert "INT8" in res.name and res.ok, res.report()
    arm_far = _write(tmp_path / "a" / "emma.int8.jsonl", _frames(dparams=0.2 * std))
    assert not compare.compare_files(arm_far, host, _bounds()).ok


def test_float_params_beyond_std_bound_fail(tmp_path):
    std = compare.load_param_std(STD_PKL)
    host = _write(tmp_path / "host.jsonl", _frames())
    ok_arm = _write(tmp_path / "ok.jsonl", _frames(dparams=np.where(np.arange(62) == 20, 5e-4 * std, 0.0)))
    bad_arm = _write(tmp_path / "bad.jsonl", _frames(dparams=np.where(np.arange(62) == 20, 5e-3 * std, 0.0)))
    assert compare.compare_files(ok_arm, host, _bounds(), int8=False).ok
    res = compare.compare_files(bad_arm, host, _bounds(), int8=False)
    assert not res.ok and any("param 20" in line for line in res.lines), res.report()


def test_face_count_and_frame_mismatch_fail(tmp_path):
    host = _write(tmp_path / "host.jsonl", _frames(n_faces=2))
    arm = _write(tmp_path / "arm.jsonl", _frames(n_faces=1))
    res = compare.compare_files(arm, host, _bounds())
    assert not res.ok and any("1 face(s) on arm vs 2 on host" in line for line in res.lines)
    short = _write(tmp_path / "short.jsonl", _frames()[:2])
    res = compare.compare_files(short, host, _bounds())
    assert not res.ok and any("frames differ" in line for line in res.lines)


def test_npz_float_relative_and_int8_lsb_bounds(tmp_path):
    rng = np.random.default_rng(0)
    f = rng.normal(size=(1, 100, 4)).astype(np.float32) * 5
    q = rng.integers(-128, 127, size=(62,), dtype=np.int8)
    np.savez(tmp_path / "h.npz", out=f, q=q)
    q1 = q.copy()
    q1[3] = q[3] + 1 if q[3] < 127 else q[3] - 1
    np.savez(tmp_path / "a.npz", out=f * (1 + 5e-4), q=q1)
    assert compare.compare_files(tmp_path / "a.npz", tmp_path / "h.npz", compare.Bounds()).ok
    q2 = q.copy()
    q2[3] = q[3] + 2 if q[3] < 126 else q[3] - 2
    np.savez(tmp_path / "b.npz", out=f, q=q2)
    assert not compare.compare_files(tmp_path / "b.npz", tmp_path / "h.npz", compare.Bounds()).ok
    np.savez(tmp_path / "c.npz", out=f * (1 + 3e-3), q=q)
    assert not compare.compare_files(tmp_path / "c.npz", tmp_path / "h.npz", compare.Bounds()).ok


def test_tree_mode_counts_step_status_and_missing_files(tmp_path, capsys):
    arm, host = tmp_path / "arm", tmp_path / "host"
    for root in (arm, host):
        (root / "run").mkdir(parents=True)
        (root / "run.status").write_text("0\n")
        _write(root / "run" / "emma.jsonl", _frames())
    _write(host / "run" / "extra.jsonl", _frames())
    (arm / "doctor.status").write_text("1\n")
    rc = compare.main(["--arm", str(arm), "--host", str(host), "--param-std", str(STD_PKL)])
    out = capsys.readouterr().out
    # run: guest ok, host ok, emma.jsonl ok, extra.jsonl missing on arm; doctor: guest failed, host missing
    assert rc == 1
    assert out.rstrip().splitlines()[-1] == "3 passed, 3 failed"


def test_param_std_pickle_reader_refuses_code(tmp_path):
    evil = tmp_path / "evil.pkl"

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))
    evil.write_bytes(pickle.dumps({"std": Boom()}))
    with pytest.raises(pickle.UnpicklingError):
        compare.load_param_std(evil)
    std = compare.load_param_std(STD_PKL)
    assert std.shape == (62,) and np.all(std > 0)
