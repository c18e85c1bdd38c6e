"""Deprecated (goes in edgeface 0.2): use `edgeface.FaceAlignerOptions`, `edgeface.BaseOptions` and
`edgeface.RunningMode` (`edgeface.options`)."""

from edgeface.deprecation import warn_renamed
from edgeface.options import BaseOptions, FaceAlignerOptions, RunningMode

warn_renamed("edgeface.aligner_options", "edgeface.FaceAlignerOptions / edgeface.BaseOptions / edgeface.RunningMode")

__all__ = ["BaseOptions", "FaceAlignerOptions", "RunningMode"]
