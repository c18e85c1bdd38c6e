"""Verification of converted models against their ONNX original on held-out real data.

Regressor: output error, and the error of the 68 landmarks decoded from the params, in pixels of
the 120x120 crop (the ROI is the crop itself). Detector: raw output error (float) and, for INT8,
recall and IoU of the float model's faces. Thresholds come from the model card's [int8] table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from edgeface.hub.assets import load_param_stats, load_sparse_bases
from edgeface.hub.cards import get_card
from edgeface.hub.manifest import read_manifest
from edgeface.runtime import tdmm
from edgeface.runtime.boxes import iou_matrix
from edgeface.runtime.networks import FaceDetector, _pick_detector_outputs
from edgeface.runtime.onnx_backend import OnnxModel
from edgeface.runtime.tflite_backend import TFLiteModel
from edgeface.tools.convert import calibrate
from edgeface.tools.convert.conversion_inputs import float_detector, reference_detector_onnx
from edgeface.vocab import DEFAULT_DETECTOR_SIZE

FLOAT_TOLERANCE = 1e-4
CROP = np.array([0.0, 0.0, 120.0, 120.0])


def landmarks_in_crop(output62: np.ndarray, mean: np.ndarray, std: np.ndarray, bases) -> np.ndarray:
    params = tdmm.denormalize(output62.reshape(-1), mean, std)
    pts = tdmm.sparse_landmarks(params, bases.u, bases.w_shp, bases.w_exp)
    return tdmm.to_image(pts, CROP, 120)[:2].T  # (68, 2)


def regressor_report(ref_backend, test_backend, crops: np.ndarray, mean, std, bases, float_model: bool) -> dict:
    """Compare two regressor backends on crops (N,120,120,3) uint8."""
    d_out, lm_mean, lm_max, pose_err = [], [], [], []
    for c in crops:
        a = next(iter(ref_backend.run(c).values())).reshape(-1)
        b = next(iter(test_backend.run(c).values())).reshape(-1)
        d_out.append(np.abs(a - b))
        la, lb = landmarks_in_crop(a, mean, std, bases), landmarks_in_crop(b, mean, std, bases)
        e = np.linalg.norm(la - lb, axis=1)
        lm_mean.append(e.mean())
        lm_max.append(e.max())
        pa = np.array(tdmm.pose_from_params(tdmm.denormalize(a, mean, std)))
        pb = np.array(tdmm.pose_from_params(tdmm.denormalize(b, mean, std)))
        pose_err.append(np.abs((pa - pb + 180) % 360 - 180))
    d_out = np.stack(d_out)
    pose_err = np.stack(pose_err)
    rep = {
        "samples": int(len(crops)),
        "output_max_abs_diff": float(d_out.max()),
        "output_mean_abs_diff": float(d_out.mean()),
        "output_max_abs_diff_by_group": {"pose": float(d_out[:, :12].max()), "shape": float(d_out[:, 12:52].max()),
                                          "expression": float(d_out[:, 52:].max())},
        "landmark_px_mean": float(np.mean(lm_mean)),  # mean over crops of the mean 68-point error
        "landmark_px_max": float(np.max(lm_mean)),  # worst crop's mean 68-point error
        "landmark_px_max_point": float(np.max(lm_max)),  # worst single point of any crop
        "pose_deg_mean": float(pose_err.mean()),
        "pose_deg_max": float(pose_err.max()),
        "definition": "errors of the model vs the ONNX float original on held-out crops; landmarks in pixels of the 120x120 crop",
    }
    if float_model:
        rep["tolerance"] = FLOAT_TOLERANCE
    else:
        rep["noise_ratio"] = noise_response(ref_backend, test_backend, crops, mean, std, bases)
        rep["noise_definition"] = ("landmark std under sensor noise (sigma 2, 8 noisy copies of each held-out crop) "
                                   "relative to the ONNX float original's on the same copies")
    return rep


def noise_response(ref_backend, test_backend, crops: np.ndarray, mean, std, bases, sigma: float = 2.0,
                   copies: int = 8, seed: int = 0) -> float:
    """How much more the test model's landmarks scatter under sensor noise than the reference's:
    each crop `copies` times with Gaussian noise (sigma grey levels, seeded, the same copies for
    both), per crop the mean over the 68 landmarks of their position std; ratio of the means."""
    rng = np.random.default_rng(seed)
    spread = {0: [], 1: []}
    for c in crops:
        noisy = np.clip(np.rint(c[None].astype(np.float32) + rng.standard_normal((copies,) + c.shape) * sigma), 0, 255).astype(np.uint8)
        for i, backend in enumerate((ref_backend, test_backend)):
            lm = np.stack([landmarks_in_crop(next(iter(backend.run(x).values())), mean, std, bases) for x in noisy])
            spread[i].append(np.sqrt(lm.var(axis=0).sum(axis=1)).mean())
    return float(np.mean(spread[1]) / max(np.mean(spread[0]), 1e-12))


def detector_report(ref_backend, test_backend, frames: list, float_model: bool, min_iou: float = 0.85) -> dict:
    """Compare two detector backends on real frames (any size; letterboxed like the runtime)."""
    ref, test = FaceDetector(ref_backend), FaceDetector(test_backend)
    max_loc = max_conf = 0.0
    found = matched = extra = 0
    ious = []
    for fr in frames:
        canvas, _lb = ref.letterbox(fr)
        ra = _pick_detector_outputs(ref_backend.run(canvas))
        tb = _pick_detector_outputs(test_backend.run(canvas))
        max_loc = max(max_loc, float(np.abs(ra[0].reshape(-1, 4) - tb[0].reshape(-1, 4)).max()))
        max_conf = max(max_conf, float(np.abs(ra[1].reshape(-1, 2) - tb[1].reshape(-1, 2)).max()))
        da, db = ref(fr), test(fr)
        found += len(da.boxes)
        iou = iou_matrix(da.boxes, db.boxes)
        best = iou.max(axis=1) if iou.size else np.zeros(len(da.boxes))
        ious.extend(best.tolist())
        matched += int((best >= min_iou).sum())
        extra += int((iou.max(axis=0) < 0.5).sum()) if iou.size else len(db.boxes)
    rep = {
        "frames": len(frames),
        "loc_max_abs_diff": max_loc,
        "conf_max_abs_diff": max_conf,
        "faces_float": found,
        "faces_matched": matched,
        "recall": float(matched / found) if found else 1.0,
        "iou_min": float(min(ious)) if ious else 1.0,
        "iou_mean": float(np.mean(ious)) if ious else 1.0,
        "extra_detections": int(extra),
        "match_iou": min_iou,
        "definition": "faces of the ONNX float original (score > 0.5) found again by this model with IoU >= match_iou",
    }
    if float_model:
        rep["tolerance"] = FLOAT_TOLERANCE
    return rep


@dataclass
class Check:
    name: str
    value: float
    limit: float
    ok: bool
    op: str = "<="

    def line(self) -> str:
        return f"{self.name} {self.value:.4g} {self.op} {self.limit:g}: {'ok' if self.ok else 'FAILED'}"


def checks_for(kind: str, variant: str, report: dict, card_int8: dict, size_ratio: Optional[float]) -> list:
    """Acceptance checks: float models within 1e-4 of ONNX; INT8 within the card's thresholds."""
    out = []
    if not variant.startswith("int8"):
        tol = FLOAT_TOLERANCE if variant == "float32" else 5e-2  # float16 weights: report, loose bound
        keys = ["output_max_abs_diff"] if kind == "regressor" else ["loc_max_abs_diff", "conf_max_abs_diff"]
        if kind == "regressor" and variant == "float16":
            return [Check("landmark_px_mean", report["landmark_px_mean"], 0.1, report["landmark_px_mean"] <= 0.1)]
        for k in keys:
            out.append(Check(k, report[k], tol, report[k] <= tol))
        return out
    if kind == "regressor":
        out.append(Check("landmark_px_mean", report["landmark_px_mean"], card_int8["max_mean_landmark_px"],
                         report["landmark_px_mean"] <= card_int8["max_mean_landmark_px"]))
        out.append(Check("landmark_px_max", report["landmark_px_max"], card_int8["max_max_landmark_px"],
                         report["landmark_px_max"] <= card_int8["max_max_landmark_px"]))
        if "max_noise_ratio" in card_int8 and "noise_ratio" in report:
            out.append(Check("noise_ratio", report["noise_ratio"], card_int8["max_noise_ratio"],
                             report["noise_ratio"] <= card_int8["max_noise_ratio"]))
    else:
        out.append(Check("recall", report["recall"], card_int8["min_recall"], report["recall"] >= card_int8["min_recall"], ">="))
        out.append(Check("iou_min", report["iou_min"], card_int8["min_iou"], report["iou_min"] >= card_int8["min_iou"], ">="))
    if size_ratio is not None:
        out.append(Check("size_ratio_vs_float32", size_ratio, card_int8["max_size_ratio"], size_ratio <= card_int8["max_size_ratio"]))
    return out


