"""`edgeface convert`: ONNX -> TFLite (float32, float16, full INT8) with onnx2tf, verified, with manifests.

Per model the steps are: the ONNX original (exported from the checkpoint, cached) -> the
normalization moved into the graph (models take raw BGR pixels) -> onnx2tf in a scratch folder
(`onnx2tf_run`: a copy of the ONNX, since onnx2tf rewrites its input; its calibration sample file
pre-seeded so it never downloads one) -> each TFLite variant verified against the ONNX original on held-out
real data -> files and manifests moved into the cache only if every check passes.
Results are cached by a key over the ONNX digest, the options and the calibration digest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edgeface import __version__
from edgeface.tools.convert import calibrate
from edgeface.tools.convert.onnx2tf_run import int8_clipped, io_details, run_onnx2tf
from edgeface.hub import paths
from edgeface.hub import store
from edgeface.errors import EdgefaceError, VerificationError
from edgeface.hub.atomic import atomic_path, sha256_file, write_json_atomic
from edgeface.hub.cards import get_card
from edgeface.vocab import DETECTOR, REGRESSORS, Precision, detector_name

Log = Callable[[str], None]


@dataclass
class ConvertOptions:
    int8: bool = False
    fp16: bool = False
    onnx: Optional[Path] = None  # convert this ONNX instead of exporting the checkpoint
    calibration: Optional[Path] = None  # calibration set (.npz from `edgeface calibrate`)
    detector_size: tuple = (640, 480)
    input_dtype: str = "uint8"  # INT8 model input: uint8 (raw pixels, no float work) | int8 | float32
    output_dtype: str = "float32"  # INT8 model output: float32 (dequantized in-graph) | int8 | uint8
    float_head: bool = True  # regressors: keep the final FC layer in float (mixed precision; see onnx_tools.split_float_head)
    still_detector: bool = False  # faceboxes: also convert at runtime.still.STILL_DETECTOR_SIZE (photos; the CLI's default)
    regressor_ranges: Optional[str] = None  # INT8 regressor activation ranges "minmax" | "percentile:Q"; None: the recipe's
    force: bool = False

    def __post_init__(self):
        if self.regressor_ranges is not None:
            from edgeface.tools.convert.ranges import parse_ranges

            parse_ranges(self.regressor_ranges)  # a bad value fails before any work


@dataclass
class ConvertedVariant:
    variant: str
    path: Path
    manifest: dict


@dataclass
class ConvertResult:
    model: str
    name: str
    variants: list = field(default_factory=list)
    cached: bool = False
    seconds: float = 0.0


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"edgeface": __version__}
    for dist in ("onnx2tf", "tensorflow", "onnx", "onnxruntime", "torch", "ai-edge-litert"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def _requested_variants(opts: ConvertOptions) -> list:
    p = [Precision.FP32] + ([Precision.FP16] if opts.fp16 else []) + ([Precision.INT8, Precision.INT8_FLOATIO] if opts.int8 else [])
    return [x.variant for x in p]


# ----------------------------------------------------------------------------- sources

def _kind(model: str) -> str:
    if model in REGRESSORS:
        return "regressor"
    if model == DETECTOR:
        return "detector"
    raise EdgefaceError(f"unknown model '{model}': use mb05, mb1, faceboxes or all")


def _export_sources(model: str, opts: ConvertOptions, root: Path, log: Log) -> tuple:
    """(reference ONNX path, ONNX to convert, normalization (mean, std)) for a model."""
    from edgeface.tools.convert import export
    from edgeface.hub.assets import file_path
    from edgeface.tools.convert.onnx_graph import load_checked

    card = get_card(model)
    norm = (card.network["mean"], card.network["std"])
    w, h = opts.detector_size
    expect = [1, 3, 120, 120] if _kind(model) == "regressor" else [1, 3, h, w]
    if opts.onnx is not None:
        m = load_checked(Path(opts.onnx), expect, what=f"{model} ({'x'.join(map(str, expect))} NCHW)")
        if len(m.graph.output) != (1 if _kind(model) == "regressor" else 2):
            raise EdgefaceError(f"{opts.onnx} has {len(m.graph.output)} outputs; the {model} needs "
                                f"{'1 (params)' if _kind(model) == 'regressor' else '2 (loc, conf)'}")
        return Path(opts.onnx), Path(opts.onnx), norm
    out_dir = paths.onnx_dir(root)
    if _kind(model) == "regressor":
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
    # against the standard ONNX original below.
    return std.onnx_path, friendly.onnx_path, norm


def _float_detector(ref_onnx: Path):
    from edgeface.runtime.networks import FaceDetector
    from edgeface.runtime.onnx_backend import OnnxModel

    return FaceDetector(OnnxModel(ref_onnx))


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
    cal = calibrate.build(recipe, _float_detector(det_onnx), root)
    calibrate.save(cal, path)
    return cal, path


# ----------------------------------------------------------------------------- main entry

def _regressor_percentile(opts: ConvertOptions, kind: str) -> Optional[float]:
    """The percentile the INT8 regressor's ReLUs are clipped at (None: min-max; convert/ranges.py)."""
    from edgeface.tools.convert.ranges import percentile_for

    return percentile_for(opts.regressor_ranges) if kind == "regressor" and opts.int8 else None


