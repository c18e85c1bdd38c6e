#!/usr/bin/env bash
# Step "serve" (run.sh --wheels DIR): `edgeface run --source samples:obama --serve 127.0.0.1:PORT` from the
# installed wheels, then one JPEG frame fetched from its MJPEG stream (/stream.mjpg) and decoded (1280x720).
set -euo pipefail
out=$EDGEFACE_ARM_OUT
target=rpi4; [ "$EDGEFACE_ARM_CPU" = a76 ] && target=rpi5
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
edgeface fetch samples > /dev/null
echo "== edgeface run --source samples:obama --target $target --serve 127.0.0.1:$port"
edgeface run --source samples:obama --target "$target" --serve "127.0.0.1:$port" -q > "$out/serve.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
"$PYTHON" - "$port" "$out/frame.jpg" <<'PY'
import sys, time, urllib.request
import cv2, numpy as np
port, dest = int(sys.argv[1]), sys.argv[2]
deadline, last = time.monotonic() + 600, None
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream.mjpg", timeout=60) as r:
            buf = b""
            while len(buf) < 8 << 20:
                buf += r.read1(65536)
                start = buf.find(b"\xff\xd8")
                end = buf.find(b"\xff\xd9", start + 2) if start >= 0 else -1
                if end > 0:
                    jpeg = buf[start:end + 2]
                    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                    assert img is not None and img.shape[:2] == (720, 1280), getattr(img, "shape", None)
                    open(dest, "wb").write(jpeg)
                    print(f"ok one JPEG frame from http://127.0.0.1:{port}/stream.mjpg: {len(jpeg)} bytes, {img.shape[1]}x{img.shape[0]}")
                    sys.exit(0)
    except OSError as e:  # not listening yet (models loading, emulated)
        last = e
        time.sleep(2)
sys.exit(f"no JPEG frame from the stream within 600 s ({last})")
PY
grep -q "streaming at http://127.0.0.1:$port" "$out/serve.log" || { cat "$out/serve.log" >&2; exit 1; }
