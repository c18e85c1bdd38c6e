"""MQTT connection settings from a URL, the topic schema, and paho-mqtt clients made from them.

URL: `mqtt://[user:pass@]host[:port]/prefix` (port 1883) or `mqtts://...` (TLS, port 8883; the
broker's certificate is checked against `ca` if given, else the system's CAs). Topics, for a
board id `B`:

    <prefix>/B/faces    one message per frame: exactly the JSONL record of `edgeface run --json`
                        (`edgeface.frame/2`, see `edgeface.records`)
    <prefix>/B/status   retained `edgeface.status/2` record: {"schema", "state": "online" | "offline", ...};
                        "offline" is also the last will

Every client speaks MQTT 5, so a message can carry user properties (`run`, `seq`) beside a payload
that stays exactly the JSONL record. paho-mqtt is the optional extra `edgeface[mqtt]`.
"""

from __future__ import annotations

import re
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgeface.errors import EdgefaceError, MissingAssetError, OptionsError, RuntimeMissingError
from edgeface.redact import redact, redact_url

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_TOPIC_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# CONNACK reason codes that retrying cannot fix (MQTT 5: 0x84-0x87, 0x8A, 0x8C; names as paho prints them)
LOGIN_REFUSED = {"Bad user name or password", "Not authorized", "Banned", "Bad authentication method",
                 "Client identifier not valid", "Unsupported protocol version"}


@dataclass(frozen=True)
class MqttTarget:
    """Where to connect and which topic prefix to use (`parse_url` makes one, checked)."""

    host: str
    port: int
    prefix: str
    tls: bool = False
    username: Optional[str] = None
    password: Optional[str] = None
    ca: Optional[Path] = None

    @property
    def address(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def topic(self, board: str, kind: str) -> str:
        return f"{self.prefix}/{board}/{kind}"

    def queue_name(self, board: str) -> str:
        """A folder name for this broker + prefix + board (the disk queue's default place)."""
        return safe_name(f"{self.host}_{self.port}_{self.prefix}_{board}")


def safe_name(text: str) -> str:
    """`text` with anything but letters, digits, '.', '_' and '-' replaced by '_' (topic levels, file names)."""
    return _TOPIC_UNSAFE.sub("_", text).strip("_") or "board"


def board_id(value: Optional[str] = None) -> str:
    """The board id used in topics: `value`, else this machine's host name, as one safe topic level."""
    if value is not None and not value.strip():
        raise OptionsError("--board-id is empty: give a name such as pi-door-1")
    return safe_name(value if value is not None else socket.gethostname())


def parse_url(url: str, ca: Optional[str] = None) -> MqttTarget:
    """`mqtt://[user:pass@]host[:port]/prefix` or `mqtts://...` -> MqttTarget (an OptionsError otherwise)."""
    shown = redact_url(url)  # error lines never carry the password
    try:
        u = urllib.parse.urlsplit(url.strip())
    except ValueError as e:
        raise OptionsError(f"MQTT URL '{shown}' does not parse ({e}): use mqtt://[user:pass@]host[:port]/prefix") from None
    if u.scheme not in DEFAULT_PORTS:
        raise OptionsError(f"MQTT URL '{shown}' must start with mqtt:// or mqtts:// (e.g. mqtt://broker.local/edgeface)")
    try:
        port = u.port or DEFAULT_PORTS[u.scheme]
    except ValueError:
        raise OptionsError(f"MQTT URL '{shown}' has a bad port: use host:1883") from None
    if not u.hostname:
        raise OptionsError(f"MQTT URL '{shown}' has no host: use mqtt://HOST[:PORT]/prefix")
    prefix = u.path.strip("/")
    if not prefix:
        prefix = "edgeface"
    if any(c in prefix for c in "+#") or "//" in prefix:
        raise OptionsError(f"MQTT topic prefix '{prefix}' may not contain '+', '#' or empty levels")
    ca_path = None
    if ca is not None:
        if u.scheme != "mqtts":
            raise OptionsError("--mqtt-ca is for TLS: use an mqtts:// URL")
        ca_path = Path(ca).expanduser()
        if not ca_path.is_file():
            raise MissingAssetError(f"CA certificate {ca_path} does not exist: give the broker's CA file (PEM) to --mqtt-ca")
    unq = urllib.parse.unquote
    return MqttTarget(host=u.hostname, port=port, prefix=prefix, tls=u.scheme == "mqtts",
                      username=unq(u.username) if u.username else None,
                      password=unq(u.password) if u.password is not None else None, ca=ca_path)


def paho():
    """The paho.mqtt.client module, or a one-line error naming the extra to install."""
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise RuntimeMissingError("MQTT needs paho-mqtt: pip install 'edgeface[mqtt]'") from None
    return mqtt


def make_client(target: MqttTarget, client_id: str):
    """A paho MQTT 5 client for `target` (credentials and TLS set; not connected)."""
    mqtt = paho()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if target.username is not None:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        try:
            client.tls_set(ca_certs=str(target.ca) if target.ca else None, cert_reqs=ssl.CERT_REQUIRED)
        except (ssl.SSLError, OSError) as e:
            raise EdgefaceError(f"cannot use CA file {target.ca} for TLS: {e} (give a PEM certificate)") from None
    client.connect_timeout = 5.0
    return client


def user_properties(**values) -> object:
    """PUBLISH properties carrying `values` as MQTT 5 user properties (all as strings)."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [(k, str(v)) for k, v in values.items()]
    return props


def read_user_properties(message) -> dict:
    props = getattr(message, "properties", None)
    return dict(getattr(props, "UserProperty", None) or [])


def refusal_error(target: MqttTarget, reason) -> EdgefaceError:
    """The one-line error for a CONNACK that retrying will not fix."""
    who = f" for user '{target.username}'" if target.username else " (no user given)"
    return EdgefaceError(f"the MQTT broker at {target.address} refused the login{who}: {reason}; "
                         "fix user:password in the URL (mqtt://USER:PASS@host/prefix)")


def is_permanent_refusal(reason_code) -> bool:
    return bool(getattr(reason_code, "is_failure", False)) and str(reason_code) in LOGIN_REFUSED


def connect_error_text(target: MqttTarget, exc: BaseException) -> str:
    """A short reason for a failed TCP/TLS connect (the caller retries with backoff)."""
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed with {target.address}: {getattr(exc, 'reason', None) or exc} (check --mqtt-ca)"
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens at {target.address} (connection refused)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host {target.host}"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"{target.address} did not answer"
    return redact(f"cannot reach {target.address}: {getattr(exc, 'strerror', None) or exc}", target.password)
