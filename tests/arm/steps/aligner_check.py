"""Step "aligner": edgeface.FaceAligner in VIDEO mode on the first frames of samples:obama.

Writes OUT/aligner.<precision>.jsonl (one res.to_dict() per frame) and fails, with one line per
problem, unless: every frame gives a FrameResult whose to_dict() equals the record `edgeface run`
writes for that frame (the CLI on the same video, same target and precision, in a subprocess) in
every field but `time_ms` (wall-clock timings, different in every run), the expected number of
frames came out and each has exactly one face with finite numbers. Without
edgeface.FaceAligner it writes OUT/SKIPPED and exits 0 (compare.py reports the step as SKIP).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

SKIP_LINE = "SKIP: edgeface.FaceAligner not available"


def decode(path: Path, count: int) -> list:
    """(BGR uint8 frame, timestamp in ms) for the first `count` frames, decoded as edgeface does
    with `--bitexact`: PyAV with the mp4 demuxer's ignore_editlist (every coded frame), a
    bit-exact, accurately rounded YUV->BGR conversion where PyAV has those flags, and times counted from the first
    frame's (the smoother uses them, so they must be the CLI's to the last bit)."""
    import av
    import numpy as np

    interp = getattr(av.video.reformatter, "Interpolation", None)
    exact = {}
    if interp is not None and hasattr(interp, "BITEXACT") and hasattr(interp, "ACCURATE_RND"):
        exact = {"interpolation": interp.BILINEAR | interp.ACCURATE_RND | interp.BITEXACT}
    out, t0 = [], None
    with av.open(str(path), options={"ignore_editlist": "1"}) as c:
        for vf in c.decode(c.streams.video[0]):
            if vf.time is None:
                raise SystemExit(f"error: frame {len(out)} of {path} has no timestamp")
            t0 = vf.time if t0 is None else t0
            out.append((np.ascontiguousarray(vf.to_ndarray(format="bgr24", **exact)), float(vf.time - t0) * 1000.0))
            if len(out) == count:
                break
    return out


def finite(x) -> bool:
    if isinstance(x, (list, tuple)):
        return all(finite(v) for v in x)
    if isinstance(x, dict):
        return all(finite(v) for v in x.values())
    return not isinstance(x, float) or math.isfinite(x)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    import edgeface

    fa_cls = getattr(edgeface, "FaceAligner", None)
    if fa_cls is None:
        print(SKIP_LINE)
        (a.out / "SKIPPED").write_text(f"{SKIP_LINE} (edgeface {getattr(edgeface, '__version__', '?')})\n")
        return 0
    home = Path(os.environ["EDGEFACE_HOME"])
    video = home / "files" / "3ddfa_v1" / "demo@obama" / "obama.mp4"
    if not video.is_file():
        print(f"error: {video} not found: run `edgeface fetch samples` into EDGEFACE_HOME on the host", file=sys.stderr)
        return 2
    frames = decode(video, a.frames)
    problems = []
    if len(frames) != a.frames:
        problems.append(f"decoded {len(frames)} frames of {video.name}, expected {a.frames}")
    records = []
    with fa_cls.create(precision=a.precision, target=a.target, running_mode="video", bitexact=True) as fa:
        for i, (img, ts) in enumerate(frames):
            res = fa.detect_for_video(img, ts, source=str(video))
            records.append(res.to_dict())
    dest = a.out / f"aligner.{a.precision}.jsonl"
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, dest)

    # the CLI on the same frames: the API's records must be the CLI's JSONL records
    cli = shutil.which("edgeface") or "edgeface"
    ref = a.out / "cli.json.txt"  # not *.jsonl: compare.py must not pair it
    r = subprocess.run([cli, "run", "--source", "samples:obama", "--precision", a.precision, "--target", a.target,
                        "--max-frames", str(a.frames), "--bitexact", "-q", "--json", str(ref)], capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"edgeface run failed (exit {r.returncode}): {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
        cli_records = []
    else:
        cli_records = [json.loads(ln) for ln in ref.read_text().splitlines() if ln.strip()]
    if cli_records and len(cli_records) != len(records):
        problems.append(f"FaceAligner gave {len(records)} records, edgeface run {len(cli_records)}")
    for i, (got, want) in enumerate(zip(records, cli_records)):
        keys = sorted(k for k in set(got) | set(want)  # the JSONL's "schema" tag is not part of to_dict()
                      if k not in ("time_ms", "schema") and got.get(k) != want.get(k))
        if keys:
            problems.append(f"frame {i}: FaceAligner record differs from edgeface run's in {', '.join(keys)}")
    for i, rec in enumerate(records):
        faces = rec.get("faces", [])
        if len(faces) != 1:
            problems.append(f"frame {i}: {len(faces)} faces, expected 1")
        elif not finite(faces):
            problems.append(f"frame {i}: non-finite numbers in the face record")
    for p in problems:
        print(f"FAIL {p}")
    print(f"aligner: {len(records)} frames, {sum(len(r.get('faces', [])) for r in records)} faces, "
          f"{len(problems)} problems; {'identical to' if not problems else 'checked against'} `edgeface run`")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
