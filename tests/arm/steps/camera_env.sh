# Sourced by the camera steps (guest side): the Raspberry Pi OS camera stack, as far as Debian has it,
# in a venv made the way the Pi recipe makes one (`python3 -m venv --system-site-packages`), with pip's
# numpy 2 in front of apt's numpy. Idempotent: what is installed already is kept (cached in the rootfs),
# and nothing here touches the board venv or the base rootfs packages the other steps use.
#   trixie:   apt python3-libcamera (0.4.0) + python3-prctl, gcc + python3-dev (pidng, a picamera2
#             dependency, is a source-only C extension), then `pip install picamera2` in the venv
#   bookworm: apt python3-bottleneck: a Debian extension module built against apt's numpy 1.24
#             (python3-numpy-abi9), which is what apt's picamera2 / simplejpeg are on Raspberry Pi OS 12
#   Neither release packages pykms (Raspberry Pi OS's python3-kms++, DRM display bindings that picamera2
#   imports for its preview window only; the PyPI build, rpi-kms, clones and compiles kms++): trixie's venv
#   gets a stand-in that names itself and fails on use. bookworm has no libcamera bindings at all, so its
#   picamera2 is a stand-in package whose import is the real failing one: `import bottleneck`, as apt's
#   picamera2 imports apt's simplejpeg on Raspberry Pi OS 12 (CAMERA_STANDIN, on PYTHONPATH only when used).
#   bookworm also gets the documented fix in a second venv (FIXED_VENV): pip install "numpy<2"
#   "opencv-python-headless<4.12" (docs/guides/raspberry-pi-camera.md).
# Sets CAMERA_VENV, CAMERA_PY, CAMERA_STANDIN (bookworm), FIXED_PY (bookworm).
CAMERA_VENV=/opt/edgeface-camera-venv
CAMERA_PY=$CAMERA_VENV/bin/python
RELEASE=$(. /etc/os-release && echo "$VERSION_CODENAME")

camera_apt_need() {  # apt-get install only what is missing
    local missing=() p
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} = 0 ] && return 0
    echo "== apt-get install ${missing[*]} (once; cached in the rootfs)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

case "$RELEASE" in
    trixie) camera_apt_need python3-libcamera python3-prctl gcc libc6-dev python3-dev ;;
    bookworm) camera_apt_need python3-bottleneck ;;
    *) echo "error: camera steps know bookworm and trixie, not '$RELEASE'" >&2; exit 2 ;;
esac
if [ ! -f "$CAMERA_VENV/pyvenv.cfg" ]; then
    echo "== python3 -m venv --system-site-packages $CAMERA_VENV"
    python3 -m venv --system-site-packages "$CAMERA_VENV"
fi
# edgeface and its pip dependencies (numpy 2.x) from the board venv, ahead of /usr/lib/python3/dist-packages:
# the sys.path a Pi user's `pip install edgeface` in a --system-site-packages venv ends up with
board_site=$(echo /opt/edgeface-venv/lib/python3*/site-packages)
camera_site=$(echo "$CAMERA_VENV"/lib/python3*/site-packages)
echo "$board_site" > "$camera_site/edgeface-board-venv.pth"
if [ "$RELEASE" = trixie ]; then
    if ! "$CAMERA_VENV/bin/pip" show -q picamera2 >/dev/null 2>&1; then
        echo "== pip install picamera2 (once)"
        "$CAMERA_VENV/bin/pip" install -q picamera2
    fi
    mkdir -p "$camera_site/pykms"
    cat > "$camera_site/pykms/__init__.py" <<'PY'
"""Stand-in for Raspberry Pi OS's python3-kms++ (DRM display bindings), which Debian does not package:
picamera2 imports it for its DRM preview window only, which edgeface never opens. Any use raises."""
import enum

PixelFormat = enum.Enum("PixelFormat", "RGB888 BGR888 XRGB8888 XBGR8888 ARGB8888 ABGR8888 YUV420 YVU420 NV12 YUYV YVYU")


def __getattr__(name):
    raise ImportError(f"pykms.{name}: no DRM display bindings in this Debian guest (stand-in for python3-kms++)")
PY
fi
if [ "$RELEASE" = bookworm ]; then
    CAMERA_STANDIN=/opt/edgeface-camera-standin
    mkdir -p "$CAMERA_STANDIN/picamera2"
    cat > "$CAMERA_STANDIN/picamera2/__init__.py" <<'PY'
"""Stand-in for apt's picamera2 on Raspberry Pi OS 12, whose import chain reaches apt's simplejpeg, an
extension built against apt's numpy 1.24. Debian bookworm has neither picamera2 nor simplejpeg, so this
imports a Debian extension built the same way (python3-bottleneck, numpy-abi9): the failure is real."""
import bottleneck  # noqa: F401
PY
    FIXED_VENV=/opt/edgeface-camera-fixed-venv
    FIXED_PY=$FIXED_VENV/bin/python
    if [ ! -f "$FIXED_VENV/.edgeface-fixed" ]; then
        echo "== the documented fix in $FIXED_VENV: pip install \"numpy<2\" \"opencv-python-headless<4.12\" (once)"
        rm -rf "$FIXED_VENV"
        python3 -m venv --system-site-packages "$FIXED_VENV"
        echo "$board_site" > "$(echo "$FIXED_VENV"/lib/python3*/site-packages)/edgeface-board-venv.pth"
        "$FIXED_VENV/bin/pip" install -q "numpy<2" "opencv-python-headless<4.12"
        touch "$FIXED_VENV/.edgeface-fixed"
    fi
fi
