"""Finding and loading the pipeline's models: converted TFLite files from the cache (or the ONNX
reference), the 3DMM assets, and `build_pipeline(options)` that wires them into a `Pipeline`.

Every file is looked up by name and precision in the model sources (`hub.locate`: a bundle, the cache,
the installed models package); nothing missing is guessed at: a missing model is one `MissingAssetError`
line naming what is installed and what would provide it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

from edgeface.errors import MissingAssetError
from edgeface.hub import assets, first_use, locate, paths
from edgeface.runtime.detection import DetectorConfig
from edgeface.runtime.networks import FaceDetector, LandmarkRegressor
from edgeface.runtime.onnx_backend import OnnxModel  # light: onnxruntime is imported when a model opens
from edgeface.runtime.options import PipelineOptions
from edgeface.runtime.pipeline import Pipeline
from edgeface.runtime.scanner import AsyncScanner
from edgeface.runtime.regressor_pool import RegressorPool
from edgeface.runtime.still import StillAligner
from edgeface.runtime.tflite_backend import TFLiteModel  # light: the TFLite runtime is imported when a model opens
from edgeface.vocab import Precision, detector_name, parse_detector_name


def detector_config(options: PipelineOptions) -> DetectorConfig:
    # crops come from unclipped boxes (upstream); the pipeline clips only the reported box
    return DetectorConfig(width=options.detector_size[0], height=options.detector_size[1],
                          score_threshold=float(options.score_threshold), clip_to_frame=False,
                          exact_resize=bool(options.bitexact))


def converted_detector_sizes(precision, root: Optional[Path] = None) -> list:
    """Detector input sizes (width, height) converted to TFLite at `precision` in any model source
    (bundle or cache, then the installed models package: `hub.locate`)."""
    try:
        precision = Precision.parse(precision)
    except ValueError:
        return []
    sizes = set()
    for source in locate.model_sources(root):
        d = paths.tflite_dir(source.root)
        if not d.is_dir():
            continue
        for sub in d.iterdir():
            size = parse_detector_name(sub.name)
            if size is not None and source.has_model(sub.name, precision.variant):
                sizes.add(size)
    return sorted(sizes)


def _model_file(name: str, model: str, options: PipelineOptions, precision: Precision, size: Optional[tuple],
                alternative: str) -> Path:
    found = locate.find_model(name, precision.variant, options.root)
    if found is None:
        raise MissingAssetError(locate.missing_model_message(name, model, precision, size, options.root, alternative))
    return found.path


def find_detector(options: PipelineOptions) -> tuple:
    """(path, (w, h), note): the converted detector, falling back on another size if allowed."""
    w, h = options.detector_size
    prec = options.detector_precision_used
    try:
        return _model_file(detector_name(w, h), "faceboxes", options, prec, (w, h),
                           "pick a converted size with --detector-size"), (w, h), ""
    except MissingAssetError:
        others = converted_detector_sizes(prec, options.root) if options.detector_fallback else []
        if not others:
            raise
        # the closest size (by pixel count) to the one asked for
        ow, oh = min(others, key=lambda s: abs(s[0] * s[1] - w * h))
        note = f"{detector_name(w, h)} is not converted at {prec}; using {detector_name(ow, oh)}"
        return locate.find_model(detector_name(ow, oh), prec.variant, options.root).path, (ow, oh), note


def find_regressor(options: PipelineOptions) -> Path:
    return _model_file(options.regressor, options.regressor, options, options.precision, None, "choose another --precision")


def _onnx_path(name: str, root: Optional[Path], hint: str) -> Path:
    p = paths.onnx_dir(root) / f"{name}.onnx"
    if not p.is_file() or not p.with_suffix(".json").is_file():
        raise MissingAssetError(f"{p.name} is not in {paths.onnx_dir(root)}: run `edgeface export {hint}` "
                                "(needs the convert extra)")
    return p


def load_backends(options: PipelineOptions) -> tuple:
    """(detector backend, regressor backend, info dict) for the options' backend and precision."""
    root = options.root
    info: dict = {}
    if options.backend == "onnx":
        w, h = options.detector_size
        det = OnnxModel(_onnx_path(detector_name(w, h), root, f"--model faceboxes --detector-size {w}x{h}"),
                        num_threads=options.stage_threads("detector"))
        reg = OnnxModel(_onnx_path(options.regressor, root, f"--model {options.regressor}"),
                        num_threads=options.stage_threads("regressor"))
        info["runtime"] = det.runtime_label
        info["detector_model"] = str(det.path)
        info["regressor_model"] = str(reg.path)
        return det, reg, info
    det_path, size, note = find_detector(options)
    reg_path = find_regressor(options)
    det = TFLiteModel(det_path, num_threads=options.stage_threads("detector"), runtime=options.runtime)
    reg = TFLiteModel(reg_path, num_threads=options.stage_threads("regressor"), runtime=options.runtime)
    info["runtime"] = f"{det.runtime.name} {det.runtime.version}"
    info["xnnpack"] = reg.xnnpack
    info["detector_model"] = str(det_path)
    info["regressor_model"] = str(reg_path)
    info["models_from"] = " + ".join(dict.fromkeys(locate.model_origin(p, root) for p in (reg_path, det_path)))
    if note:
        info["note"] = note
    return det, reg, info


