"""`edgeface convert`: ONNX -> TFLite (float32, float16, full INT8) with onnx2tf, verified, with manifests.

Per model the steps are: the ONNX original (exported from the checkpoint, cached; `conversion_inputs`)
-> the normalization moved into the graph (models take raw BGR pixels) -> onnx2tf in a scratch folder
(`onnx2tf_run`: a copy of the ONNX, since onnx2tf rewrites its input; its calibration sample file
pre-seeded so it never downloads one) -> each TFLite variant described (`variant_manifest`) and
verified against the ONNX original on held-out real data (`verify`) -> files and manifests moved
into the cache only if every check passes. Results are cached by a key over the ONNX digest, the
options and the calibration digest (`conversion_cache`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from edgeface.errors import EdgefaceError, VerificationError
from edgeface.hub import paths, store
from edgeface.hub.assets import load_param_stats, load_sparse_bases
from edgeface.hub.atomic import atomic_path, sha256_file
from edgeface.hub.cards import get_card
from edgeface.runtime.onnx_backend import OnnxModel
from edgeface.runtime.tflite_backend import TFLiteModel
from edgeface.tools.convert import calibrate, verify
from edgeface.tools.convert.conversion_cache import cache_key, cached_variants
from edgeface.tools.convert.conversion_inputs import (calibration_set, check_calibration_size, export_sources, holdout_data,
                                                      model_kind, reference_detector_onnx, regressor_percentile)
from edgeface.tools.convert.job import ConversionJob, ConvertedVariant, ConvertResult
from edgeface.tools.convert.onnx2tf_run import int8_clipped, run_onnx2tf
from edgeface.tools.convert.onnx_graph import load_checked, prepend_normalization, split_float_head
from edgeface.tools.convert.options import ConvertOptions, Log, requested_variants
from edgeface.tools.convert.variant_manifest import variant_manifest
from edgeface.vocab import STILL_DETECTOR_SIZE, detector_name

__all__ = ("ConvertOptions", "ConvertedVariant", "ConvertResult", "convert_model", "convert")


def _plan(model: str, kind: str, opts: ConvertOptions, root: Path, log: Log) -> tuple:
    """(ConversionJob, the standard detector ONNX that finds the faces of the data): sources, calibration, cache key."""
    name = model if kind == "regressor" else detector_name(*opts.detector_size)
    ref_onnx, src_onnx, (mean, std) = export_sources(model, opts, root, log)
    det_ref = ref_onnx if kind == "detector" else reference_detector_onnx(opts.detector_size, root, log)
    cal = cal_path = None
    if opts.int8:
        cal, cal_path = calibration_set(opts, root, det_ref, log)
        if kind == "detector":
            check_calibration_size(cal, cal_path, opts.detector_size)
    percentile = regressor_percentile(opts, kind)
    key = cache_key(sha256_file(src_onnx), sha256_file(ref_onnx), opts, cal.digest if cal else None, kind, percentile)
    job = ConversionJob(model=model, name=name, kind=kind, opts=opts, ref_onnx=ref_onnx, src_onnx=src_onnx, mean=mean,
                        std=std, key=key, percentile=percentile, cal=cal, cal_path=cal_path)
    return job, det_ref


def _raw_graph(job: ConversionJob) -> tuple:
    """(the graph to convert: raw-pixel input, float head cut off if asked; the head or None)."""
    graph = load_checked(job.src_onnx)
    head = None
    if job.kind == "regressor" and job.opts.float_head:
        graph, head = split_float_head(graph)
    return prepend_normalization(graph, job.mean, job.std), head


def _run_converter(job: ConversionJob, raw, work: Path, variants: list, log: Log) -> dict:
    """{variant: .tflite in `work`}: onnx2tf on `raw` (INT8 from the clipped graph when a percentile is set)."""
    import onnx  # lazy: onnx

    raw_path = work / "raw.onnx"
    onnx.save(raw, str(raw_path))
    calib, percentile = job.calib, job.percentile
    log(f"onnx2tf {job.name}: {', '.join(v for v in variants if percentile is None or not v.startswith('int8'))}"
        + (f" (calibration: {len(calib)} samples)" if calib is not None and percentile is None else ""))
    if percentile is None:
        return run_onnx2tf(raw_path, work, calib, job.opts, log)
    # float variants from the exact graph, INT8 ones from the graph with clipped ReLUs
    produced = {k: v for k, v in run_onnx2tf(raw_path, work, None, job.opts, log).items() if not k.startswith("int8")}
    produced.update(int8_clipped(raw, calib, percentile, work, job.opts, log))
    return produced


def _write_head(job: ConversionJob, head: dict, produced: dict) -> None:
    """The float head's weights beside every produced model."""
    for folder in {p.parent for p in produced.values()}:
        with open(folder / job.head_file, "wb") as fh:
            np.savez(fh, W=head["W"], b=head["b"])


