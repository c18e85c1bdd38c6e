"""Options to runtime options: `FaceAlignerOptions` combined with the board profile (and a model bundle) into the
`runtime.PipelineOptions` an aligner builds its pipeline from (`resolve_options`), and the board profile it took.

Every value the options leave unset comes from the profile `--target` names (`auto`: this machine's), capped at
the cores this process may use: inference threads per stage, the networks' precisions and the detector's size,
the scan mode and interval (the profile's one-core interval when one core is usable), regressor workers,
smoothing, the dense-mesh budget. A model bundle (`BaseOptions.bundle`) supplies the cache root it unpacks to.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

from edgeface.boards.machine import usable_cores
from edgeface.boards.profiles import TargetChoice, resolve_target
from edgeface.bundle import open_for_run
from edgeface.errors import OptionsError
from edgeface.options import BaseOptions, FaceAlignerOptions, RunningMode
from edgeface.runtime.options import PipelineOptions
from edgeface.vocab import Precision, parse_size


def with_bundle(base: BaseOptions) -> BaseOptions:
    """`base` with its `bundle` opened (verified, unpacked into the cache): the bundle's folder as the model
    cache and its precision and detector size as the defaults. Unchanged without a bundle.

    Raises:
        OptionsError: a precision or detector size that the bundle does not hold.
        MissingAssetError / VerificationError: no such bundle file, or a damaged one.
    """
    if base.bundle is None:
        return base
    root, info = open_for_run(base.bundle)
    name = Path(base.bundle).name
    if base.precision_value is not None and base.precision_value.value != info.precision:
        raise OptionsError(f"bundle {name} holds {info.precision} models, not {base.precision_value.value}: drop "
                           f"precision, or pack one with `edgeface pack --precision {base.precision_value.value}`")
    size = base.detector_size_value
    if size is not None and tuple(size) != tuple(info.detector_size):
        raise OptionsError(f"bundle {name} holds FaceBoxes {info.detector_size[0]}x{info.detector_size[1]}, not "
                           f"{size[0]}x{size[1]}: drop detector_size, or pack one with "
                           f"`edgeface pack --detector-size {size[0]}x{size[1]}`")
    return dataclasses.replace(base, bundle=None, cache_root=root, precision=info.precision,
                               detector_precision=info.detector_precision_used,
                               detector_size=parse_size(tuple(info.detector_size)))


def resolve_options(options: FaceAlignerOptions) -> tuple[PipelineOptions, TargetChoice]:
    """(PipelineOptions, TargetChoice): `options` over their target profile (reads /proc for "auto") and
    their bundle: every option left at None takes the profile's value, as `edgeface run` does."""
    b = with_bundle(options.base_options)
    mode = options.mode
    choice = resolve_target(b.target)
    prof = choice.profile
    given = b.precision_value
    precision = given or (Precision.FP32 if b.backend == "onnx" else Precision.parse(prof.precision))
    cores = usable_cores()
    threads = min(b.threads, cores) if b.threads else min(int(prof.threads), cores)  # never more than the cores
    def stage_threads(profile_value: Optional[int]) -> Optional[int]:
        return threads if b.threads else min(int(profile_value), cores) if profile_value else None

    # a precision given here applies to both networks; the profile's may differ per stage
    det_precision = (None if b.detector_precision is None else Precision.parse(b.detector_precision)) or (
        None if given or b.backend == "onnx" or prof.detector_precision is None else Precision.parse(prof.detector_precision))
    size = b.detector_size_value
    # one usable core: the profile's one-core interval, because every scan takes that core from the tracking; faces
    # moving fast do not bring the scans closer then (the interval is a CPU budget, not a guess of the motion)
    one_core = cores == 1 and bool(prof.one_core_interval) and options.detect_interval is None
    pipeline_options = PipelineOptions(
        backend=b.backend, precision=precision, detector_precision=det_precision, regressor=b.regressor,
        threads=threads, runtime=b.runtime, regressor_threads=stage_threads(prof.regressor_threads),
        detector_threads=stage_threads(prof.detector_threads),
        # photos never scan periodically: no scan thread or second detector in IMAGE mode
        scan="inline" if mode is RunningMode.IMAGE else (options.scan or prof.scan),
        scan_threads=min(int(prof.scan_threads), cores),
        max_misses=prof.max_misses if options.max_misses is None else options.max_misses,
        detector_size=size or tuple(prof.detector_size), detector_fallback=size is None,
        score_threshold=options.score_threshold, max_faces=options.max_faces, tracking=options.tracking,
        detect_interval=options.detect_interval if options.detect_interval is not None else (
            prof.one_core_interval if one_core else prof.detect_interval),
        min_scan_interval=int(prof.one_core_interval) if one_core else 1,
        smoothing=dataclasses.replace(prof.smoothing, enabled=options.smoothing), dense=options.dense,
        dense_max_vertices=prof.dense_max_vertices if options.dense_vertices is None else options.dense_vertices,
        root=None if b.cache_root is None else Path(b.cache_root), bitexact=b.bitexact,
        roi_deadband=float(options.roi_deadband), motion=options.motion,
        # photos take the still-image path, one face at a time: no pool of regressor interpreters in IMAGE mode
        regressor_workers=1 if mode is RunningMode.IMAGE else (b.regressor_workers or min(int(prof.regressor_workers), cores)),
        **_still(options),
    )
    return pipeline_options, choice


def _still(options: FaceAlignerOptions) -> dict[str, Any]:
    """The `still` keyword of `PipelineOptions` (none: its default `StillConfig`)."""
    return {} if options.still is None else {"still": options.still}


__all__ = ("resolve_options", "with_bundle")
