"""edgeface as a peer: the public API (`edgeface.FaceAligner`, VIDEO mode) over pre-decoded frames.

    python -m edgeface.tools.bench.peers.edgeface_loop --frames F.npy --out R.json -- PRECISION TRACKING INTERVAL [ROOT]

TRACKING is `track` (crop from the previous landmarks, scans for new faces every INTERVAL frames;
`profile` takes the target profile's interval), `detect` (detector on every frame) or `floor`: the
models alone, what any pipeline on them must run per frame and nothing else. The untimed warm-up
pass runs the aligner (tracking, detector only when lost) and records each frame's crop; the timed
passes replay those crops through the aligner's own regressor (crop + resize, Invoke, float head,
de-normalization; on as many threads as the process has cores) and start a scan every INTERVAL
frames on the aligner's own scan path (the asynchronous scanner where the profile has one, waited
for when the next is due, as the pipeline does; else its detector in-line). No tracking, decoding, pose, smoothing or results: the fps no
implementation of tracking with these models and this scan rate can exceed on this machine.
Everything else is the aligner's default for this board (`target="auto"`: threads capped at the
cores the process may use, smoothing on), i.e. what a user's program gets.
"""

from __future__ import annotations

import os
import sys

import edgeface
from edgeface.tools.bench.peers.timing import worker_main


def _build(extra):
    precision, tracking, interval = extra[0], extra[1], extra[2]
    root = extra[3] if len(extra) > 3 and extra[3] else None
    opts = dict(precision=precision, running_mode="video", tracking=tracking != "detect", cache_root=root)
    if tracking == "floor":
        opts["detect_interval"] = 0  # the recording pass: crops as the tracking makes them
        opts["threads"] = len(os.sched_getaffinity(0))  # the regressor on every core it may use (2 are faster than 1 alone)
    elif tracking == "track" and interval != "profile":
        opts["detect_interval"] = int(interval)
    aligner = edgeface.FaceAligner.create(**opts)
    d = aligner.describe()
    info = {"runtime": d.get("runtime"), "threads": d.get("threads"), "detect_interval": d.get("detect_interval"),
            "target": d.get("target"), "xnnpack": getattr(aligner.pipeline.regressor.backend, "xnnpack", None)}
    if tracking == "floor":
        loop = ModelsOnlyLoop(aligner, int(interval))
        info.update(detect_interval=int(interval), scan=d.get("scan"), regressor_threads=d.get("regressor_threads"))
        return loop.process, loop.reset, info
    clock = {"ts": 0.0}

    def process(frame):
        clock["ts"] += 40.0  # 25 fps
        return len(aligner.detect_for_video(frame, clock["ts"]).faces)

    return process, aligner.reset, info


class ModelsOnlyLoop:
    """The floor's per-frame loop (module docstring): the first pass records the crops, the passes after it replay them."""

    def __init__(self, aligner, interval: int):
        self.aligner = aligner
        pipe = aligner.pipeline
        self.regressor, self.detector, self.scanner = pipe.regressor, pipe.detector, pipe.scanner
        self.interval = int(interval)
        self.rois: list = []  # per frame: the crop the tracking made (None: no face)
        self._i = 0
        self._recording = True
        self._ts = 0.0

    def reset(self) -> None:
        self.aligner.reset()
        self._recording = not self.rois
        self._i = 0

    def process(self, frame) -> int:
        i = self._i
        self._i = i + 1
        if self._recording:
            self._ts += 40.0
            faces = self.aligner.detect_for_video(frame, self._ts).faces
            self.rois.append(faces[0].roi if faces else None)
            return len(faces)
        if self.interval and i % self.interval == 0:
            scanner = self.scanner
            if scanner is None:
                self.detector(frame)
            else:  # the pipeline's rule: a scan still running when the next is due is waited for
                if scanner.poll() is None and scanner.pending_since is not None:
                    scanner.wait()
                scanner.submit(frame, i)
        roi = self.rois[i]
        if roi is not None:
            self.regressor(frame, roi)
        if self.scanner is not None:
            self.scanner.release()  # as the pipeline at the end of a frame: the worker has letterboxed it
        return 0 if roi is None else 1


def main(argv=None) -> int:
    return worker_main(_build, argv)


if __name__ == "__main__":
    sys.exit(main())
