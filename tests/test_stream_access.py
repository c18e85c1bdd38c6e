"""The stream is private by default: token on non-loopback binds (401 on every route without it),
--serve-insecure, at most N clients (503), 20 clients + a 1 KB/s client all served the latest frame.

Servers bind 0.0.0.0 (so that a token is required) but every client connects to 127.0.0.1."""

from __future__ import annotations

import http.client
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from edgeface.errors import OptionsError
from edgeface.sinks.mjpeg import MjpegServer
from edgeface.sinks.stream_access import StreamAccess, is_loopback
from test_mjpeg import image, read_parts

LOCAL = "127.0.0.1"
ROUTES = ("/", "/index.html", "/stream.mjpg", "/snapshot.jpg", "/stats.json", "/nope")


def request(port, path, headers=None, timeout=5):
    conn = http.client.HTTPConnection(LOCAL, port, timeout=timeout)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    return conn, resp


def status_of(port, path, headers=None):
    conn, resp = request(port, path, headers)
    try:
        return resp.status, resp.getheader("Set-Cookie"), resp.read(200) if resp.status != 200 or path != "/stream.mjpg" else b""
    finally:
        conn.close()


def test_loopback_needs_no_token_other_binds_do():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("pi.local")
    assert not StreamAccess.for_bind("127.0.0.1").required
    a, b = StreamAccess.for_bind("0.0.0.0"), StreamAccess.for_bind("0.0.0.0")
    assert a.required and len(a.token) >= 20 and a.token != b.token  # generated, different each run
    assert not StreamAccess.for_bind("0.0.0.0", insecure=True).required
    assert StreamAccess.for_bind("0.0.0.0", insecure=True).insecure
    assert StreamAccess.for_bind("0.0.0.0", token="s3cret-token-of-mine").token == "s3cret-token-of-mine"
    for bad in ("short", "has spaces in the token", "a&b=c-more-than-16-chars"):
        with pytest.raises(OptionsError, match="--serve-token"):
            StreamAccess.for_bind("0.0.0.0", token=bad)
    with pytest.raises(OptionsError, match="not both"):
        StreamAccess.for_bind("0.0.0.0", token="s3cret-token-of-mine", insecure=True)


def test_every_route_is_401_without_the_token():
    with MjpegServer("0.0.0.0", 0) as s:
        s.publish(image(1), {"frame": 1})
        token = s.access.token
        assert s.url.endswith(f"/?token={token}")
        for path in ROUTES:
            code, _, body = status_of(s.port, path)
            assert code == 401, path
            assert b"token" in body
            assert status_of(s.port, path + "?token=wrong-token-xxxxxxxx")[0] == 401, path
            assert status_of(s.port, path, {"Authorization": "Bearer nope"})[0] == 401, path
            assert status_of(s.port, path, {"Cookie": "edgeface_token=nope"})[0] == 401, path
        # with the token: the query (the printed URL), a bearer header, or the page's cookie
        code, cookie, _ = status_of(s.port, f"/?token={token}")
        assert code == 200 and cookie.startswith(f"edgeface_token={token};") and "HttpOnly" in cookie
        assert status_of(s.port, "/stats.json", {"Authorization": f"Bearer {token}"})[0] == 200
        assert status_of(s.port, "/snapshot.jpg", {"Cookie": f"edgeface_token={token}"})[0] == 200
        conn, resp = request(s.port, f"/stream.mjpg?token={token}")
        try:
            assert resp.status == 200
            s.publish(image(2), {})
            assert len(read_parts(resp, 1)) == 1
        finally:
            conn.close()
        assert status_of(s.port, f"/nope?token={token}")[0] == 404


def test_serve_insecure_is_open():
    with MjpegServer("0.0.0.0", 0, insecure=True) as s:
        s.publish(image(1), {})
        assert "token" not in s.url
        assert status_of(s.port, "/stats.json")[0] == 200


def test_at_most_n_clients_then_503():
    with MjpegServer(LOCAL, 0, max_clients=3) as s:
        s.publish(image(1), {})
        open_ = [request(s.port, "/stream.mjpg") for _ in range(3)]
        try:
            assert all(r.status == 200 for _, r in open_)
            for _, r in open_:
                read_parts(r, 1)
            code, _, body = status_of(s.port, "/stream.mjpg")
            assert code == 503 and b"3 clients" in body
            assert status_of(s.port, "/stats.json")[0] == 200  # the other routes still answer
        finally:
            for c, r in open_:
                r.close()
                c.close()
        deadline = time.time() + 5
        while s.slots.active and time.time() < deadline:  # the handlers notice the closed sockets
            s.publish(image(2), {})
            time.sleep(0.05)
        assert s.slots.active == 0 and s.slots.refused == 1
        conn, resp = request(s.port, "/stream.mjpg")
        assert resp.status == 200
        conn.close()


class Parts:
    """JPEG parts read one by one from a multipart stream (keeping what is buffered between calls)."""

    def __init__(self, resp):
        self.resp, self.buf = resp, b""

    def _fill(self):
        chunk = self.resp.read1(65536)
        assert chunk, "stream ended early"
        self.buf += chunk

    def next(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        size = int(head.decode("ascii").split("Content-Length: ")[1].split("\r\n")[0])
        while len(self.buf) < size + 2:
            self._fill()
        data, self.buf = self.buf[:size], self.buf[size + 2:]
        return data


def _slow_reader(port, stop, got):
    """A client that reads the stream at about 1 KB/s."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((LOCAL, port))
    sock.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")
    try:
        while not stop.is_set():
            got.append(len(sock.recv(100)))
            time.sleep(0.1)
    finally:
        sock.close()


def test_twenty_clients_and_a_slow_one_each_get_the_latest_frame():
    with MjpegServer(LOCAL, 0, max_clients=21) as s:
        rng = np.random.default_rng(0)
        noise = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)  # incompressible: big parts
        s.publish(noise, {"frame": 0})
        stop, slow_got = threading.Event(), []
        slow = threading.Thread(target=_slow_reader, args=(s.port, stop, slow_got), daemon=True)
        slow.start()
        clients = [request(s.port, "/stream.mjpg") for _ in range(20)]
        try:
            assert all(r.status == 200 for _, r in clients)
            for i in range(1, 61):  # ~30 fps for 2 s
                frame = noise.copy()
                frame[:8, :8] = i
                s.publish(frame, {"frame": i})
                time.sleep(0.033)
            # then a red frame: every fast client gets it (the latest frame), whatever it had buffered
            red = np.zeros_like(noise)
            red[:, :, 2] = 255
            s.publish(red, {"frame": 61})
            for _, r in clients:
                reader = Parts(r)
                for _ in range(80):
                    part = cv2.imdecode(np.frombuffer(reader.next(), np.uint8), cv2.IMREAD_COLOR)
                    if part[:, :, 2].mean() > 200 and part[:, :, 1].mean() < 30:
                        break
                else:
                    pytest.fail("a client never got the latest frame")
        finally:
            stop.set()
            for c, r in clients:
                r.close()
                c.close()
            slow.join(timeout=15)
        # it was served, slowly: all 62 publishes went through while it read under 50 kB (about one of these
        # incompressible frames), so publish never waited for it (how fast publish is: a benchmark's figure)
        assert sum(slow_got) > 0 and sum(slow_got) < 50_000
