"""FaceBoxes face detector as shipped with 3DDFA_V2 (FaceBoxesProd weights).

Input: 1x3xHxW BGR image minus the mean colour (104, 117, 123), std 1.
Outputs: loc [1, P, 4] (SSD box offsets per prior) and conf [1, P, 2] (softmax over
[background, face]). Module names follow the upstream checkpoint so it loads with strict keys.

`make_int8_friendly` rewrites a loaded model into a graph with identical maths that quantizes
better: the 3x3 average pool becomes a fixed depthwise conv (weights 1/9) and each CReLU
(conv + BN, concat[x, -x], relu) becomes one conv with weights [W; -W] (BN folded) and a relu.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

#: anchor configuration of the FaceBoxesProd weights (upstream FaceBoxes/utils/config.py)
PRIOR_CONFIG = {
    "min_sizes": [[32, 64, 128], [256], [512]],
    "steps": [32, 64, 128],
    "variance": [0.1, 0.2],
    "clip": False,
}
#: anchors per feature-map location of the three detection sources (32 -> 4x4 dense, 64 -> 2x2)
ANCHORS_PER_LOCATION = (21, 1, 1)
NUM_CLASSES = 2
MEAN_BGR = (104.0, 117.0, 123.0)


def num_priors(width: int, height: int) -> int:
    """Number of priors P for a WxH input (equals the rows of loc/conf)."""
    return sum(math.ceil(height / s) * math.ceil(width / s) * a
               for s, a in zip(PRIOR_CONFIG["steps"], ANCHORS_PER_LOCATION))


class ConvBNReLU(nn.Module):
    """conv (no bias) + BN + ReLU; upstream `BasicConv2d`."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class CReLU(nn.Module):
    """conv (no bias) + BN, then relu(concat[x, -x]): 2 * c_out channels out."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return torch.relu(torch.cat([x, -x], dim=1))


class FoldedCReLU(nn.Module):
    """The INT8-friendly CReLU: one conv with weights [W; -W] and bias [b; -b] (BN folded), relu."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv

    @classmethod
    def from_crelu(cls, crelu: CReLU) -> "FoldedCReLU":
        conv, bn = crelu.conv, crelu.bn
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            w = conv.weight * scale.reshape(-1, 1, 1, 1)
            b = bn.bias - bn.running_mean * scale
            if conv.bias is not None:
                b = b + conv.bias * scale
            fused = nn.Conv2d(conv.in_channels, 2 * conv.out_channels, conv.kernel_size,
                              stride=conv.stride, padding=conv.padding, bias=True)
            fused.weight.copy_(torch.cat([w, -w], dim=0))
            fused.bias.copy_(torch.cat([b, -b], dim=0))
        return cls(fused)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class AvgPool3x3(nn.Module):
    """3x3 average pool, stride 1, zero padding 1, padding counted in the divisor (upstream)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=True)


class DepthwiseMean3x3(nn.Module):
    """The same 3x3 mean as a fixed depthwise conv (weights 1/9, zero padding 1, no bias)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=1, padding=1, groups=channels, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(1.0 / 9.0)
        self.conv.weight.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Inception(nn.Module):
    """128 -> 4 x 32 channels: 1x1 | avgpool+1x1 | 1x1+3x3 | 1x1+3x3+3x3."""

    def __init__(self):
        super().__init__()
        self.branch1x1 = ConvBNReLU(128, 32, 1)
        self.pool = AvgPool3x3()
        self.branch1x1_2 = ConvBNReLU(128, 32, 1)
        self.branch3x3_reduce = ConvBNReLU(128, 24, 1)
        self.branch3x3 = ConvBNReLU(24, 32, 3, padding=1)
        self.branch3x3_reduce_2 = ConvBNReLU(128, 24, 1)
        self.branch3x3_2 = ConvBNReLU(24, 32, 3, padding=1)
        self.branch3x3_3 = ConvBNReLU(32, 32, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch1x1_2(self.pool(x))
        c = self.branch3x3(self.branch3x3_reduce(x))
        d = self.branch3x3_3(self.branch3x3_2(self.branch3x3_reduce_2(x)))
        return torch.cat([a, b, c, d], dim=1)


class FaceBoxesNet(nn.Module):
    """FaceBoxes in test phase: returns (loc [N, P, 4], softmax conf [N, P, 2])."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = CReLU(3, 24, kernel_size=7, stride=4, padding=3)
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = CReLU(48, 64, kernel_size=5, stride=2, padding=2)
        self.pool2 = nn.MaxPool2d(3, stride=2, padding=1)
        self.inception1 = Inception()
        self.inception2 = Inception()
        self.inception3 = Inception()
        self.conv3_1 = ConvBNReLU(128, 128, 1)
        self.conv3_2 = ConvBNReLU(128, 256, 3, stride=2, padding=1)
        self.conv4_1 = ConvBNReLU(256, 128, 1)
        self.conv4_2 = ConvBNReLU(128, 256, 3, stride=2, padding=1)
        sources = (128, 256, 256)
        self.loc = nn.Sequential(*[nn.Conv2d(c, a * 4, 3, padding=1)
                                   for c, a in zip(sources, ANCHORS_PER_LOCATION)])
        self.conf = nn.Sequential(*[nn.Conv2d(c, a * num_classes, 3, padding=1)
                                    for c, a in zip(sources, ANCHORS_PER_LOCATION)])

    def forward(self, x: torch.Tensor):
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        s1 = self.inception3(self.inception2(self.inception1(x)))
        s2 = self.conv3_2(self.conv3_1(s1))
        s3 = self.conv4_2(self.conv4_1(s2))
        n = x.shape[0]
        locs, confs = [], []
        for src, loc_head, conf_head in zip((s1, s2, s3), self.loc, self.conf):
            # NCHW -> NHWC so that rows follow the prior order (row, column, anchor)
            locs.append(loc_head(src).permute(0, 2, 3, 1).reshape(n, -1, 4))
            confs.append(conf_head(src).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes))
        loc = torch.cat(locs, dim=1)
        conf = torch.softmax(torch.cat(confs, dim=1), dim=-1)
        return loc, conf


def make_int8_friendly(model: FaceBoxesNet) -> FaceBoxesNet:
    """A copy of a loaded (eval) FaceBoxesNet with CReLU folded into one conv and the 3x3
    average pools as fixed depthwise convs; same outputs up to float rounding."""
    if not isinstance(model, FaceBoxesNet):
        raise TypeError(f"make_int8_friendly expects a FaceBoxesNet, got {type(model).__name__}")
    if model.training:
        raise ValueError("make_int8_friendly needs a model in eval mode (BN statistics are folded)")
    out = copy.deepcopy(model)
    out.conv1 = FoldedCReLU.from_crelu(model.conv1)
    out.conv2 = FoldedCReLU.from_crelu(model.conv2)
    for name in ("inception1", "inception2", "inception3"):
        getattr(out, name).pool = DepthwiseMean3x3(128)
    return out.eval()
