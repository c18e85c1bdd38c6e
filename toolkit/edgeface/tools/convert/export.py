"""PyTorch checkpoints -> ONNX (opset 13, fixed shapes), verified with onnxruntime on real data.

Each export writes `<out_dir>/<name>.onnx` and a JSON sidecar `<out_dir>/<name>.json` that
describes the input contract (shape, layout, colour order, normalization), the outputs, the
source checkpoint (path + sha256), tool versions and the measured ONNX-vs-torch difference.
Names: "mb05", "mb1", "faceboxes_<W>x<H>" and "faceboxes_<W>x<H>_int8friendly".

An export is skipped when both files exist, the ONNX digest matches the sidecar and the
sidecar names the same checkpoint digest (pass force=True to redo it). Nothing half-written
is ever left: the ONNX file is exported and verified under a temporary name first.

Verification data (`sample_media.sample_frames` / `sample_media.sample_crops`) comes from the
sample media in the upstream layout `<root>/<repo alias>/<upstream path>`, i.e. the edgeface file
cache (`edgeface.hub.paths.files_dir()`) or a local mirror folder.

torch, onnx and onnxruntime (the `convert` extra) are imported only when needed.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeface import __version__
from edgeface.errors import EdgefaceError, MissingAssetError, VerificationError
from edgeface.hub.atomic import atomic_path, sha256_file, write_json_atomic
from edgeface.runtime.detection import letterbox, priors
from edgeface.runtime.networks import REGRESSOR_SIZE
from edgeface.tools.convert.sample_media import (DETECTOR_MEAN, DETECTOR_STD, REGRESSOR_MEAN, REGRESSOR_STD, detector_blob,
                                                 regressor_blob, sample_crops, sample_frames)
from edgeface.vocab import DEFAULT_DETECTOR_SIZE, check_detector_size, check_regressor, detector_name

SIDECAR_FORMAT = "edgeface-onnx-sidecar"
SIDECAR_VERSION = 1
OPSET = 13
VERIFY_TOL = 1e-4

NUM_PARAMS = 62

@dataclass
class ExportResult:
    name: str
    variant: str  # "standard" | "int8friendly"
    onnx_path: Path
    sidecar_path: Path
    max_abs_diff: float  # ONNX (onnxruntime) vs torch, over all outputs and samples
    n_samples: int
    cached: bool  # True when an up-to-date export was found and reused
    export_seconds: float  # of the export that produced the files (from the sidecar when cached)
    onnx_bytes: int


# ----------------------------------------------------------------------------- names, sizes

def regressor_name(arch: str) -> str:
    return check_regressor(arch)


def export_name(width: int = DEFAULT_DETECTOR_SIZE[0], height: int = DEFAULT_DETECTOR_SIZE[1],
                int8_friendly: bool = False) -> str:
    """The ONNX export name of FaceBoxes at a (checked) input size: `vocab.detector_name`, plus
    `_int8friendly` for the INT8-friendly graph."""
    check_detector_size(width, height)
    return detector_name(width, height) + ("_int8friendly" if int8_friendly else "")


# ----------------------------------------------------------------------------- export core

def _versions() -> dict:
    import onnx
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__, "edgeface": __version__}


def _cached(onnx_path: Path, sidecar_path: Path, name: str, variant: str, ckpt_sha: str) -> ExportResult | None:
    if not (onnx_path.is_file() and sidecar_path.is_file()):
        return None
    try:
        meta = json.loads(sidecar_path.read_text())
        ok = (meta.get("format") == SIDECAR_FORMAT and meta.get("format_version") == SIDECAR_VERSION
              and meta.get("name") == name and meta.get("variant") == variant
              and meta["source_checkpoint"]["sha256"] == ckpt_sha
              and meta["onnx"]["sha256"] == sha256_file(onnx_path))
        if not ok:
            return None
        ver = meta["verification"]
        return ExportResult(name=name, variant=variant, onnx_path=onnx_path, sidecar_path=sidecar_path,
                            max_abs_diff=float(ver["max_abs_diff"]), n_samples=int(ver["n_samples"]),
                            cached=True, export_seconds=float(meta.get("export_seconds", 0.0)),
                            onnx_bytes=onnx_path.stat().st_size)
    except (ValueError, KeyError, TypeError, OSError):
        return None


def _torch_to_onnx(model, example: np.ndarray, dest: Path, output_names: list[str]) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        torch.onnx.export(model, (torch.from_numpy(example),), str(dest), dynamo=False,
                          opset_version=OPSET, input_names=["input"], output_names=output_names,
                          do_constant_folding=True)
    _inline_initializer_identities(dest)


def _inline_initializer_identities(path: Path) -> None:
    """The exporter shares identical weights (e.g. the three fixed 1/9 depthwise kernels) through
    Identity nodes; give each consumer its own constant initializer instead, so that converters
    see plain constant conv weights."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    drop = [n for n in graph.node if n.op_type == "Identity" and n.input[0] in inits]
    if not drop:
        return
    for n in drop:
        graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(inits[n.input[0]]), n.output[0]))
        graph.node.remove(n)
    onnx.save(model, str(path))


