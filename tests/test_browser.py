"""The stream page in a real browser: headless Chromium opens the private (token) URL that
`edgeface run --serve 0.0.0.0:PORT` prints, and, through the DevTools protocol, the test reads the
page's DOM and takes screenshots: the stream image shows frames and changes, the live stats change.

Chromium is the Debian package `chromium`: installed here with apt-get when running as root and
it is missing (CI), else the test is skipped with the reason.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import cv2
import numpy as np
import pytest

from edgeface.sinks.mjpeg import MjpegServer

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=800,700"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium) and this is not root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    r = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
        r = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0 or not shutil.which("chromium"):
        pytest.skip(f"cannot install chromium with apt-get: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return shutil.which("chromium")


class DevTools:
    """The least of a WebSocket client (RFC 6455, text frames) to speak the DevTools protocol."""

    def __init__(self, ws_url: str):
        hostport, path = ws_url[len("ws://"):].split("/", 1)
        host, port = hostport.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=20)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert b" 101 " in head.split(b"\r\n", 1)[0], head
        self.next_id = 0

    def _send(self, text: str) -> None:
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
                               if n < 65536 else bytes([0x80 | 127]) + n.to_bytes(8, "big"))
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            assert chunk, "DevTools connection closed"
            buf += chunk
        return buf

    def _recv(self) -> str:
        parts = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._exact(8), "big")
            parts += self._exact(n)
            if b0 & 0x80:
                return parts.decode()

    def call(self, method: str, **params):
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg["result"]

    def js(self, expr: str):
        return self.call("Runtime.evaluate", expression=expr, returnByValue=True)["result"].get("value")

    def screenshot(self) -> np.ndarray:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    def close(self) -> None:
        self.sock.close()


def _frame(i: int) -> np.ndarray:
    """A 320x240 frame: a white square that moves with i, and the frame number written."""
    img = np.full((240, 320, 3), (40, 90, 30), np.uint8)
    x = (i * 12) % 260
    img[80:140, x:x + 60] = 255
    cv2.putText(img, str(i), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 255), 3)
    return img


@pytest.mark.system
def test_stream_page_in_headless_chromium(tmp_path):
    chromium = _chromium()
    server = MjpegServer("0.0.0.0", 0).start()  # not loopback: the page needs its token
    stop = threading.Event()

    def pump():
        i = 0
        while not stop.is_set():
            server.publish(_frame(i), {"frame": i, "fps": 10.0 + (i % 7), "faces": 1,
                                       "time_ms": {"detect": 9.5 + i % 3, "total": 14.0}})
            i += 1
            time.sleep(0.1)

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    profile = tempfile.mkdtemp(prefix="edgeface-chromium-", dir=tmp_path)
    url = f"http://127.0.0.1:{server.port}/?token={server.access.token}"
    browser = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = None
    try:
        ws = None
        deadline = time.time() + 60
        port_file = os.path.join(profile, "DevToolsActivePort")
        while time.time() < deadline and ws is None:
            if os.path.exists(port_file) and len(open(port_file).read().split()) >= 2:
                port = int(open(port_file).read().split()[0])
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/json/list")
                pages = [p for p in json.loads(conn.getresponse().read()) if p.get("type") == "page"]
                conn.close()
                ws = pages[0]["webSocketDebuggerUrl"] if pages else None
            if ws is None:
                assert browser.poll() is None, browser.stderr.read()
                time.sleep(0.2)
        assert ws, "Chromium did not open its DevTools port"
        dt = DevTools(ws)
        dt.call("Page.enable")
        dt.call("Page.navigate", url=url)
        deadline = time.time() + 30
        while time.time() < deadline and not dt.js("(() => { const i = document.getElementById('stream'); "
                                                   "return !!i && i.naturalWidth > 0; })()"):
            time.sleep(0.2)
        assert dt.js("document.getElementById('stream').naturalWidth") == 320
        assert dt.js("document.getElementById('stream').naturalHeight") == 240
        time.sleep(1.5)
        stats1, shot1 = dt.js("document.getElementById('stats').textContent"), dt.screenshot()
        time.sleep(2.0)
        stats2, shot2 = dt.js("document.getElementById('stats').textContent"), dt.screenshot()
        # the live stats change (frame number, fps), read from the page's DOM
        assert stats1.startswith("frame ") and stats2.startswith("frame ") and stats1 != stats2, (stats1, stats2)
        assert int(stats2.split()[1]) > int(stats1.split()[1])
        # the stream image is on screen (the frame's green background) and it moves between the screenshots
        rect = dt.js("(() => { const r = document.getElementById('stream').getBoundingClientRect(); "
                     "return [r.left, r.top, r.width, r.height].map(Math.round); })()")
        x, y, w, h = rect
        a, b = shot1[y:y + h, x:x + w].astype(int), shot2[y:y + h, x:x + w].astype(int)
        assert w >= 300 and h >= 220
        green = np.array([40, 90, 30])
        assert np.median(np.abs(a - green).sum(axis=2)) < 40  # the frame is drawn, not a broken image
        assert np.abs(a - b).mean() > 3  # and it updated
        (tmp_path / "page1.png").write_bytes(cv2.imencode(".png", shot1)[1].tobytes())
        # the same page without the token: 401, nothing shown
        dt.call("Network.clearBrowserCookies")
        dt.call("Page.navigate", url=f"http://127.0.0.1:{server.port}/")
        time.sleep(1.0)
        assert "401" in dt.js("document.body.innerText")
    finally:
        stop.set()
        if dt is not None:
            dt.close()
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
        server.close()
