"""The MJPEG server, on 127.0.0.1 only (port 0 = a free port)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from edgeface.errors import EdgefaceError
from edgeface.sinks.mjpeg import BOUNDARY, MjpegServer, parse_bind

HOST = "127.0.0.1"


def test_parse_bind():
    assert parse_bind("8080") == ("127.0.0.1", 8080)
    assert parse_bind(9000) == ("127.0.0.1", 9000)
    assert parse_bind("0") == ("127.0.0.1", 0)
    assert parse_bind(":8081") == ("127.0.0.1", 8081)
    assert parse_bind("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_bind("localhost:1234") == ("localhost", 1234)
    assert parse_bind("[::1]:8080") == ("::1", 8080)
    for bad in ("", "abc", "70000", "1.2.3.4:", "a:b:c", "host:-1", "8080x", None):
        with pytest.raises(EdgefaceError) as e:
            parse_bind(bad)
        assert "[HOST:]PORT" in str(e.value)


def image(i, h=120, w=160):
    """Red on the left half; the right half's green level tells the frame number (3 * i)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (0, 0, 255)
    img[:, w // 2:] = (0, min(255, 3 * i), 0)
    return img


@pytest.fixture
def server():
    s = MjpegServer(HOST, 0).start()
    yield s
    s.close()


def get(server, path, timeout=5):
    with urllib.request.urlopen(f"http://{HOST}:{server.port}{path}", timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def read_parts(resp, n, max_bytes=5_000_000):
    """Parse n JPEG parts from a multipart/x-mixed-replace response."""
    parts = []
    buf = b""
    while len(parts) < n:
        while b"\r\n\r\n" not in buf:
            chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
            assert chunk, "stream ended early"
            buf += chunk
            assert len(buf) < max_bytes
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("ascii").strip().split("\r\n")
        assert lines[0] == f"--{BOUNDARY}"
        hdr = dict(line.split(": ", 1) for line in lines[1:])
        assert hdr["Content-Type"] == "image/jpeg"
        size = int(hdr["Content-Length"])
        while len(buf) < size + 2:
            buf += resp.read1(65536)
        data, buf = buf[:size], buf[size + 2:]
        parts.append(data)
    return parts


def test_stream_delivers_jpeg_parts(server):
    assert server.port and server.port > 0
    server.publish(image(0), {"frame": 0})
    conn = http.client.HTTPConnection(HOST, server.port, timeout=5)
    conn.request("GET", "/stream.mjpg")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    stop = threading.Event()

    def pump():
        i = 1
        while not stop.is_set() and i < 85:
            server.publish(image(i), {"frame": i})
            i += 1
            time.sleep(0.01)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        parts = read_parts(resp, 3)
    finally:
        stop.set()
        t.join()
        conn.close()
    decoded = [cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in parts]
    assert all(d is not None and d.shape == (120, 160, 3) for d in decoded)
    levels = [float(d[60, 120:, 1].mean()) for d in decoded]
    assert all(b - a >= 2 for a, b in zip(levels, levels[1:])), levels  # each part is a newer frame
    assert decoded[0][60, 5, 2] > 200 and decoded[0][60, 5, 0] < 60  # red stays red (BGR in, BGR out)


def test_stats_snapshot_and_page(server):
    with pytest.raises(urllib.error.HTTPError) as e:
        get(server, "/snapshot.jpg")  # nothing published yet
    assert e.value.code == 503
    stats = {"fps": 12.5, "time_ms": {"detect": 20.1, "regress": 3.2}, "faces": 2, "frame": 41,
             "np": np.float32(1.5)}
    server.publish(image(3), stats)
    status, ctype, body = get(server, "/stats.json")
    assert status == 200 and ctype == "application/json"
    assert json.loads(body) == {"fps": 12.5, "time_ms": {"detect": 20.1, "regress": 3.2}, "faces": 2,
                                "frame": 41, "np": 1.5}
    status, ctype, body = get(server, "/snapshot.jpg")
    assert status == 200 and ctype == "image/jpeg"
    snap = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert snap.shape == (120, 160, 3)
    status, ctype, body = get(server, "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b'<img id="stream" src="/stream.mjpg"' in body and b"/stats.json" in body
    with pytest.raises(urllib.error.HTTPError) as e:
        get(server, "/nope")
    assert e.value.code == 404


def test_publish_never_blocks_on_a_stalled_client(server):
    """A client that connects and never reads must not slow publish down."""
    server.publish(np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8), {})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect((HOST, server.port))
    sock.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")
    try:
        noise = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        for i in range(300):  # big, incompressible frames: the socket buffers fill up
            server.publish(noise, {"frame": i})
        assert server.frames_published == 301
        # the server still answers other clients
        status, _, body = get(server, "/stats.json")
        assert json.loads(body) == {"frame": 299}
    finally:
        sock.close()


def test_close_frees_the_port_and_ends_streams():
    s = MjpegServer(HOST, 0).start()
    port = s.port
    s.publish(image(1), {})
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    conn.request("GET", "/stream.mjpg")
    resp = conn.getresponse()
    read_parts(resp, 1)
    s.close()
    # the open stream ends (no hang)
    rest = resp.read()
    assert isinstance(rest, bytes)
    conn.close()
    with pytest.raises(OSError):
        socket.create_connection((HOST, port), timeout=2).close()
    s2 = MjpegServer(HOST, port).start()  # same port again
    try:
        assert s2.port == port
        assert get(s2, "/stats.json")[2] == b"{}"
    finally:
        s2.close()


def test_port_in_use_is_a_clear_error():
    with MjpegServer(HOST, 0) as s:
        with pytest.raises(EdgefaceError, match="in use"):
            MjpegServer(HOST, s.port).start()
