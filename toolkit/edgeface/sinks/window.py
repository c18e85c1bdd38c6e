"""The window sink: the annotated frames in an OpenCV window (`ShowSink`), when there is a display
to show it on (`has_display`)."""

from __future__ import annotations

import contextlib
import os
from typing import Optional

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.frames import Frame
from edgeface.results import FrameResult
from edgeface.sink import BaseSink, picture


def has_display(environ: Optional[dict] = None) -> bool:
    """Whether a window can be shown: DISPLAY or WAYLAND_DISPLAY is set (in `environ`, default os.environ)."""
    env = os.environ if environ is None else environ
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


class ShowSink(BaseSink):
    """A window (cv2.imshow). Press q or Esc to ask the pipeline to stop (`stopped` becomes True)."""

    def __init__(self, window: str = "edgeface", environ: Optional[dict] = None):
        if not has_display(environ):
            raise EdgefaceError("no display to show the window (DISPLAY / WAYLAND_DISPLAY not set): "
                                "use --serve PORT to watch in a browser, or --out FILE")
        self.window = window
        self.stopped = False
        self._opened = False

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        import cv2

        try:
            cv2.imshow(self.window, picture(frame, annotated))
            key = cv2.waitKey(1) & 0xFF
        except cv2.error:
            raise EdgefaceError("this OpenCV has no window support (opencv-python-headless): "
                                "pip install opencv-python, or use --serve PORT") from None
        self._opened = True
        if key in (27, ord("q")):
            self.stopped = True

    def close(self) -> None:
        if self._opened and not self.closed:
            import cv2

            with contextlib.suppress(Exception):
                cv2.destroyWindow(self.window)
                cv2.waitKey(1)
        self.closed = True
