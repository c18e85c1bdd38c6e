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
    path.write_text("".join(json.dumps(fr.to_dict()) + "\n" for fr in frames))
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


def test_npz_dequantized_int8_output_gets_one_lsb(tmp_path):
    """A float output an INT8 graph dequantizes (its step saved as "<key>:lsb" by steps/models_check.py)
    may differ by 1 LSB between the CPUs (XNNPACK rounds a requantization tie per ISA), not by 2."""
    conf = (np.arange(256, dtype=np.float32) / 256).reshape(1, 128, 2)
    lsb = np.float64(1 / 256)
    np.savez(tmp_path / "h.npz", conf=conf, **{"conf:lsb": lsb})
    one = conf.copy()
    one[0, 5, 1] += 1 / 256
    np.savez(tmp_path / "a.npz", conf=one, **{"conf:lsb": lsb})
    assert compare.compare_files(tmp_path / "a.npz", tmp_path / "h.npz", compare.Bounds()).ok
    two = conf.copy()
    two[0, 5, 1] += 2 / 256
    np.savez(tmp_path / "b.npz", conf=two, **{"conf:lsb": lsb})
    assert not compare.compare_files(tmp_path / "b.npz", tmp_path / "h.npz", compare.Bounds()).ok
    np.savez(tmp_path / "h2.npz", conf=conf)  # without its step it is a float array: 1e-3 relative
    np.savez(tmp_path / "c.npz", conf=one)
    assert not compare.compare_files(tmp_path / "c.npz", tmp_path / "h2.npz", compare.Bounds()).ok


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


