"""The manifest of one converted variant (`hub.manifest.Manifest`), filled from the conversion and the model itself."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Optional

from edgeface import __version__
from edgeface.hub.atomic import sha256_file
from edgeface.hub.manifest import MANIFEST_FORMAT, Manifest
from edgeface.tools.convert.job import ConversionJob
from edgeface.tools.convert.onnx2tf_run import io_details

#: the detector's letterbox padding colour (BGR), recorded in its manifests
LETTERBOX_PAD = [104, 117, 123]

FLOAT_HEAD_WHY = ("mixed precision: the final FC layer runs in float (numpy); in INT8 its single output scale "
                  "over pose, shape and expression doubled the landmark error (see README, INT8 accuracy)")


def converter_versions() -> dict:
    """The versions of edgeface and of the conversion tool chain (None: not installed)."""
    out = {"edgeface": __version__}
    for dist in ("onnx2tf", "tensorflow", "onnx", "onnxruntime", "torch", "ai-edge-litert"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def _quantization(job: ConversionJob, inp: dict, outs: list) -> dict:
    return {"scheme": "full integer post-training quantization, per-channel weights, int8 activations",
            "activation_ranges": "min-max" if job.percentile is None else
            f"percentile {job.percentile:g} (every ReLU clipped at it, convert/ranges.py)",
            "input_dtype": inp["dtype"], "output_dtype": outs[0]["dtype"]}


def _calibration(job: ConversionJob) -> dict:
    return {"path": str(job.cal_path), "digest": job.cal.digest, "samples": int(len(job.calib)),
            "recipe": job.cal.meta["recipe"]["name"]}


def _float_head(job: ConversionJob, head: dict, folder: Path) -> dict:
    return {"file": job.head_file, "sha256": sha256_file(folder / job.head_file), "op": head["op"],
            "input": "features", "output": "params", "shape": list(head["W"].shape), "why": FLOAT_HEAD_WHY}


def _detector(job: ConversionJob) -> dict:
    w, h = job.opts.detector_size
    return {"width": w, "height": h, "graph": "int8friendly" if job.src_onnx != job.ref_onnx else "as given",
            "letterbox_pad": LETTERBOX_PAD}


def variant_manifest(job: ConversionJob, variant: str, tflite: Path, head: Optional[dict], head_bytes: int) -> Manifest:
    """The manifest of `tflite` (variant `variant` of `job`) before verification; `head`: the float
    head split off the regressor (its weights file beside `tflite`), `head_bytes` its file size."""
    int8 = variant.startswith("int8")
    inp, outs = io_details(tflite, job.kind, "features" if head is not None else "params")
    size = tflite.stat().st_size
    return Manifest(
        format=MANIFEST_FORMAT,
        model=job.model, name=job.name, kind=job.kind, variant=variant,
        file=f"{job.name}_{variant}.tflite", sha256=sha256_file(tflite), size_bytes=size,
        total_bytes=size + head_bytes,  # with the float head, if any
        cache_key=job.key,
        source_onnx={"path": str(job.src_onnx), "sha256": sha256_file(job.src_onnx)},
        reference_onnx={"path": str(job.ref_onnx), "sha256": sha256_file(job.ref_onnx)},
        preprocessing_in_graph={"mean": list(job.mean), "std": list(job.std), "formula": "(pixel - mean) / std, BGR"},
        converter={"tool": "onnx2tf", "versions": converter_versions(),
                   "quantization": _quantization(job, inp, outs) if int8 else None},
        input=inp,
        outputs=outs,
        calibration=_calibration(job) if int8 else None,
        float_head=_float_head(job, head, tflite.parent) if head is not None else None,
        detector=_detector(job) if job.kind == "detector" else None,
    )
