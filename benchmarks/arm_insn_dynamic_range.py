"""Convert mb05 to a dynamic-range TFLite model (int8 weights, float activations) for the ARM counts.

The same graph edgeface converts (`edgeface convert --model mb05`): the cached ONNX export, the float
head split off (edgeface.tools.convert.onnx_graph.split_float_head), the normalization prepended (prepend_normalization),
then onnx2tf with -odrqt instead of the full-integer calibration. The result goes to
$EDGEFACE_HOME/bench/mb05_dynamic_range.tflite (outside the model cache that `edgeface run` reads:
it is for counting only, it has no manifest and is not verified). Needs the convert extra.

    python benchmarks/arm_insn_dynamic_range.py [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeface.hub.cards import get_card
from edgeface.tools.convert import onnx_graph as graph


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=Path(os.environ.get("EDGEFACE_HOME", Path.home() / ".cache" / "edgeface")))
    a = ap.parse_args(argv)
    src = a.home / "onnx" / "mb05.onnx"
    if not src.is_file():
        print(f"error: {src} not found: run `edgeface export --model mb05` (or make demo) first", file=sys.stderr)
        return 2
    try:
        import onnx
        import onnx2tf  # noqa: F401  (the convert extra)
    except ImportError as e:
        print(f"error: needs the convert extra (pip install -e '.[convert]'): {e}", file=sys.stderr)
        return 2
    card = get_card("mb05")
    model, _head = graph.split_float_head(graph.load_checked(src, [1, 3, 120, 120], what="mb05"))
    raw = graph.prepend_normalization(model, card.network["mean"], card.network["std"])
    dest = a.home / "bench" / "mb05_dynamic_range.tflite"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mb05-drq-", dir=dest.parent) as work:
        work = Path(work)
        onnx.save(raw, str(work / "model.onnx"))
        np.save(work / "calibration_image_sample_data_20x128x128x3_float32.npy", np.zeros((1, 8, 8, 3), np.float32))
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONWARNINGS="ignore")
        cmd = [sys.executable, "-c", "import sys; from onnx2tf.onnx2tf import main; sys.exit(main())",
               "-i", "model.onnx", "-o", "out", "-v", "error", "-odrqt"]
        with open(work / "onnx2tf.log", "w") as logf:
            rc = subprocess.run(cmd, cwd=work, stdout=logf, stderr=subprocess.STDOUT, env=env).returncode
        out = work / "out" / "model_dynamic_range_quant.tflite"
        if rc != 0 or not out.is_file():
            tail = (work / "onnx2tf.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            print(f"error: onnx2tf -odrqt failed (exit {rc}): {tail[0][:200]}", file=sys.stderr)
            return 1
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(out, tmp)
        os.replace(tmp, dest)
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
