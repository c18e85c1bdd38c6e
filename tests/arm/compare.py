"""Compare what edgeface produced inside the emulated arm64 guest with the same run on the host.

Two ways to call it (the host output is the reference, the arm64 output is checked against it):

    compare.py --arm OUT/arm --host OUT/host [--shared DIR] [--edgeface-home DIR]   # tree mode (run.sh)
    compare.py ARM_FILE HOST_FILE [--int8]                       # two .npz or two .jsonl files

Tree mode counts, for every step, "the guest side exited 0" and "the host side exited 0" (the
`<step>.status` files run.sh writes), then compares every `*.npz` and `*.jsonl` found under
`<step>/` on either side, pairing files by relative path (a file present on one side only fails).
A `.jsonl` whose name contains `int8` (e.g. `emma.int8.jsonl`) is compared with the INT8 bounds.
It prints one line per check and closes with exactly `N passed, N failed`; exit status 1 when
anything failed or nothing was compared, 2 on bad usage.

Bounds (defaults; all can be changed by options):
  .npz   float arrays: max|arm - host| <= 1e-3 * max|host| (relative to the array's scale), or 1
         LSB for the dequantized output of an INT8 graph (its step stored as "<key>:lsb");
         integer arrays (INT8/UINT8 tensors): max|arm - host| <= 1 LSB; shapes and dtypes equal.
  .jsonl (edgeface JSONL contract, toolkit/edgeface/results.py), frames paired by
         (basename of "source", "frame"); per frame the same number of faces; faces paired by
         bbox IoU (greedy, best first), each pair must have IoU >= 0.95 and the same id;
         float: bbox and landmarks within 1e-3 x face size (max bbox side of the host face)
                + 0.011 px for the 2-decimal rounding, score within 1e-3, pose within 0.01 deg,
                params within 1e-3 x param std (3DDFA_V2 normalized units) + their 6-digit rounding;
         INT8:  params within k LSB of the INT8 regressor (--int8-lsb, default 1), per param:
                k * sum_j scale_j * |W_ij| std units, where scale is the quantization scale of the
                int8 feature tensor the float head reads (the tensor DEQUANTIZE'd at the end of the
                TFLite graph) and W the float head (mb05_head.npz; identity without a head): a
                change of at most k LSB in every feature moves normalized param i by at most that;
                plus the float bound (1e-3 std) for the float part after the int8 graph.
                The model is $EDGEFACE_HOME/tflite/mb05/mb05_int8.tflite (--edgeface-home) or
                --int8-regressor; without one, a flat --int8-param-tol std units (default 0.05).
                bbox and landmarks within 1e-2 x face size, score within 1/128, pose within 1 deg.
  The param std comes from --param-std (.npy, .npz/.pkl with key "std", or .json) or, by default,
  3ddfa_v2/configs/param_mean_std_62d_120x120.pkl in the shared upstream mirror (read with a
  restricted unpickler that only accepts numpy arrays). Without it params are compared with a
  relative bound of 1e-3 (float) or 5e-2 (INT8) of max(|arm|, |host|).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

LSB_SUFFIX = ":lsb"  # steps/models_check.py: the quantization step of a dequantized INT8 output

JSONL_ROUND_PX = 0.011  # landmarks/bbox are written with 2 decimals: two roundings differ by <= 0.01
PARAM_STD_REL = Path("upstream/3ddfa_v2/configs/param_mean_std_62d_120x120.pkl")
DEFAULT_INT8_REGRESSOR = Path("tflite/mb05/mb05_int8.tflite")  # what step "run" uses (--regressor mb05)


@dataclass
class Bounds:
    float_rtol: float = 1e-3  # npz float arrays, relative to max|host|
    lsb: int = 1  # npz integer arrays
    px_rtol: float = 1e-3  # JSONL bbox/landmarks, relative to face size (float models)
    score_atol: float = 1e-3
    pose_atol_deg: float = 1e-2
    param_tol_std: float = 1e-3  # |d param| / std (float models)
    int8_px_rtol: float = 1e-2
    int8_score_atol: float = 1.0 / 128.0
    int8_pose_atol_deg: float = 1.0
    int8_param_tol_std: float = 5e-2  # flat fallback when no INT8 regressor is given
    int8_param_tol: Optional[np.ndarray] = None  # (62,) std units, derived from the model (Int8ParamBound)
    min_iou: float = 0.95  # bbox IoU of paired faces
    param_round_rel: float = 1e-6  # params are written with 6 significant digits (two roundings)
    param_std: Optional[np.ndarray] = None


@dataclass
class Result:
    name: str
    ok: bool
    lines: list[str] = field(default_factory=list)
    skipped: bool = False  # a step that declared itself not applicable (neither passed nor failed)

    def report(self) -> str:
        head = f"{'SKIP' if self.skipped else 'PASS' if self.ok else 'FAIL'} {self.name}"
        return "\n".join([head] + [f"    {line}" for line in self.lines])


# ------------------------------------------------------------------ param std (safe pickle)
class _NumpyOnlyUnpickler(pickle.Unpickler):
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            if module.startswith("numpy._core") and not hasattr(np, "_core"):
                module = "numpy.core.multiarray"
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a param std pickle")


def load_param_std(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        std = np.load(path, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            std = z["std"]
    elif suffix == ".json":
        data = json.loads(path.read_text())
        std = np.asarray(data["std"] if isinstance(data, dict) else data)
    else:
        data = _NumpyOnlyUnpickler(io.BytesIO(path.read_bytes())).load()
        std = np.asarray(data["std"])
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    if std.size != 62 or not np.all(std > 0):
        raise ValueError(f"{path}: expected 62 positive param std values, got {std.size}")
    return std


# ------------------------------------------------------------------ INT8 param bound from the model
@dataclass
class Int8ParamBound:
    """How far k LSB of the INT8 regressor's last quantized tensor can move each normalized param."""

    tol: np.ndarray  # (62,) std units (= normalized param units)
    k: int
    scales: np.ndarray  # quantization scale of the feature tensor: (1,) per tensor or (n,) per channel
    head: str  # float head file, or "" when the int8 output is the params themselves
    model: str

    def describe(self) -> str:
        s = self.scales
        sc = f"{float(s[0]):.6g}" if s.size == 1 else f"{float(s.min()):.3g}..{float(s.max()):.3g} (per channel)"
        via = f"x row sums of |W| of {self.head}" if self.head else "(no float head)"
        return (f"INT8 param bound from {self.model}: {self.k} LSB x feature scale {sc} {via} = "
                f"{float(self.tol.min()):.3g}..{float(self.tol.max()):.3g} std (median {float(np.median(self.tol)):.3g})")