def _cache_key(src_sha: str, ref_sha: str, opts: ConvertOptions, cal_digest: Optional[str], kind: str) -> str:
    payload = {"src": src_sha, "ref": ref_sha, "int8": opts.int8, "iqd": opts.input_dtype,
               "float_head": bool(opts.float_head and kind == "regressor"),
               "oqd": opts.output_dtype, "cal": cal_digest, "onnx2tf": _versions()["onnx2tf"], "format": 2}
    if _regressor_percentile(opts, kind) is not None:  # only then: min-max models keep their keys
        payload["percentile"] = _regressor_percentile(opts, kind)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _cached(name: str, variants: list, key: str, root: Path) -> Optional[list]:
    hits = []
    for v in variants:
        p = store.model_path(name, v, root)
        mp = p.with_suffix(".json")
        if not (p.is_file() and mp.is_file()):
            return None
        man = json.loads(mp.read_text())
        if man.get("cache_key") != key or man.get("sha256") != sha256_file(p):
            return None
        hits.append(ConvertedVariant(v, p, man))
    return hits


def convert_model(model: str, opts: ConvertOptions, root: Optional[Path] = None, log: Optional[Log] = None,
                  holdout_cache: Optional[dict] = None) -> ConvertResult:
    """Convert one model (mb05 | mb1 | faceboxes) to the requested TFLite variants."""
    from edgeface.tools.convert import verify
    from edgeface.hub.assets import load_param_stats, load_sparse_bases
    from edgeface.runtime.tflite_backend import TFLiteModel
    from edgeface.runtime.onnx_backend import OnnxModel
    from edgeface.tools.convert.onnx_graph import load_checked, prepend_normalization

    log = log or (lambda s: None)
    root = root or paths.home()
    t0 = time.perf_counter()
    kind = _kind(model)
    card = get_card(model)
    if opts.input_dtype not in ("uint8", "int8", "float32") or opts.output_dtype not in ("float32", "int8", "uint8"):
        raise EdgefaceError("--input-dtype must be uint8|int8|float32 and --output-dtype float32|int8|uint8")
    name = model if kind == "regressor" else detector_name(*opts.detector_size)
    ref_onnx, src_onnx, (mean, std) = _export_sources(model, opts, root, log)
    det_ref = ref_onnx if kind == "detector" else _export_sources("faceboxes", ConvertOptions(detector_size=opts.detector_size), root, log)[0]
    cal = cal_path = None
    if opts.int8:
        cal, cal_path = calibration_set(opts, root, det_ref, log)
        if kind == "detector" and list(cal.detector.shape[1:3]) != [opts.detector_size[1], opts.detector_size[0]]:
            raise EdgefaceError(f"calibration set {cal_path} holds {cal.detector.shape[2]}x{cal.detector.shape[1]} frames, "
                                f"the detector input is {opts.detector_size[0]}x{opts.detector_size[1]}; rebuild it with "
                                f"`edgeface calibrate --detector-size {opts.detector_size[0]}x{opts.detector_size[1]}`")
    variants = _requested_variants(opts)
    percentile = _regressor_percentile(opts, kind)
    key = _cache_key(sha256_file(src_onnx), sha256_file(ref_onnx), opts, cal.digest if cal else None, kind)
    if not opts.force:
        hits = _cached(name, variants, key, root)
        if hits is not None and any(h.manifest.get("float_head") and not (h.path.parent / h.manifest["float_head"]["file"]).is_file() for h in hits):
            hits = None
        if hits is not None:
            return ConvertResult(model, name, hits, cached=True, seconds=time.perf_counter() - t0)

    # held-out verification data (never used for calibration)
    hkey = ("holdout", opts.detector_size)
    if holdout_cache is not None and hkey in holdout_cache:
        hold = holdout_cache[hkey]
    else:
        hold = calibrate.holdout(calibrate.load_recipe(), _float_detector(det_ref), root)
        if holdout_cache is not None:
            holdout_cache[hkey] = hold

    graph = load_checked(src_onnx)
    head = None
    if kind == "regressor" and opts.float_head:
        from edgeface.tools.convert.onnx_graph import split_float_head

        graph, head = split_float_head(graph)
    raw = prepend_normalization(graph, mean, std)
    work_root = paths.tflite_dir(root) / ".work"
    work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work_root))
    keep_work = False
    try:
        import onnx

        raw_path = work / "raw.onnx"
        onnx.save(raw, str(raw_path))
        calib = None if cal is None else (cal.regressor if kind == "regressor" else cal.detector)
        log(f"onnx2tf {name}: {', '.join(v for v in variants if percentile is None or not v.startswith('int8'))}"
            + (f" (calibration: {len(calib)} samples)" if calib is not None and percentile is None else ""))
        try:
            if percentile is None:
                produced = run_onnx2tf(raw_path, work, calib, opts, log)
            else:  # float variants from the exact graph, INT8 ones from the graph with clipped ReLUs
                produced = {k: v for k, v in run_onnx2tf(raw_path, work, None, opts, log).items() if not k.startswith("int8")}
                produced.update(int8_clipped(raw, calib, percentile, work, opts, log))
        except EdgefaceError:
            keep_work = True
            raise
        head_file = f"{name}_head.npz"
        for folder in {p.parent for p in produced.values()} if head is not None else ():  # beside every model
            with open(folder / head_file, "wb") as fh:
                np.savez(fh, W=head["W"], b=head["b"])
        missing = [v for v in variants if v not in produced]
        if missing:
            raise EdgefaceError(f"onnx2tf produced no {', '.join(missing)} model for {name}")

        ref = OnnxModel(ref_onnx, mean=mean, std=std)
        stats, bases = load_param_stats(root), load_sparse_bases(root)
        head_bytes = (produced["float32"].parent / head_file).stat().st_size if head is not None else 0
        f32_size = produced["float32"].stat().st_size + head_bytes
        results, failures = [], []
        for v in variants:
            tfl = produced[v]
            inp, outs = io_details(tfl, kind, "features" if head is not None else "params")
            manifest = {
                "format": "edgeface-manifest/1",
                "model": model, "name": name, "kind": kind, "variant": v,
                "file": f"{name}_{v}.tflite", "sha256": sha256_file(tfl), "size_bytes": tfl.stat().st_size,
                "total_bytes": tfl.stat().st_size + head_bytes,  # with the float head, if any
                "cache_key": key,
                "source_onnx": {"path": str(src_onnx), "sha256": sha256_file(src_onnx)},
                "reference_onnx": {"path": str(ref_onnx), "sha256": sha256_file(ref_onnx)},
                "preprocessing_in_graph": {"mean": list(mean), "std": list(std), "formula": "(pixel - mean) / std, BGR"},
                "converter": {"tool": "onnx2tf", "versions": _versions(),
                              "quantization": None if not v.startswith("int8") else {
                                  "scheme": "full integer post-training quantization, per-channel weights, int8 activations",
                                  "activation_ranges": "min-max" if percentile is None else
                                  f"percentile {percentile:g} (every ReLU clipped at it, convert/ranges.py)",
                                  "input_dtype": inp["dtype"], "output_dtype": outs[0]["dtype"]}},
                "input": inp,
                "outputs": outs,
                "calibration": None if not v.startswith("int8") else {
                    "path": str(cal_path), "digest": cal.digest, "samples": int(len(calib)), "recipe": cal.meta["recipe"]["name"]},
            }
            if head is not None:
                manifest["float_head"] = {
                    "file": head_file, "sha256": sha256_file(tfl.parent / head_file), "op": head["op"],
                    "input": "features", "output": "params", "shape": list(head["W"].shape),
                    "why": "mixed precision: the final FC layer runs in float (numpy); in INT8 its single output scale "
                           "over pose, shape and expression doubled the landmark error (see README, INT8 accuracy)",
                }
            if kind == "detector":
                manifest["detector"] = {"width": opts.detector_size[0], "height": opts.detector_size[1],
                                        "graph": "int8friendly" if src_onnx != ref_onnx else "as given",
                                        "letterbox_pad": [104, 117, 123]}
            log(f"verify {name} {v} on held-out data")
            test = TFLiteModel(tfl, manifest=manifest)
            if kind == "regressor":
                rep = verify.regressor_report(ref, test, hold["crops"], stats.mean, stats.std, bases, not v.startswith("int8"))
            else:
                rep = verify.detector_report(ref, test, hold["frames"], not v.startswith("int8"), card.int8.get("min_iou", 0.85))
            ratio = ((tfl.stat().st_size + head_bytes) / f32_size) if v.startswith("int8") else None
            checks = verify.checks_for(kind, v, rep, card.int8, ratio)
            rep["checks"] = [c.line() for c in checks]
            rep["passed"] = all(c.ok for c in checks)
            rep["holdout"] = {"sources": calibrate.load_recipe().holdout_sources, "crops": int(len(hold["crops"])),
                              "frames": len(hold["frames"])}
            manifest["verification"] = rep
            failures += [f"{name} {v}: {c.line()}" for c in checks if not c.ok]
            results.append((v, tfl, manifest))
        if failures:
            raise VerificationError("verification failed, no model written: " + "; ".join(failures))
        out = []
        if head is not None:
            dest_head = store.model_dir(name, root) / head_file
            with atomic_path(dest_head) as tmp:
                shutil.copyfile(produced["float32"].parent / head_file, tmp)
        for v, tfl, manifest in results:
            dest = store.model_path(name, v, root)
            with atomic_path(dest) as tmp:
                shutil.copyfile(tfl, tmp)
            write_json_atomic(dest.with_suffix(".json"), manifest)
            out.append(ConvertedVariant(v, dest, manifest))
        return ConvertResult(model, name, out, cached=False, seconds=time.perf_counter() - t0)
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)


def convert(models: list, opts: ConvertOptions, root: Optional[Path] = None, log: Optional[Log] = None) -> list:
    expanded = []
    for m in models or ["all"]:
        expanded += ["mb05", "faceboxes"] if m == "all" else [m]
    holdout_cache: dict = {}
    results = [convert_model(m, opts, root, log, holdout_cache) for m in dict.fromkeys(expanded)]
    from edgeface.vocab import STILL_DETECTOR_SIZE

    if opts.still_detector and "faceboxes" in expanded and tuple(opts.detector_size) != STILL_DETECTOR_SIZE:
        still = replace(opts, detector_size=STILL_DETECTOR_SIZE, calibration=None, still_detector=False)
        results.append(convert_model("faceboxes", still, root, log, holdout_cache))
    return results