def _check_graph(path: Path, input_shape: list[int], outputs: dict[str, list[int]]):
    """Check the ONNX model and that its I/O names and fixed shapes are as promised; return
    an onnxruntime session on it."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    ins = [(i.name, list(i.shape)) for i in sess.get_inputs()]
    outs = [(o.name, list(o.shape)) for o in sess.get_outputs()]
    if ins != [("input", input_shape)] or outs != list(outputs.items()):
        raise VerificationError(f"exported graph has inputs {ins} and outputs {outs}, expected "
                                f"input {input_shape} and outputs {outputs}")
    return sess


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float(d.max()) if np.all(np.isfinite(d)) else float("inf")


def _base_sidecar(name: str, model: str, kind: str, variant: str, checkpoint: Path, ckpt_sha: str) -> dict:
    return {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "name": name,
        "model": model,
        "kind": kind,
        "variant": variant,
        "opset": OPSET,
        "source_checkpoint": {"path": str(checkpoint), "sha256": ckpt_sha},
        "versions": _versions(),
    }


def _input_spec(shape: list[int], mean: Sequence[float], std: Sequence[float], meaning: str) -> dict:
    """The sidecar's description of the float32 NCHW BGR input."""
    return {"name": "input", "shape": shape, "dtype": "float32", "layout": "NCHW", "color_order": "BGR",
            "normalization": {"mean": list(mean), "std": list(std),
                              "formula": "(pixel - mean) / std per channel, pixel in 0..255"},
            "meaning": meaning}


def _publish(onnx_path: Path, sidecar_path: Path, sidecar: dict, export_and_verify) -> int:
    """Export + verify under a temporary name (export_and_verify(tmp) returns the verification
    record or raises), then publish the ONNX file and its sidecar. Returns the ONNX size."""
    sidecar_path.unlink(missing_ok=True)  # an ONNX file without sidecar never counts as cached
    t0 = time.perf_counter()
    with atomic_path(onnx_path) as tmp:
        verification = export_and_verify(tmp)
        size, digest = tmp.stat().st_size, sha256_file(tmp)
    sidecar["onnx"] = {"file": onnx_path.name, "sha256": digest, "bytes": size}
    sidecar["verification"] = verification
    sidecar["export_seconds"] = round(time.perf_counter() - t0, 3)
    write_json_atomic(sidecar_path, sidecar)
    return size


def _verification(what: str, n: int, diffs: dict[str, float], **extra) -> dict:
    return {
        "reference": "torch float32, same checkpoint",
        "backend": "onnxruntime CPUExecutionProvider",
        "samples": what,
        "n_samples": n,
        "max_abs_diff": max(diffs.values()),
        "max_abs_diff_per_output": diffs,
        "tolerance": VERIFY_TOL,
        **extra,
    }


def _prepare(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, name: str,
             fetch_name: str) -> tuple[Path, Path, Path, str]:
    """(checkpoint, ONNX path, sidecar path, checkpoint sha256) of an export; a missing
    checkpoint is a MissingAssetError naming the fetch that provides it."""
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    if not checkpoint.is_file():
        raise MissingAssetError(f"checkpoint {checkpoint} does not exist: run `edgeface fetch {fetch_name}` first")
    return checkpoint, out_dir / f"{name}.onnx", out_dir / f"{name}.json", sha256_file(checkpoint)


def _result(sidecar: dict, onnx_path: Path, sidecar_path: Path, size: int) -> ExportResult:
    ver = sidecar["verification"]
    return ExportResult(name=sidecar["name"], variant=sidecar["variant"], onnx_path=onnx_path,
                        sidecar_path=sidecar_path, max_abs_diff=ver["max_abs_diff"],
                        n_samples=ver["n_samples"], cached=False,
                        export_seconds=sidecar["export_seconds"], onnx_bytes=size)


