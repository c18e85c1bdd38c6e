#!/usr/bin/env bash
# Step "camera_probe": provision the guest camera stack (camera_env.sh) and print what importing it does.
set -euo pipefail
[ "$EDGEFACE_ARM_SIDE" = guest ] || { echo "host: nothing to probe"; exit 0; }
. "$EDGEFACE_REPO/tests/arm/steps/camera_env.sh"
probe() {
"$1" - <<'PY' || true
import sys, traceback
print(sys.version)
import numpy; print("numpy", numpy.__version__, numpy.__file__)
for m in ("bottleneck", "libcamera", "simplejpeg", "picamera2"):
    try:
        __import__(m)
        print("OK", m)
    except BaseException as e:
        print("FAIL", m, type(e).__name__, str(e)[:300])
try:
    from picamera2 import Picamera2
    print("cameras:", Picamera2.global_camera_info())
except BaseException as e:
    traceback.print_exc()
PY
}
probe "$CAMERA_PY"
if [ -n "${CAMERA_STANDIN:-}" ]; then PYTHONPATH=$CAMERA_STANDIN probe "$CAMERA_PY"; probe "$FIXED_PY"; fi
