"""Numerical parity of the pipeline's hot path between two checkouts (a dev check for changes that must
not change numbers, e.g. per-frame overhead work).

    python benchmarks/experiments/overhead_parity.py dump OUT.npz      # with the checkout to record on PYTHONPATH
    python benchmarks/experiments/overhead_parity.py compare A.npz B.npz [--tol 1e-4]

`dump` decodes obama.mp4 once (all frames, PyAV) and runs the frames through `runtime.loading.build_pipeline` for fp32 and
INT8: tracking with the `PipelineOptions` defaults, tracking with a ROI deadband (the FaceAligner
default), detector on every frame, and every frame as a still image (`still=True`); it records per
frame and face the id, box, score, ROI, landmarks, params, pose, camera and `tracked`. `compare` says
which fields are bit-identical and the largest difference of those that are not (fails above --tol).
Needs EDGEFACE_HOME (the model cache) and PyAV.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

import numpy as np

FIELDS = ("id", "bbox", "score", "roi", "landmarks", "params", "pose", "camera", "tracked", "detected")


def cases():
    from edgeface.vocab import Precision

    for prec in (Precision.FP32, Precision.INT8):
        yield f"{prec.value}-track", dict(precision=prec), False
        yield f"{prec.value}-deadband", dict(precision=prec, roi_deadband=0.02), False
        yield f"{prec.value}-every", dict(precision=prec, tracking=False), False
        yield f"{prec.value}-still", dict(precision=prec), True


def dump(out: str, only: str = "") -> None:
    from edgeface.hub.assets import sample_path
    from edgeface.sources.video import open_video
    from edgeface.runtime.loading import build_pipeline
    from edgeface.runtime.options import PipelineOptions

    with open_video(sample_path("obama"), backend="pyav") as src:
        frames = list(src)  # decoded once: every case sees the same pixels (recorded as a digest)
    digest = hashlib.sha256()
    for f in frames:
        digest.update(f.image.tobytes())
    rec = {"frames/sha256": np.array(digest.hexdigest())}
    print(f"{len(frames)} frames, sha256 {digest.hexdigest()[:16]}", flush=True)
    for name, kw, still in cases():
        if only and only not in name:
            continue
        pipe = build_pipeline(PipelineOptions(backend="tflite", **kw))
        rows = {k: [] for k in FIELDS}
        index = []
        for f in frames:
            r = pipe.process(f, still=still)
            for face in r.faces:
                index.append(r.frame)
                rows["id"].append(face.id)
                rows["bbox"].append(np.asarray(face.bbox))
                rows["score"].append(face.score)
                rows["roi"].append(np.asarray(face.roi))
                rows["landmarks"].append(face.landmarks)
                rows["params"].append(face.params)
                rows["pose"].append((face.pose.yaw, face.pose.pitch, face.pose.roll))
                rows["camera"].append(face.camera)
                rows["tracked"].append(face.tracked)
                rows["detected"].append(r.detected)
        pipe.close()
        rec[f"{name}/frame"] = np.asarray(index)
        for k, v in rows.items():
            rec[f"{name}/{k}"] = np.asarray(v)
        dtypes = {k: str(np.asarray(v[0]).dtype) if v else "-" for k, v in rows.items()}
        print(f"{name}: {len(index)} faces over {len(set(index))} frames; dtypes {dtypes}", flush=True)
    np.savez(out, **rec)


def compare(a: str, b: str, tol: float) -> int:
    A, B = np.load(a), np.load(b)
    bad = 0
    if "frames/sha256" in A.files and "frames/sha256" in B.files and A["frames/sha256"] != B["frames/sha256"]:
        print("the two dumps decoded different pixels (PyAV/swscale differ): their results cannot be compared")
        return 1
    if sorted(A.files) != sorted(B.files):
        print(f"different records: {sorted(set(A.files) ^ set(B.files))}")
        return 1
    for k in sorted(A.files):
        x, y = A[k], B[k]
        if x.shape != y.shape or x.dtype != y.dtype:
            print(f"{k}: shape/dtype {x.shape} {x.dtype} vs {y.shape} {y.dtype}  FAIL")
            bad += 1
            continue
        if np.array_equal(x, y):
            continue
        d = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
        ok = d <= tol
        bad += not ok
        print(f"{k}: max |diff| {d:.3g}  {'within tol' if ok else 'FAIL'}")
    print(f"{len(A.files)} records, {'all bit-identical or within tolerance' if not bad else f'{bad} FAIL'}")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out")
    d.add_argument("--only", default="", help="only the cases whose name contains this (e.g. int8)")
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    if args.cmd == "dump":
        dump(args.out, args.only)
        return 0
    return compare(args.a, args.b, args.tol)


if __name__ == "__main__":
    sys.exit(main())