def _verified(job: ConversionJob, variants: list, produced: dict, head: Optional[dict], hold: dict, root: Path,
              log: Log) -> list:
    """[(variant, .tflite, Manifest with its verification)]; VerificationError if any check fails."""
    card = get_card(job.model)
    ref = OnnxModel(job.ref_onnx, mean=job.mean, std=job.std)
    stats, bases = load_param_stats(root), load_sparse_bases(root)
    head_bytes = (produced["float32"].parent / job.head_file).stat().st_size if head is not None else 0
    f32_size = produced["float32"].stat().st_size + head_bytes
    holdout_sources = calibrate.load_recipe().holdout_sources
    results, failures = [], []
    for v in variants:
        tfl = produced[v]
        manifest = variant_manifest(job, v, tfl, head, head_bytes)
        log(f"verify {job.name} {v} on held-out data")
        test = TFLiteModel(tfl, manifest=manifest.to_dict())
        rep = verify.model_report(job.kind, v, ref, test, hold, stats, bases, card)
        ratio = ((tfl.stat().st_size + head_bytes) / f32_size) if v.startswith("int8") else None
        checks = verify.checks_for(job.kind, v, rep, card.int8, ratio)
        rep["checks"] = [c.line() for c in checks]
        rep["passed"] = all(c.ok for c in checks)
        rep["holdout"] = {"sources": holdout_sources, "crops": int(len(hold["crops"])), "frames": len(hold["frames"])}
        failures += [f"{job.name} {v}: {c.line()}" for c in checks if not c.ok]
        results.append((v, tfl, replace(manifest, verification=rep)))
    if failures:
        raise VerificationError("verification failed, no model written: " + "; ".join(failures))
    return results


def _publish(job: ConversionJob, results: list, produced: dict, head: Optional[dict], root: Path) -> list:
    """Copy the verified models (and the float head) into the store, each with its manifest."""
    if head is not None:
        with atomic_path(store.model_dir(job.name, root) / job.head_file) as tmp:
            shutil.copyfile(produced["float32"].parent / job.head_file, tmp)
    out = []
    for v, tfl, manifest in results:
        dest = store.model_path(job.name, v, root)
        with atomic_path(dest) as tmp:
            shutil.copyfile(tfl, tmp)
        manifest.write(dest.with_suffix(".json"))
        out.append(ConvertedVariant(v, dest, manifest.to_dict()))
    return out


def convert_model(model: str, opts: ConvertOptions, root: Optional[Path] = None, log: Optional[Log] = None,
                  holdout_cache: Optional[dict] = None) -> ConvertResult:
    """Convert one model (mb05 | mb1 | faceboxes) to the requested TFLite variants."""
    log = log or (lambda s: None)
    root = root or paths.home()
    t0 = time.perf_counter()
    kind = model_kind(model)
    if not opts.dtypes_ok():
        raise EdgefaceError("--input-dtype must be uint8|int8|float32 and --output-dtype float32|int8|uint8")
    job, det_ref = _plan(model, kind, opts, root, log)
    variants = requested_variants(opts)
    if not opts.force:
        hits = cached_variants(job.name, variants, job.key, root)
        if hits is not None:
            return ConvertResult(model, job.name, hits, cached=True, seconds=time.perf_counter() - t0)

    hold = holdout_data(opts.detector_size, det_ref, root, holdout_cache)  # never used for calibration
    raw, head = _raw_graph(job)
    work_root = paths.tflite_dir(root) / ".work"
    work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{job.name}-", dir=work_root))
    keep_work = False
    try:
        try:
            produced = _run_converter(job, raw, work, variants, log)
        except EdgefaceError:
            keep_work = True  # onnx2tf's log stays for the user
            raise
        if head is not None:
            _write_head(job, head, produced)
        missing = [v for v in variants if v not in produced]
        if missing:
            raise EdgefaceError(f"onnx2tf produced no {', '.join(missing)} model for {job.name}")
        results = _verified(job, variants, produced, head, hold, root, log)
        out = _publish(job, results, produced, head, root)
        return ConvertResult(model, job.name, out, cached=False, seconds=time.perf_counter() - t0)
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)


def convert(models: list, opts: ConvertOptions, root: Optional[Path] = None, log: Optional[Log] = None) -> list:
    """Convert models ("all": mb05 and faceboxes), plus the still-image detector if asked; [ConvertResult]."""
    expanded = []
    for m in models or ["all"]:
        expanded += ["mb05", "faceboxes"] if m == "all" else [m]
    holdout_cache: dict = {}
    results = [convert_model(m, opts, root, log, holdout_cache) for m in dict.fromkeys(expanded)]
    if opts.still_detector and "faceboxes" in expanded and tuple(opts.detector_size) != STILL_DETECTOR_SIZE:
        still = replace(opts, detector_size=STILL_DETECTOR_SIZE, calibration=None, still_detector=False)
        results.append(convert_model("faceboxes", still, root, log, holdout_cache))
    return results
