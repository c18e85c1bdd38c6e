"""Who may watch the MJPEG stream, and how many at once.

A camera stream of people's faces is private by default:

- bound to loopback (127.0.0.1, ::1, localhost) it needs no token: only this machine can connect;
- bound to anything else it needs a token: `--serve-token TOKEN`, or one generated here
  (`secrets.token_urlsafe`, 128 bits). Every request without it gets 401, on every route.
  The token is accepted as `?token=...` (the URL edgeface prints once), as
  `Authorization: Bearer ...`, or as the `edgeface_token` cookie the page sets;
- `--serve-insecure` serves a non-loopback bind without a token (a trusted LAN), and says so;
- a loopback stream answers only requests whose `Host` header names this machine (localhost,
  127.0.0.1, [::1], any loopback address, or the name it was bound to, with any port): a web page
  that re-points its own domain at 127.0.0.1 (DNS rebinding) gets 403 (`host_allowed`).

`ClientSlots` bounds the concurrent streaming clients: the next one gets 503 (Retry-After).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Optional
from urllib.parse import parse_qs

from edgeface.errors import OptionsError

COOKIE = "edgeface_token"
DEFAULT_MAX_CLIENTS = 8
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class StreamAccess:
    """The access policy of one server: `token` None means open (loopback, or --serve-insecure)."""

    token: Optional[str]
    insecure: bool = False  # a non-loopback bind served without a token, on purpose
    loopback_name: Optional[str] = None  # the host name a loopback stream was bound to (Host checks on)

    @classmethod
    def for_bind(cls, host: str, token: Optional[str] = None, insecure: bool = False) -> "StreamAccess":
        policy = cls._for_bind(host, token, insecure)
        if is_loopback(host):
            policy = cls(policy.token, policy.insecure, host.strip("[]").lower())
        return policy

    @classmethod
    def _for_bind(cls, host: str, token: Optional[str], insecure: bool) -> "StreamAccess":
        if token is not None and insecure:
            raise OptionsError("give --serve-token or --serve-insecure, not both")
        if token is not None:
            token = token.strip()
            if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or any(c in token for c in " &#?;=\"'"):
                raise OptionsError(f"--serve-token must be at least {MIN_TOKEN_CHARS} printable characters without "
                                   "spaces or any of &#?;=\"' (leave it out and edgeface generates one)")
            return cls(token)
        if insecure:
            return cls(None, insecure=not is_loopback(host))
        if is_loopback(host):
            return cls(None)
        return cls(secrets.token_urlsafe(16))

    @property
    def required(self) -> bool:
        return self.token is not None

    def allows(self, path_query: str, headers) -> bool:
        """Whether a request (its path with query, and its headers) carries the token."""
        if self.token is None:
            return True
        given = []
        if "?" in path_query:
            given += parse_qs(path_query.split("?", 1)[1]).get("token", [])
        auth = headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            given.append(auth[7:].strip())
        cookie = headers.get("Cookie")
        if cookie:
            try:
                morsel = SimpleCookie(cookie).get(COOKIE)
            except Exception:  # a malformed Cookie header is simply no token
                morsel = None
            if morsel is not None:
                given.append(morsel.value)
        want = self.token.encode()
        return any(hmac.compare_digest(g.encode(), want) for g in given)

    def host_allowed(self, host_header: Optional[str]) -> bool:
        """Whether a request's `Host` header may reach this stream: always for a non-loopback bind (the token
        guards it); for a loopback bind only a loopback name or address, or the bound name (any port).
        A request without a Host header (HTTP/1.0 tools) is allowed: browsers always send one."""
        if self.loopback_name is None or host_header is None:
            return True
        h = host_header.strip().lower()
        if h.startswith("["):  # [v6]:port
            name = h[1:h.find("]")] if "]" in h else h
        else:
            name = h.rsplit(":", 1)[0] if h.count(":") == 1 else h
        name = name.rstrip(".")
        return bool(name) and (name == self.loopback_name or is_loopback(name))

    def url_suffix(self) -> str:
        return f"?token={self.token}" if self.token else ""

    def cookie_header(self) -> Optional[str]:
        """Set on the page, so that its image and stats requests carry the token."""
        if not self.token:
            return None
        return f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"


class ClientSlots:
    """At most `limit` concurrent streaming clients (a counter under a lock)."""

    def __init__(self, limit: int = DEFAULT_MAX_CLIENTS):
        if int(limit) < 1:
            raise OptionsError(f"--serve-max-clients must be >= 1, got {limit}")
        self.limit = int(limit)
        self.active = 0
        self.refused = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.active >= self.limit:
                self.refused += 1
                return False
            self.active += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.active = max(0, self.active - 1)
