"""Quantization-aware fine-tuning of the regressor (experiment, benchmarks/experiments/qat-x86_64.md): the INT8 student taught by the float model.

INT8 adds its own rounding noise to the float model's response to sensor noise (a still face
jitters more in INT8: benchmarks/experiments/int8-noise-*.md). Fine-tuning the weights so that the network
*as TFLite quantizes it* (`qat_torch.Quant`: per-channel int8 weights, every ReLU clipped
at its fixed percentile range and rounded to 256 levels, pooled features on their min-max grid)
matches the float teacher shrinks that. No labels: the teacher's landmarks are the target, so
it trains on the calibration sources only (augmented crops as `convert.calibrate` makes them, plus
Gaussian sensor noise of sigma 0..`noise`), never on the hold-out people or the dev set.

The loss is in landmark space: both networks' params -> 68 landmarks in crop pixels (param
denormalization + the sparse 3DMM bases, as `runtime.tdmm`, written in torch here); mean squared
distance, student(x) vs teacher(x) on the same noisy crop. The head (final FC) stays float and
unchanged. Only the INT8 variants are converted from the fine-tuned graph; float variants keep
the exact original weights. Deterministic: seeded, one torch thread.
Run by benchmarks/experiments/qat_experiment.py; measured in benchmarks/experiments/qat-x86_64.md (it does not reach its goal).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np

from edgeface.errors import EdgefaceError

Log = Callable[[str], None]


@dataclass(frozen=True)
class FinetuneOptions:
    """Fine-tuning settings: steps of Adam (lr, cosine decay) on batches of `batch`
    crops with sensor noise sigma ~ U(0, noise); `crops` augmented training crops; `seed`."""
    enabled: bool = True
    steps: int = 300
    batch: int = 16
    lr: float = 5e-5
    noise: float = 3.0
    crops: int = 1200
    seed: int = 0
    target: str = "teacher"  # "teacher": student(x + n) vs teacher(x + n); "clean": vs teacher(x)
    act_noise: bool = True  # train with uniform one-step activation noise instead of rounding (qat_torch.fake_act)

    def __post_init__(self):
        if self.steps < 0 or self.batch < 1 or not self.lr > 0 or self.noise < 0 or self.crops < 1:
            raise EdgefaceError(f"fine-tune settings need steps >= 0, batch >= 1, lr > 0, noise >= 0, crops >= 1 (got {self})")
        if self.target not in ("teacher", "clean"):
            raise EdgefaceError(f"fine-tune target must be \"teacher\" or \"clean\", not \"{self.target}\"")

    def to_dict(self) -> dict:
        return asdict(self)


class LandmarkMap:
    """Normalized params (B, 62) -> 68 landmarks (B, 68, 2) in 120x120 crop pixels, in torch
    (`tdmm.denormalize`, `tdmm.sparse_landmarks`, `tdmm.to_image` with the crop as the ROI)."""

    def __init__(self, stats, bases, size: int = 120):
        import torch

        self.mean = torch.from_numpy(np.asarray(stats.mean, np.float32))
        self.std = torch.from_numpy(np.asarray(stats.std, np.float32))
        self.u = torch.from_numpy(np.asarray(bases.u, np.float32)).reshape(-1, 3)  # (68, 3)
        self.w_shp = torch.from_numpy(np.asarray(bases.w_shp, np.float32)[:, :40]).reshape(-1, 3, 40)
        self.w_exp = torch.from_numpy(np.asarray(bases.w_exp, np.float32)[:, :10]).reshape(-1, 3, 10)
        self.size = size

    def __call__(self, out):
        import torch

        p = out * self.std + self.mean
        cam = p[:, :12].reshape(-1, 3, 4)
        shape = (self.u[None] + torch.einsum("nck,bk->bnc", self.w_shp, p[:, 12:52])
                 + torch.einsum("nck,bk->bnc", self.w_exp, p[:, 52:62]))  # (B, 68, 3)
        pts = torch.einsum("bij,bnj->bni", cam[:, :, :3], shape) + cam[:, None, :, 3]
        return torch.stack([pts[..., 0] - 1.0, self.size - pts[..., 1]], dim=-1)


def training_crops(recipe, detector, root, count: int, seed: int) -> np.ndarray:
    """`count` augmented crops of the recipe's calibration sources (never its hold-out), made as
    `calibrate.build` makes its augmented crops but with their own seed: (count, 120, 120, 3) uint8."""
    from edgeface.tools.convert import calibrate

    found = calibrate.find_faces(detector, recipe.regressor_sources, root)
    pairs = [(fr, r) for _l, fr, rois, _b in found for r in rois]
    if not pairs:
        raise EdgefaceError(f"fine-tuning: no faces in {', '.join(recipe.regressor_sources)}")
    rng = np.random.default_rng([seed, 1])
    return np.stack([calibrate.augmented_crop(*pairs[int(rng.integers(len(pairs)))], rng, recipe.augment)
                     for _ in range(count)])


def quant_setup(model, crops: np.ndarray, percentile: float, progress=None):
    """(OnnxNet of `model`, Quant): ReLU ranges = their `percentile` on `crops` (convert.ranges, on the
    original model, then kept fixed), pooled range = the original model's min..max on the crops."""
    import torch

    from edgeface.tools.convert.onnx_graph import prepend_normalization
    from qat_torch import OnnxNet, Quant
    from edgeface.tools.convert.ranges import relu_percentiles

    raw = prepend_normalization(model, [127.5] * 3, [128.0] * 3)
    rr = relu_percentiles(raw, crops, percentile, progress)
    net = OnnxNet(model)
    lo, hi = np.inf, -np.inf
    with torch.no_grad():
        for i in range(0, len(crops), 64):
            f = net(_tensor(crops[i:i + 64]), Quant(rr, None), raw=True, features=True)
            lo, hi = min(lo, float(f.min())), max(hi, float(f.max()))
    return net, Quant(rr, (min(lo, 0.0), hi))