# ------------------------------------------------------------------ failure kinds the harness must catch
def test_guest_crash_fails_in_tree_mode(tmp_path, capsys):
    """A guest step that crashed (exit 139, nothing written) fails its status and every file it owed."""
    arm, host = tmp_path / "arm", tmp_path / "host"
    for root in (arm, host):
        (root / "run").mkdir(parents=True)
    (arm / "run.status").write_text("139\n")
    (host / "run.status").write_text("0\n")
    _write(host / "run" / "photos.int8.jsonl", _frames())
    _write(host / "run" / "photos.fp32.jsonl", _frames())
    rc = compare.main(["--arm", str(arm), "--host", str(host), "--param-std", str(STD_PKL)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL step run: guest (arm64) exit status 139" in out
    assert out.count("missing: ") == 2
    assert out.rstrip().splitlines()[-1] == "1 passed, 3 failed"


def test_faces_are_paired_by_box_not_by_list_order(tmp_path):
    host = _write(tmp_path / "host.jsonl", _frames(n_faces=3))
    rev = []
    for fr in _frames(n_faces=3):
        fr.faces[:] = fr.faces[::-1]  # FrameResult is frozen; its list is not
        rev.append(fr)
    arm = _write(tmp_path / "arm.jsonl", rev)
    res = compare.compare_files(arm, host, _bounds(), int8=False)
    assert res.ok, res.report()
    assert any("lowest bbox IoU 1.0000" in line for line in res.lines)


def test_swapped_face_ids_fail(tmp_path):
    """Same boxes, other ids (e.g. detections sorted differently on the board): a failure."""
    host = _write(tmp_path / "host.jsonl", _frames(n_faces=2))
    swapped = []
    for fr in _frames(n_faces=2):
        fr.faces[0].id, fr.faces[1].id = 1, 0
        swapped.append(fr)
    arm = _write(tmp_path / "arm.jsonl", swapped)
    res = compare.compare_files(arm, host, _bounds(), int8=True)
    assert not res.ok
    assert any("face ids differ: host id 0 pairs with arm id 1" in line for line in res.lines), res.report()


def test_box_drift_below_min_iou_fails(tmp_path):
    """A box moved by 6% of its size has IoU ~0.89 < 0.95: fails even with loose pixel bounds."""
    host = _write(tmp_path / "host.jsonl", _frames(n_faces=1))
    moved = []
    for fr in _frames(n_faces=1):
        fr.faces[0].bbox = fr.faces[0].bbox + np.array([12.0, 0.0, 12.0, 0.0])
        moved.append(fr)
    arm = _write(tmp_path / "arm.jsonl", moved)
    loose = compare.Bounds(param_std=compare.load_param_std(STD_PKL), int8_px_rtol=0.5)
    res = compare.compare_files(arm, host, loose, int8=True)
    assert not res.ok and any("TOO LOW" in line and line.startswith("iou:") for line in res.lines), res.report()
    assert compare.box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert compare.box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(1 / 3)
    assert compare.box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0


def test_int8_param_bound_is_the_worst_case_of_k_lsb_features():
    rng = np.random.default_rng(3)
    w = rng.normal(scale=0.05, size=(62, 512))
    s = 0.006
    tol1 = compare.int8_param_bound([s], w, k=1)
    assert tol1.shape == (62,)
    np.testing.assert_allclose(tol1, s * np.abs(w).sum(axis=1))
    np.testing.assert_allclose(compare.int8_param_bound([s], w, k=3), 3 * tol1)
    # any feature change of at most 1 LSB stays within the bound; the sign-aligned one reaches it
    for _ in range(50):
        d = rng.integers(-1, 2, size=512) * s
        assert np.all(np.abs(w @ d) <= tol1 + 1e-12)
    i = 7
    worst = np.sign(w[i]) * s
    assert abs(w[i] @ worst) == pytest.approx(tol1[i])
    # per-channel scales and no head (the params are the quantized output)
    per = rng.uniform(0.001, 0.01, size=512)
    np.testing.assert_allclose(compare.int8_param_bound(per, w, k=1), np.abs(w) @ per)
    np.testing.assert_allclose(compare.int8_param_bound([0.02], None, k=2), np.full(62, 0.04))
    with pytest.raises(ValueError):
        compare.int8_param_bound([0.0], w)
    with pytest.raises(ValueError):
        compare.int8_param_bound(per[:10], w)


def test_model_derived_int8_bound_is_per_param(tmp_path):
    """With the model's per-param bound, a drift the flat 0.05 std bound would let through fails."""
    std = compare.load_param_std(STD_PKL)
    tol = np.linspace(0.002, 0.25, 62)  # std units, like 1 LSB through the mb05 head (1e-5..0.27)
    b = compare.Bounds(param_std=std, int8_param_tol=tol)
    host = _write(tmp_path / "host.int8.jsonl", _frames())
    inside = _write(tmp_path / "in.int8.jsonl", _frames(dparams=0.9 * tol * std))
    res = compare.compare_files(inside, host, b)
    assert res.ok, res.report()
    assert any("k LSB bound" in line for line in res.lines)
    d = np.zeros(62)
    d[0] = 0.02 * std[0]  # ~7 x the bound of param 0 (0.002 + 0.001), under the flat 0.05
    drift = _write(tmp_path / "drift.int8.jsonl", _frames(dparams=d))
    res = compare.compare_files(drift, host, b)
    assert not res.ok and any("param 0" in line and "TOO LARGE" in line for line in res.lines), res.report()
    assert compare.compare_files(drift, host, _bounds()).ok  # the flat fallback would not see it


def test_int8_bound_reads_the_feature_lsb_of_the_converted_model(converted_home):
    """The scale compare.py derives is the LSB of the features the INT8 regressor really outputs."""
    import cv2

    from edgeface.runtime.tflite_backend import TFLiteModel

    model = converted_home / compare.DEFAULT_INT8_REGRESSOR
    bound = compare.load_int8_param_bound(model, k=1)
    assert bound.head == "mb05_head.npz" and bound.scales.size == 1
    s = float(bound.scales[0])
    with np.load(model.parent / bound.head) as z:
        np.testing.assert_allclose(bound.tol, s * np.abs(z["W"].astype(np.float64)).sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(compare.load_int8_param_bound(model, k=2).tol, 2 * bound.tol)
    # run the graph without its float head: features are integer multiples of s (plus the zero point)
    m = TFLiteModel(model)
    m._head = None  # noqa: SLF001 (the backbone's raw output)
    img = cv2.imread(str(SHARED / "upstream/3ddfa_v2/examples/inputs/JianzhuGuo.jpg"))
    crop = cv2.resize(img[80:360, 90:330], (120, 120), interpolation=cv2.INTER_LINEAR)
    feat = next(iter(m.run(crop[None]).values())).astype(np.float64).ravel()
    q = feat / s
    assert feat.size == 512 and np.ptp(feat) > 20 * s
    assert np.max(np.abs(q - np.round(q))) < 1e-3, "features are not on the derived LSB grid"
    assert not np.allclose(feat / (2 * s), np.round(feat / (2 * s)), atol=1e-3)  # and not on a coarser one


def _skip_tree(tmp_path, guest_skips: bool, host_skips: bool, rc: str = "0"):
    arm, host = tmp_path / "arm", tmp_path / "host"
    for root, skips in ((arm, guest_skips), (host, host_skips)):
        (root / "aligner").mkdir(parents=True)
        (root / "aligner.status").write_text(rc + "\n")
        if skips:
            (root / "aligner" / "SKIPPED").write_text("SKIP: edgeface.FaceAligner not available\n")
        else:
            _write(root / "aligner" / "aligner.int8.jsonl", _frames())
        (root / "run").mkdir()
        (root / "run.status").write_text("0\n")
    return arm, host


@pytest.mark.parametrize("guest,host,rc,last,code", [
    (True, True, "0", "2 passed, 0 failed, 1 skipped", 0),  # both skip: SKIP, not a pass
    (True, False, "0", "2 passed, 1 failed", 1),  # one side only: the installs differ
    (True, True, "1", "2 passed, 1 failed", 1),  # a crashed step cannot hide behind SKIPPED
])
def test_skipped_step_is_neither_passed_nor_failed_unless_the_sides_disagree(tmp_path, capsys, guest, host, rc, last, code):
    arm, host_root = _skip_tree(tmp_path, guest, host, rc)
    assert compare.main(["--arm", str(arm), "--host", str(host_root), "--param-std", str(STD_PKL)]) == code
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == last
    if code == 0:
        assert "SKIP step aligner: SKIP: edgeface.FaceAligner not available" in out


def test_only_skipped_steps_do_not_pass(tmp_path, capsys):
    arm, host = tmp_path / "arm", tmp_path / "host"
    for root in (arm, host):
        (root / "aligner").mkdir(parents=True)
        (root / "aligner.status").write_text("0\n")
        (root / "aligner" / "SKIPPED").write_text("SKIP: edgeface.FaceAligner not available\n")
    assert compare.main(["--arm", str(arm), "--host", str(host), "--param-std", str(STD_PKL)]) == 1
    assert "nothing was compared" in capsys.readouterr().out
