"""What `edgeface bench latency` measures: its options, cases and results, the variant names, and planning.

One *case* = one model (mb05 / mb1 regressor, faceboxes_WxH detector) x one variant
(`onnxruntime-fp32` on the ONNX original, which is what upstream 3DDFA_V2 runs with --onnx;
`tflite-float32`, `tflite-float16`, `tflite-int8`, `tflite-int8_floatio`) x one TFLite runtime
(ai-edge-litert, tflite-runtime: every one importable) x one thread count. `plan_cases` turns
`BenchOptions` into the cases to run and what was asked for but is not there (with why).

The dataclasses of every section live here (`BenchCase`/`BenchResult`, `PipelineCase`/
`PipelineResult`, `DenseCase`/`DenseResult`, `BenchReport`), so a worker process and the report
read the same definitions. Precision and model names come from `edgeface.vocab`.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

from edgeface.tools.bench.stats import TimingPolicy
from edgeface.errors import EdgefaceError
from edgeface.hub import paths
from edgeface.hub import store
from edgeface.vocab import PRECISIONS, REGRESSORS, VARIANTS, Precision, detector_name

FORMAT = "edgeface-bench/1"

#: variant labels in the report, in display order
ORT_VARIANT = "onnxruntime-fp32"
TFLITE_VARIANTS = VARIANTS
ALL_VARIANTS = (ORT_VARIANT,) + tuple(f"tflite-{v}" for v in TFLITE_VARIANTS)
VARIANT_ALIASES = {
    "ort": ORT_VARIANT, "onnx": ORT_VARIANT, "onnxruntime": ORT_VARIANT, ORT_VARIANT: ORT_VARIANT,
    **{name: f"tflite-{Precision.parse(name).variant}" for name in PRECISIONS + VARIANTS},
    "int8io": "tflite-int8_floatio",
}
VARIANT_ALIASES.update({v: v for v in ALL_VARIANTS})

#: TFLite runtimes bench knows (module name -> distribution name)
TFLITE_RUNTIMES = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BenchCase:
    model: str  # mb05 | mb1 | faceboxes_WxH
    kind: str  # regressor | detector
    variant: str  # one of ALL_VARIANTS
    path: str  # .tflite or .onnx
    runtime: str  # onnxruntime | ai_edge_litert | tflite_runtime
    threads: int


@dataclass
class BenchResult:
    model: str
    variant: str
    runtime: str  # "ai-edge-litert 2.1.0", "onnxruntime 1.23.0"
    threads: int
    median_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    runs: int
    seconds: float
    size_bytes: int
    peak_rss_mb: Optional[float]  # whole worker process (None when not isolated)
    model_rss_mb: Optional[float]  # peak RSS minus the RSS before the model was loaded
    xnnpack: Optional[bool]
    isolated: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PipelineResult:
    variant: str  # precision of detector + regressor: tflite-int8, tflite-float32, ...
    tracking: bool
    fps: float
    frames: int
    threads: int
    stages_ms: Dict[str, float]  # mean ms per frame of each stage
    faces_per_frame: float
    detector_runs: int
    detect_interval: Optional[int] = None  # tracking: frames between detector runs
    peak_rss_mb: Optional[float] = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BenchOptions:
    models: Optional[List[str]] = None  # None: mb05 (+ mb1 if converted) + faceboxes
    variants: Optional[List[str]] = None  # None: all present
    threads: Optional[List[int]] = None  # None: 1, 2, 4 capped at cpu_count
    runtimes: Optional[List[str]] = None  # None: every importable TFLite runtime
    detector_size: tuple = (640, 480)
    policy: TimingPolicy = field(default_factory=TimingPolicy)
    isolate: bool = True
    pipeline: bool = True
    pipeline_variants: Optional[List[str]] = None  # None: onnxruntime-fp32, tflite-float32, tflite-int8 (those present)
    pipeline_threads: Optional[int] = None  # None: the largest thread count benchmarked
    pipeline_frames: Optional[int] = None  # None: the whole sample video
    dense: bool = True  # time dense reconstruction + rendering (`run_dense`)
    dense_policy: Optional[TimingPolicy] = None  # None: TimingPolicy.dense()
    dense_budgets: Optional[List[int]] = None  # vertex budgets, 0 = full mesh; None: 0 + the target profiles' budgets
    dense_models: Optional[List[str]] = None  # "dense_approx", "bfm"; None: dense_approx + bfm when cached
    root: Optional[Path] = None


@dataclass
class BenchReport:
    machine: dict
    settings: dict
    results: List[BenchResult]
    pipeline: List[PipelineResult]
    skipped: List[dict]
    dense: List[DenseResult] = field(default_factory=list)
    dense_setup: Optional[dict] = None  # one-off costs and the facts of the dense section (None: not run)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "machine": self.machine,
            "settings": self.settings,
            "results": [r.to_dict() for r in self.results],
            "pipeline": [p.to_dict() for p in self.pipeline],
            "dense": [d.to_dict() for d in self.dense],
            "dense_setup": self.dense_setup,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class PipelineCase:
    variant: str  # tflite-float32 | tflite-int8 | ...
    tracking: bool
    threads: int
    video: str
    frames: Optional[int]
    root: Optional[str]
    detector_size: tuple = (640, 480)
    warmup_frames: int = 5


@dataclass
class DenseResult:
    model: str  # dense_approx | bfm
    vertices: int
    triangles: int
    budget: int  # vertex budget asked for (0: the full mesh); `vertices` is what decimation kept
    stage: str  # one of dense_cases.DENSE_STAGES
    backend: str  # numpy | numba (render-points, reconstruct and smooth: numpy)
    median_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    runs: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DenseCase:
    root: Optional[str]
    models: tuple  # dense model kinds, in order (dense_cases.DENSE_MODELS)
    budgets: tuple  # vertex budgets (0: the full mesh)
    frame_size: tuple = (640, 480)
    face_px: int = 250  # larger side of the face mesh's bounding box in the frame
    point_step: int = 4  # "points" draws every 4th vertex, as `edgeface run --render points`


def resolve_names(names: Iterable[str], aliases: dict, hint: str, what: str) -> List[str]:
    """Comma-separated or repeated option values -> canonical names (first seen first, no repeats)."""
    out: List[str] = []
    for n in names:
        for part in str(n).split(","):
            part = part.strip().lower()
            if not part:
                continue
            k = aliases.get(part)
            if k is None:
                raise EdgefaceError(f"unknown {what} '{part}': {hint}")
            if k not in out:
                out.append(k)
    return out


def normalize_variants(names: Optional[Iterable[str]]) -> List[str]:
    if not names:
        return list(ALL_VARIANTS)
    out = resolve_names(names, VARIANT_ALIASES,
                         f"use {', '.join(ALL_VARIANTS)} (or ort, fp32, fp16, int8, int8_floatio)", "variant")
    return sorted(out, key=ALL_VARIANTS.index)  # canonical order: tables read the same whatever the flags


def default_threads(cpu_count: Optional[int] = None) -> List[int]:
    n = cpu_count or os.cpu_count() or 1
    return [t for t in (1, 2, 4) if t <= n] or [1]


def available_runtimes() -> List[str]:
    """The TFLite runtimes importable here (checked without importing them)."""
    return [m for m in TFLITE_RUNTIMES if importlib.util.find_spec(m) is not None]


def _model_names(models: Optional[Iterable[str]], detector: str, root: Optional[Path]) -> List[str]:
    if not models:
        names = ["mb05"]
        if store.model_dir("mb1", root).is_dir() or (paths.onnx_dir(root) / "mb1.onnx").is_file():
            names.append("mb1")
        return names + [detector]
    out = []
    for m in models:
        for part in str(m).split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part == "faceboxes" or part.startswith("faceboxes_"):
                part = detector if part == "faceboxes" else part
            elif part not in REGRESSORS:
                raise EdgefaceError(f"unknown model '{part}': use mb05, mb1 or faceboxes")
            if part not in out:
                out.append(part)
    return out


def onnx_original(name: str, root: Optional[Path]) -> Path:
    """The ONNX upstream-equivalent graph: the manifest's reference ONNX, else the cache's."""
    for v in TFLITE_VARIANTS:
        mp = store.model_path(name, v, root).with_suffix(".json")
        if mp.is_file():
            try:
                ref = Path(json.loads(mp.read_text())["reference_onnx"]["path"])
            except (KeyError, ValueError):
                continue
            if ref.is_file():
                return ref
    return paths.onnx_dir(root) / f"{name}.onnx"


def plan_cases(opts: BenchOptions) -> tuple:
    """(cases, skipped): every case to run, and what was asked for but is not there (with why)."""
    root = opts.root
    detector = detector_name(*opts.detector_size)
    variants = normalize_variants(opts.variants)
    threads = sorted(set(opts.threads or default_threads()))
    if any(t < 1 for t in threads):
        raise EdgefaceError(f"thread counts must be >= 1, got {threads}")
    installed = available_runtimes()
    runtimes = list(opts.runtimes) if opts.runtimes else installed
    cases: List[BenchCase] = []
    skipped: List[dict] = []
    for r in list(runtimes):
        if r not in TFLITE_RUNTIMES:
            raise EdgefaceError(f"unknown TFLite runtime '{r}': use {' or '.join(TFLITE_RUNTIMES)}")
        if r not in installed:
            runtimes.remove(r)
            skipped.append({"model": "*", "variant": f"tflite ({r})", "reason": f"{TFLITE_RUNTIMES[r]} is not installed"})
    have_ort = importlib.util.find_spec("onnxruntime") is not None
    for name in _model_names(opts.models, detector, root):
        kind = "regressor" if name in REGRESSORS else "detector"
        for variant in variants:
            if variant == ORT_VARIANT:
                p = onnx_original(name, root)
                if not p.is_file():
                    skipped.append({"model": name, "variant": variant, "reason": f"{p.name} not in the cache (run `edgeface export`)"})
                    continue
                if not have_ort:
                    skipped.append({"model": name, "variant": variant, "reason": "onnxruntime not installed"})
                    continue
                cases += [BenchCase(name, kind, variant, str(p), "onnxruntime", t) for t in threads]
                continue
            p = store.model_path(name, variant.split("-", 1)[1], root)
            if not p.is_file() or not p.with_suffix(".json").is_file():
                skipped.append({"model": name, "variant": variant, "reason": f"{p.name} not converted"})
                continue
            if not runtimes:
                skipped.append({"model": name, "variant": variant, "reason": "no TFLite runtime installed (pip install ai-edge-litert)"})
                continue
            cases += [BenchCase(name, kind, variant, str(p), rt, t) for rt in runtimes for t in threads]
    return cases, skipped