def _tensor(crops: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(crops, np.float32).transpose(0, 3, 1, 2).copy())


def _noisy(x, sigma_max: float, gen):
    import torch

    if sigma_max <= 0:
        return x
    s = torch.rand(x.shape[0], 1, 1, 1, generator=gen) * sigma_max
    return torch.clamp(torch.round(x + torch.randn(x.shape, generator=gen) * s), 0, 255)


def landmark_error(student, teacher, quant, lmap, crops: np.ndarray, sigma: float = 0.0, seed: int = 1) -> float:
    """Mean landmark distance (crop px) of the quantized student vs the float teacher on `crops`
    (each with sensor noise of sigma `sigma`, the same for both)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    d = []
    with torch.no_grad():
        for i in range(0, len(crops), 64):
            x = _tensor(crops[i:i + 64])
            if sigma > 0:
                x = torch.clamp(torch.round(x + torch.randn(x.shape, generator=gen) * sigma), 0, 255)
            d.append((lmap(student(x, quant, raw=True)) - lmap(teacher(x, raw=True))).norm(dim=-1).mean(dim=1))
    return float(torch.cat(d).mean())


def finetune(model, crops: np.ndarray, train_crops: np.ndarray, check_crops: np.ndarray, percentile: float,
             stats, bases, opts: FinetuneOptions, log: Optional[Log] = None) -> tuple:
    """(fine-tuned ONNX model, ranges {ReLU output: p}, record): `model` the regressor ONNX (normalized
    input, with its head); `crops` the calibration crops (ranges), `train_crops` the training pool,
    `check_crops` held-out crops for the before/after error in the record."""
    import copy

    import torch

    log = log or (lambda s: None)
    t0 = time.perf_counter()
    torch.manual_seed(opts.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        teacher, quant = quant_setup(model, crops, percentile)
        student = copy.deepcopy(teacher)
        for p in teacher.parameters():
            p.requires_grad_(False)
        keys = set(student.backbone_keys())
        for k, p in student.weights.items():
            p.requires_grad_(k in keys)
        lmap = LandmarkMap(stats, bases)
        before = landmark_error(student, teacher, quant, lmap, check_crops, 2.0)
        log(f"fine-tune: INT8 student vs float teacher on {len(check_crops)} held-out crops: {before:.3f} px before")
        params = [student.weights[k] for k in sorted(keys)]
        optim = torch.optim.Adam(params, lr=opts.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, max(1, opts.steps))
        gen = torch.Generator().manual_seed(opts.seed)
        train_q = dataclasses.replace(quant, noise=opts.act_noise)
        pool = _tensor(train_crops)
        run = 0.0
        for step in range(opts.steps):
            idx = torch.randint(len(pool), (opts.batch,), generator=gen)
            clean = pool[idx]
            x = _noisy(clean, opts.noise, gen)
            with torch.no_grad():
                target = lmap(teacher(x if opts.target == "teacher" else clean, raw=True))
            loss = ((lmap(student(x, train_q, raw=True)) - target) ** 2).sum(-1).mean()
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            run = loss.item() if step == 0 else 0.95 * run + 0.05 * loss.item()
            if (step + 1) % 50 == 0 or step + 1 == opts.steps:
                log(f"  fine-tune step {step + 1}/{opts.steps}: loss {run:.4f} px^2 ({time.perf_counter() - t0:.0f} s)")
        after = landmark_error(student, teacher, quant, lmap, check_crops, 2.0)
        log(f"fine-tune: {after:.3f} px after ({time.perf_counter() - t0:.0f} s)")
        record = {"settings": opts.to_dict(), "percentile": percentile, "threads": 1,
                  "heldout_error_px": {"before": round(before, 5), "after": round(after, 5), "crops": int(len(check_crops)),
                                       "sigma": 2.0},
                  "seconds": round(time.perf_counter() - t0, 1)}
        return student.write_back(model), dict(quant.relu_ranges), record
    finally:
        torch.set_num_threads(threads)


__all__ = ("FinetuneOptions", "LandmarkMap", "quant_setup", "landmark_error", "finetune")
