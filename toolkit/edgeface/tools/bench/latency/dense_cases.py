"""The dense-mesh section of `edgeface bench latency` (`plan_dense`, `run_dense`).

Per dense model (dense_approx; the exact BFM model too when its asset is cached) and mesh size
(full, and decimated to each target profile's `dense.max_vertices`): `reconstruct` =
`model.image_vertices(params, roi)` with the params of the sample face, `smooth` = the One Euro
filter's blend of those vertices (what `FaceSmoother` adds per face and frame in video), and `render-<mode>` =
`render.render` of that face (mesh, depth, pncc with each available rasterizer backend; points)
on a copy of a 640x480 frame, the face 250 px on its larger side. Isolated, it runs in one worker
with BLAS on one thread and an empty numba cache: numba's compile cost (first call after install)
and, from a second worker, its cache-load cost (first call of later runs) are measured separately
and kept out of the timings.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

import numpy as np

from edgeface.boards.machine import dist_version
from edgeface.boards.profiles import load_targets
from edgeface.dense.loading import load_dense_model
from edgeface.errors import EdgefaceError
from edgeface.hub import assets, store
from edgeface.runtime.networks import LandmarkRegressor
from edgeface.runtime.onnx_backend import OnnxModel
from edgeface.runtime.smoothing import FaceMotionFilter
from edgeface.runtime.tflite_backend import TFLiteModel
from edgeface.tools.bench.latency.cases import TFLITE_VARIANTS, BenchOptions, DenseCase, DenseResult, onnx_original, resolve_names
from edgeface.tools.bench.latency.inputs import BenchInputs
from edgeface.tools.bench.stats import TimingPolicy, time_backend, timing_stats
from edgeface.viz import render as rasterizer  # module attributes: tests swap render/available_backends
from edgeface.viz.dense_overlay import model_topology


DENSE_MODELS = ("dense_approx", "bfm")
DENSE_MODEL_ALIASES = {"dense_approx": "dense_approx", "approx": "dense_approx", "bfm": "bfm", "dense": "bfm"}
DENSE_STAGES = ("reconstruct", "smooth", "render-mesh", "render-depth", "render-pncc", "render-points")
RENDER_BACKEND_ORDER = ("numpy", "numba")
#: environment of the isolated dense worker: numpy's BLAS on one thread (the reconstruction is a
#: BLAS product that OpenBLAS would otherwise spread over every core)
SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def profile_budgets() -> Dict[int, List[str]]:
    """Dense vertex budget -> the target profiles (targets/*.toml) using it; 0 (full mesh) first,
    then from the largest budget down."""
    out: Dict[int, List[str]] = {}
    for name, prof in load_targets().items():
        out.setdefault(int(prof.dense_max_vertices), []).append(name)
    return dict(sorted(out.items(), key=lambda kv: (kv[0] != 0, -kv[0])))


def default_dense_budgets() -> List[int]:
    """The full mesh plus every distinct budget of the target profiles."""
    return [0] + [b for b in profile_budgets() if b > 0]


def normalize_dense_models(names: Optional[Iterable[str]]) -> Optional[List[str]]:
    if not names:
        return None
    return resolve_names(names, DENSE_MODEL_ALIASES, "use dense_approx (or approx) or bfm", "dense model")


def plan_dense(opts: BenchOptions) -> tuple:
    """(DenseCase or None, skipped): the dense models at hand and the vertex budgets to time."""
    root = opts.root
    budgets = list(dict.fromkeys(int(b) for b in (opts.dense_budgets if opts.dense_budgets else default_dense_budgets())))
    bad = [b for b in budgets if b < 0 or 0 < b < 100]
    if bad:
        raise EdgefaceError(f"dense vertex budgets must be 0 (full mesh) or at least 100, got {bad}")
    asked = normalize_dense_models(opts.dense_models)
    wanted = asked or list(DENSE_MODELS)
    skipped: List[dict] = []
    have_mesh = all(assets.asset_path(a, root).is_file() for a in ("mesh", "sparse_bases"))
    models = []
    for kind in wanted:
        if not have_mesh:
            skipped.append({"model": "dense", "variant": kind, "reason": "mesh or sparse_bases asset not in the cache (run `edgeface fetch`)"})
        elif kind == "bfm" and not assets.asset_path("bfm", root).is_file():
            skipped.append({"model": "dense", "variant": kind,
                            "reason": "BFM asset not in the cache (optional, academic-use licence: `edgeface fetch bfm`)"})
        else:
            models.append(kind)
    if not models:
        return None, skipped
    return DenseCase(root=str(root) if root else None, models=tuple(models), budgets=tuple(budgets)), skipped


def _load_dense(kind: str, root: Optional[Path]):
    model = load_dense_model(root, prefer="bfm" if kind == "bfm" else "approx")
    if model.kind != kind:
        raise EdgefaceError(f"dense model {kind} is not in the cache (got {model.kind}); run `edgeface fetch bfm`")
    return model


def dense_params(crop: Optional[np.ndarray], root: Optional[Path] = None) -> tuple:
    """(62 params, where they come from) for the dense cases: the mb05 regressor on the bench's
    face crop (TFLite float32, else the ONNX original, else any other TFLite variant); the param
    mean when no regressor (or no crop) is at hand."""
    stats = assets.load_param_stats(root)
    if crop is not None:
        order = ["float32", "onnx"] + [v for v in TFLITE_VARIANTS if v != "float32"]
        for v in order:
            try:
                if v == "onnx":
                    p = onnx_original("mb05", root)
                    if not p.is_file():
                        continue
                    backend, label = OnnxModel(p, num_threads=1), "mb05 onnxruntime-fp32"
                else:
                    p = store.model_path("mb05", v, root)
                    if not (p.is_file() and p.with_suffix(".json").is_file()):
                        continue
                    backend, label = TFLiteModel(p, num_threads=1), f"mb05 tflite-{v}"
                params = LandmarkRegressor(backend, stats.mean, stats.std).params_from_crop(crop)
            except EdgefaceError:
                continue
            return np.asarray(params, np.float32).reshape(-1), label
    return np.asarray(stats.mean, np.float32).reshape(-1).copy(), "param mean"


def face_roi(model, params, frame_size: tuple, face_px: float) -> np.ndarray:
    """The square ROI that draws the face mesh of `params` with `face_px` pixels on the larger side
    of its bounding box, centred in a frame of `frame_size` (width, height)."""
    w, h = (int(v) for v in frame_size)
    if not 16 <= face_px <= min(w, h):
        raise EdgefaceError(f"dense face size must be within 16..{min(w, h)} px for a {w}x{h} frame, got {face_px}")
    v = model.image_vertices(params, np.array([0.0, 0.0, 120.0, 120.0]))
    ext = float(max(np.ptp(v[0]), np.ptp(v[1])))
    if not ext > 0:
        raise EdgefaceError("the dense mesh of the sample params is degenerate: check the params")
    side = 120.0 * float(face_px) / ext  # to_image scales the 120 crop linearly onto the ROI
    v = model.image_vertices(params, np.array([0.0, 0.0, side, side]))
    dx = w / 2.0 - (float(v[0].min()) + float(v[0].max())) / 2.0
    dy = h / 2.0 - (float(v[1].min()) + float(v[1].max())) / 2.0
    return np.array([dx, dy, dx + side, dy + side], dtype=np.float64)


def _dense_frame(inputs: Optional[BenchInputs], frame_size: tuple) -> np.ndarray:
    """A real frame of the given size for the render calls: the detector letterbox of the sample
    video when it has that size, else a resized one, else mid-grey."""
    import cv2

    w, h = (int(v) for v in frame_size)
    frames = list(inputs.frames.values()) if inputs is not None else []
    for f in frames:
        if f.shape[:2] == (h, w):
            return np.ascontiguousarray(f.copy())
    if frames:
        return np.ascontiguousarray(cv2.resize(frames[0], (w, h), interpolation=cv2.INTER_AREA))
    return np.full((h, w, 3), 128, np.uint8)


def _numba_counts() -> Optional[tuple]:
    """(compiled signatures, cache hits, cache misses) summed over the renderer's numba kernels."""
    get = getattr(rasterizer, "_numba_kernels", None)
    kernels = get() if get is not None else None
    if not kernels:
        return None
    try:
        return (sum(len(k.signatures) for k in kernels), sum(sum(k.stats.cache_hits.values()) for k in kernels),
                sum(sum(k.stats.cache_misses.values()) for k in kernels))
    except AttributeError:  # pragma: no cover - another numba
        return None


def render_backends() -> tuple:
    """(rasterizer backends available, in RENDER_BACKEND_ORDER; ms spent importing numba to find
    out, None when it was imported already or is missing)."""
    fresh = "numba" not in sys.modules
    t0 = time.perf_counter()
    have = rasterizer.available_backends()
    ms = (time.perf_counter() - t0) * 1000.0
    return [b for b in RENDER_BACKEND_ORDER if b in have], (round(ms, 1) if fresh and "numba" in have else None)


def numba_first_call(frame: np.ndarray, vertices: np.ndarray, tri: np.ndarray) -> Optional[dict]:
    """The numba backend's one-off cost in this process (None without numba): `import_ms` (when
    numba was not imported yet), then the first `render(..., "mesh", backend="numba")` minus a steady
    call: both kernels compiled (`how` "compiled"), loaded from numba's on-disk cache ("cache"), or
    nothing left to do ("already compiled")."""
    render = rasterizer.render
    backends, import_ms = render_backends()
    if "numba" not in backends:
        return None
    before = _numba_counts()
    t0 = time.perf_counter()
    render(frame, vertices, tri, "mesh", backend="numba")
    first = (time.perf_counter() - t0) * 1000.0
    steady = []
    for _ in range(3):
        t0 = time.perf_counter()
        render(frame, vertices, tri, "mesh", backend="numba")
        steady.append((time.perf_counter() - t0) * 1000.0)
    after = _numba_counts()
    how = None
    if before is not None and after is not None:
        if after[0] == before[0]:
            how = "already compiled"
        elif after[2] > before[2]:
            how = "compiled"
        elif after[1] > before[1]:
            how = "cache"
    return {"version": dist_version("numba"), "import_ms": import_ms,
            "first_call_ms": round(max(0.0, first - float(np.median(steady))), 1), "how": how}


def _blas_threads() -> Optional[int]:
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        v = os.environ.get(k, "")
        if v.isdigit():
            return int(v)
    return None


def _dense_prelude(case: DenseCase, inputs: Optional[BenchInputs]) -> tuple:
    """(frame, params, params source, {kind: full model}, load ms per kind, roi)."""
    root = Path(case.root) if case.root else None
    frame = _dense_frame(inputs, case.frame_size)
    params, source = dense_params(inputs.crop if inputs is not None else None, root)
    models, load_ms = {}, {}
    for kind in case.models:
        t0 = time.perf_counter()
        models[kind] = _load_dense(kind, root)
        load_ms[kind] = (time.perf_counter() - t0) * 1000.0
    roi = face_roi(models[case.models[0]], params, case.frame_size, case.face_px)  # one face placement for all
    return frame, params, source, models, load_ms, roi


def _dense_blend(model, vertices: np.ndarray) -> Callable[[], object]:
    """The smoother's per-frame work on a face's dense vertices: `FaceMotionFilter.blend` of the
    (N, 3) array, the filter set up by two frames of its landmarks half a pixel apart (factors < 1)."""
    v = np.ascontiguousarray(np.asarray(vertices, np.float32).T)
    lm = v[model.keypoints]
    size = float(max(np.ptp(lm[:, 0]), np.ptp(lm[:, 1]), 1.0))
    motion = FaceMotionFilter()
    motion.step(lm, 0.0, size)
    motion.blend("dense", v, v.shape)
    motion.step(lm + np.float32(0.5), 1.0 / 30.0, size)
    return lambda: motion.blend("dense", v, v.shape)


def run_dense(case: DenseCase, policy: TimingPolicy, inputs: Optional[BenchInputs] = None) -> tuple:
    """Time dense reconstruction and rendering; returns (list of DenseResult, setup dict).

    For each dense model and vertex budget (0: full mesh, else `model.decimate(budget)`):
    `reconstruct` = `model.image_vertices(params, roi)` (62 params of a real face -> (3, N) frame
    pixels); `smooth` = the smoother's blend of those vertices (`_dense_blend`); `render-<mode>` = `render.render(frame, vertices, tri, mode, backend=...)` for mesh,
    depth and pncc with every available rasterizer backend, and "points" (no rasterizer), on a
    copy of a 640x480 frame with one face `face_px` tall (what `edgeface run --render` pays per
    face). The numba backend's compile cost is paid before any timing and reported in
    `setup["numba"]`. Nothing global is changed: BLAS threads are whatever the process has
    (the isolated worker runs with SINGLE_THREAD_ENV).
    """
    render = rasterizer.render
    root = Path(case.root) if case.root else None
    backends, import_ms = render_backends()
    frame, params, source, models, load_ms, roi = _dense_prelude(case, inputs)
    numba_info = None
    results: List[DenseResult] = []
    meshes: List[dict] = []
    face_px = None
    for kind in case.models:
        full = models[kind]
        for budget in case.budgets:
            t0 = time.perf_counter()
            m = full if budget == 0 or budget >= full.n_vertices else full.decimate(int(budget))
            prep = (time.perf_counter() - t0) * 1000.0
            tri, ncc = model_topology(m, root)
            v = m.image_vertices(params, roi)
            if face_px is None:
                face_px = [round(float(np.ptp(v[0])), 1), round(float(np.ptp(v[1])), 1)]
            if "numba" in backends and numba_info is None:
                try:
                    numba_info = numba_first_call(frame, v, tri)
                except Exception as e:  # a broken numba/llvmlite install: time numpy only, say why
                    backends.remove("numba")
                    numba_info = {"version": dist_version("numba"), "error": f"{type(e).__name__}: {e}"[:300]}
            meshes.append({"model": kind, "budget": int(budget), "vertices": int(m.n_vertices), "triangles": int(len(tri)),
                           "load_ms" if m is full else "decimate_ms": round(load_ms[kind] if m is full else prep, 1)})

            def add(stage: str, backend: str, fn: Callable[[], object]) -> None:
                times, _ = time_backend(fn, policy)
                st = timing_stats(times)
                results.append(DenseResult(
                    model=kind, vertices=int(m.n_vertices), triangles=int(len(tri)), budget=int(budget), stage=stage,
                    backend=backend, median_ms=st["median_ms"], p90_ms=st["p90_ms"], p99_ms=st["p99_ms"],
                    mean_ms=st["mean_ms"], min_ms=st["min_ms"], max_ms=st["max_ms"], runs=st["runs"]))

            add("reconstruct", "numpy", lambda m=m: m.image_vertices(params, roi))
            add("smooth", "numpy", _dense_blend(m, v))
            for mode in ("mesh", "depth", "pncc"):
                for b in backends:
                    add(f"render-{mode}", b, lambda v=v, tri=tri, ncc=ncc, mode=mode, b=b:
                        render(frame, v, tri, mode, ncc_code=ncc, backend=b))
            add("render-points", "numpy", lambda v=v, tri=tri: render(frame, v, tri, "points", point_step=case.point_step))
    numba = None
    if numba_info is not None and "error" in numba_info:
        numba = {"version": numba_info["version"], "import_ms": import_ms, "compile_ms": None, "cache_load_ms": None,
                 "first_call": None, "error": numba_info["error"]}
    elif numba_info is not None:
        how = numba_info.pop("how")
        numba = {"version": numba_info["version"], "import_ms": import_ms,
                 "compile_ms": numba_info["first_call_ms"] if how == "compiled" else None,
                 "cache_load_ms": numba_info["first_call_ms"] if how == "cache" else None,
                 "first_call": how}
    setup = {
        "params": source + (f" on {inputs.source}" if (inputs is not None and source != "param mean") else ""),
        "frame": list(case.frame_size), "face_px": face_px, "roi": [round(float(x), 1) for x in roi],
        "point_step": case.point_step, "blas_threads": _blas_threads(), "render_backends": backends,
        "numba": numba, "meshes": meshes,
    }
    return results, setup


def numba_cache_load(case: DenseCase, inputs: Optional[BenchInputs] = None) -> Optional[dict]:
    """`numba_first_call` on the case's first model (for a fresh process whose numba cache is warm)."""
    frame, params, _, models, _, roi = _dense_prelude(case, inputs)
    m = models[case.models[0]]
    tri, _ = model_topology(m, Path(case.root) if case.root else None)
    return numba_first_call(frame, m.image_vertices(params, roi), tri)
