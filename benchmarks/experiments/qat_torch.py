"""The mb05/mb1 regressor ONNX graph as a torch module, with the fake quantization TFLite INT8 applies
(the quantization-aware fine-tuning experiment: qat_finetune.py, benchmarks/experiments/qat-x86_64.md).

`OnnxNet` is built from the exported ONNX graph itself (Conv / Relu / GlobalAveragePool / Flatten /
Gemm: all the regressor graph holds), its weights as Parameters, so fine-tuning starts from exactly
the model that is converted, and `write_back` puts trained weights into a copy of that graph.

`Quant` makes the module compute what the INT8 TFLite model computes after `convert.ranges` clips
its ReLUs: the raw-pixel input normalized on the int8 grid (TFLite's SUB gives `pixel - 128`, then / 128), conv
weights rounded per output channel (symmetric, scale max|w| / 127; depthwise too), every ReLU
clipped at its fixed range p and rounded to 256 levels over [0, p], the pooled features rounded to
256 levels over their calibrated min..max. Rounding passes gradients straight through; the clip
does not (as the deployed model, values above p are lost). The head (Gemm) stays float, as the
deployed float head. Biases are left float (TFLite's int32 bias error is ~1e-6 of the output step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from edgeface.errors import EdgefaceError

SUPPORTED = ("Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm")


@dataclass(frozen=True)
class Quant:
    """Fake-quantization settings of `OnnxNet.forward`: {ReLU output name: clip p}, the pooled
    features' (min, max) and the input normalization (mean, std) folded into the first op."""
    relu_ranges: dict
    pooled_range: Optional[tuple]  # None: the pooled features unrounded
    mean: float = 127.5
    std: float = 128.0
    noise: bool = False  # training: activations get uniform noise of one step instead of rounding (see fake_act)
    only: Optional[str] = None  # attribution: round only this activation ("pooled" or a ReLU output); the others only clipped
    weights: bool = True  # round the conv weights


def _round_ste(x):
    return x + (x.round() - x).detach()


def _floor_ste(x):
    return x + (x.floor() - x).detach()


def fake_weight(w):
    """Per-output-channel symmetric int8 rounding of a conv weight (O, I, kh, kw), straight-through."""
    import torch

    scale = w.detach().abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12) / 127.0
    return torch.clamp(_round_ste(w / scale), -127, 127) * scale


def fake_act(x, lo: float, hi: float, noise: bool = False):
    """x clipped to [lo, hi] and rounded to 256 levels over it (straight-through rounding); with
    `noise`, uniform noise of one step added instead of the rounding: the rounding error as the
    network sees it under sensor noise, with a gradient that teaches it to be insensitive to it."""
    import torch

    step = (hi - lo) / 255.0
    c = torch.clamp(x, lo, hi)
    if noise:
        return c + (torch.rand_like(c) - 0.5) * step
    return _round_ste((c - lo) / step) * step + lo


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _torch_base():
    import torch

    return torch.nn.Module


