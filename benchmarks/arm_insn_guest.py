"""The workload that benchmarks/arm_insn.sh runs under qemu-aarch64 with the instruction-count plugin.

Each stage runs N warm-up iterations, marks the running instruction total, runs `--iters` more
iterations and marks again: (mark after N + iters) - (mark after N) divided by iters is the
marginal count of one iteration, with start-up, imports and model loading cancelled out. A mark is
one system call with a number no Linux ABI uses (QEMU answers -ENOSYS); the plugin writes the
total of all guest threads at that moment. Two back-to-back marks measure what a mark itself
costs; that is subtracted.

Stages (any subset, in the order given):
  reg_fp32 reg_int8 det_fp32 det_int8     Interpreter.invoke of mb05 / FaceBoxes 640x480 (XNNPACK)
  reg_int8_builtin det_int8_builtin ...   the same with TFLite's built-in kernels (no XNNPACK)
  reg_model:PATH                          Invoke of another mb05 TFLite file (e.g. dynamic range)
  head                                    the float head in numpy: (1, 512) @ (512, 62) + b
  frame_int8 frame_fp32                   edgeface pipeline frames of samples:obama: per frame the
                                          whole count, and what ran inside Interpreter.invoke

Writes --meta JSON: the tag of every mark and what it means, so the host can read the plugin's
file. Runs on the host too (marks are then no-ops), which is how tests check it.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

MARK_NR = 0xED6E


class Marks:
    def __init__(self, nr: int):
        self._syscall = ctypes.CDLL(None, use_errno=True).syscall
        self._syscall.restype = ctypes.c_long
        self._syscall.argtypes = [ctypes.c_long, ctypes.c_long]
        self.nr = nr
        self.labels: list = []

    def mark(self, label: str) -> None:
        self.labels.append(label)
        self._syscall(self.nr, len(self.labels) - 1)


def runtime():
    try:
        from ai_edge_litert import interpreter as m

        return "ai_edge_litert", m
    except ImportError:
        from tflite_runtime import interpreter as m  # 32-bit boards: edgeface[tflite]

        return "tflite_runtime", m


def dist_version(name: str) -> str:
    from importlib import metadata

    for d in (name, name.replace("_", "-")):
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def make_interpreter(path: Path, threads: int, xnnpack: bool = True):
    _, m = runtime()
    kw = {}
    if not xnnpack:
        kw["experimental_op_resolver_type"] = m.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = m.Interpreter(model_path=str(path), num_threads=threads, **kw)
    it.allocate_tensors()
    return it


def model_input(it, image_bgr: np.ndarray) -> np.ndarray:
    import cv2

    d = it.get_input_details()[0]
    _, h, w, _ = d["shape"]
    x = cv2.resize(image_bgr, (int(w), int(h)), interpolation=cv2.INTER_LINEAR_EXACT)[None]
    if d["dtype"] == np.float32:
        return x.astype(np.float32)  # the models take raw pixels; normalization is in the graph
    scale, zero = d["quantization"]
    if d["dtype"] == np.uint8 and abs(scale - 1.0) < 1e-6 and zero == 0:
        return np.ascontiguousarray(x)
    info = np.iinfo(d["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(d["dtype"])


def op_summary(path: Path) -> dict:
    """Op types of the graph (built-in resolver, nothing delegated) for the kernel report."""
    it = make_interpreter(path, 1, xnnpack=False)
    ops: dict = {}
    for o in it._get_ops_details():  # noqa: SLF001
        ops[o["op_name"]] = ops.get(o["op_name"], 0) + 1
    return ops


def delegation(it) -> dict:
    """Which nodes XNNPACK took: delegate nodes and, by elimination, the nodes left to TFLite's
    built-in kernels (a node not taken by a delegate feeds one, eats one's output, or feeds such a node)."""
    ii = it._interpreter  # noqa: SLF001 (the node accessors of the TFLite Python wrapper)
    n = ii.NumNodes()
    names = [ii.NodeName(i) for i in range(n)]
    dels = [i for i in range(n) if names[i] == "DELEGATE"]
    d_in, d_out = set(), set()
    for d in dels:
        d_in.update(int(t) for t in ii.NodeInputs(d))
        d_out.update(int(t) for t in ii.NodeOutputs(d))
    orig = [i for i in range(n) if names[i] != "DELEGATE"]
    outs = {i: {int(t) for t in ii.NodeOutputs(i)} for i in orig}
    ins = {i: {int(t) for t in ii.NodeInputs(i)} for i in orig}
    graph_out = {int(t) for t in ii.OutputIndices()}
    builtin = {i for i in orig if outs[i] & d_in or (outs[i] & graph_out) - d_out} if dels else set(orig)
    changed = True
    while changed:  # producers of what a built-in node consumes (unless a delegate produced it)
        changed = False
        needed = set().union(*(ins[i] for i in builtin)) - d_out if builtin else set()
        for i in orig:
            if i not in builtin and outs[i] & needed:
                builtin.add(i)
                changed = True
    left: dict = {}
    for i in sorted(builtin):
        left[names[i]] = left.get(names[i], 0) + 1
    return {"nodes": len(orig), "delegate_partitions": len(dels), "xnnpack_nodes": len(orig) - len(builtin),
            "builtin_nodes": left}


def bench_invoke(marks: Marks, name: str, path: Path, image: np.ndarray, threads: int, warmup: int, iters: int,
                 xnnpack: bool) -> dict:
    it = make_interpreter(path, threads, xnnpack)
    kernels = delegation(it) if xnnpack else {"nodes": None, "delegate_partitions": 0, "xnnpack_nodes": 0}
    x = model_input(it, image)
    idx = it.get_input_details()[0]["index"]
    it.set_tensor(idx, x)
    for _ in range(warmup):
        it.invoke()
    marks.mark(f"{name}:begin")
    t0 = time.perf_counter()
    for _ in range(iters):
        it.invoke()
    dt = time.perf_counter() - t0
    marks.mark(f"{name}:end")
    return {"model": path.name, "xnnpack": xnnpack, "iters": iters, "warmup": warmup,
            "wall_ms_per_iter": dt * 1000.0 / iters, "ops": op_summary(path), "kernels": kernels}


def bench_head(marks: Marks, home: Path, warmup: int, iters: int) -> dict:
    with np.load(home / "tflite" / "mb05" / "mb05_head.npz", allow_pickle=False) as z:
        wt = np.ascontiguousarray(z["W"].astype(np.float32).T)
        b = z["b"].astype(np.float32)
    feat = np.random.default_rng(0).standard_normal((1, wt.shape[0])).astype(np.float32)
    for _ in range(warmup):
        y = feat @ wt + b
    marks.mark("head:begin")
    for _ in range(iters):
        y = feat @ wt + b
    marks.mark("head:end")
    # the empty loop, so the report can take the loop itself out
    marks.mark("loop:begin")
    for _ in range(iters):
        pass
    marks.mark("loop:end")
    return {"shape": [int(feat.shape[1]), int(wt.shape[1])], "iters": iters, "warmup": warmup,
            "checksum": float(np.sum(y))}


def decoded_frames(count: int) -> list:
    """The first `count` frames of samples:obama the way edgeface decodes them (PyAV, ignore_editlist)."""
    from edgeface.sources.spec import open_source

    with open_source("samples:obama", max_frames=count) as src:
        return [f for f in src]


def make_aligner(precision: str, target: str, threads: int):
    """("FaceAligner", step(frame) -> result, the aligner to close): edgeface.FaceAligner in VIDEO mode."""
    import edgeface

    fa = edgeface.FaceAligner.create(precision=precision, target=target, running_mode="video", threads=threads)
    return "FaceAligner", (lambda f: fa.detect_for_video(f.image, f.timestamp_ms or 0.0, source=f.source)), fa


def bench_frames(marks: Marks, precision: str, target: str, threads: int, warmup: int, iters: int) -> dict:
    """Per frame: whole count, and Interpreter.invoke's share (patched to mark its begin and end)."""
    _, m = runtime()
    frames = decoded_frames(warmup + iters)
    if len(frames) < warmup + iters:
        raise SystemExit(f"error: samples:obama gave {len(frames)} frames, need {warmup + iters}")
    kind, step, closer = make_aligner(precision, target, threads)
    cls = m.Interpreter
    original = cls.invoke
    active = {"on": False}
    stage = f"frame_{precision}"

    def invoke(self):
        if not active["on"]:
            return original(self)
        marks.mark(f"{stage}:invoke_in")
        r = original(self)
        marks.mark(f"{stage}:invoke_out")
        return r

    cls.invoke = invoke
    try:
        detected = []
        faces = []
        for i, f in enumerate(frames):
            active["on"] = i >= warmup
            if active["on"]:
                marks.mark(f"{stage}:frame_begin")
            res = step(f)
            if active["on"]:
                marks.mark(f"{stage}:frame_end")
                detected.append(bool(getattr(res, "detected", False)))
                faces.append(len(res.faces))
        active["on"] = False
    finally:
        cls.invoke = original
        if closer is not None and hasattr(closer, "close"):
            closer.close()
    return {"api": kind, "precision": precision, "target": target, "warmup": warmup, "iters": iters,
            "detected": detected, "faces": faces}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True, help="EDGEFACE_HOME with the converted models")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--frame-warmup", type=int, default=3)
    ap.add_argument("--target", default="rpi4")
    ap.add_argument("--nr", type=lambda s: int(s, 0), default=MARK_NR)
    ap.add_argument("--image", type=Path, required=True, help="a photo (BGR) resized into each model's input")
    ap.add_argument("--meta", type=Path, required=True)
    ap.add_argument("stages", nargs="+")
    a = ap.parse_args(argv)
    import cv2

    image = cv2.imread(str(a.image), cv2.IMREAD_COLOR)
    if image is None:
        print(f"error: cannot read image {a.image}", file=sys.stderr)
        return 2
    models = {"reg": a.home / "tflite" / "mb05" / "mb05_{}.tflite",
              "det": a.home / "tflite" / "faceboxes_640x480" / "faceboxes_640x480_{}.tflite"}
    variants = {"fp32": "float32", "int8": "int8"}
    marks = Marks(a.nr)
    marks.mark("calib:begin")
    marks.mark("calib:end")
    rt_name, _ = runtime()
    meta = {"runtime": f"{rt_name} {dist_version(rt_name)}", "numpy": np.__version__, "python": sys.version.split()[0],
            "threads": a.threads, "stages": {}}
    for st in a.stages:
        if st.startswith("reg_model:"):
            path = Path(st.split(":", 1)[1])
            name = f"reg_{path.stem}"
            meta["stages"][name] = bench_invoke(marks, name, path, image, a.threads, a.warmup, a.iters, True)
            continue
        parts = st.split("_")
        if parts[0] in models and len(parts) in (2, 3) and parts[1] in variants and parts[2:] in ([], ["builtin"]):
            path = Path(str(models[parts[0]]).format(variants[parts[1]]))
            if not path.is_file():
                print(f"error: {path} not found: convert it on the host first (edgeface convert ... --int8)", file=sys.stderr)
                return 2
            meta["stages"][st] = bench_invoke(marks, st, path, image, a.threads, a.warmup, a.iters, parts[2:] == [])
        elif st == "head":
            meta["stages"][st] = bench_head(marks, a.home, a.warmup, a.iters)
        elif st in ("frame_int8", "frame_fp32"):
            meta["stages"][st] = bench_frames(marks, st.split("_")[1], a.target, a.threads, a.frame_warmup, a.iters)
        else:
            print(f"error: unknown stage '{st}' (see --help)", file=sys.stderr)
            return 2
    marks.mark("done")
    meta["labels"] = marks.labels
    tmp = a.meta.with_name(a.meta.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    os.replace(tmp, a.meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
