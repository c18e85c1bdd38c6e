"""PyTorch definitions of the 3DDFA_V2 networks and strict checkpoint loading.

Needs the `convert` extra (torch); the board runtime never imports this package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from edgeface.errors import EdgefaceError, MissingAssetError
from edgeface.tools.convert.torch_nets.faceboxes import (
    ANCHORS_PER_LOCATION,
    MEAN_BGR,
    PRIOR_CONFIG,
    FaceBoxesNet,
    make_int8_friendly,
    num_priors,
)
from edgeface.tools.convert.torch_nets.mobilenet_v1 import WIDEN_FACTORS, MobileNetV1, build_regressor

__all__ = [
    "ANCHORS_PER_LOCATION",
    "MEAN_BGR",
    "PRIOR_CONFIG",
    "WIDEN_FACTORS",
    "FaceBoxesNet",
    "MobileNetV1",
    "build_regressor",
    "load_detector",
    "load_regressor",
    "load_state_dict_strict",
    "make_int8_friendly",
    "num_priors",
    "read_checkpoint",
]

_MAX_LISTED = 5


def read_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a .pth checkpoint (safe loading, weights_only=True).

    Accepts a plain state dict or a dict with a 'state_dict' entry; strips the 'module.'
    prefix that DataParallel training leaves on every key.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingAssetError(f"checkpoint {path} does not exist: run `edgeface fetch` first")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise EdgefaceError(
            f"cannot read {path} as a PyTorch checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}): re-fetch it with `edgeface fetch --force`"
        ) from exc
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise EdgefaceError(f"{path} holds no state dict of tensors: re-fetch it with `edgeface fetch --force`")
    sd = dict(obj)
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _listing(keys) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return ", ".join(keys[:_MAX_LISTED]) + more


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> nn.Module:
    """Load with exact key and shape match; a mismatch raises EdgefaceError naming the keys."""
    expected = model.state_dict()
    missing = set(expected) - set(state_dict)
    extra = set(state_dict) - set(expected)
    problems = []
    if missing:
        problems.append(f"missing keys {_listing(missing)}")
    if extra:
        problems.append(f"unexpected keys {_listing(extra)}")
    shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
              for k, v in expected.items() if k in state_dict and state_dict[k].shape != v.shape]
    if shapes:
        problems.append(f"shape mismatch (checkpoint vs model) {_listing(shapes)}")
    if problems:
        raise EdgefaceError(f"{what} does not match the network: {'; '.join(problems)}; "
                            f"check that the checkpoint is the right file for this architecture")
    model.load_state_dict(state_dict, strict=True)
    return model


def load_regressor(checkpoint: str | os.PathLike, arch: str) -> MobileNetV1:
    """The 3DDFA_V2 MobileNetV1 regressor ("mb05" or "mb1") with weights, in eval mode."""
    sd = read_checkpoint(checkpoint)
    # Upstream names the 62-output head `fc` in its model file and `fc_param` in the
    # checkpoints (next to the training-only landmark head `fc_lm`).
    if "fc_param.weight" not in sd and "fc.weight" in sd:
        sd = {("fc_param." + k[3:] if k.startswith("fc.") else k): v for k, v in sd.items()}
    model = build_regressor(arch, landmark_head="fc_lm.weight" in sd)
    load_state_dict_strict(model, sd, f"checkpoint {checkpoint} (as {arch})")
    return model.eval()


def load_detector(checkpoint: str | os.PathLike) -> FaceBoxesNet:
    """FaceBoxes with the FaceBoxesProd weights, in eval mode (softmax on conf)."""
    model = FaceBoxesNet()
    load_state_dict_strict(model, read_checkpoint(checkpoint), f"checkpoint {checkpoint} (as FaceBoxes)")
    return model.eval()