def int8_param_bound(scales, weight: Optional[np.ndarray], k: int = 1) -> np.ndarray:
    """Per-param bound (std units) on the change of `params = W @ features + b` when every feature
    moves by at most `k` LSB: `k * sum_j scale_j * |W_ij|` (exact worst case: all features off by k
    LSB with the signs of row i). `weight` None: the params are the quantized output itself (k * scale)."""
    if k < 0:
        raise ValueError(f"k must be >= 0 LSB, got {k}")
    s = np.asarray(scales, dtype=np.float64).reshape(-1)
    if s.size == 0 or not np.all(np.isfinite(s)) or not np.all(s > 0):
        raise ValueError(f"quantization scales must be positive, got {s}")
    if weight is None:
        return k * (s if s.size > 1 else np.full(62, float(s[0])))
    w = np.abs(np.asarray(weight, dtype=np.float64))
    if w.ndim != 2 or (s.size > 1 and s.size != w.shape[1]):
        raise ValueError(f"head weight {w.shape} does not fit {s.size} feature scales")
    return k * (w @ np.broadcast_to(s, (w.shape[1],)))


def _tflite_interpreter(model_path: Path):
    for mod in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite"):
        try:
            m = __import__(mod, fromlist=["Interpreter"])
            return m.Interpreter(model_path=str(model_path))
        except ImportError:
            continue
    raise RuntimeError("no TFLite runtime (ai_edge_litert, tflite_runtime or tensorflow) to read the model's quantization")