def model_report(kind: str, variant: str, ref_backend, test_backend, hold: dict, stats, bases, card) -> dict:
    """The verification report of one converted variant against its ONNX original on the held-out
    data `hold` (`calibrate.holdout`): `regressor_report` or `detector_report`."""
    is_float = not variant.startswith("int8")
    if kind == "regressor":
        return regressor_report(ref_backend, test_backend, hold["crops"], stats.mean, stats.std, bases, is_float)
    return detector_report(ref_backend, test_backend, hold["frames"], is_float, card.int8.get("min_iou", 0.85))


def verify_model(model_path, root=None) -> tuple:
    """Re-run the verification of a converted model (its manifest beside it) on the held-out data.

    Returns (report dict, list of Check)."""
    man = read_manifest(Path(model_path))
    pre = man["preprocessing_in_graph"]
    ref = OnnxModel(Path(man["reference_onnx"]["path"]), mean=pre["mean"], std=pre["std"])
    test = TFLiteModel(model_path, manifest=man)
    card = get_card(man["model"])
    if man["kind"] == "detector":
        det_ref = Path(man["reference_onnx"]["path"])
    else:
        det_ref = reference_detector_onnx(DEFAULT_DETECTOR_SIZE, root, lambda m: None)
    hold = calibrate.holdout(calibrate.load_recipe(), float_detector(det_ref), root)
    rep = model_report(man["kind"], man["variant"], ref, test, hold, load_param_stats(root), load_sparse_bases(root), card)
    return rep, checks_for(man["kind"], man["variant"], rep, card.int8, None)
