"""One small class over the TFLite interpreters: ai_edge_litert -> tflite_runtime -> tensorflow.lite.

The first importable runtime wins and is reported. Inputs are fed in the dtype the model wants
(uint8 raw pixels for INT8 models, float32 for float models), outputs come back as float32
dequantized with the parameters recorded in the model's manifest: nothing is guessed at run time.
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from edgeface.errors import EdgefaceError, MissingAssetError, RuntimeMissingError, VerificationError
from edgeface.hub.locate import repair_hint
from edgeface.hub.manifest import REFIX, model_manifest, read_verified
from edgeface.runtime.native_stderr import native_info_filtered

RUNTIMES = ("ai_edge_litert", "tflite_runtime", "tensorflow")


@dataclass(frozen=True)
class RuntimeInfo:
    name: str  # ai_edge_litert | tflite_runtime | tensorflow
    version: str
    interpreter_cls: type = field(repr=False, compare=False)


def find_runtime(prefer: Optional[str] = None) -> RuntimeInfo:
    """The TFLite runtime to use: `prefer` if given (error if absent), else the first importable."""
    order = [prefer] if prefer else list(RUNTIMES)
    errors = []
    for name in order:
        try:
            if name == "ai_edge_litert":
                from ai_edge_litert import interpreter as mod
                import ai_edge_litert as pkg

                version = getattr(pkg, "__version__", None) or _dist_version("ai-edge-litert")
                return RuntimeInfo(name, version, mod.Interpreter)
            if name == "tflite_runtime":
                from tflite_runtime import interpreter as mod
                import tflite_runtime as pkg

                return RuntimeInfo(name, getattr(pkg, "__version__", _dist_version("tflite-runtime")), mod.Interpreter)
            if name == "tensorflow":
                import tensorflow as tf

                return RuntimeInfo(name, tf.__version__, tf.lite.Interpreter)
            raise ImportError(f"unknown runtime {name}")
        except ImportError as e:
            errors.append(f"{name}: {e}")
    hint = "pip install ai-edge-litert (or tflite-runtime on 32-bit boards)"
    raise RuntimeMissingError(f"no TFLite runtime importable ({'; '.join(errors)}); {hint}")


def _dist_version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "unknown"


class TFLiteModel:
    """A TFLite model and its manifest.

    `run(x)` takes one NHWC image batch of raw BGR pixels (uint8, 0..255) and returns
    {output name: float32 array}. The manifest says how the model wants its input (dtype and
    quantization); the preprocessing normalization lives inside the graph.
    """

    def __init__(self, path: str | Path, num_threads: int = 1, runtime: Optional[str] = None, manifest: Optional[dict] = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise MissingAssetError(f"model file {self.path} does not exist; run `edgeface convert` first")
        # verify before load: the interpreter is created from the verified bytes, never from a file
        # that does not match its manifest (a truncated .tflite can crash it in native code)
        self.manifest = model_manifest(self.path, manifest)
        model_bytes = read_verified(self.path, self.manifest["sha256"], self.manifest["size_bytes"],
                                    repair_hint(self.path, REFIX))
        self.runtime = find_runtime(runtime)
        self.num_threads = num_threads
        try:
            with native_info_filtered():  # the runtime's "INFO: Created ... XNNPACK delegate" line: --verbose only
                self._it = self.runtime.interpreter_cls(model_content=model_bytes, num_threads=num_threads)
                self._it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise EdgefaceError(f"{self.path.name}: the TFLite runtime cannot load it ({str(e).splitlines()[0]}); re-run `edgeface convert`") from None
        self._model_bytes = model_bytes  # the interpreter reads from this buffer
        self.invocations = 0  # Invoke calls so far (warm-up included)
        inp = self.manifest["input"]
        self._in_index = int(inp["tflite_index"])
        self._in_dtype = np.dtype(inp["dtype"])
        self._in_scale, self._in_zero = inp.get("quantization", [0.0, 0])
        # raw uint8 pixels are the quantized input values (the default models): fed as they are
        self._in_raw = self._in_dtype == np.uint8 and abs(self._in_scale - 1.0) < 1e-6 and self._in_zero == 0
        self._in_info = np.iinfo(self._in_dtype) if self._in_dtype.kind in "iu" else None  # None: float input
        self.input_shape = tuple(inp["shape"])
        self._outs = [(o["name"], int(o["tflite_index"]), o.get("quantization", [0.0, 0])) for o in self.manifest["outputs"]]
        self._head = self._load_head(self.manifest.get("float_head"))
        # check the manifest against the interpreter (a stale manifest must not be trusted)
        details = {d["index"]: d for d in self._it.get_input_details()}
        if self._in_index not in details or tuple(details[self._in_index]["shape"]) != self.input_shape:
            raise EdgefaceError(f"{self.path.name}: manifest input does not match the model; re-run `edgeface convert`")

    def _load_head(self, spec: Optional[dict]):
        """The float head (mixed precision): final FC layer kept in float, run in numpy."""
        if not spec:
            return None
        hp = self.path.parent / spec["file"]
        data = read_verified(hp, spec["sha256"])
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                w, b = z["W"].astype(np.float32), z["b"].astype(np.float32)
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise VerificationError(f"float head {hp} cannot be read ({e}); {REFIX}") from None
        return spec["input"], spec["output"], np.ascontiguousarray(w.T), b

    @property
    def xnnpack(self) -> Optional[bool]:
        """Whether the XNNPACK delegate was applied (None if the runtime does not say)."""
        try:
            ops = self._it._get_ops_details()  # noqa: SLF001 (public enough, used by TF tools)
            return any("DELEGATE" in o.get("op_name", "") for o in ops)
        except Exception:
            return None

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 3:
            x = x[None]
        if tuple(x.shape) != self.input_shape:
            raise EdgefaceError(f"{self.path.name}: input shape {tuple(x.shape)} != {self.input_shape}")
        if self._in_raw and x.dtype == np.uint8:
            return np.ascontiguousarray(x)  # raw pixels are the quantized values: no float work
        info = self._in_info
        if info is None:
            return np.ascontiguousarray(x, dtype=self._in_dtype)
        if x.dtype == np.uint8 and abs(self._in_scale - 1.0) < 1e-6:
            return (x.astype(np.int16) + int(self._in_zero)).clip(info.min, info.max).astype(self._in_dtype)
        q = np.round(x.astype(np.float32) / self._in_scale + self._in_zero)
        return q.clip(info.min, info.max).astype(self._in_dtype)

    def warm(self) -> None:
        """One Invoke on a blank input: XNNPACK packs its weights and the arena is planned now, so the
        first real frame costs what the tenth does."""
        self.run(np.zeros(self.input_shape, np.uint8))

    def run(self, x: np.ndarray) -> dict:
        it = self._it
        it.set_tensor(self._in_index, self._prepare(x))
        it.invoke()
        self.invocations += 1
        res = {}
        for name, idx, (scale, zero) in self._outs:
            y = it.get_tensor(idx)
            if y.dtype != np.float32:
                y = y.astype(np.float32)  # (q - zero) * scale, in place on the one new array
                y -= zero
                y *= scale
            res[name] = y
        if self._head is not None:
            feat_name, out_name, wt, b = self._head
            feat = res.pop(feat_name)
            # einsum, not `@`: numpy's BLAS splits this product over threads when 2+ cores are visible,
            # which changed the params in the last bit with the core count (and its threads spin
            # beside the interpreter's); einsum's own loop gives the same bits on 1 or N cores
            res[out_name] = np.einsum("ij,jk->ik", feat.reshape(feat.shape[0], -1), wt) + b
        return res

    def time_run(self, x: np.ndarray) -> tuple:
        t0 = time.perf_counter()
        y = self.run(x)
        return y, (time.perf_counter() - t0) * 1000.0
