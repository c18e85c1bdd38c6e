#!/usr/bin/env bash
# Step "models": raw outputs of mb05 and FaceBoxes 640x480 (float32, INT8) from the mounted
# $EDGEFACE_HOME on emma.jpg -> models.npz, on both sides (compare.py: float 1e-3 relative, INT8
# within 1 LSB). On the host it also runs the same script with the workstation's Python
# ($EDGEFACE_WORKSTATION_PYTHON, default <repo>/.venv/bin/python: the `[convert]` install, whose
# pinned ai-edge-litert converted and verified the models) when that has another ai-edge-litert
# version than the board's, and requires bit-identical outputs (the runtime-version policy,
# tests/arm/README.md). That check writes only to a temporary folder (nothing more is compared).
set -euo pipefail
[ -n "${EDGEFACE_HOME:-}" ] || { echo "error: step models needs converted models: pass --edgeface-home" >&2; exit 2; }
img=$EDGEFACE_SHARED/upstream/3ddfa_v2/examples/inputs/emma.jpg
check=$EDGEFACE_REPO/tests/arm/steps/models_check.py
"$PYTHON" "$check" --home "$EDGEFACE_HOME" --image "$img" --out "$EDGEFACE_ARM_OUT/models.npz"
if [ "$EDGEFACE_ARM_SIDE" = host ]; then
    ws=${EDGEFACE_WORKSTATION_PYTHON:-$EDGEFACE_REPO/.venv/bin/python}
    if [ ! -x "$ws" ]; then
        echo "note: no workstation python at $ws (make install): the pinned-runtime check is not run"
        exit 0
    fi
    board_v=$("$PYTHON" -c 'from importlib import metadata; print(metadata.version("ai-edge-litert"))')
    ws_v=$("$ws" -c 'from importlib import metadata; print(metadata.version("ai-edge-litert"))' 2>/dev/null || echo none)
    if [ "$ws_v" = none ]; then
        echo "note: $ws has no ai-edge-litert: the pinned-runtime check is not run"
    elif [ "$ws_v" = "$board_v" ]; then
        echo "workstation and board runtime are the same: ai-edge-litert $board_v"
    else
        tmpd=$(mktemp -d); trap 'rm -rf "$tmpd"' EXIT
        "$ws" "$check" --home "$EDGEFACE_HOME" --image "$img" --out "$tmpd/workstation.npz" >/dev/null
        "$PYTHON" "$check" --home "$EDGEFACE_HOME" --image "$img" --out "$tmpd/board.npz" --same-as "$tmpd/workstation.npz"
    fi
fi
