"""edgeface: 3DDFA_V2 3D dense face alignment on ARM boards.

The public API, imported lazily (``import edgeface`` loads only this file, numpy-free even):

    import edgeface
    with edgeface.FaceAligner.create(precision="int8") as aligner:
        result = aligner.detect(image_bgr)          # FrameResult: faces with (68, 3) landmarks, pose

- `FaceAligner`, `FaceAlignerOptions`, `RunningMode` (IMAGE / VIDEO / LIVE_STREAM)
- results: `FrameResult`, `Face`, `Pose`
- `list_models()`: the networks of the model cards and what is converted in the cache
- vocabulary: `Precision`; errors: `EdgefaceError`, `OptionsError` (ValueError),
  `MissingAssetError` (FileNotFoundError), `RuntimeMissingError` (ImportError), `VerificationError`

The tree follows the data flow; every package imports only from the layers below it (the contracts in
pyproject.toml, checked by tests/test_layers.py):

    cli        the Typer commands, one module per command: thin calls into the layers below
    tools      workstation only (never imported by the board side): convert/ (checkpoint -> ONNX ->
               TFLite, the [convert] extra) and bench/ (latency, eval, peers, stability, soak)
    app        the run loop on top of the library: live feed, signals, doctor
    sources | sinks | fleet   frames in (images, video, cameras) | results out (files, JSONL, meshes,
               MJPEG stream) | many boards (MQTT publisher and queue, collector, bundles, service)
    aligner, options          FaceAligner and its options: the library's entry point
    boards     this machine's facts and the board profiles of targets/
    viz, dense overlays and rendering; the dense mesh
    runtime    backends, detection, tracking, regression, 3DMM decoding, smoothing, the pipeline
    hub        the cache: model cards, fetch, assets, manifests, atomic writes
    sink, results, frames, vocab, stats, errors   the types and helpers every layer shares
"""

__version__ = "0.1.0"

_EXPORTS = {
    "FaceAligner": "edgeface.aligner",
    "FaceAlignerOptions": "edgeface.options",
    "RunningMode": "edgeface.options",
    "FrameResult": "edgeface.results",
    "Face": "edgeface.results",
    "Pose": "edgeface.results",
    "list_models": "edgeface.hub.catalog",
    "ModelInfo": "edgeface.hub.catalog",
    "Precision": "edgeface.vocab",
    "EdgefaceError": "edgeface.errors",
    "OptionsError": "edgeface.errors",
    "MissingAssetError": "edgeface.errors",
    "RuntimeMissingError": "edgeface.errors",
    "VerificationError": "edgeface.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeface' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
