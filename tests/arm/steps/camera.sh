#!/usr/bin/env bash
# Step "camera" (issue 25): the picamera2 path with the real packages, in a venv made as the Pi recipe makes
# one (`--system-site-packages`, pip's numpy 2 in front of apt's; camera_env.sh provisions it once).
#   trixie:   apt's libcamera 0.4.0 + pip's picamera2 import; the guest has no camera, so
#             `--camera --camera-backend picamera2` must say that libcamera found none, `--camera` (auto) that
#             picamera2 saw none and OpenCV none either, and `edgeface doctor` the same (libcamera lists 0)
#   bookworm: a module built against apt's numpy 1.24 fails beside pip's numpy 2 (the picamera2 stand-in's
#             import); `--camera` and `edgeface doctor` must name the numpy ABI mismatch, both numpys and the
#             documented pins; then the pins (FIXED_VENV) make the same module import, and edgeface still runs
#             there (3 sample photos, INT8, rpi4)
#   host:     no picamera2: `--camera-backend picamera2` must say it is not installed and how to install it
# Every command's output goes to $EDGEFACE_ARM_OUT/*.txt; camera_check.py checks them. Nothing is compared
# between the sides.
set -uo pipefail
out=$EDGEFACE_ARM_OUT
cmd() {  # cmd NAME PY ARGS...: run `PY -m edgeface ARGS`, keep its output and exit status
    local name=$1 py=$2; shift 2
    echo "== $name: edgeface $*"
    "$py" -m edgeface "$@" > "$out/$name.txt" 2>&1
    echo "exit=$?" >> "$out/$name.txt"
    cat "$out/$name.txt"
}
if [ "$EDGEFACE_ARM_SIDE" = host ]; then
    cmd host_picamera2 "$PYTHON" run --camera --camera-backend picamera2 --max-frames 1 -q
    exec "$PYTHON" "$EDGEFACE_REPO/tests/arm/steps/camera_check.py" --side host --out "$out"
fi
set -e
. "$EDGEFACE_REPO/tests/arm/steps/camera_env.sh"
set +e
export COLUMNS=200
case "$RELEASE" in
    trixie)
        cmd picamera2_backend "$CAMERA_PY" run --camera --camera-backend picamera2 --max-frames 1 -q
        cmd auto_backend "$CAMERA_PY" run --camera --max-frames 1 -q
        cmd doctor "$CAMERA_PY" doctor --json ;;
    bookworm)
        PYTHONPATH=$CAMERA_STANDIN cmd numpy_abi "$CAMERA_PY" run --camera --max-frames 1 -q
        PYTHONPATH=$CAMERA_STANDIN cmd doctor "$CAMERA_PY" doctor --json
        "$FIXED_PY" -c "import numpy, bottleneck, cv2; print('fixed: numpy', numpy.__version__, numpy.__file__, 'cv2', cv2.__version__, 'bottleneck', bottleneck.__version__)" \
            > "$out/fixed_import.txt" 2>&1; echo "exit=$?" >> "$out/fixed_import.txt"; cat "$out/fixed_import.txt"
        cmd fixed_run "$FIXED_PY" run --source "$EDGEFACE_HOME/files/3ddfa_v2/examples/inputs" --precision int8 \
            --target rpi4 -q --json "$out/fixed.int8.json" ;;
esac
exec "$PYTHON" "$EDGEFACE_REPO/tests/arm/steps/camera_check.py" --side guest --release "$RELEASE" --out "$out"
