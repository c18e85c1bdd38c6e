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
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

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


def _start_browser(chromium: str, tmp_path):
    """(Chromium process, DevTools connection to its page): headless, a fresh profile under tmp_path."""
    profile = tempfile.mkdtemp(prefix="edgeface-chromium-", dir=tmp_path)
    browser = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
        return browser, DevTools(ws)
    except BaseException:
        _stop(browser)
        raise


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_for(dt: DevTools, expr: str, timeout: float = 30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = dt.js(expr)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {expr}")


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
    url = f"http://127.0.0.1:{server.port}/?token={server.access.token}"
    browser, dt = None, None
    try:
        browser, dt = _start_browser(chromium, tmp_path)
        dt.call("Page.enable")
        dt.call("Page.navigate", url=url)
        _wait_for(dt, "(() => { const i = document.getElementById('stream'); return !!i && i.naturalWidth > 0; })()")
        assert dt.js("document.getElementById('stream').naturalWidth") == 320
        assert dt.js("document.getElementById('stream').naturalHeight") == 240
        time.sleep(1.5)
        stats1, shot1 = json.loads(dt.js("document.getElementById('stats').textContent")), dt.screenshot()
        time.sleep(2.0)
        stats2, shot2 = json.loads(dt.js("document.getElementById('stats').textContent")), dt.screenshot()
        # the live stats change (frame number, fps), read from the page's DOM
        assert stats2["frame"] > stats1["frame"], (stats1, stats2)
        assert dt.js("document.getElementById('fps').textContent").endswith(" fps")
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
        if browser is not None:
            _stop(browser)
        server.close()


RECT = "(() => {{ const r = document.querySelector('{sel}').getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }})()"
VIEWPORTS = ((390, 844, True), (1280, 800, False), (360, 740, True))


def _serve_sample(home, tmp_path):
    """`edgeface run --source sim:samples:obama@8 --serve 0.0.0.0:0`: the real command, its private URL."""
    env = {**os.environ, "EDGEFACE_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "edgeface", "run", "--source", "sim:samples:obama@8", "--target",
                             "x86_64", "--precision", "int8", "--serve", "0.0.0.0:0", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        m = re.search(r"streaming at http://0\.0\.0\.0:(\d+)/(\?token=\S+)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # drain the rest
            return proc, f"http://127.0.0.1:{m.group(1)}/{m.group(2)}"
    _stop(proc)
    raise AssertionError("edgeface run --serve printed no URL:\n" + "".join(lines))


@pytest.mark.system
def test_stream_page_on_a_phone_and_a_desktop(converted_home, tmp_path):
    """The page of a real `edgeface run --serve` (a face of the sample video, live pose): at 390x844 (a phone),
    1280x800 and 360x740 the image and the pose text are inside the viewport, nothing is wider than the
    screen, the text is live (it changes) and the screenshot's image region shows the video, not a blank.
    EDGEFACE_SCREENSHOTS=DIR keeps the screenshots (docs/guides/img/ holds the committed ones)."""
    chromium = _chromium()
    proc, url = _serve_sample(converted_home, tmp_path)
    browser, dt = None, None
    keep = os.environ.get("EDGEFACE_SCREENSHOTS")
    try:
        browser, dt = _start_browser(chromium, tmp_path)
        dt.call("Page.enable")
        for width, height, mobile in VIEWPORTS:
            dt.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)
            dt.call("Page.navigate", url=url)
            _wait_for(dt, "(() => { const i = document.getElementById('stream'); return !!i && i.naturalWidth > 0 "
                          "&& document.querySelectorAll('#poses li').length > 0; })()")
            time.sleep(1.0)  # let the layout settle on the image's size
            assert dt.js("[window.innerWidth, window.innerHeight]") == [width, height]
            assert dt.js("document.documentElement.scrollWidth") <= width  # nothing runs off the right edge
            for sel in ("#stream", "#poses", "#fps", "#latency"):
                left, top, right, bottom = dt.js(RECT.format(sel=sel))
                assert left >= 0 and top >= 0 and right <= width and bottom <= height, (width, sel, left, top, right, bottom)
                assert right - left > 0 and bottom - top > 0, (width, sel)
            pose1 = dt.js("document.getElementById('poses').innerText")
            assert re.search(r"face \d+: yaw -?\d+\.\d° +pitch -?\d+\.\d° +roll -?\d+\.\d°", pose1), pose1
            assert re.fullmatch(r"\d+\.\d fps", dt.js("document.getElementById('fps').innerText"))
            assert re.fullmatch(r"latency \d+ ms", dt.js("document.getElementById('latency').innerText"))
            frame1 = dt.js("document.getElementById('faces').innerText")
            shot = dt.screenshot()
            time.sleep(1.5)
            assert dt.js("document.getElementById('faces').innerText") != frame1  # live: the frame number moves
            assert shot.shape[:2] == (height, width)
            left, top, right, bottom = (int(round(v)) for v in dt.js(RECT.format(sel="#stream")))
            assert right - left >= min(width - 16, 900) * 0.9  # scaled to the viewport, not a thumbnail
            region = shot[top:bottom, left:right].astype(float)
            assert region.std() > 20 and 20 < region.mean() < 235  # the video is drawn there, not a blank box
            name = f"stream-page-{width}x{height}.png"
            (tmp_path / name).write_bytes(cv2.imencode(".png", shot)[1].tobytes())
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                (Path(keep) / name).write_bytes(cv2.imencode(".png", shot)[1].tobytes())
        # the page's text comes from /stats.json, behind the stream's token like every route
        port, query = url.split(":")[2].split("/", 1)
        for path, status in (("/stats.json", 401), (f"/stats.json{query}", 200)):
            conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            assert resp.status == status, (path, resp.status)
        stats = json.loads(body)
        assert stats["poses"] and set(stats["poses"][0]) == {"id", "yaw", "pitch", "roll"} and stats["latency_ms"] >= 0
    finally:
        if dt is not None:
            dt.close()
        if browser is not None:
            _stop(browser)
        _stop(proc)