def feature_scales(model_path: Path, manifest: dict, name: str) -> np.ndarray:
    """Quantization scale(s) of output `name` of an INT8 TFLite model: from the manifest when the
    output is quantized, else (float output dequantized in the graph) from the int8 tensor the
    DEQUANTIZE op producing it reads."""
    outs = {o.get("name"): o for o in manifest.get("outputs", [])}
    if name not in outs:
        raise ValueError(f"{model_path.name}: manifest has no output {name!r} (outputs: {sorted(outs)})")
    out = outs[name]
    q = out.get("quantization") or [0.0, 0]
    if str(out.get("dtype")) in ("int8", "uint8", "int16") and float(q[0]) > 0:
        return np.array([float(q[0])])
    it = _tflite_interpreter(model_path)
    index = int(out["tflite_index"])
    tensors = {d["index"]: d for d in it.get_tensor_details()}
    for op in it._get_ops_details():  # noqa: SLF001 (the public API has no graph view)
        if index in list(op.get("outputs", [])) and op.get("op_name") == "DEQUANTIZE":
            src = tensors[int(list(op["inputs"])[0])]
            qp = src.get("quantization_parameters") or {}
            scales = np.asarray(qp.get("scales", []), dtype=np.float64)
            if scales.size == 0 and src.get("quantization", (0.0, 0))[0]:
                scales = np.array([float(src["quantization"][0])])
            if scales.size and np.all(scales > 0):
                return scales
            raise ValueError(f"{model_path.name}: tensor {src['name']} feeding DEQUANTIZE has no quantization scale")
    raise ValueError(f"{model_path.name}: output {name!r} is float and no DEQUANTIZE op produces it: "
                     "not an INT8 model with a quantized feature tensor")


def load_int8_param_bound(model_path: Path, k: int = 1) -> Int8ParamBound:
    """The per-param INT8 bound of a converted regressor (`<name>_int8.tflite` + its manifest and,
    for mixed precision, its float head .npz)."""
    model_path = Path(model_path)
    mp = model_path.with_suffix(".json")
    manifest = json.loads(mp.read_text())
    head = manifest.get("float_head")
    if head:
        with np.load(model_path.parent / head["file"], allow_pickle=False) as z:
            w = z["W"]
        scales = feature_scales(model_path, manifest, head["input"])
        return Int8ParamBound(int8_param_bound(scales, w, k), k, scales, head["file"], model_path.name)
    outs = manifest.get("outputs", [])
    if len(outs) != 1:
        raise ValueError(f"{model_path.name}: expected one output (the params), got {len(outs)}")
    scales = feature_scales(model_path, manifest, outs[0]["name"])
    return Int8ParamBound(int8_param_bound(scales, None, k), k, scales, "", model_path.name)


# ------------------------------------------------------------------ .npz
def compare_npz(arm_path: Path, host_path: Path, b: Bounds, name: Optional[str] = None) -> Result:
    res = Result(name or arm_path.name, True)
    with np.load(arm_path, allow_pickle=False) as za, np.load(host_path, allow_pickle=False) as zh:
        keys_a, keys_h = set(za.files), set(zh.files)
        if keys_a != keys_h:
            res.ok = False
            res.lines.append(f"arrays differ: arm only {sorted(keys_a - keys_h)}, host only {sorted(keys_h - keys_a)}")
        lsb = {k[:-len(LSB_SUFFIX)]: float(zh[k]) for k in keys_h if k.endswith(LSB_SUFFIX)}
        for key in sorted(keys_a & keys_h):
            a, h = za[key], zh[key]
            if a.shape != h.shape or a.dtype != h.dtype:
                res.ok = False
                res.lines.append(f"{key}: arm {a.shape} {a.dtype} vs host {h.shape} {h.dtype}")
                continue
            if a.size == 0:
                res.lines.append(f"{key}: empty, equal shapes")
                continue
            if np.issubdtype(h.dtype, np.floating):
                if not (np.isfinite(a).all() and np.isfinite(h).all()):
                    same_nonfinite = np.array_equal(np.isfinite(a), np.isfinite(h))
                    if not same_nonfinite:
                        res.ok = False
                        res.lines.append(f"{key}: non-finite values differ")
                        continue
                fa, fh = a.astype(np.float64), h.astype(np.float64)
                fin = np.isfinite(fh)
                diff = float(np.max(np.abs(fa[fin] - fh[fin]))) if fin.any() else 0.0
                scale = float(np.max(np.abs(fh[fin]))) if fin.any() else 0.0
                tol = b.float_rtol * max(scale, 1e-12)
                bound = f"bound {b.float_rtol:g}"
                if key in lsb:  # the dequantized output of an INT8 graph: b.lsb steps of its quantization
                    tol = max(tol, b.lsb * lsb[key] * (1 + 1e-6))
                    bound = f"bound max({b.float_rtol:g} rel, {b.lsb} LSB = {b.lsb * lsb[key]:.3g})"
                ok = diff <= tol
                res.lines.append(
                    f"{key} {list(h.shape)} {h.dtype}: max|d|={diff:.3g}, max|host|={scale:.4g}, "
                    f"rel={diff / max(scale, 1e-12):.3g} ({bound}) {'ok' if ok else 'TOO LARGE'}"
                )
            elif np.issubdtype(h.dtype, np.integer) or h.dtype == np.bool_:
                d = np.abs(a.astype(np.int64) - h.astype(np.int64))
                diff = int(d.max())
                ok = diff <= b.lsb
                res.lines.append(
                    f"{key} {list(h.shape)} {h.dtype}: max|d|={diff} LSB ({int((d > 0).sum())} of {d.size} differ; "
                    f"bound {b.lsb} LSB) {'ok' if ok else 'TOO LARGE'}"
                )
            else:
                ok = bool(np.array_equal(a, h))
                res.lines.append(f"{key} {h.dtype}: {'equal' if ok else 'NOT EQUAL'}")
            res.ok = res.ok and ok
    return res


