#!/usr/bin/env bash
# Step "board_memory" (issue 25): `edgeface report` for the Raspberry Pi profiles, each row a real
# `edgeface run` in a fresh Python whose working memory (peak RssAnon + RssShmem, plus the file pages touched
# after warm-up) and peak RSS (VmHWM) are recorded (board-report-memory.json / .md).
# Under qemu-user /proc/self is the emulator's process: the guest's memory plus qemu's own (translation cache,
# its heap: anonymous memory); running the same step on the host (x86) gives the comparison
# (docs/reference/memory.md).
# Profiles: rpi-zero2w, rpi3 (FaceBoxes 320x256), rpi4, rpi5 (640x480); precisions: the profile's own and fp32.
set -euo pipefail
[ -n "${EDGEFACE_HOME:-}" ] || { echo "error: step board_memory needs converted models: pass --edgeface-home" >&2; exit 2; }
frames=${EDGEFACE_ARM_MEMORY_FRAMES:-30}
# the fixed costs, to tell qemu's share from edgeface's: a bare Python, and one with edgeface's imports
for code in "pass" "import numpy, cv2, ai_edge_litert.interpreter, av, edgeface.cli.main"; do
    "$PYTHON" -c "$code
st = {l.split(':')[0]: int(l.split()[1]) for l in open('/proc/self/status') if l.split(':')[0] in ('VmHWM', 'RssAnon', 'RssFile', 'RssShmem')}
print('baseline peak RSS %.1f MB, RssAnon %.1f MB, RssFile %.1f MB, RssShmem %.1f MB: python -c \'$code\'' % tuple(st[k] / 1024 for k in ('VmHWM', 'RssAnon', 'RssFile', 'RssShmem')))"
done | tee "$EDGEFACE_ARM_OUT/baseline.txt"
COLUMNS=250 edgeface report --target rpi-zero2w,rpi3,rpi4,rpi5 --precision profile,fp32 --frames "$frames" \
    --out "$EDGEFACE_ARM_OUT" --name board-report-memory
"$PYTHON" - "$EDGEFACE_ARM_OUT/board-report-memory.json" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
bad = [r for r in rep["runs"] if r["error"] or not r["peak_rss_mb"] or not r.get("working_mb") or r["frames"] < 2]
for r in rep["runs"]:
    print(f"{r['profile']:<11} {r['regressor_precision']}/{r['detector_precision']}: working {r.get('working_mb')} MB "
          f"(anon {r.get('anon_peak_mb')} + file referenced {r.get('file_referenced_mb')}), peak RSS {r['peak_rss_mb']} MB, "
          f"{r['frames']} frames {r['error']}")
sys.exit(1 if bad or len(rep["runs"]) < 7 else 0)
PY
