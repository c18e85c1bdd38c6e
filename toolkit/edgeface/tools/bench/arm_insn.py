"""The report of benchmarks/arm_insn.sh: the plugin's mark files -> arm-insn.json, arm-insn.md, arm-insn.png
(`python -m edgeface.tools.bench.arm_insn --work DIR --runs ... --out DIR`).

Per run (CPU model x threads) the work folder holds RUN.marks (plugin: "mark TAG VCPU TOTAL",
"vcpu I N", "total N") and RUN.meta.json (guest script: the label of every tag, per-stage facts).
A stage's count per iteration is (total at its end mark - total at its begin mark - the cost of
one mark) / iterations; the cost of one mark is measured by two back-to-back marks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from edgeface.hub.output_guard import commit

STAGE_TITLES = {
    "reg_fp32": "regressor mb05 Invoke, fp32 (XNNPACK)",
    "reg_int8": "regressor mb05 Invoke, INT8 (XNNPACK)",
    "reg_int8_builtin": "regressor mb05 Invoke, INT8, TFLite built-in kernels",
    "reg_mb05_dynamic_range": "regressor mb05 Invoke, dynamic range (int8 weights, float activations)",
    "det_fp32": "detector FaceBoxes 640x480 Invoke, fp32 (XNNPACK)",
    "det_int8": "detector FaceBoxes 640x480 Invoke, INT8 (XNNPACK)",
    "det_int8_builtin": "detector FaceBoxes 640x480 Invoke, INT8, TFLite built-in kernels",
    "head": "float head in numpy, (1, 512) @ (512, 62) + b",
}
SHORT = {"fp32": "fp32", "int8": "INT8", "int8_builtin": "INT8\nbuilt-in kernels", "mb05_dynamic_range": "dynamic\nrange",
         "head": "float head\n(numpy)", "frame": "tracked frame\noutside Invoke"}
CPU_TITLES = {"a53": "Cortex-A53 (Pi 3, Zero 2 W)", "a72": "Cortex-A72 (Pi 4)", "a76": "Cortex-A76 (Pi 5)"}


class ReportError(Exception):
    pass


def read_marks(path: Path) -> tuple:
    """([(tag, vcpu, total)], {vcpu: count}, total at exit)."""
    marks, vcpus, total = [], {}, None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        f = line.split()
        if not f or f[0] == "plugin":
            continue
        try:
            if f[0] == "mark" and len(f) == 4:
                marks.append((int(f[1]), int(f[2]), int(f[3])))
            elif f[0] == "vcpu" and len(f) == 3:
                vcpus[int(f[1])] = int(f[2])
            elif f[0] == "total" and len(f) == 2:
                total = int(f[1])
            else:
                raise ValueError
        except ValueError:
            raise ReportError(f"{path}:{n}: not a line of the insn plugin: {line!r}") from None
    if total is None:
        raise ReportError(f"{path}: no 'total' line: the guest process did not exit normally")
    return marks, vcpus, total


def analyse_run(marks_path: Path, meta_path: Path) -> dict:
    marks, vcpus, total = read_marks(marks_path)
    meta = json.loads(meta_path.read_text())
    labels = meta["labels"]
    if [t for t, _, _ in marks] != list(range(len(labels))):
        raise ReportError(f"{marks_path}: marks {len(marks)} do not match the {len(labels)} labels of {meta_path}")
    seq = [(labels[t], c) for t, _, c in marks]
    at = {}
    for label, c in seq:
        at.setdefault(label, c)
    mark_cost = at["calib:end"] - at["calib:begin"]
    stages = {}
    for name, info in meta["stages"].items():
        if name.startswith("frame_"):
            stages[name] = frames(name, seq, mark_cost, info)
            continue
        iters = info["iters"]
        delta = at[f"{name}:end"] - at[f"{name}:begin"]
        if name == "head":
            delta -= at["loop:end"] - at["loop:begin"]  # the loop and the marks cancel
        else:
            delta -= mark_cost
        d = {"insns_per_iter": delta / iters, "iters": iters, "warmup": info["warmup"]}
        for k in ("model", "xnnpack", "wall_ms_per_iter", "kernels", "ops"):
            if k in info:
                d[k] = info[k]
        if name == "head":
            d["shape"] = info["shape"]
        stages[name] = d
    return {"runtime": meta["runtime"], "numpy": meta["numpy"], "python": meta["python"], "threads": meta["threads"],
            "mark_cost_insns": mark_cost, "process_total_insns": total,
            "threads_seen": len(vcpus), "stages": stages}


def frames(name: str, seq: list, mark_cost: int, info: dict) -> dict:
    """Per pipeline frame: the whole count, the Invoke part, the rest (Python, numpy, OpenCV)."""
    rows, cur = [], None
    for label, c in seq:
        if not label.startswith(name + ":"):
            continue
        ev = label.split(":", 1)[1]
        if ev == "frame_begin":
            cur = {"begin": c, "invoke": 0, "invokes": 0, "in": None}
        elif ev == "invoke_in":
            cur["in"] = c
        elif ev == "invoke_out":
            cur["invoke"] += c - cur["in"] - mark_cost
            cur["invokes"] += 1
        elif ev == "frame_end":
            whole = c - cur["begin"] - mark_cost - 2 * mark_cost * cur["invokes"]
            rows.append({"whole": whole, "invoke": cur["invoke"], "other": whole - cur["invoke"],
                         "invokes": cur["invokes"]})
    if len(rows) != info["iters"]:
        raise ReportError(f"{name}: {len(rows)} frames marked, expected {info['iters']}")
    for r, det, nf in zip(rows, info["detected"], info["faces"]):
        r["detected"], r["faces"] = det, nf
    tracked = [r for r in rows if not r["detected"]]
    detected = [r for r in rows if r["detected"]]

    def mean(rs, k):
        return statistics.fmean(r[k] for r in rs) if rs else None

    return {"api": info["api"], "precision": info["precision"], "target": info["target"], "frames": len(rows),
            "tracked_frames": len(tracked), "detection_frames": len(detected),
            "tracked": {k: mean(tracked, k) for k in ("whole", "invoke", "other")},
            "tracked_other_min_max": [min(r["other"] for r in tracked), max(r["other"] for r in tracked)] if tracked else None,
            "detection": {k: mean(detected, k) for k in ("whole", "invoke", "other")},
            "all": {k: mean(rows, k) for k in ("whole", "invoke", "other")},
            "faces": info["faces"]}


def crosscheck(marks_path: Path, insn_log: Path) -> dict:
    _, _, ours = read_marks(marks_path)
    theirs = None
    for line in insn_log.read_text(errors="replace").splitlines():
        if line.startswith("insns:"):
            theirs = int(line.split()[1])
    if theirs is None:
        raise ReportError(f"{insn_log}: no 'insns: N' line from QEMU's insn plugin")
    return {"edgeface_plugin_total": ours, "qemu_insn_plugin_total": theirs, "relative_difference": (ours - theirs) / theirs}


def m(v) -> str:
    return "-" if v is None else f"{v / 1e6:.2f} M"


def ratio(a, b) -> str:
    return "-" if a is None or b is None or not b else f"{a / b:.2f}x"


def get(report, cpu, th, stage, key="insns_per_iter"):
    try:
        return report["runs"][cpu][str(th)]["stages"][stage][key]
    except KeyError:
        return None


def markdown(r: dict) -> str:
    env = r["environment"]
    cpus = list(r["runs"])
    ths = sorted({int(t) for c in cpus for t in r["runs"][c]})
    L = ["# ARM guest instruction counts per stage (emulated Pi 4 / Pi 5 CPUs)", "",
         f"Made by `sudo benchmarks/arm_insn.sh` ({env['qemu']}, Debian {env['release']} arm64 rootfs, "
         f"Python {env['python']}, {env['runtime']}, numpy {env['numpy']}); method and caveats below. "
         "M = million guest instructions, summed over all threads.", ""]
    hdr = "| stage | " + " | ".join(f"{CPU_TITLES.get(c, c)}, {t} thread{'s' if t > 1 else ''}" for c in cpus for t in ths) + " |"
    L += [hdr, "|" + " --- |" * (1 + len(cpus) * len(ths))]
    stage_names = [s for s in STAGE_TITLES if any(get(r, c, t, s) is not None for c in cpus for t in ths)]
    for s in stage_names:
        L.append(f"| {STAGE_TITLES[s]} | " + " | ".join(m(get(r, c, t, s)) for c in cpus for t in ths) + " |")
    for prec in ("int8", "fp32"):
        fs = f"frame_{prec}"
        if not any(get(r, c, t, fs, "tracked") for c in cpus for t in ths):
            continue
        for part, title in (("whole", "whole"), ("invoke", "of it in Invoke"), ("other", "of it outside Invoke (Python, numpy, OpenCV)")):
            L.append(f"| tracked frame, {prec} models: {title} | " + " | ".join(
                m((get(r, c, t, fs, "tracked") or {}).get(part)) for c in cpus for t in ths) + " |")
    L += ["", "## What INT8 saves, per CPU (1 thread)", "",
          "| | " + " | ".join(CPU_TITLES.get(c, c) for c in cpus) + " |", "|" + " --- |" * (1 + len(cpus))]
    for net, title in (("reg", "regressor INT8 / fp32"), ("det", "detector INT8 / fp32")):
        L.append(f"| {title} | " + " | ".join(ratio(get(r, c, 1, f"{net}_int8"), get(r, c, 1, f"{net}_fp32")) for c in cpus) + " |")
        L.append(f"| {title.replace('INT8', 'INT8 built-in kernels')} | " + " | ".join(
            ratio(get(r, c, 1, f"{net}_int8_builtin"), get(r, c, 1, f"{net}_fp32")) for c in cpus) + " |")
    if any(get(r, c, 1, "reg_mb05_dynamic_range") for c in cpus):
        L.append("| regressor dynamic range / fp32 | " + " | ".join(
            ratio(get(r, c, 1, "reg_mb05_dynamic_range"), get(r, c, 1, "reg_fp32")) for c in cpus) + " |")
    L.append("| tracked INT8 frame: share outside Invoke | " + " | ".join(
        "-" if not get(r, c, 1, "frame_int8", "tracked") else
        f"{100 * get(r, c, 1, 'frame_int8', 'tracked')['other'] / get(r, c, 1, 'frame_int8', 'tracked')['whole']:.0f} %"
        for c in cpus) + " |")
    if len(ths) > 1:
        L += ["", "## 4 threads vs 1 (instructions summed over threads; more = overhead, not speed)", "",
              "| stage | " + " | ".join(CPU_TITLES.get(c, c) for c in cpus) + " |", "|" + " --- |" * (1 + len(cpus))]
        for s in ("reg_fp32", "reg_int8", "det_fp32", "det_int8"):
            L.append(f"| {STAGE_TITLES[s]} | " + " | ".join(
                ratio(get(r, c, ths[-1], s), get(r, c, 1, s)) for c in cpus) + " |")
    k = r.get("kernels", {})
    if k:
        L += ["", "## Which kernels run (XNNPACK delegate vs TFLite built-in), per model", "",
              "| model | nodes | XNNPACK partitions | nodes in XNNPACK | left to TFLite built-in kernels |",
              "| --- | --- | --- | --- | --- |"]
        for name, d in k.items():
            left = ", ".join(f"{op} x{n}" for op, n in d["builtin_nodes"].items()) or "none"
            L.append(f"| {name} | {d['nodes']} | {d['delegate_partitions']} | {d['xnnpack_nodes']} | {left} |")
    xc = r.get("crosscheck")
    if xc:
        L += ["", f"Cross-check: one whole guest process (regressor INT8 + head, 1 thread) counted "
              f"{xc['edgeface_plugin_total']:,} instructions with this plugin and {xc['qemu_insn_plugin_total']:,} with "
              f"QEMU's own `tests/plugin/insn.c` (inline): relative difference {xc['relative_difference']:+.2e}."]
    L += ["", "## Method", ""] + [f"- {x}" for x in r["method"]["how"]]
    L += ["", "## What a count predicts, and what it does not", ""] + [f"- {x}" for x in r["method"]["caveats"]]
    return "\n".join(L) + "\n"


def plot(r: dict, dest: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cpus = list(r["runs"])
    stages = [s for s in ("reg_fp32", "reg_int8", "reg_int8_builtin", "reg_mb05_dynamic_range", "head",
                          "det_fp32", "det_int8", "det_int8_builtin") if any(get(r, c, 1, s) for c in cpus)]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, group in zip(axes, (["reg_fp32", "reg_int8", "reg_int8_builtin", "reg_mb05_dynamic_range", "head", "frame"],
                                ["det_fp32", "det_int8", "det_int8_builtin"])):
        names = [s for s in group if s in stages or s == "frame"]
        width = 0.8 / max(1, len(cpus))
        for i, c in enumerate(cpus):
            vals = []
            for s in names:
                if s == "frame":
                    fr = get(r, c, 1, "frame_int8", "tracked")
                    vals.append((fr or {}).get("other") or 0)
                else:
                    vals.append(get(r, c, 1, s) or 0)
            xs = [j + (i - (len(cpus) - 1) / 2) * width for j in range(len(names))]
            bars = ax.bar(xs, [v / 1e6 for v in vals], width, label=CPU_TITLES.get(c, c))
            for b, v in zip(bars, vals):
                if v:
                    ax.annotate(f"{v / 1e6:.1f}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                                va="bottom", fontsize=7)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([SHORT.get(s.split("_", 1)[1] if s.startswith(("reg_", "det_")) else s, s) for s in names],
                           fontsize=8)
        ax.set_ylabel("million guest instructions per call (1 thread)")
        ax.legend(fontsize=8)
    axes[0].set_title("regressor mb05, float head, per-frame Python work", fontsize=10)
    axes[1].set_title("detector FaceBoxes 640x480", fontsize=10)
    fig.suptitle(f"edgeface: ARM guest instructions per stage ({r['environment']['qemu'].split('(')[0].strip()}, "
                 f"{r['environment']['runtime']})", fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=100, format="png")
    plt.close(fig)
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        from PIL import Image

        buf.seek(0)
        Image.open(buf).convert("RGB").quantize(colors=256).save(tmp, format="PNG", optimize=True)
    except ImportError:
        tmp.write_bytes(buf.getvalue())
    commit(tmp, dest)


METHOD = [
    "Each configuration runs `benchmarks/arm_insn_guest.py` once in the Debian arm64 rootfs of tests/arm (the board "
    "venv: `pip install <repo>[video]`) under Debian's dynamic `qemu-aarch64 -cpu cortex-a72|cortex-a76 -L ROOTFS` "
    "with the TCG plugin `benchmarks/arm_insn_plugin.c` (built against the `qemu-plugin.h` of the installed QEMU's "
    "Debian source package). A fake Raspberry Pi `/proc/cpuinfo` is bind-mounted inside `unshare -m`, so XNNPACK "
    "sees the CPU model (and QEMU's -cpu sets the hwcaps it picks kernels from: dotprod and fp16 on the A76 only).",
    "The plugin adds each executed translation block's instruction count to the counter of the thread (vCPU) that "
    "ran it and, whenever the guest issues a marker system call, writes the total over all threads. The guest marks "
    "after N warm-up iterations and after N + 20: the difference / 20 is the marginal count of one iteration, so "
    "interpreter start-up, imports, model loading and XNNPACK's weight packing cancel out. One mark's own cost "
    "(measured by two back-to-back marks, a few thousand instructions) is subtracted.",
    "Invoke stages: `Interpreter.invoke()` alone on a fixed input (emma.jpg resized into the model input); the float "
    "head: the numpy matmul edgeface runs after the INT8 regressor (an empty loop is subtracted); frames: the first "
    "frames of samples:obama (PyAV, ignore_editlist), decoded before counting, through the edgeface pipeline with the "
    "board profile (rpi4 on the A72, rpi5 on the A76); `Interpreter.invoke` is wrapped to mark its begin and end, "
    "so a frame splits into Invoke and everything else (crop, letterbox, tracking, decode of the 3DMM, pose, "
    "smoothing, result objects). A tracked frame is one without a detector run.",
    "Threads: the count is summed over all threads, including XNNPACK/pthreadpool workers spinning while they wait "
    "for work; 4 threads therefore show the extra instructions of splitting the work, not a speed-up.",
    "numpy's OpenBLAS is limited to one thread (OPENBLAS_NUM_THREADS=1): its idle workers otherwise spin-wait "
    "after each call and a whole process's count varies by about 0.3 %; edgeface's numpy work is on arrays too "
    "small for OpenBLAS to split. With that, a 1-thread count is reproducible (same binary, same input, "
    "PYTHONHASHSEED=0); with 4 threads the XNNPACK workers' spin-waiting makes it vary from run to run.",
]
CAVEATS = [
    "A count is the work the CPU must issue, exactly, for that CPU model's code path (XNNPACK picks its kernels from "
    "the hwcaps, so the A72 and the A76 run different code). It predicts relative cost between variants on the same "
    "CPU model when their instruction mixes are similar (e.g. fp32 vs fp32, Python vs Python).",
    "It does not predict time: an instruction is not a cycle. The A76 issues more instructions per cycle than the A72; "
    "an SDOT does 16 multiply-adds, an FMLA 4, an A72 int8 SMLAL 8 at half the width; INT8 moves 4x fewer bytes, "
    "which matters on the Pi 4's memory system; cache misses, branch mispredictions and the clock (1.5-1.8 GHz Pi 4, "
    "2.4 GHz Pi 5) are not modelled. So INT8 executing as many instructions as fp32 on the A72 does not prove it "
    "slower there, only that it does not save issue slots; on the A76 the dot-product kernels halve them.",
    "QEMU's CPU models set features, not microarchitecture: the same count holds for any core with those features.",
    "Spin-waiting of idle worker threads is counted, which a real board also executes, but how long workers spin "
    "depends on timing, which emulation distorts.",
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from-json", type=Path, help="re-render arm-insn.md/.png (method text of this script) from a report")
    ap.add_argument("--work", type=Path)
    ap.add_argument("--runs", nargs="+", help="run names CPU-tTHREADS, e.g. a72-t1")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--release")
    ap.add_argument("--qemu")
    ap.add_argument("--rootfs-python", default="")
    ap.add_argument("--pip-freeze", type=Path)
    ap.add_argument("--crosscheck", nargs=2, type=Path, metavar=("MARKS", "INSN_LOG"))
    a = ap.parse_args(argv)
    if a.from_json:
        try:
            report = json.loads(a.from_json.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"arm_insn: error: cannot read {a.from_json}: {e}", file=sys.stderr)
            return 2
        report["method"] = {"how": METHOD, "caveats": CAVEATS}
        return write(report, a.out)
    if not (a.work and a.runs and a.release and a.qemu):
        ap.error("give --work, --runs, --release and --qemu (or --from-json)")
    try:
        runs: dict = {}
        first = None
        for name in a.runs:
            cpu, th = name.split("-t")
            res = analyse_run(a.work / f"{name}.marks", a.work / f"{name}.meta.json")
            secs = a.work / f"{name}.seconds"
            res["emulated_seconds"] = int(secs.read_text()) if secs.is_file() else None
            runs.setdefault(cpu, {})[th] = res
            first = first or res
        kernels = {}
        for cpu in runs:
            for th, res in runs[cpu].items():
                for s, d in res["stages"].items():
                    if d.get("kernels") and d.get("xnnpack") and d["model"] not in kernels:
                        kernels[d["model"]] = d["kernels"]
        freeze = []
        if a.pip_freeze and a.pip_freeze.is_file():
            freeze = [ln for ln in a.pip_freeze.read_text().splitlines() if ln and not ln.startswith("edgeface")]
        report = {
            "format": "edgeface-arm-insn/1",
            "environment": {"qemu": a.qemu, "release": a.release, "python": first["python"],
                            "runtime": first["runtime"], "numpy": first["numpy"], "guest_packages": freeze},
            "method": {"how": METHOD, "caveats": CAVEATS},
            "runs": runs,
            "kernels": kernels,
        }
        if a.crosscheck:
            report["crosscheck"] = crosscheck(*a.crosscheck)
    except (ReportError, OSError, KeyError, ValueError, json.JSONDecodeError) as e:
        print(f"arm_insn: error: {e}", file=sys.stderr)
        return 2
    return write(report, a.out)


def write(report: dict, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("arm-insn.json", json.dumps(report, indent=1) + "\n"), ("arm-insn.md", markdown(report))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        commit(tmp, out / name)
    plot(report, out / "arm-insn.png")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