# ----------------------------------------------------------------------------- public exports

def export_regressor(checkpoint: str | os.PathLike, arch: str, out_dir: str | os.PathLike,
                     samples: Sequence[np.ndarray] | None = None, force: bool = False,
                     media_root: str | os.PathLike | None = None,
                     detector_checkpoint: str | os.PathLike | None = None) -> ExportResult:
    """Export the 3DDFA_V2 regressor ("mb05" | "mb1") to `<out_dir>/<arch>.onnx` (+ .json).

    samples: 120x120 BGR uint8 face crops for verification; by default `sample_crops(...)`
    from media_root (default: the edgeface file cache) found with detector_checkpoint."""
    name, variant = regressor_name(arch), "standard"
    checkpoint, onnx_path, sidecar_path, ckpt_sha = _prepare(checkpoint, out_dir, name, arch)
    hit = None if force else _cached(onnx_path, sidecar_path, name, variant, ckpt_sha)
    if hit is not None:
        return hit

    import torch

    from edgeface.tools.convert.torch_nets import load_regressor  # lazy: torch

    model = load_regressor(checkpoint, arch)
    if samples is None:
        samples = sample_crops(detector_checkpoint, media_root)
    blobs = [regressor_blob(s) for s in samples]
    if not blobs:
        raise EdgefaceError("no verification samples given: pass at least one 120x120 face crop")

    def export_and_verify(tmp: Path) -> dict:
        _torch_to_onnx(model, blobs[0], tmp, ["params"])
        sess = _check_graph(tmp, [1, 3, REGRESSOR_SIZE, REGRESSOR_SIZE], {"params": [1, NUM_PARAMS]})
        diff = 0.0
        with torch.no_grad():
            for b in blobs:
                diff = max(diff, _max_diff(model(torch.from_numpy(b)).numpy(),
                                           sess.run(["params"], {"input": b})[0]))
        if not diff <= VERIFY_TOL:
            raise VerificationError(f"{name}: ONNX differs from torch by {diff:.3g} (> {VERIFY_TOL:g}) "
                                    f"on {len(blobs)} face crops; nothing written")
        return _verification("120x120 face crops from the sample media", len(blobs), {"params": diff})

    sidecar = _base_sidecar(name, arch, "regressor", variant, checkpoint, ckpt_sha)
    sidecar.update({
        "input": _input_spec(
            [1, 3, REGRESSOR_SIZE, REGRESSOR_SIZE], REGRESSOR_MEAN, REGRESSOR_STD,
            "square face crop (3DDFA_V2 ROI: side 1.58 x mean box side, centre 0.14 x side "
            "below the box centre, zero outside the image) resized to 120x120 with cv2.INTER_LINEAR"),
        "outputs": [{
            "name": "params", "shape": [1, NUM_PARAMS], "dtype": "float32",
            "meaning": "normalized 3DMM parameters: 12 pose (3x4 matrix, row-major), 40 shape, 10 expression; "
                       "param = output * param_std + param_mean (configs/param_mean_std_62d_120x120.pkl)",
        }],
    })
    size = _publish(onnx_path, sidecar_path, sidecar, export_and_verify)
    return _result(sidecar, onnx_path, sidecar_path, size)


