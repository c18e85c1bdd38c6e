"""edgeface.tools.bench.arm_insn (the report of benchmarks/arm_insn.sh): the plugin's mark file is turned into per-stage counts correctly,
and a broken or mismatched file is one clear error (no emulation needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeface.tools.bench import arm_insn as rep

MARK = 3000  # what one mark costs in the synthetic run


def _run(tmp_path: Path, name: str = "a72-t1", drop_total: bool = False, extra_label: bool = False) -> Path:
    """A run whose truth is known: reg_int8 1.5 M per invoke, head 70 k, frames with 1 invoke of 1 M."""
    labels, totals, c = [], [], 10_000_000

    def mark(label: str, work: int = 0):
        nonlocal c
        c += work + MARK
        labels.append(label)
        totals.append(c)

    mark("calib:begin")
    mark("calib:end")
    mark("reg_int8:begin")
    mark("reg_int8:end", 20 * 1_500_000)
    mark("head:begin")
    mark("head:end", 20 * (70_000 + 500))  # 500 = the loop itself
    mark("loop:begin")
    mark("loop:end", 20 * 500)
    for i in range(4):
        mark("frame_int8:frame_begin", 123)
        mark("frame_int8:invoke_in", 2_000_000)  # 2 M of Python before the invoke
        mark("frame_int8:invoke_out", 1_000_000)
        mark("frame_int8:frame_end", 1_000_000)  # 1 M after it
    mark("done")
    if extra_label:
        labels.append("orphan")
    meta = {"runtime": "ai_edge_litert 2.3.0", "numpy": "2.4.6", "python": "3.11.2", "threads": 1, "labels": labels,
            "stages": {"reg_int8": {"model": "mb05_int8.tflite", "xnnpack": True, "iters": 20, "warmup": 3,
                                    "wall_ms_per_iter": 1.0, "kernels": {"nodes": 37, "delegate_partitions": 1,
                                                                         "xnnpack_nodes": 36, "builtin_nodes": {"QUANTIZE": 1}}},
                       "head": {"shape": [512, 62], "iters": 20, "warmup": 3, "checksum": 0.0},
                       "frame_int8": {"api": "Pipeline", "precision": "int8", "target": "rpi4", "warmup": 3, "iters": 4,
                                      "detected": [True, False, False, False], "faces": [1, 1, 1, 1]}}}
    lines = ["plugin edgeface-insn target=aarch64"] + [f"mark {i} 0 {t}" for i, t in enumerate(totals)]
    lines += ["vcpu 0 99", "vcpu 1 1"] + ([] if drop_total else ["total 100"])
    (tmp_path / f"{name}.marks").write_text("\n".join(lines) + "\n")
    (tmp_path / f"{name}.meta.json").write_text(json.dumps(meta))
    return tmp_path


def test_marginal_counts_subtract_the_mark_and_loop_costs(tmp_path):
    r = rep.analyse_run(_run(tmp_path) / "a72-t1.marks", tmp_path / "a72-t1.meta.json")
    assert r["mark_cost_insns"] == MARK
    assert r["stages"]["reg_int8"]["insns_per_iter"] == pytest.approx(1_500_000)
    assert r["stages"]["head"]["insns_per_iter"] == pytest.approx(70_000)
    fr = r["stages"]["frame_int8"]
    assert (fr["tracked_frames"], fr["detection_frames"]) == (3, 1)
    assert fr["tracked"]["invoke"] == pytest.approx(1_000_000)
    assert fr["tracked"]["other"] == pytest.approx(3_000_000)  # 2 M before + 1 M after (123 between frames is outside)
    assert r["threads_seen"] == 2


def test_report_writes_json_markdown_and_png(tmp_path):
    work = _run(tmp_path)
    out = tmp_path / "out"
    assert rep.main(["--work", str(work), "--runs", "a72-t1", "--out", str(out), "--release", "bookworm",
                     "--qemu", "qemu-aarch64 version 7.2.22"]) == 0
    d = json.loads((out / "arm-insn.json").read_text())
    assert d["runs"]["a72"]["1"]["stages"]["reg_int8"]["insns_per_iter"] == pytest.approx(1_500_000)
    md = (out / "arm-insn.md").read_text()
    assert "| regressor mb05 Invoke, INT8 (XNNPACK) | 1.50 M |" in md
    assert "QUANTIZE x1" in md
    assert (out / "arm-insn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob("*.tmp"))


@pytest.mark.parametrize("kind,msg", [("drop_total", "no 'total' line"), ("extra_label", "do not match")])
def test_broken_mark_files_are_one_error_line(tmp_path, capsys, kind, msg):
    work = _run(tmp_path, **{kind: True})
    rc = rep.main(["--work", str(work), "--runs", "a72-t1", "--out", str(tmp_path / "o"), "--release", "bookworm",
                   "--qemu", "q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and msg in err[0] and err[0].startswith("arm_insn: error:")
    assert not (tmp_path / "o" / "arm-insn.json").exists()
