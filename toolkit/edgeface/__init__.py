"""edgeface: 3DDFA_V2 3D dense face alignment on ARM boards.

The public API is what this module exports (`edgeface.__all__`), imported lazily: `import edgeface`
loads only this file, numpy-free even. Everything a program needs comes from here:

    import edgeface
    with edgeface.FaceAligner.create(precision="int8") as aligner:
        result = aligner.detect(image_bgr)          # FrameResult: faces with (68, 3) landmarks, pose

- `FaceAligner`; its options `BaseOptions` (models, how they run) and `FaceAlignerOptions` (the task),
  `RunningMode` (IMAGE / VIDEO / LIVE_STREAM), `ResultCallback` (the LIVE_STREAM callback's type)
- results: `FrameResult`, `Face`, `Pose` (angles in degrees, `rotation_matrix`); inputs: `Frame`
- `open_source(spec)` (images, folders, videos, cameras, "samples:NAME"), `sample_path(name)`,
  `draw_result(image, result)`, `LiveFeed` (a live camera's results back in order on your thread)
- `list_models()`, `ModelInfo`: the networks of the model cards and what is converted in the cache
- vocabulary: `Precision`; errors: `EdgefaceError`, `OptionsError` (ValueError), `MissingAssetError`
  (FileNotFoundError), `RuntimeMissingError` (ImportError), `VerificationError`; warnings:
  `TimestampUnitsWarning`

Time is in milliseconds everywhere. A name that moves keeps working for one release with a
`DeprecationWarning` naming the new one (`edgeface.deprecation`, CHANGELOG.md).

The tree follows the data flow; every package imports only from the layers below it (the contracts in
pyproject.toml, checked by tests/test_layers.py):

    cli        the Typer commands, one module per command: thin calls into the layers below
    tools      workstation only (never imported by the board side): convert/ (checkpoint -> ONNX ->
               TFLite, the [convert] extra) and bench/ (latency, eval, peers, stability, soak)
    app        the run loop on top of the library: live feed, signals, doctor
    sources | sinks | fleet   frames in (images, video, cameras) | results out (files, JSONL, meshes,
               MJPEG stream) | many boards (MQTT publisher and queue, collector, service)
    aligner    FaceAligner: the library's entry point
    options | bundle | live_worker   its options | model bundles (pack, verify, unpack) | LIVE_STREAM's thread
    boards     this machine's facts and the board profiles of targets/
    viz, dense overlays and rendering; the dense mesh
    runtime    backends, detection, tracking, regression, 3DMM decoding, smoothing, the pipeline
    hub        the cache: model cards, fetch, assets, manifests, atomic writes
    sink, records, callbacks, results, frames, vocab, stats, pose, timestamp_units, deprecation, errors
               the types, record formats (schemas/) and helpers every layer shares
    io, aligner_options   deprecated shims of old module paths: nothing imports them
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers see; at run time the names below resolve lazily (__getattr__)
    from edgeface.aligner import FaceAligner
    from edgeface.app.live_feed import LiveFeed
    from edgeface.callbacks import ResultCallback
    from edgeface.errors import EdgefaceError, MissingAssetError, OptionsError, RuntimeMissingError, VerificationError
    from edgeface.frames import Frame
    from edgeface.hub.assets import sample_path
    from edgeface.hub.catalog import ModelInfo, list_models
    from edgeface.options import BaseOptions, FaceAlignerOptions, RunningMode
    from edgeface.results import Face, FrameResult, Pose
    from edgeface.sources.spec import open_source
    from edgeface.timestamp_units import TimestampUnitsWarning
    from edgeface.viz.overlay import draw_result
    from edgeface.vocab import Precision

_EXPORTS = {
    "FaceAligner": "edgeface.aligner",
    "BaseOptions": "edgeface.options",
    "FaceAlignerOptions": "edgeface.options",
    "RunningMode": "edgeface.options",
    "ResultCallback": "edgeface.callbacks",
    "FrameResult": "edgeface.results",
    "Face": "edgeface.results",
    "Pose": "edgeface.results",
    "Frame": "edgeface.frames",
    "open_source": "edgeface.sources.spec",
    "sample_path": "edgeface.hub.assets",
    "draw_result": "edgeface.viz.overlay",
    "LiveFeed": "edgeface.app.live_feed",
    "list_models": "edgeface.hub.catalog",
    "ModelInfo": "edgeface.hub.catalog",
    "Precision": "edgeface.vocab",
    "EdgefaceError": "edgeface.errors",
    "OptionsError": "edgeface.errors",
    "MissingAssetError": "edgeface.errors",
    "RuntimeMissingError": "edgeface.errors",
    "VerificationError": "edgeface.errors",
    "TimestampUnitsWarning": "edgeface.timestamp_units",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeface' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