def export_detector(checkpoint: str | os.PathLike, out_dir: str | os.PathLike,
                    width: int = DEFAULT_DETECTOR_SIZE[0], height: int = DEFAULT_DETECTOR_SIZE[1],
                    int8_friendly: bool = False, frames: Sequence[np.ndarray] | None = None,
                    force: bool = False, media_root: str | os.PathLike | None = None) -> ExportResult:
    """Export FaceBoxes at a fixed input of width x height (multiples of 32) to
    `<out_dir>/faceboxes_<W>x<H>[_int8friendly].onnx` (+ .json).

    frames: BGR uint8 images of any size for verification (letterboxed to the input size);
    default `sample_frames(media_root)`. The int8friendly variant is also checked against the
    standard torch model."""
    name = export_name(width, height, int8_friendly)
    variant = "int8friendly" if int8_friendly else "standard"
    checkpoint, onnx_path, sidecar_path, ckpt_sha = _prepare(checkpoint, out_dir, name, "faceboxes")
    hit = None if force else _cached(onnx_path, sidecar_path, name, variant, ckpt_sha)
    if hit is not None:
        return hit

    import torch

    from edgeface.tools.convert.torch_nets import (ANCHORS_PER_LOCATION, PRIOR_CONFIG, load_detector,  # lazy: torch
                                                   make_int8_friendly, num_priors)

    standard = load_detector(checkpoint)
    model = make_int8_friendly(standard) if int8_friendly else standard
    if frames is None:
        frames = sample_frames(media_root)
    blobs = [detector_blob(letterbox(f, width, height)[0]) for f in frames]
    if not blobs:
        raise EdgefaceError("no verification frames given: pass at least one BGR image")
    n_priors = num_priors(width, height)
    assert n_priors == len(priors(width, height))  # the runtime's decoding fits this network

    def export_and_verify(tmp: Path) -> dict:
        _torch_to_onnx(model, blobs[0], tmp, ["loc", "conf"])
        sess = _check_graph(tmp, [1, 3, height, width], {"loc": [1, n_priors, 4], "conf": [1, n_priors, 2]})
        diffs = {"loc": 0.0, "conf": 0.0}
        vs_standard = {"loc": 0.0, "conf": 0.0}
        with torch.no_grad():
            for b in blobs:
                x = torch.from_numpy(b)
                ref = [t.numpy() for t in model(x)]
                got = sess.run(["loc", "conf"], {"input": b})
                for k, r, g in zip(("loc", "conf"), ref, got):
                    diffs[k] = max(diffs[k], _max_diff(r, g))
                if int8_friendly:
                    for k, r, s in zip(("loc", "conf"), ref, standard(x)):
                        vs_standard[k] = max(vs_standard[k], _max_diff(r, s.numpy()))
        worst = max(diffs.values())
        if not worst <= VERIFY_TOL:
            raise VerificationError(f"{name}: ONNX differs from torch by {worst:.3g} (> {VERIFY_TOL:g}) "
                                    f"on {len(blobs)} frames; nothing written")
        extra = {}
        if int8_friendly:
            if not max(vs_standard.values()) <= VERIFY_TOL:
                raise VerificationError(
                    f"{name}: the int8-friendly rewrite differs from the standard model by "
                    f"{max(vs_standard.values()):.3g} (> {VERIFY_TOL:g}); nothing written")
            extra["int8friendly_vs_standard_torch_max_abs_diff"] = vs_standard
        return _verification(f"real frames (sample photos and obama.mp4 frames) letterboxed to {width}x{height}",
                             len(blobs), diffs, **extra)

    sidecar = _base_sidecar(name, "faceboxes", "detector", variant, checkpoint, ckpt_sha)
    sidecar.update({
        "input": _input_spec(
            [1, 3, height, width], DETECTOR_MEAN, DETECTOR_STD,
            f"frame letterboxed to {width}x{height}: scaled to fit keeping its aspect "
            "(cv2.INTER_LINEAR), top-left aligned, right/bottom padded with the mean colour "
            "(104, 117, 123) so padding normalizes to 0"),
        "outputs": [
            {"name": "loc", "shape": [1, n_priors, 4], "dtype": "float32",
             "meaning": "SSD box offsets per prior (dcx, dcy, dw, dh): centre = prior_c + d_c * 0.1 * prior_wh, "
                        "size = prior_wh * exp(d_wh * 0.2); priors and boxes normalized to the input size"},
            {"name": "conf", "shape": [1, n_priors, 2], "dtype": "float32",
             "meaning": "softmax over [background, face] per prior; face score = conf[..., 1]"},
        ],
        "detector": {
            "width": width, "height": height,
            "priors": dict(PRIOR_CONFIG),
            "anchors_per_location": list(ANCHORS_PER_LOCATION),
            "dense_anchors": {"32": "4x4 offsets (0, .25, .5, .75)", "64": "2x2 offsets (0, .5)",
                              "other": "cell centre (.5)"},
            "prior_order": "steps in order; feature-map rows, then columns, then the anchors of a location "
                           "(min sizes in order, dense offsets y-major)",
            "num_priors": n_priors,
        },
    })
    if int8_friendly:
        sidecar["graph_rewrite"] = ("avg_pool 3x3 (stride 1, pad 1, count_include_pad) as a fixed depthwise "
                                    "3x3 conv of weights 1/9; CReLU (conv+BN, concat[x,-x], relu) as one conv "
                                    "with weights [W;-W], bias [b;-b] (BN folded) + relu")
    size = _publish(onnx_path, sidecar_path, sidecar, export_and_verify)
    return _result(sidecar, onnx_path, sidecar_path, size)