# ------------------------------------------------------------------ .jsonl (edgeface contract)
def read_jsonl(path: Path) -> dict:
    frames: dict = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key = (os.path.basename(str(rec["source"])), int(rec["frame"]))
                faces = rec["faces"]
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: not an edgeface JSONL record ({e})") from None
            if key in frames:
                raise ValueError(f"{path}:{lineno}: frame {key[1]} of {key[0]} appears twice")
            frames[key] = faces
    return frames


def _face_size(bbox) -> float:
    x1, y1, x2, y2 = (float(v) for v in bbox)
    return max(abs(x2 - x1), abs(y2 - y1), 1.0)


def box_iou(a, b) -> float:
    """IoU of two boxes x1, y1, x2, y2 (0 for empty or degenerate boxes)."""
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = max(0.0, ax2 - ax1) * max(0.0, ay2 - ay1) + max(0.0, bx2 - bx1) * max(0.0, by2 - by1) - inter
    return inter / union if union > 0 else 0.0


def pair_faces(faces_a: list, faces_h: list) -> list:
    """[(arm face, host face, IoU)]: greedy pairing by bbox IoU, best pair first (ties by host then
    arm order); a face that overlaps nothing left is paired with the first one left (IoU 0)."""
    cand = sorted(((box_iou(a["bbox"], h["bbox"]), -j, -i) for i, a in enumerate(faces_a) for j, h in enumerate(faces_h)),
                  reverse=True)
    used_a, used_h, pairs = set(), set(), []
    for iou, nj, ni in cand:
        i, j = -ni, -nj
        if i in used_a or j in used_h:
            continue
        used_a.add(i)
        used_h.add(j)
        pairs.append((faces_a[i], faces_h[j], iou))
    return sorted(pairs, key=lambda p: (p[1].get("id", 0), p[0].get("id", 0)))


@dataclass
class _Worst:
    value: float = 0.0  # worst |d| / bound over the file (<= 1 passes)
    raw: float = 0.0
    where: str = ""

    def update(self, ratio: float, raw: float, where: str) -> None:
        if not self.where or ratio > self.value or (math.isnan(ratio) and not math.isnan(self.value)):
            self.value, self.raw, self.where = ratio, raw, where


