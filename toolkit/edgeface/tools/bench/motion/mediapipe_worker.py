"""MediaPipe FaceMesh on the motion benchmark's frames, run by the python of MediaPipe's own venv.

    <venv>/bin/python mediapipe_worker.py --frames F.npy --out R.npz --max-faces N

(stdlib + numpy + mediapipe only: edgeface is not installed there.) The legacy solution
`mediapipe.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=N)` in tracking mode
over the BGR frames (converted to RGB before timing). Writes, per frame, the 468 points of every face in
frame pixels (`points`: (K, 468, 2) for frame i at `offsets[i]:offsets[i+1]`) and the time of each
`process` call (ms).
"""

import argparse
import sys
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-faces", type=int, required=True)
    a = ap.parse_args(argv)
    import mediapipe as mp  # lazy: only in MediaPipe's venv

    frames = np.load(a.frames)
    rgb = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
    h, w = frames.shape[1:3]
    pts, offsets, ms = [], [0], []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=a.max_faces) as mesh:
        for im in rgb:
            t0 = time.perf_counter()
            res = mesh.process(im)
            ms.append((time.perf_counter() - t0) * 1000.0)
            for fl in res.multi_face_landmarks or []:
                pts.append(np.array([(p.x * w, p.y * h) for p in fl.landmark], np.float32))
            offsets.append(len(pts))
    np.savez(a.out, points=np.array(pts, np.float32).reshape(-1, 468, 2), offsets=np.array(offsets), ms=np.array(ms),
             version=np.array(mp.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