def still_detector_loader(options: PipelineOptions, main_detector):
    """The loader `still.StillAligner` calls on the first photo: FaceBoxes at the still-image canvas
    (`options.still.detector_size`, same backend and precision), or the video detector when the policy
    is "letterbox", the sizes agree, or that size is not converted (then `info["still_note"]` says so)."""
    def load(info: dict):
        w, h = options.still.detector_size
        if options.still.detector == "letterbox" or (w, h) == (main_detector.config.width, main_detector.config.height):
            return main_detector
        try:
            if options.backend == "onnx":
                backend = OnnxModel(_onnx_path(detector_name(w, h), options.root,
                                               f"--model faceboxes --detector-size {w}x{h}"), num_threads=options.threads)
            else:
                path = _model_file(detector_name(w, h), "faceboxes", options, options.detector_precision_used, (w, h),
                                   "use --still-detector letterbox")
                backend = TFLiteModel(path, num_threads=options.threads, runtime=options.runtime)
        except MissingAssetError as e:
            info["still_note"] = f"still images use the {detector_name(main_detector.config.width, main_detector.config.height)} detector: {e}"
            return main_detector
        info["still_detector_model"] = str(backend.path)
        return FaceDetector(backend, replace(main_detector.config, width=w, height=h))

    return load


def build_pipeline(options: Optional[PipelineOptions] = None, dense=None) -> Pipeline:
    """A pipeline with models from the cache: TFLite at `options.precision`, or the ONNX reference.
    `dense`: a dense reconstructor or DenseFn (used when `options.dense`)."""
    options = options or PipelineOptions()
    first_use.ensure(("param_stats", "sparse_bases", "mesh") if options.dense else ("param_stats", "sparse_bases"),
                     options.root)
    stats = assets.load_param_stats(options.root)
    bases = assets.load_sparse_bases(options.root)
    det_backend, reg_backend, info = load_backends(options)
    detector = FaceDetector(det_backend, detector_config(options))
    regressor = LandmarkRegressor(reg_backend, stats.mean, stats.std, exact_resize=options.bitexact)
    still = StillAligner(options.still, bases, still_detector_loader(options, detector), exact_resize=options.bitexact)
    scanner = None
    if options.scan == "async" and options.tracking:
        # its own interpreter of the same detector file (interpreters are not shared between threads)
        kw = {} if options.backend == "onnx" else {"runtime": options.runtime}
        scan_backend = type(det_backend)(det_backend.path, num_threads=options.stage_threads("scan"), **kw)
        scanner = AsyncScanner(FaceDetector(scan_backend, detector_config(options)))
    pool = None
    if int(options.regressor_workers) > 1:
        # one more interpreter of the same regressor file per extra worker (interpreters are not shared between threads)
        kw = {} if options.backend == "onnx" else {"runtime": options.runtime}
        pool = RegressorPool([LandmarkRegressor(type(reg_backend)(reg_backend.path, num_threads=options.stage_threads("regressor"), **kw),
                                                stats.mean, stats.std, exact_resize=options.bitexact)
                              for _ in range(int(options.regressor_workers) - 1)])
    return Pipeline(detector, regressor, bases, options, dense=dense, info=info, still=still, scanner=scanner, pool=pool)
