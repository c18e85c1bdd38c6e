"""Run one TFLite model on one image with ai_edge_litert + XNNPACK and save its raw outputs.

Used by the `litert` step of tests/arm/run.sh on both sides (arm64 guest and x86 host), so that
tests/arm/compare.py can compare the two .npz files. Standalone on purpose: it needs only numpy,
opencv and ai_edge_litert (what the board venv has), not edgeface itself.

    python litert_check.py --model RFB-320.tflite --image emma.jpg --out out.npz [--min-face-score 0.9]

The .npz holds `input` (the tensor fed to the model) and one array per model output, keyed by the
output tensor name; a sidecar `<out>.meta.json` records the platform, versions, whether the XNNPACK
delegate was applied and the invoke time (informational, not compared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def preprocess(image_bgr: np.ndarray, shape: tuple, dtype, quant: tuple) -> np.ndarray:
    """Resize to the model input, BGR -> RGB, min-max scale to [-1, 1] (the RFB-320 convention).

    For a quantized input tensor the [-1, 1] values are quantized with the tensor's (scale, zero point).
    """
    import cv2

    _, h, w, c = (int(v) for v in shape)
    if c != 3:
        raise SystemExit(f"error: model input has {c} channels, this check feeds 3-channel images")
    resized = cv2.resize(image_bgr, (w, h), interpolation=cv2.INTER_LINEAR)
    rgb = resized[..., ::-1].astype(np.float32)
    lo, hi = float(rgb.min()), float(rgb.max())
    x = (rgb - lo) / max(hi - lo, 1e-6) * 2.0 - 1.0
    x = x[None]
    if np.issubdtype(dtype, np.integer):
        scale, zero = quant
        if not scale:
            raise SystemExit("error: integer model input without quantization parameters")
        info = np.iinfo(dtype)
        x = np.clip(np.round(x / scale + zero), info.min, info.max)
    return x.astype(dtype)


class CaptureStderr:
    """Capture what native code writes to file descriptor 2 (TFLite logs the delegate there)."""

    def __enter__(self) -> "CaptureStderr":
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._tmp = tempfile.TemporaryFile()
        os.dup2(self._tmp.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        self.text = self._tmp.read().decode("utf-8", errors="replace")
        self._tmp.close()
        sys.stderr.write(self.text)


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    fields = {}
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            fields.setdefault(key.strip(), value.strip())
    return fields.get("Model") or fields.get("model name") or fields.get("CPU part", "unknown")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--image", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-face-score", type=float, default=None,
                    help="fail unless an output of shape (1, N, 2) has a class-1 score above this (detector sanity)")
    args = ap.parse_args(argv)

    import cv2
    import ai_edge_litert
    from ai_edge_litert.interpreter import Interpreter

    for p in (args.model, args.image):
        if not p.is_file():
            raise SystemExit(f"error: {p} not found; check EDGEFACE_SHARED points at the shared data folder")
    image = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"error: OpenCV cannot decode {args.image}")

    with CaptureStderr() as cap:
        interp = Interpreter(model_path=str(args.model), num_threads=args.threads)
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        x = preprocess(image, tuple(inp["shape"]), inp["dtype"], inp["quantization"])
        interp.set_tensor(inp["index"], x)
        t0 = time.perf_counter()
        interp.invoke()
        invoke_ms = (time.perf_counter() - t0) * 1000.0
    xnnpack = "XNNPACK delegate" in cap.text

    arrays = {"input": x}
    for det in interp.get_output_details():
        arrays[det["name"]] = np.array(interp.get_tensor(det["index"]))

    failures = []
    if not xnnpack:
        failures.append("the XNNPACK delegate was not applied (is /sys mounted in the guest?)")
    if args.min_face_score is not None:
        scores = [a for k, a in arrays.items() if k != "input" and a.ndim == 3 and a.shape[-1] == 2]
        best = float(max((a[0, :, 1].max() for a in scores), default=float("nan")))
        print(f"best face score: {best:.4f}")
        if not best > args.min_face_score:
            failures.append(f"best face score {best:.4f} is not above {args.min_face_score}")

    meta = {
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "qemu_cpu": os.environ.get("QEMU_CPU", ""),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown"),
        "xnnpack": xnnpack,
        "threads": args.threads,
        "invoke_ms": round(invoke_ms, 3),
        "model": args.model.name,
        "image": args.image.name,
        "outputs": {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, args.out)
    meta_path = args.out.with_name(args.out.stem + ".meta.json")
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta))
    for f in failures:
        print(f"error: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