def compare_jsonl(arm_path: Path, host_path: Path, b: Bounds, int8: bool, name: Optional[str] = None) -> Result:
    kind = "INT8" if int8 else "float"
    res = Result(f"{name or arm_path.name} ({kind} bounds)", True)
    try:
        fa, fh = read_jsonl(arm_path), read_jsonl(host_path)
    except (OSError, ValueError) as e:
        res.ok = False
        res.lines.append(str(e))
        return res
    px_rtol = b.int8_px_rtol if int8 else b.px_rtol
    score_atol = b.int8_score_atol if int8 else b.score_atol
    pose_atol = b.int8_pose_atol_deg if int8 else b.pose_atol_deg
    # params: per-param tolerance in std units (the model-derived INT8 bound when known)
    if int8 and b.int8_param_tol is not None:
        # int8 backbone (k LSB through the head) + the float part after it (head, decode): float bound
        param_tol = np.asarray(b.int8_param_tol, dtype=np.float64) + b.param_tol_std
        param_txt = (f"k LSB bound + {b.param_tol_std:g} = {param_tol.min():.3g}..{param_tol.max():.3g} std per param")
    else:
        param_tol = b.int8_param_tol_std if int8 else b.param_tol_std
        param_txt = f"{param_tol:g} std"
    problems: list[str] = []
    if set(fa) != set(fh):
        only_a, only_h = sorted(set(fa) - set(fh)), sorted(set(fh) - set(fa))
        problems.append(f"frames differ: arm only {only_a[:5]}{'...' if len(only_a) > 5 else ''}, "
                        f"host only {only_h[:5]}{'...' if len(only_h) > 5 else ''}")
    worst = {k: _Worst() for k in ("iou", "bbox", "landmarks", "score", "pose", "params")}
    n_faces = 0
    for key in sorted(set(fa) & set(fh)):
        where_frame = f"{key[0]} frame {key[1]}"
        faces_a, faces_h = fa[key], fh[key]
        if len(faces_a) != len(faces_h):
            problems.append(f"{where_frame}: {len(faces_a)} face(s) on arm vs {len(faces_h)} on host")
            continue
        for ga, gh, iou in pair_faces(faces_a, faces_h):
            where = f"{where_frame} face {gh.get('id')}"
            n_faces += 1
            worst["iou"].update((1.0 - iou) / max(1.0 - b.min_iou, 1e-12), iou, where)
            if ga.get("id") != gh.get("id"):
                problems.append(f"{where}: face ids differ: host id {gh.get('id')} pairs with arm id {ga.get('id')} "
                                f"(IoU {iou:.3f}; detections in another order)")
            size = _face_size(gh["bbox"])
            px_bound = px_rtol * size + JSONL_ROUND_PX
            for fld in ("bbox", "landmarks"):
                a, h = np.asarray(ga[fld], dtype=np.float64), np.asarray(gh[fld], dtype=np.float64)
                if a.shape != h.shape:
                    problems.append(f"{where}: {fld} shape {a.shape} vs {h.shape}")
                    continue
                d = float(np.max(np.abs(a - h))) if a.size else 0.0
                worst[fld].update(d / px_bound, d, f"{where} (face size {size:.0f} px)")
            d = abs(float(ga["score"]) - float(gh["score"]))
            worst["score"].update(d / (score_atol + 1e-4), d, where)
            pa, ph = ga.get("pose", {}), gh.get("pose", {})
            for ang in ("yaw", "pitch", "roll"):
                if ang in pa and ang in ph:
                    d = abs(float(pa[ang]) - float(ph[ang]))
                    d = min(d, 360.0 - d)
                    worst["pose"].update(d / (pose_atol + 1e-3), d, f"{where} {ang}")
            if ("params" in ga) != ("params" in gh):
                problems.append(f"{where}: params present on one side only")
            elif "params" in gh:
                a, h = np.asarray(ga["params"], dtype=np.float64), np.asarray(gh["params"], dtype=np.float64)
                if a.shape != h.shape:
                    problems.append(f"{where}: params shape {a.shape} vs {h.shape}")
                elif a.size:
                    if b.param_std is not None and a.size == b.param_std.size:
                        dn = np.abs(a - h) / b.param_std
                        tol = param_tol + b.param_round_rel * np.abs(h) / b.param_std
                        r = dn / np.maximum(tol, 1e-12)
                        i = int(np.argmax(r))
                        worst["params"].update(float(r[i]), float(dn[i]), f"{where} param {i}")
                    else:
                        rel = (5e-2 if int8 else 1e-3)
                        denom = np.maximum(np.maximum(np.abs(a), np.abs(h)), 1e-12)
                        dr = np.abs(a - h) / denom
                        i = int(np.argmax(dr))
                        worst["params"].update(float(dr[i]) / rel, float(dr[i]), f"{where} param {i} (relative, no std)")
    res.lines.append(f"{len(set(fa) & set(fh))} frame(s) paired, {n_faces} face(s) compared")
    units = {"iou": "", "bbox": "px", "landmarks": "px", "score": "", "pose": "deg",
             "params": "std" if b.param_std is not None else "rel"}
    bounds_txt = {"iou": f"IoU >= {b.min_iou:g}",
                  "bbox": f"{px_rtol:g} x face size + {JSONL_ROUND_PX} px", "landmarks": f"{px_rtol:g} x face size + {JSONL_ROUND_PX} px",
                  "score": f"{score_atol:.3g}", "pose": f"{pose_atol:g} deg",
                  "params": param_txt if b.param_std is not None else "relative"}
    for k, w in worst.items():
        if not w.where:
            continue
        ok = w.value <= 1.0
        if k == "iou":
            res.lines.append(f"iou: lowest bbox IoU {w.raw:.4f} ({bounds_txt[k]}) at {w.where} {'ok' if ok else 'TOO LOW'}")
        else:
            res.lines.append(f"{k}: worst |d|={w.raw:.3g} {units[k]} = {w.value:.3g} x bound ({bounds_txt[k]}) at {w.where}"
                             f" {'ok' if ok else 'TOO LARGE'}")
        if not ok:
            res.ok = False
    if problems:
        res.ok = False
        res.lines.extend(problems[:20])
        if len(problems) > 20:
            res.lines.append(f"... and {len(problems) - 20} more")
    if n_faces == 0 and not problems and not (fa or fh):
        res.lines.append("both files are empty")
    return res


