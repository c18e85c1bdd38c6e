#!/usr/bin/env bash
# Step "litert": LiteRT smoke test. RFB-320 (float TFLite face detector) on emma.jpg through
# ai_edge_litert with the XNNPACK delegate; raw outputs -> rfb320_emma.npz. Same on both sides.
# Step contract (tests/arm/README.md): $EDGEFACE_ARM_SIDE (guest|host), $PYTHON, $EDGEFACE_REPO,
# $EDGEFACE_SHARED, $EDGEFACE_ARM_OUT (empty output folder of this side), optional $EDGEFACE_HOME.
set -euo pipefail
"$PYTHON" "$EDGEFACE_REPO/tests/arm/steps/litert_check.py" \
    --model "$EDGEFACE_SHARED/upstream/rfb/weights/RFB-320.tflite" \
    --image "$EDGEFACE_SHARED/upstream/3ddfa_v2/examples/inputs/emma.jpg" \
    --min-face-score 0.9 \
    --out "$EDGEFACE_ARM_OUT/rfb320_emma.npz"
