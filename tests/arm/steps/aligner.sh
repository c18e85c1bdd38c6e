#!/usr/bin/env bash
# Step "aligner": the public Python API in VIDEO mode, edgeface.FaceAligner, on both sides:
#   with edgeface.FaceAligner.create(precision="int8", target=T, running_mode="video") as fa:
#       res = fa.detect_for_video(frame_bgr_uint8, timestamp_ms)
# over the first $EDGEFACE_ARM_VIDEO_FRAMES (12) frames of samples:obama, decoded with PyAV as
# edgeface decodes them (ignore_editlist, bit-exact BGR). aligner.int8.jsonl holds res.to_dict()
# per frame (compared guest vs host with the INT8 bounds). aligner_check.py also runs
# `edgeface run` on the same frames and requires every record to equal the CLI's JSONL record
# (all fields but the wall-clock time_ms),
# one face on every frame, and the frame count. Target rpi4 (rpi5 with --cpu a76), as step run.
# If this edgeface has no FaceAligner, the step writes SKIPPED (compare.py reports SKIP).
set -euo pipefail
[ -n "${EDGEFACE_HOME:-}" ] || { echo "error: step aligner needs converted models: pass --edgeface-home" >&2; exit 2; }
target=rpi4; [ "$EDGEFACE_ARM_CPU" = a76 ] && target=rpi5
frames=${EDGEFACE_ARM_VIDEO_FRAMES:-12}
"$PYTHON" "$EDGEFACE_REPO/tests/arm/steps/aligner_check.py" --target "$target" --frames "$frames" \
    --precision int8 --out "$EDGEFACE_ARM_OUT"
