#!/usr/bin/env bash
# Step "video_h264" (issue 24): `edgeface run --save clip.mp4` writes H.264 (yuv420p) through PyAV on the board
# as on the host (run.sh --extras video installs PyAV, whose wheels bundle FFmpeg with libx264), and the TFLite
# runtime's "INFO: Created ... XNNPACK delegate" line stays off stderr without --verbose. The first 6 frames of
# samples:obama with the INT8 models; the guest has no /dev/video11, so this is the software encoder (the Pi 4's
# h264_v4l2m2m path is unproven until run on a board). Nothing here is compared across sides (no .jsonl/.npz).
set -euo pipefail
[ -n "${EDGEFACE_HOME:-}" ] || { echo "error: step video_h264 needs converted models: pass --edgeface-home" >&2; exit 2; }
target=rpi4; [ "$EDGEFACE_ARM_CPU" = a76 ] && target=rpi5
out=$EDGEFACE_ARM_OUT
echo "== edgeface run --source samples:obama --max-frames 6 --precision int8 --target $target --save h264.mp4"
edgeface run --source samples:obama --max-frames 6 --precision int8 --target "$target" --scan inline -q \
    --save "$out/h264.mp4" 2> "$out/h264.err"
cat "$out/h264.err"
if grep -q "^INFO: Created TensorFlow Lite" "$out/h264.err"; then
    echo "error: the TFLite INFO line was printed without --verbose" >&2; exit 1
fi
if grep -q "mp4v" "$out/h264.err"; then
    echo "error: fell back to mp4v: $(grep mp4v "$out/h264.err")" >&2; exit 1
fi
"$PYTHON" - "$out/h264.mp4" <<'PY'
import sys

import av

with av.open(sys.argv[1]) as c:
    s = c.streams.video[0]
    n = sum(1 for _ in c.decode(s))
    got = (s.codec_context.name, s.codec_context.pix_fmt, n)
assert got == ("h264", "yuv420p", 6), f"{sys.argv[1]}: {got} != ('h264', 'yuv420p', 6)"
print(f"ok {sys.argv[1]}: {got[0]} {got[1]}, {n} frames, {s.width}x{s.height}, PyAV {av.__version__}")
PY
