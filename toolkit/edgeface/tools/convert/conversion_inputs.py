"""What a conversion starts from: the ONNX graphs, the float detector, the calibration set and the held-out data.

Shared by `edgeface convert` (`tflite`), `edgeface calibrate` and `edgeface verify` (`verify`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from edgeface.errors import EdgefaceError
from edgeface.hub import paths
from edgeface.hub.assets import file_path
from edgeface.hub.cards import get_card
from edgeface.runtime.networks import FaceDetector
from edgeface.runtime.onnx_backend import OnnxModel
from edgeface.tools.convert import calibrate, export
from edgeface.tools.convert.onnx_graph import load_checked
from edgeface.tools.convert.options import ConvertOptions, Log
from edgeface.tools.convert.range_spec import parse_ranges
from edgeface.vocab import DETECTOR, REGRESSORS


def model_kind(model: str) -> str:
    """The kind of a model card name: "regressor" or "detector" (one-line error for any other name)."""
    if model in REGRESSORS:
        return "regressor"
    if model == DETECTOR:
        return "detector"
    raise EdgefaceError(f"unknown model '{model}': use mb05, mb1, faceboxes or all")


def export_sources(model: str, opts: ConvertOptions, root: Optional[Path], log: Log) -> tuple:
    """(reference ONNX path, ONNX to convert, normalization (mean, std)) for a model."""
    card = get_card(model)
    norm = (card.network["mean"], card.network["std"])
    w, h = opts.detector_size
    kind = model_kind(model)
    expect = [1, 3, 120, 120] if kind == "regressor" else [1, 3, h, w]
    if opts.onnx is not None:
        m = load_checked(Path(opts.onnx), expect, what=f"{model} ({'x'.join(map(str, expect))} NCHW)")
        if len(m.graph.output) != (1 if kind == "regressor" else 2):
            raise EdgefaceError(f"{opts.onnx} has {len(m.graph.output)} outputs; the {model} needs "
                                f"{'1 (params)' if kind == 'regressor' else '2 (loc, conf)'}")
        return Path(opts.onnx), Path(opts.onnx), norm
    out_dir = paths.onnx_dir(root)
    if kind == "regressor":
        log(f"export {model} -> ONNX")
        r = export.export_regressor(file_path(model, "checkpoint", root), model, out_dir,
                                    detector_checkpoint=file_path("faceboxes", "checkpoint", root), media_root=paths.files_dir(root))
        return r.onnx_path, r.onnx_path, norm
    log(f"export faceboxes {w}x{h} -> ONNX (standard and INT8-friendly graphs)")
    ckpt = file_path("faceboxes", "checkpoint", root)
    std = export.export_detector(ckpt, out_dir, width=w, height=h, int8_friendly=False, media_root=paths.files_dir(root))
    friendly = export.export_detector(ckpt, out_dir, width=w, height=h, int8_friendly=True, media_root=paths.files_dir(root))
    # One conversion serves every variant: the INT8-friendly graph has the same maths (checked at
    # export to 1e-4) and is what XNNPACK runs fastest in INT8; float variants are verified
    # against the standard ONNX original.
    return std.onnx_path, friendly.onnx_path, norm


def float_detector(ref_onnx: Path) -> FaceDetector:
    """The float FaceBoxes on onnxruntime: finds the faces of the calibration and held-out data."""
    return FaceDetector(OnnxModel(ref_onnx))


def reference_detector_onnx(detector_size: tuple, root: Optional[Path], log: Log) -> Path:
    """The standard FaceBoxes ONNX at `detector_size` (exported if not cached)."""
    return export_sources(DETECTOR, ConvertOptions(detector_size=detector_size), root, log)[0]


def calibration_set(opts: ConvertOptions, root: Path, det_onnx: Path, log: Log) -> tuple:
    """(CalibrationSet, path): the given set, the cached default one, or a freshly built default one."""
    if opts.calibration is not None:
        cal = calibrate.load(Path(opts.calibration))
        return cal, Path(opts.calibration)
    path = calibrate.default_path(root, opts.detector_size)
    recipe = calibrate.load_recipe()
    if path.is_file():
        cal = calibrate.load(path)
        same_recipe = cal.meta.get("recipe") == json.loads(json.dumps(recipe.to_dict()))  # as stored (tuples -> lists)
        if same_recipe and cal.meta.get("crop_resize") == calibrate.CROP_RESIZE:
            return cal, path
        log("calibration set: " + ("the default recipe changed" if not same_recipe else "the runtime's crop resize changed")
            + " since it was built; rebuilding it")
    else:
        log("calibration set: building the default recipe (calibration/default.toml)")
    cal = calibrate.build(recipe, float_detector(det_onnx), root)
    calibrate.save(cal, path)
    return cal, path


def check_calibration_size(cal, cal_path: Path, detector_size: tuple) -> None:
    """A detector calibration set must hold frames of the detector's input size."""
    w, h = detector_size
    if list(cal.detector.shape[1:3]) != [h, w]:
        raise EdgefaceError(f"calibration set {cal_path} holds {cal.detector.shape[2]}x{cal.detector.shape[1]} frames, "
                            f"the detector input is {w}x{h}; rebuild it with `edgeface calibrate --detector-size {w}x{h}`")


def holdout_data(detector_size: tuple, det_onnx: Path, root: Path, cache: Optional[dict] = None) -> dict:
    """The held-out verification data (never used for calibration; `calibrate.holdout`), kept in
    `cache` by detector size when one is given."""
    key = ("holdout", detector_size)
    if cache is not None and key in cache:
        return cache[key]
    hold = calibrate.holdout(calibrate.load_recipe(), float_detector(det_onnx), root)
    if cache is not None:
        cache[key] = hold
    return hold


def regressor_percentile(opts: ConvertOptions, kind: str) -> Optional[float]:
    """The percentile the INT8 regressor's ReLUs are clipped at (None: min-max; see `ranges`):
    from --ranges, else from the default calibration recipe's `[regressor] ranges`."""
    if kind != "regressor" or not opts.int8:
        return None
    spec = opts.regressor_ranges if opts.regressor_ranges is not None else calibrate.load_recipe().regressor_ranges
    return parse_ranges(spec)
