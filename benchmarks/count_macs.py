"""Count multiply-accumulates (MACs) and parameters of an ONNX graph, per op type.

    python benchmarks/count_macs.py $EDGEFACE_HOME/onnx/mb05.onnx $EDGEFACE_HOME/onnx/faceboxes_640x480.onnx

Counted: Conv / ConvTranspose (Cout * Hout * Wout * Cin/groups * kh * kw per image), Gemm and
MatMul (M * N * K). Not counted (a few percent at most in these networks): BatchNormalization
(folded into the conv at export), element-wise ops, pooling, Softmax, Concat. Shapes come from
ONNX shape inference on the exported (fixed-size) graph. Needs the `onnx` package.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def _dims(vi) -> list:
    return [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]


def count(path: Path) -> dict:
    import numpy as np
    import onnx
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    g = model.graph
    shapes = {vi.name: _dims(vi) for vi in list(g.value_info) + list(g.input) + list(g.output)}
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for name, arr in inits.items():
        shapes[name] = list(arr.shape)
    macs = defaultdict(int)
    n_ops = defaultdict(int)
    for node in g.node:
        n_ops[node.op_type] += 1
        if node.op_type in ("Conv", "ConvTranspose"):
            w = shapes[node.input[1]]
            out = shapes.get(node.output[0])
            if not out or None in out:
                raise SystemExit(f"{path.name}: no static output shape for {node.name}; export with a fixed input size")
            groups = next((a.i for a in node.attribute if a.name == "group"), 1)
            if node.op_type == "Conv":  # w: (Cout, Cin/groups, kh, kw); out: (N, Cout, H, W)
                macs["Conv"] += int(np.prod(out[1:])) * int(np.prod(w[1:]))
            else:  # w: (Cin, Cout/groups, kh, kw); each input pixel scatters into a kh x kw window
                inp = shapes[node.input[0]]
                macs["ConvTranspose"] += int(np.prod(inp[1:])) * int(np.prod(w[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            a, b = shapes.get(node.input[0]), shapes.get(node.input[1])
            if not a or not b or None in a or None in b:
                continue
            trans_b = next((a_.i for a_ in node.attribute if a_.name == "transB"), 0)
            k = a[-1]
            n = b[-2] if trans_b else b[-1]
            m = int(np.prod(a[:-1]))
            macs[node.op_type] += m * n * k
    params = int(sum(a.size for a in inits.values()))
    inp = g.input[0]
    return {"model": path.name, "input": _dims(inp), "macs": int(sum(macs.values())), "macs_by_op": dict(macs),
            "params": params, "ops": dict(sorted(n_ops.items(), key=lambda kv: -kv[1]))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx", nargs="+", type=Path)
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args(argv)
    rows = [count(p) for p in args.onnx]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['model']:40s} input {r['input']}  {r['macs'] / 1e6:8.1f} M MACs  {r['params'] / 1e6:6.2f} M params  "
                  f"({', '.join(f'{k} {v / 1e6:.1f}M' for k, v in r['macs_by_op'].items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
