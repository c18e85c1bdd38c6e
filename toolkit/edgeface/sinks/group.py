"""Several sinks as one (`SinkGroup`), and the sink for an output spec (`make_sink`).

`make_sink(spec, fps, size)` picks the sink from the spec: `*.jsonl` (`sinks.jsonl`),
`*.mp4|.avi|.mov|.m4v` (`sinks.video`), `*.jpg|.jpeg|.png|.bmp|.webp` (`sinks.images`), a folder
(existing, or ending in '/', or without extension: `sinks.images.DirSink`), or `show` for a window
(`sinks.window`). Every sink has `write(frame, result, annotated)` and `close()`; `abort()` ends it
after an error (`edgeface.sink`). No sink leaves a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.frames import Frame
from edgeface.hub.output_guard import DIR, FILE, Output, check_outputs
from edgeface.results import FrameResult
from edgeface.sink import BaseSink, Sink
from edgeface.sinks.images import IMAGE_OUT_EXTS, DirSink, ImageSink
from edgeface.sinks.jsonl import JsonlSink, check_part
from edgeface.sinks.video import VIDEO_FOURCC, VideoSink
from edgeface.sinks.window import ShowSink


class SinkGroup(BaseSink):
    """Several sinks as one; close/abort reach every sink even if one fails."""

    def __init__(self, sinks: Sequence[Sink]):
        self.sinks = list(sinks)

    @property
    def stopped(self) -> bool:
        return any(getattr(s, "stopped", False) for s in self.sinks)

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        for s in self.sinks:
            s.write(frame, result, annotated)

    def _each(self, method: str) -> None:
        first: Optional[BaseException] = None
        for s in self.sinks:
            fn = getattr(s, method, None) or s.close
            try:
                fn()
            except Exception as e:  # keep closing the others
                first = first or e
        self.closed = True
        if first is not None:
            raise first

    def close(self) -> None:
        self._each("close")

    def abort(self) -> None:
        self._each("abort")


def output_kind(spec: Union[str, os.PathLike]) -> Optional[str]:
    """What `make_sink(spec)` writes: "file", "dir" (a folder of images), or None (a window)."""
    s = os.fspath(spec)
    if s.strip().lower() in ("show", ":show"):
        return None
    path = Path(s).expanduser()
    if s.endswith(("/", os.sep)) or path.is_dir() or path.suffix == "":
        return DIR
    return FILE


def check_run_outputs(inputs: Sequence[Union[str, os.PathLike]], save: Optional[str] = None,
                      json_path: Optional[Union[str, os.PathLike]] = None,
                      export_mesh: Optional[Union[str, os.PathLike]] = None) -> None:
    """Every output of a run checked together, before any work (`hub.output_guard`): none is an input or
    inside an input folder, none shares a path with another, none is a special file, every folder writable."""
    outs = []
    if json_path is not None:
        outs.append(Output(Path(json_path), "--json", FILE, "results.jsonl"))
        check_part(Path(json_path))
    if save:
        kind = output_kind(save)
        if kind is not None:
            outs.append(Output(Path(save), "--save", kind))
    if export_mesh is not None:
        outs.append(Output(Path(export_mesh), "--export-mesh", DIR))
    check_outputs(outs, inputs)


def make_sink(spec: Union[str, os.PathLike], fps: Optional[float] = None,
              size: Optional[Sequence[int]] = None) -> BaseSink:
    """A sink for an output spec: .jsonl, a video (.mp4 .avi .mov .m4v), an image (.jpg .png ...),
    a folder, or "show"."""
    s = os.fspath(spec)
    if s.strip().lower() in ("show", ":show"):
        return ShowSink()
    path = Path(s).expanduser()
    ext = path.suffix.lower()
    if s.endswith(("/", os.sep)) or path.is_dir():
        return DirSink(path)
    if ext == ".jsonl":
        return JsonlSink(path)
    if ext in VIDEO_FOURCC:
        return VideoSink(path, fps=fps, size=size)
    if ext in IMAGE_OUT_EXTS:
        return ImageSink(path)
    if ext == "":
        return DirSink(path)
    raise EdgefaceError(f"unknown output type {ext} for {path}: use .jsonl, .mp4, .avi, .jpg, .png, a folder, or show")
