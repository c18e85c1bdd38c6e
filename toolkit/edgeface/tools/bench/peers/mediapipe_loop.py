"""MediaPipe FaceMesh as a peer, run by the python of MediaPipe's own venv (edgeface is not installed there).

    <venv>/bin/python mediapipe_loop.py --frames F.npy --out R.json --rgb

The legacy solution `mediapipe.solutions.face_mesh.FaceMesh(static_image_mode=False,
max_num_faces=1)` of mediapipe 0.10.18 (the last release whose wheel bundles its face models),
in tracking mode: detection on the first frame, then its landmark model follows the face. MediaPipe
takes RGB, so the frames are converted once before timing (`--rgb`, like decoding: not timed).
A new FaceMesh per pass starts a new sequence. Timestamps are given at 25 fps.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from timing import worker_main  # noqa: E402  (stdlib + numpy only)


def _build(extra):
    import mediapipe as mp

    state = {"mesh": None}

    def reset():
        if state["mesh"] is not None:
            state["mesh"].close()
        state["mesh"] = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1)

    def process(rgb):
        res = state["mesh"].process(rgb)
        return len(res.multi_face_landmarks or [])

    return process, reset, {"runtime": f"mediapipe {mp.__version__}", "mode": "face_mesh tracking, max_num_faces=1"}


if __name__ == "__main__":
    sys.exit(worker_main(_build))