class OnnxNet(_torch_base()):
    """A regressor ONNX graph (input NCHW normalized float, as exported) as a torch module.

    forward(x, quant=None, raw=False): x NCHW float; raw=True takes raw pixels 0..255 and normalizes
    them (with `quant`: on the int8 grid as TFLite does). `features=True` stops before the head."""

    def __init__(self, model):
        import torch
        from onnx import numpy_helper

        super().__init__()
        g = model.graph
        inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.ops = []  # (op, input name, output name, info)
        self.weights = torch.nn.ParameterDict()
        self.names = {}  # parameter key -> ONNX initializer name
        for i, n in enumerate(g.node):
            if n.op_type not in SUPPORTED:
                raise EdgefaceError(f"fine-tuning supports the regressor graph ({', '.join(SUPPORTED)}), not {n.op_type}")
            a = _attrs(n)
            info = {}
            if n.op_type in ("Conv", "Gemm"):
                keys = []
                for j, name in enumerate(n.input[1:3]):
                    key = f"n{i}_{'wb'[j]}"
                    self.weights[key] = torch.nn.Parameter(torch.from_numpy(np.array(inits[name], np.float32)))
                    self.names[key] = name
                    keys.append(key)
                info["keys"] = keys
            if n.op_type == "Conv":
                pads = list(a.get("pads", [0, 0, 0, 0]))
                if pads[:2] != pads[2:] or list(a.get("dilations", [1, 1])) != [1, 1]:
                    raise EdgefaceError(f"fine-tuning: conv {n.name} has asymmetric pads or dilation")
                info.update(stride=tuple(a.get("strides", [1, 1])), padding=tuple(pads[:2]), groups=int(a.get("group", 1)))
            if n.op_type == "Gemm" and (a.get("transB", 0) != 1 or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0
                                        or a.get("beta", 1.0) != 1.0):
                raise EdgefaceError(f"fine-tuning: unsupported Gemm attributes {a}")
            if n.op_type == "Flatten" and a.get("axis", 1) != 1:
                raise EdgefaceError("fine-tuning: Flatten must have axis 1")
            self.ops.append((n.op_type, n.input[0], n.output[0], info))
        self.input_name = g.input[0].name
        self.output_name = g.output[0].name

    def backbone_keys(self) -> list:
        """Parameter keys of the convolutions (what fine-tuning trains; the head stays as it is)."""
        return [k for op, _i, _o, info in self.ops if op == "Conv" for k in info["keys"]]

    def forward(self, x, quant: Optional[Quant] = None, raw: bool = False, features: bool = False):
        import torch
        import torch.nn.functional as F

        if raw:
            mean, std = (quant.mean, quant.std) if quant else (127.5, 128.0)
            if quant is not None:  # TFLite: SUB on the int8 grid (scale 1; measured: pixel - 127.5 -> pixel - 128), MUL by 1/std
                x = torch.clamp(_floor_ste(x - mean), -128, 127) / std
            else:
                x = (x - mean) / std
        vals = {self.input_name: x}
        for op, src, dst, info in self.ops:
            y = vals[src]
            if op == "Conv":
                w, b = (self.weights[k] for k in info["keys"])
                y = F.conv2d(y, fake_weight(w) if quant and quant.weights else w, b, info["stride"], info["padding"], 1, info["groups"])
            elif op == "Relu":
                if quant is None:
                    y = torch.relu(y)
                elif quant.only not in (None, dst):
                    y = torch.clamp(y, 0.0, float(quant.relu_ranges[dst]))
                else:
                    y = fake_act(y, 0.0, float(quant.relu_ranges[dst]), quant.noise)
            elif op == "GlobalAveragePool":
                y = y.mean(dim=(2, 3), keepdim=True)
                if quant is not None and quant.pooled_range is not None and quant.only in (None, "pooled"):
                    y = fake_act(y, *quant.pooled_range, quant.noise)
            elif op == "Flatten":
                y = y.flatten(1)
            else:  # Gemm, the head
                if features:
                    return y
                w, b = (self.weights[k] for k in info["keys"])
                y = F.linear(y, w, b)
            vals[dst] = y
        return vals[self.output_name]

    def pooled_name(self) -> str:
        return next(dst for op, _s, dst, _i in self.ops if op == "GlobalAveragePool")

    def write_back(self, model):
        """A copy of `model` (the graph this net was built from) with the net's current weights."""
        import onnx
        from onnx import numpy_helper

        m = onnx.ModelProto()
        m.CopyFrom(model)
        inits = {t.name: t for t in m.graph.initializer}
        for key, name in self.names.items():
            arr = self.weights[key].detach().cpu().numpy().astype(np.float32)
            inits[name].CopyFrom(numpy_helper.from_array(arr, name))
        onnx.checker.check_model(m)
        return m


__all__ = ("Quant", "OnnxNet", "fake_weight", "fake_act")
