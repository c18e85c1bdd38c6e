"""MobileNetV1 3DMM regressor of 3DDFA_V2 ("mb05": width 0.5, "mb1": width 1.0).

Input: 1x3x120x120 BGR crop normalized as (x - 127.5) / 128. Output: 62 normalized 3DMM
parameters (12 pose, 40 shape, 10 expression); de-normalize with param_std / param_mean.

Module and parameter names follow the upstream checkpoints (conv1, bn1, dw2_1 ... dw6,
fc_param, and the training-only landmark head fc_lm) so that a checkpoint loads with
strict key matching. The landmark head is kept only to make loading exact; it is not part
of `forward` (and therefore not of the exported graph).
"""

from __future__ import annotations

import torch
from torch import nn

from edgeface.errors import EdgefaceError

#: arch name -> widen factor
WIDEN_FACTORS = {"mb05": 0.5, "mb1": 1.0}

NUM_PARAMS = 62
NUM_LANDMARK_OUTPUTS = 136  # 68 x 2: the auxiliary head the checkpoints were trained with

# (input channels, output channels, stride) of the 13 depthwise-separable blocks at width 1.0.
_BLOCKS = (
    ("dw2_1", 32, 64, 1),
    ("dw2_2", 64, 128, 2),
    ("dw3_1", 128, 128, 1),
    ("dw3_2", 128, 256, 2),
    ("dw4_1", 256, 256, 1),
    ("dw4_2", 256, 512, 2),
    ("dw5_1", 512, 512, 1),
    ("dw5_2", 512, 512, 1),
    ("dw5_3", 512, 512, 1),
    ("dw5_4", 512, 512, 1),
    ("dw5_5", 512, 512, 1),
    ("dw5_6", 512, 1024, 2),
    ("dw6", 1024, 1024, 1),
)


class DepthwiseSeparable(nn.Module):
    """3x3 depthwise conv + BN + ReLU, then 1x1 pointwise conv + BN + ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv_dw = nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False)
        self.bn_dw = nn.BatchNorm2d(c_in)
        self.conv_sep = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn_sep = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn_dw(self.conv_dw(x)))
        return torch.relu(self.bn_sep(self.conv_sep(x)))


class MobileNetV1(nn.Module):
    """MobileNetV1 backbone + global average pool + linear head of `num_params` outputs."""

    def __init__(self, widen_factor: float = 1.0, num_params: int = NUM_PARAMS,
                 landmark_head: bool = False):
        super().__init__()
        self.widen_factor = float(widen_factor)

        def ch(c: int) -> int:
            return int(c * self.widen_factor)

        self.conv1 = nn.Conv2d(3, ch(32), 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch(32))
        self.block_names = [name for name, *_ in _BLOCKS]
        for name, c_in, c_out, stride in _BLOCKS:
            setattr(self, name, DepthwiseSeparable(ch(c_in), ch(c_out), stride))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc_param = nn.Linear(ch(1024), num_params)
        self.fc_lm = nn.Linear(ch(1024), NUM_LANDMARK_OUTPUTS) if landmark_head else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        for name in self.block_names:
            x = getattr(self, name)(x)
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_param(self.features(x))


def build_regressor(arch: str, landmark_head: bool = False) -> MobileNetV1:
    """An untrained regressor of the named architecture ("mb05" or "mb1")."""
    if arch not in WIDEN_FACTORS:
        raise EdgefaceError(
            f"unknown regressor architecture {arch!r}: use one of {', '.join(WIDEN_FACTORS)}")
    return MobileNetV1(WIDEN_FACTORS[arch], NUM_PARAMS, landmark_head=landmark_head)
