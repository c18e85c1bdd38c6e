"""A tiny MJPEG web server to watch a headless board's output in a browser.

    server = MjpegServer("127.0.0.1", 8080).start()
    for ...:
        server.publish(annotated_bgr, {"fps": 12.5, "time_ms": {...}, "faces": 1, "frame": i})
    server.close()

Routes: `/` (a page with the stream and live stats), `/stream.mjpg` (multipart/x-mixed-replace
JPEG stream), `/snapshot.jpg` (latest frame), `/stats.json` (latest stats).

`publish` never blocks on clients: it only swaps a reference under a lock. Each frame is
JPEG-encoded at most once, lazily, by the first client thread that wants it (no clients: no
encoding cost). Every client always gets the newest frame; a slow client skips frames.
`publish` keeps a reference to the array: do not modify it afterwards (pass a copy if needed).

The default host is 127.0.0.1 (this machine only). Any other bind needs a token (generated, or
`token=`), and every request without it gets 401; `insecure=True` opts out, for a trusted LAN.
At most `max_clients` stream at once; the next gets 503 (`sinks.stream_access`).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.sinks.stream_access import DEFAULT_MAX_CLIENTS, ClientSlots, StreamAccess

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
BOUNDARY = "edgefaceframe"

_BIND_RE = re.compile(r"^(?:(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.\-]*)):)?(?P<port>\d{1,5})$")


def parse_bind(spec: Any, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """'8080' -> ('127.0.0.1', 8080); '0.0.0.0:8080'; 'localhost:0'; '[::1]:8080'; ':8080' (default host).
    Port 0 picks a free port. A one-line EdgefaceError for anything else."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = str(spec)
    s = str(spec).strip() if spec is not None else ""
    m = _BIND_RE.match(s)
    if not m or int(m.group("port")) > 65535:
        raise EdgefaceError(f"bad --serve value {spec!r}: expected [HOST:]PORT with PORT 0-65535, "
                            "e.g. 8080 or 127.0.0.1:8080 (0 picks a free port)")
    host = m.group("v6") or m.group("host") or default_host
    return host, int(m.group("port"))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 * {{ box-sizing:border-box; }}
 html, body {{ margin:0; }}
 body {{ background:#111; color:#ddd; font:15px/1.45 system-ui,sans-serif; padding:8px; }}
 header {{ display:flex; flex-wrap:wrap; gap:4px 12px; align-items:baseline; margin:0 0 6px 0; }}
 h1 {{ font-size:16px; font-weight:600; margin:0; }}
 #conn {{ color:#8a8; font-size:13px; }}
 main {{ display:flex; flex-direction:column; gap:8px; }}
 .view {{ min-width:0; }}
 #stream {{ display:block; max-width:100%; width:auto; height:auto; max-height:calc(100vh - 200px);
           margin:0 auto; background:#000; object-fit:contain; }}
 #panel {{ font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:14px; overflow-wrap:anywhere; min-width:0; }}
 #summary {{ display:flex; flex-wrap:wrap; gap:2px 14px; font-size:16px; color:#fff; }}
 #poses {{ list-style:none; margin:6px 0; padding:0; }}
 #poses li {{ padding:2px 0; border-top:1px solid #333; }}
 #times {{ color:#aaa; font-size:13px; }}
 @media (min-width: 800px) and (min-aspect-ratio: 5/4) {{
   main {{ flex-direction:row; align-items:flex-start; }}
   .view {{ flex:1 1 auto; }}
   #stream {{ max-height:calc(100vh - 56px); }}
   #panel {{ flex:0 0 270px; }}
 }}
</style></head>
<body>
<header><h1>{title}</h1><span id="conn">connecting...</span></header>
<main>
<div class="view"><img id="stream" src="/stream.mjpg" alt="live stream"></div>
<section id="panel" aria-live="polite">
 <div id="summary"><span id="fps">- fps</span><span id="latency">latency -</span><span id="faces">no faces yet</span></div>
 <ul id="poses"></ul>
 <div id="times"></div>
 <div id="stats" hidden></div>
</section>
</main>
<script>
function num(v, d) {{ return (v === undefined || v === null) ? "-" : Number(v).toFixed(d); }}
function text(id, s) {{ document.getElementById(id).textContent = s; }}
function show(s) {{
  text("fps", num(s.fps, 1) + " fps");
  text("latency", "latency " + num(s.latency_ms, 0) + " ms");
  var n = s.faces || 0;
  text("faces", n + (n === 1 ? " face" : " faces") + (s.frame !== undefined ? "  (frame " + s.frame + ")" : ""));
  var ul = document.getElementById("poses");
  while (ul.firstChild) ul.removeChild(ul.firstChild);
  (s.poses || []).forEach(function(p) {{
    var li = document.createElement("li");
    li.textContent = "face " + p.id + ": yaw " + num(p.yaw, 1) + "\u00b0  pitch " + num(p.pitch, 1) +
                     "\u00b0  roll " + num(p.roll, 1) + "\u00b0";
    ul.appendChild(li);
  }});
  var t = s.time_ms || {{}}, parts = [];
  for (var k in t) parts.push(k + " " + num(t[k], 1));
  text("times", parts.length ? "ms: " + parts.join("  ") : "");
  text("stats", JSON.stringify(s));
  text("conn", "live");
}}
function tick() {{
  fetch("/stats.json", {{cache: "no-store"}}).then(function(r) {{ return r.json(); }})
    .then(show).catch(function() {{ text("conn", "no connection"); }});
}}
setInterval(tick, 500); tick();
</script>
</body></html>
"""


class _Shared:
    """Latest frame + stats, shared between the pipeline thread and the HTTP threads."""

    def __init__(self, quality: int):
        self.quality = int(quality)
        self.cond = threading.Condition()
        self.seq = 0
        self.image: Optional[np.ndarray] = None
        self.stats: dict = {}
        self.closed = False
        self._jpeg_seq = -1
        self._jpeg: Optional[bytes] = None
        self._encode_lock = threading.Lock()

    def publish(self, image: Optional[np.ndarray], stats: Optional[dict]) -> int:
        with self.cond:
            if image is not None:
                self.image = image
                self.seq += 1
            if stats is not None:
                self.stats = dict(stats)
            self.cond.notify_all()
            return self.seq

    def wait_newer(self, seq: int, timeout: float) -> Optional[int]:
        """The current sequence number once it is > seq (None on timeout or close)."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.closed or self.seq > seq, timeout=timeout):
                return None
            return None if self.closed else self.seq

    def jpeg(self) -> tuple[int, Optional[bytes]]:
        """(seq, JPEG bytes) of the newest frame, encoding it once."""
        import cv2

        with self._encode_lock:
            with self.cond:
                seq, image = self.seq, self.image
            if image is None:
                return seq, None
            if self._jpeg_seq != seq:
                ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                if not ok:
                    return seq, None
                self._jpeg, self._jpeg_seq = buf.tobytes(), seq
            return self._jpeg_seq, self._jpeg


def _make_handler(shared: _Shared, title: str, access: StreamAccess, slots: ClientSlots):
    page = PAGE.format(title=title).encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        server_version = "edgeface-mjpeg"
        timeout = 15  # a stalled client's socket write fails after this; its thread ends
        protocol_version = "HTTP/1.0"

        def log_message(self, fmt, *args):  # route to logging, quietly
            log.debug("%s %s", self.address_string(), fmt % args)

        def _send(self, code: int, ctype: str, body: bytes, extra: Optional[dict] = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            try:
                if not access.host_allowed(self.headers.get("Host")):  # DNS rebinding onto a loopback stream
                    self._send(HTTPStatus.FORBIDDEN, "text/plain",
                               b"403: this stream answers only to localhost, 127.0.0.1 or [::1]\n")
                elif not access.allows(self.path, self.headers):  # every route, before anything else
                    self._send(HTTPStatus.UNAUTHORIZED, "text/plain",
                               b"401: this stream needs its token: open the URL edgeface printed (?token=...)\n",
                               {"WWW-Authenticate": 'Bearer realm="edgeface"'})
                elif path in ("/", "/index.html"):
                    cookie = access.cookie_header()
                    self._send(200, "text/html; charset=utf-8", page, {"Set-Cookie": cookie} if cookie else None)
                elif path == "/stats.json":
                    with shared.cond:
                        stats = dict(shared.stats)
                    body = json.dumps(stats, default=_json_default).encode("utf-8")
                    self._send(200, "application/json", body)
                elif path == "/snapshot.jpg":
                    _, data = shared.jpeg()
                    if data is None:
                        self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n",
                                   {"Retry-After": "1"})
                    else:
                        self._send(200, "image/jpeg", data)
                elif path in ("/stream.mjpg", "/stream.mjpeg", "/stream"):
                    if not slots.acquire():
                        self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain",
                                   f"503: {slots.limit} clients are already watching; try later\n".encode(),
                                   {"Retry-After": "5"})
                        return
                    try:
                        self._stream()
                    finally:
                        slots.release()
                else:
                    self._send(404, "text/plain", b"not found: try / /stream.mjpg /snapshot.jpg /stats.json\n")
            except (BrokenPipeError, ConnectionResetError, socket.timeout, TimeoutError):
                pass  # the client went away

        def _stream(self):
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store, no-cache, must-revalidate")
            self.send_header("Pragma", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD":
                return
            last = 0
            while True:
                seq = shared.wait_newer(last, timeout=1.0)
                if shared.closed:
                    return
                if seq is None:
                    continue
                last, data = shared.jpeg()
                if data is None:
                    continue
                head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n").encode("ascii")
                self.wfile.write(head + data + b"\r\n")
                self.wfile.flush()

    return Handler


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class MjpegServer:
    """Serve the latest annotated frame as MJPEG plus live stats, from a background thread."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, quality: int = 80,
                 title: str = "edgeface", token: Optional[str] = None, insecure: bool = False,
                 max_clients: int = DEFAULT_MAX_CLIENTS):
        self.host = host
        self.access = StreamAccess.for_bind(host, token, insecure)
        self.slots = ClientSlots(max_clients)
        self.requested_port = int(port)
        self.port: Optional[int] = None
        self.title = title
        self._shared = _Shared(quality)
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    @classmethod
    def from_spec(cls, spec: Any, **kw) -> "MjpegServer":
        host, port = parse_bind(spec)
        return cls(host, port, **kw)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if self.port is not None else self.requested_port}/{self.access.url_suffix()}"

    def start(self) -> "MjpegServer":
        if self._server is not None:
            return self
        cls = _Server6 if ":" in self.host else _Server
        try:
            server = cls((self.host, self.requested_port), _make_handler(self._shared, self.title, self.access, self.slots))
        except OSError as e:
            if e.errno in (98, 48, 10048):  # EADDRINUSE (Linux, macOS, Windows)
                raise EdgefaceError(f"port {self.requested_port} on {self.host} is in use: pick another with "
                                    "--serve PORT (0 picks a free one)") from None
            raise EdgefaceError(f"cannot serve on {self.host}:{self.requested_port}: {e.strerror or e} "
                                "(check the host address)") from None
        with self._shared.cond:
            self._shared.closed = False
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"mjpeg:{self.port}", daemon=True)
        self._thread.start()
        log.info("streaming on %s%s", self.url.split("?", 1)[0], " (token required)" if self.access.required else "")
        return self

    def publish(self, annotated_bgr: Optional[np.ndarray], stats: Optional[dict] = None) -> int:
        """Make `annotated_bgr` (BGR uint8) the latest frame and `stats` the latest stats; never blocks
        on clients. Returns the frame sequence number."""
        return self._shared.publish(annotated_bgr, stats)

    @property
    def frames_published(self) -> int:
        return self._shared.seq

    def close(self) -> None:
        """Stop serving: streaming clients see the end of the stream, the port is released."""
        with self._shared.cond:
            self._shared.closed = True
            self._shared.cond.notify_all()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "MjpegServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
