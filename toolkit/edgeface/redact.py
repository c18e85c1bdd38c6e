"""The one redaction helper: URLs, tokens and passwords out of every message and log line.

`redact(text, *secrets)` returns `text` with
- the password of any URL's user info (`scheme://user:PASS@host`) replaced by `***`,
- the value of a `token=`, `password=` or `access_token=` query parameter replaced by `***`,
- every given secret (a token, a password read from a file) replaced by `***`.

`redact_url(url)` is the same for one URL. Every error line and log line that can carry an MQTT URL,
a stream URL or a token goes through here (tests/test_hostile_fleet.py checks the CLI's output).
"""

from __future__ import annotations

import re
from typing import Optional

MASK = "***"
# scheme://user:password@ : the password is everything up to the last '@' before the next space
# (passwords may hold '@', '/', quotes: masking a little more than the password is the safe side)
_USERINFO = re.compile(r"(?P<pre>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:'\"]*:)(?P<pw>\S*)(?P<at>@)")
_QUERY = re.compile(r"(?P<pre>[?&;](?:token|password|passwd|pass|access_token|serve_token)=)(?P<val>[^&#\s]*)",
                    re.IGNORECASE)
_ENV = re.compile(r"(?P<pre>\b(?:EDGEFACE_SERVE_TOKEN|EDGEFACE_MQTT_URL)=)(?P<val>\S*)")


def redact(text: object, *secrets: Optional[str]) -> str:
    """`text` (any object, as str) with URL passwords, token parameters and the given secrets masked."""
    s = str(text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            s = s.replace(secret, MASK)
    s = _USERINFO.sub(lambda m: m.group("pre") + (MASK if m.group("pw") else "") + m.group("at"), s)
    s = _QUERY.sub(lambda m: m.group("pre") + (MASK if m.group("val") else ""), s)
    return _ENV.sub(lambda m: m.group("pre") + MASK, s)


def redact_url(url: object) -> str:
    """One URL with its password (and token parameters) masked: mqtt://pi:***@host/x."""
    return redact(url)
