"""onnxruntime backend with the same interface as `tflite_backend.TFLiteModel`.

`run(x)` takes raw BGR pixels NHWC (uint8) and returns {output name: float32 array}; the
normalization and the NCHW transpose the ONNX graph expects come from its JSON sidecar (or the
model card). Used for calibration, verification and the onnxruntime reference in `bench`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgeface.errors import EdgefaceError, RuntimeMissingError


class OnnxModel:
    def __init__(self, path: str | Path, mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                 num_threads: int = 1, raw_input: bool = False):
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeMissingError("onnxruntime is not installed; install the conversion extra: pip install 'edgeface[convert]'") from None
        self.runtime_label = f"onnxruntime {ort.__version__}"
        self.path = Path(path)
        if mean is None and not raw_input:
            sidecar = self.path.with_suffix(".json")
            if not sidecar.is_file():
                raise EdgefaceError(f"{self.path} has no sidecar {sidecar.name} giving its normalization; pass mean/std")
            norm = json.loads(sidecar.read_text())["input"]["normalization"]
            mean, std = norm["mean"], norm["std"]
        self.raw_input = raw_input
        self.mean = None if raw_input else np.asarray(mean, np.float32).reshape(1, 1, 1, -1)
        self.inv_std = None if raw_input else (1.0 / np.asarray(std, np.float32)).reshape(1, 1, 1, -1)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise EdgefaceError(f"onnxruntime cannot load {self.path} ({str(e).splitlines()[0][:120]}): "
                                "re-run `edgeface export` (or copy the .onnx again)") from None
        i = self.session.get_inputs()[0]
        self.input_name = i.name
        self.input_shape = tuple(i.shape)  # NCHW
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.num_threads = num_threads
        self.invocations = 0  # session runs so far (warm-up included)

    def run(self, x: np.ndarray) -> dict:
        if x.ndim == 3:
            x = x[None]
        xf = x.astype(np.float32)
        if not self.raw_input:
            xf = (xf - self.mean) * self.inv_std
        blob = np.ascontiguousarray(xf.transpose(0, 3, 1, 2))
        outs = self.session.run(None, {self.input_name: blob})
        self.invocations += 1
        return dict(zip(self.output_names, outs))

    def warm(self) -> None:
        """One run on a blank input (a dynamic input size is left cold: its shape is not known yet)."""
        n, c, h, w = self.input_shape
        if all(isinstance(d, int) for d in (c, h, w)):
            self.run(np.zeros((n if isinstance(n, int) else 1, h, w, c), np.uint8))

    def time_run(self, x: np.ndarray) -> tuple:
        t0 = time.perf_counter()
        y = self.run(x)
        return y, (time.perf_counter() - t0) * 1000.0
