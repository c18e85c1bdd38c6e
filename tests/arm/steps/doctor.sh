#!/usr/bin/env bash
# Step "doctor": `edgeface doctor --json` must succeed on both sides. In the guest it must report
# the emulated board: aarch64, Cortex-A72 (Pi 4) or Cortex-A76 (Pi 5), NEON/asimd (and dotprod +
# fp16 on the A76), ai_edge_litert with the XNNPACK delegate applied to a model of the mounted
# $EDGEFACE_HOME, and the matching recommended profile. On the host it must find ai_edge_litert
# with XNNPACK on. Nothing is compared between the sides (doctor.json differs by design); the
# summary doctor.meta.json of each side is printed by compare.py as info.
set -euo pipefail
[ -n "${EDGEFACE_HOME:-}" ] || { echo "error: step doctor needs converted models: pass --edgeface-home" >&2; exit 2; }
edgeface doctor --json > "$EDGEFACE_ARM_OUT/doctor.json"
"$PYTHON" "$EDGEFACE_REPO/tests/arm/steps/doctor_check.py" --side "$EDGEFACE_ARM_SIDE" --cpu "$EDGEFACE_ARM_CPU" \
    --report "$EDGEFACE_ARM_OUT/doctor.json" --meta "$EDGEFACE_ARM_OUT/doctor.meta.json"
