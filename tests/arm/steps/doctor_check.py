"""Check the report of `edgeface doctor --json` (step "doctor" of tests/arm/run.sh).

    python doctor_check.py --side guest|host --cpu a72|a76 --report doctor.json --meta doctor.meta.json

Guest (the emulated Raspberry Pi): machine aarch64, arch arm64, CPU Cortex-A72 (a72, Pi 4) or
Cortex-A76 (a76, Pi 5), NEON present (and dotprod + fp16 on the A76, neither on the A72), the
runtime ai_edge_litert with the XNNPACK delegate applied, the INT8 models of the mounted cache
listed, and the recommended profile rpi4 / rpi5. Host: ai_edge_litert with XNNPACK applied and the
same INT8 models listed. Prints one line per check; exit 1 if any failed. Writes a short summary
to --meta (printed by compare.py as info). Standalone: only the standard library.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXPECTED = {  # --cpu -> (CPU name, recommended profile, dotprod, fp16)
    "a72": ("Cortex-A72", "rpi4", False, False),
    "a76": ("Cortex-A76", "rpi5", True, True),
}
MODELS = (("mb05", "int8"), ("faceboxes_640x480", "int8"), ("mb05", "float32"), ("faceboxes_640x480", "float32"))


def checks(report: dict, side: str, cpu: str) -> list:
    """[(description, ok, what was found)]."""
    out = []

    def check(desc: str, ok: bool, found) -> None:
        out.append((desc, bool(ok), found))

    runtime = report.get("runtime") or ""
    check("TFLite runtime is ai_edge_litert", runtime.startswith("ai_edge_litert"), runtime or report.get("runtime_error"))
    check("XNNPACK delegate applied", report.get("xnnpack") is True, f"{report.get('xnnpack')} ({report.get('xnnpack_note')})")
    have = {(m.get("name"), m.get("variant")) for m in report.get("models", [])}
    for name, variant in MODELS:
        ok = (name, variant) in have
        check(f"cache lists {name}_{variant}.tflite", ok,
              report.get("cache") if ok else f"not in {report.get('cache')}: {sorted(f'{n}_{v}' for n, v in have)}")
    if side == "guest":
        cpu_name, target, dotprod, fp16 = EXPECTED[cpu]
        feats = report.get("features") or {}
        check("machine is aarch64", report.get("machine") == "aarch64", report.get("machine"))
        check("arch is arm64", report.get("arch") == "arm64", report.get("arch"))
        check(f"CPU is {cpu_name}", report.get("cpu") == cpu_name, report.get("cpu"))
        check("NEON (asimd) present", feats.get("NEON") is True, feats)
        check(f"dotprod {'present' if dotprod else 'absent'}", feats.get("dotprod") is dotprod, feats.get("dotprod"))
        check(f"fp16 arithmetic {'present' if fp16 else 'absent'}", feats.get("fp16") is fp16, feats.get("fp16"))
        check(f"recommended target is {target}", report.get("target") == target, f"{report.get('target')} ({report.get('target_reason')})")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", choices=("guest", "host"), required=True)
    ap.add_argument("--cpu", choices=tuple(EXPECTED), required=True)
    ap.add_argument("--report", type=Path, required=True)
    ap.add_argument("--meta", type=Path)
    args = ap.parse_args(argv)
    try:
        report = json.loads(args.report.read_text())
    except (OSError, ValueError) as e:
        print(f"error: cannot read the doctor report {args.report}: {e}", file=sys.stderr)
        return 1
    results = checks(report, args.side, args.cpu)
    for desc, ok, found in results:
        print(f"{'ok  ' if ok else 'FAIL'} {desc}: {found}")
    if args.meta:
        feats = report.get("features") or {}
        meta = {"machine": report.get("machine"), "cpu": report.get("cpu"), "board": report.get("board"),
                "features": " ".join(k for k, v in feats.items() if v), "runtime": report.get("runtime"),
                "xnnpack": report.get("xnnpack"), "target": report.get("target"), "pyav": report.get("pyav")}
        args.meta.write_text(json.dumps(meta, indent=1) + "\n")
    failed = [d for d, ok, _ in results if not ok]
    if failed:
        print(f"error: doctor check failed: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
