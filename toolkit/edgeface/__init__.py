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

Subpackages say which side they are on: board runtime `runtime`, `dense`, `io`, `viz`; both
`hub`, `boards`; workstation `convert` (the `[convert]` extra: torch, onnx, onnx2tf, TensorFlow)
and `bench`; `cli` holds the Typer commands.
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