def compare_files(arm_path: Path, host_path: Path, b: Bounds, int8: Optional[bool] = None, name: Optional[str] = None) -> Result:
    label = name or arm_path.name
    for p in (arm_path, host_path):
        if not p.is_file():
            return Result(label, False, [f"missing: {p}"])
    if host_path.suffix == ".npz":
        return compare_npz(arm_path, host_path, b, label)
    if host_path.suffix == ".jsonl":
        if int8 is None:
            int8 = "int8" in host_path.name.lower()
        return compare_jsonl(arm_path, host_path, b, int8, label)
    return Result(label, False, [f"do not know how to compare {host_path.suffix} files"])


# ------------------------------------------------------------------ tree mode
def _meta_summary(path: Path) -> str:
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError):
        return "unreadable"
    keys = ("machine", "cpu", "qemu_cpu", "features", "runtime", "ai_edge_litert", "numpy", "xnnpack", "target",
            "invoke_ms", "frames", "faces", "mean_total_ms")
    return ", ".join(f"{k}={m[k]}" for k in keys if k in m and m[k] != "")


SKIPPED = "SKIPPED"


def compare_trees(arm_root: Path, host_root: Path, b: Bounds) -> list[Result]:
    results: list[Result] = []
    steps = sorted({p.stem for root in (arm_root, host_root) for p in root.glob("*.status")})
    for step in steps:
        # a step may skip itself by writing SKIPPED (one line: why) into its output folder; both
        # sides must agree, else the two installs differ and that is a failure
        why = {side: (root / step / SKIPPED).read_text().strip() if (root / step / SKIPPED).is_file() else None
               for side, root in (("guest", arm_root), ("host", host_root))}
        if why["guest"] is not None or why["host"] is not None:
            rcs = [(root / f"{step}.status").read_text().strip() if (root / f"{step}.status").is_file() else "missing"
                   for root in (arm_root, host_root)]
            if rcs != ["0", "0"]:
                results.append(Result(f"step {step}: skipped, but exit status guest {rcs[0]}, host {rcs[1]}", False))
            elif why["guest"] is not None and why["host"] is not None:
                results.append(Result(f"step {step}: {why['guest']}", True, skipped=True))
            else:
                side = "guest" if why["guest"] is not None else "host"
                results.append(Result(f"step {step}: skipped on the {side} only ({why[side]})", False))
            continue
        for side, root in (("guest (arm64)", arm_root), ("host", host_root)):
            st = root / f"{step}.status"
            rc = st.read_text().strip() if st.is_file() else "missing"
            results.append(Result(f"step {step}: {side} exit status {rc}", rc == "0",
                                  [] if rc == "0" else [f"log: {root / (step + '.log')}"]))
        files = sorted({p.relative_to(root / step) for root in (arm_root, host_root) if (root / step).is_dir()
                        for p in (root / step).rglob("*") if p.suffix in (".npz", ".jsonl") and p.is_file()})
        for rel in files:
            results.append(compare_files(arm_root / step / rel, host_root / step / rel, b, name=f"{step}/{rel}"))
        for meta in sorted((host_root / step).rglob("*.meta.json")) if (host_root / step).is_dir() else []:
            rel = meta.relative_to(host_root / step)
            print(f"info {step}/{rel}: guest: {_meta_summary(arm_root / step / rel)}")
            print(f"info {step}/{rel}: host:  {_meta_summary(meta)}")
    return results


