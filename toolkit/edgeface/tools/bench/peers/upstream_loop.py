"""Upstream 3DDFA_V2 as a peer: its own `--onnx` code, run from its own sources.

`prepare_upstream(src, scratch, root)` makes a runnable copy of upstream in a scratch folder (never
inside this repository, never modifying `src`), doing only what running it today takes
(`../shared/upstream-ref/README.md`):
  - copies the sources and weights (a clone of github.com/cleardusk/3DDFA_V2 at the pinned commit,
    or the mirror `$EDGEFACE_MIRROR/3ddfa_v2`);
  - builds FaceBoxes' Cython NMS in place (`FaceBoxes/utils/build.py build_ext --inplace`);
  - writes `configs/bfm_noneck_v3.pkl` (not mirrored; academic licence) as a 68-point BFM holding
    edgeface's sparse bases (3DDFA v1's u/w_shp/w_exp at the keypoints, `keypoints = arange(204)`),
    enough for upstream's `recon_vers(..., dense_flag=False)`;
  - exports upstream's ONNX files with upstream's own `convert_to_onnx` functions, run with
    `torch.onnx.export(..., dynamo=False)` (torch 2.13 defaults to the dynamo exporter).
Numpy's removed aliases `np.int`/`np.long` are restored in the worker process before upstream is
imported.

The worker (`python -m edgeface.tools.bench.peers.upstream_loop --frames F.npy --out R.json -- SCRATCH MODE`)
runs one of upstream's two loops over pre-decoded BGR frames, calling upstream's `FaceBoxes_ONNX`
and `TDDFA_ONNX` exactly as its scripts do (the loop bodies follow them line for line; the code
itself is upstream's, imported from the scratch copy):
  - `video`: `demo_video.py` - detect on frame 0 (first face) + one landmark refinement, then crop
    every frame from the previous landmarks; re-detect only when the ROI area < 2020 px^2;
  - `perframe`: `demo.py` on every frame - detector at upstream's scale, every face, box crops.
Both set `OMP_NUM_THREADS=4` as upstream's `--onnx` path does.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

from edgeface.tools.bench.peers.timing import worker_main  # stdlib-only, as this module's top

MODES = ("video", "perframe")
_READY = ".edgeface-peer-ready"


def upstream_source(explicit: Optional[Path] = None) -> Optional[Path]:
    """The upstream 3DDFA_V2 sources: `explicit`, else `$EDGEFACE_MIRROR/3ddfa_v2` (None if absent)."""
    cands = [Path(explicit)] if explicit else []
    mirror = os.environ.get("EDGEFACE_MIRROR")
    if mirror and not explicit:
        cands.append(Path(mirror) / "3ddfa_v2")
    for c in cands:
        if (c / "TDDFA_ONNX.py").is_file() and (c / "FaceBoxes" / "FaceBoxes_ONNX.py").is_file():
            return c
    return None


def _bfm_pickle(path: Path, root: Optional[Path]) -> None:
    import numpy as np

    from edgeface.hub.assets import load_sparse_bases  # lazy: this module's top stays stdlib-only (upstream's worker)

    b = load_sparse_bases(root)
    u = np.asarray(b.u, np.float32).reshape(-1, 1)  # 204: x, y, z per point (upstream's order)
    bfm = {"u": u, "w_shp": np.asarray(b.w_shp, np.float32).reshape(204, -1),
           "w_exp": np.asarray(b.w_exp, np.float32).reshape(204, -1), "keypoints": np.arange(204)}
    with open(path, "wb") as fh:
        pickle.dump(bfm, fh)


_EXPORT = r"""
import functools, os, sys, yaml
import numpy as np
np.int = int; np.long = int
import torch
torch.onnx.export = functools.partial(torch.onnx.export, dynamo=False)
sys.path.insert(0, os.getcwd())
from utils.onnx import convert_to_onnx
from FaceBoxes.onnx import convert_to_onnx as convert_faceboxes
from bfm.bfm_onnx import convert_bfm_to_onnx
cfg = yaml.load(open("configs/mb05_120x120.yml"), Loader=yaml.SafeLoader)
convert_to_onnx(**cfg)
convert_faceboxes(os.path.abspath("FaceBoxes/weights/FaceBoxesProd.onnx"))
convert_bfm_to_onnx("configs/bfm_noneck_v3.onnx", shape_dim=40, exp_dim=10)
"""


def _run(cmd, cwd: Path, what: str) -> None:
    p = subprocess.run(cmd, cwd=str(cwd), capture_output=True, text=True)
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{what} failed in {cwd}: {tail[0]}")


def prepare_upstream(src: Path, scratch: Path, root: Optional[Path] = None, log=print) -> Path:
    """A runnable copy of upstream in `scratch` (reused when already prepared from the same source)."""
    scratch = Path(scratch)
    marker = scratch / _READY
    if marker.is_file() and marker.read_text().strip() == str(Path(src).resolve()):
        return scratch
    if scratch.exists():
        shutil.rmtree(scratch)
    log(f"upstream: copying {src} to {scratch}")
    shutil.copytree(src, scratch, ignore=shutil.ignore_patterns("*.onnx", "*.so", "build", "__pycache__"))
    for p in scratch.rglob("*"):  # the mirror is read-only; the copy must be writable
        p.chmod(p.stat().st_mode | 0o200)
    log("upstream: building FaceBoxes' Cython NMS")
    _run([sys.executable, "build.py", "build_ext", "--inplace"], scratch / "FaceBoxes" / "utils", "the Cython NMS build "
         "(needs cython: pip install 'edgeface[peers]')")
    _bfm_pickle(scratch / "configs" / "bfm_noneck_v3.pkl", root)
    log("upstream: exporting its ONNX models (torch.onnx.export, dynamo=False)")
    _run([sys.executable, "-c", _EXPORT], scratch, "upstream's ONNX export")
    marker.write_text(str(Path(src).resolve()))
    return scratch


def _build(extra):
    scratch, mode = Path(extra[0]), extra[1]
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    os.environ["KMP_DUPLICATE_LIB_OK"] = "True"  # as upstream's --onnx path
    os.environ["OMP_NUM_THREADS"] = "4"
    import numpy as np

    np.int = int  # removed in numpy 1.24; upstream still uses them
    np.long = int
    os.chdir(scratch)
    sys.path.insert(0, str(scratch))
    import yaml
    from FaceBoxes.FaceBoxes_ONNX import FaceBoxes_ONNX
    from TDDFA_ONNX import TDDFA_ONNX

    cfg = yaml.load(open("configs/mb05_120x120.yml"), Loader=yaml.SafeLoader)
    face_boxes = FaceBoxes_ONNX()
    tddfa = TDDFA_ONNX(**cfg)
    state = {"pre_ver": None, "detections": 0}

    def video(frame_bgr):  # demo_video.py's loop body (2d_sparse, without drawing/writing)
        if state["pre_ver"] is None:
            boxes = face_boxes(frame_bgr)
            state["detections"] += 1
            if not boxes:
                return 0
            boxes = [boxes[0]]
            param_lst, roi_box_lst = tddfa(frame_bgr, boxes)
            ver = tddfa.recon_vers(param_lst, roi_box_lst, dense_flag=False)[0]
            param_lst, roi_box_lst = tddfa(frame_bgr, [ver], crop_policy="landmark")
            ver = tddfa.recon_vers(param_lst, roi_box_lst, dense_flag=False)[0]
        else:
            param_lst, roi_box_lst = tddfa(frame_bgr, [state["pre_ver"]], crop_policy="landmark")
            roi_box = roi_box_lst[0]
            if abs(roi_box[2] - roi_box[0]) * abs(roi_box[3] - roi_box[1]) < 2020:
                boxes = face_boxes(frame_bgr)
                state["detections"] += 1
                boxes = [boxes[0]]
                param_lst, roi_box_lst = tddfa(frame_bgr, boxes)
            ver = tddfa.recon_vers(param_lst, roi_box_lst, dense_flag=False)[0]
        state["pre_ver"] = ver
        return 1

    def perframe(img):  # demo.py (2d_sparse) on one frame
        boxes = face_boxes(img)
        state["detections"] += 1
        if not boxes:
            return 0
        param_lst, roi_box_lst = tddfa(img, boxes)
        tddfa.recon_vers(param_lst, roi_box_lst, dense_flag=False)
        return len(boxes)

    def reset():
        state["pre_ver"] = None

    import onnxruntime

    info = {"runtime": f"onnxruntime {onnxruntime.__version__}", "mode": mode}
    return (video if mode == "video" else perframe), reset, info


def main(argv=None) -> int:
    return worker_main(_build, argv)


if __name__ == "__main__":
    sys.exit(main())