def _default_param_std(shared: Optional[Path]) -> Optional[Path]:
    candidates = []
    if shared:
        candidates.append(shared / PARAM_STD_REL)
    if os.environ.get("EDGEFACE_SHARED"):
        candidates.append(Path(os.environ["EDGEFACE_SHARED"]) / PARAM_STD_REL)
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / PARAM_STD_REL)
    return next((c for c in candidates if c.is_file()), None)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Compare arm64-guest outputs with host outputs (see module doc).")
    ap.add_argument("files", nargs="*", type=Path, help="ARM_FILE HOST_FILE (two .npz or two .jsonl)")
    ap.add_argument("--arm", type=Path, help="guest output tree (run.sh: OUT/arm)")
    ap.add_argument("--host", type=Path, help="host output tree (run.sh: OUT/host)")
    ap.add_argument("--shared", type=Path, help="shared data folder (for the default param std)")
    ap.add_argument("--int8", action="store_true", help="two-file mode: use the INT8 bounds for .jsonl")
    ap.add_argument("--param-std", type=Path, help="62 param std values (.npy/.npz/.pkl/.json)")
    ap.add_argument("--float-rtol", type=float, default=Bounds.float_rtol)
    ap.add_argument("--lsb", type=int, default=Bounds.lsb)
    ap.add_argument("--px-rtol", type=float, default=Bounds.px_rtol)
    ap.add_argument("--int8-px-rtol", type=float, default=Bounds.int8_px_rtol)
    ap.add_argument("--int8-param-tol", type=float, default=Bounds.int8_param_tol_std,
                    help="flat INT8 param bound in std units, used when no INT8 regressor is given")
    ap.add_argument("--int8-lsb", type=int, default=1, help="k: the INT8 param bound allows k LSB in every feature")
    ap.add_argument("--int8-regressor", type=Path, help="the INT8 regressor the steps ran (<name>_int8.tflite + manifest)")
    ap.add_argument("--edgeface-home", type=Path,
                    help="the EDGEFACE_HOME the steps used: INT8 regressor tflite/mb05/mb05_int8.tflite")
    ap.add_argument("--min-iou", type=float, default=Bounds.min_iou)
    args = ap.parse_args(argv)

    tree = args.arm is not None or args.host is not None
    if tree and (args.arm is None or args.host is None or args.files):
        ap.error("tree mode needs both --arm and --host and no file arguments")
    if not tree and len(args.files) != 2:
        ap.error("give ARM_FILE HOST_FILE, or --arm DIR --host DIR")

    b = Bounds(float_rtol=args.float_rtol, lsb=args.lsb, px_rtol=args.px_rtol, min_iou=args.min_iou,
               int8_px_rtol=args.int8_px_rtol, int8_param_tol_std=args.int8_param_tol)
    reg = args.int8_regressor or (args.edgeface_home / DEFAULT_INT8_REGRESSOR if args.edgeface_home else None)
    if reg is not None:
        try:
            bound = load_int8_param_bound(reg, args.int8_lsb)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            print(f"error: cannot derive the INT8 param bound from {reg}: {e}", file=sys.stderr)
            return 2
        b.int8_param_tol = bound.tol
        print(f"info {bound.describe()}")
    else:
        print(f"info INT8 param bound: flat {b.int8_param_tol_std:g} std (no --edgeface-home / --int8-regressor)")
    std_path = args.param_std or _default_param_std(args.shared)
    if std_path is not None:
        try:
            b.param_std = load_param_std(std_path)
        except (OSError, ValueError, KeyError, pickle.UnpicklingError) as e:
            print(f"error: cannot read the param std from {std_path}: {e}", file=sys.stderr)
            return 2
    if tree:
        results = compare_trees(args.arm, args.host, b)
    else:
        results = [compare_files(args.files[0], args.files[1], b, int8=True if args.int8 else None)]
    for r in results:
        print(r.report())
    skipped = sum(r.skipped for r in results)
    passed = sum(r.ok and not r.skipped for r in results)
    failed = len(results) - passed - skipped
    if not passed + failed:
        print("nothing was compared")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 0 if passed and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
