"""The fleet options of `edgeface run`: `--mqtt URL` (results to a broker, `edgeface.fleet.mqtt_sink`) and
`--bundle FILE` (models from a verified bundle, `edgeface.bundle`)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from edgeface.cli.consoles import say
from edgeface.errors import EdgefaceError
from edgeface.bundle import open_for_run
from edgeface.fleet.mqtt_link import parse_url
from edgeface.fleet.mqtt_sink import MqttOptions, MqttSink, parse_bytes
from edgeface.redact import redact
from edgeface.vocab import Precision


def mqtt_url(value: str) -> str:
    """An `--mqtt` value: a URL, or `env:VAR` for a URL kept in the environment (a service passes a
    password that way: never on the command line, where `ps` shows it)."""
    if not value.startswith("env:"):
        return value
    var = value[4:]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
        raise EdgefaceError(f"--mqtt {value[:40]!r}: env: takes an environment variable name, e.g. env:EDGEFACE_MQTT_URL")
    url = os.environ.get(var)
    if not url:
        raise EdgefaceError(f"--mqtt env:{var}: {var} is not set (a service reads it from its 0600 environment file: "
                            "reinstall it with `edgeface service install`)")
    return url


def check_mqtt_options(url: Optional[str], ca: Optional[str], queue_size: str) -> None:
    """The `--mqtt` options checked before the run does any work (one line for a bad one, no secret in it)."""
    parse_bytes(queue_size)
    if url is None:
        if ca is not None:
            raise EdgefaceError("--mqtt-ca needs --mqtt mqtts://HOST/prefix")
        return
    parse_url(mqtt_url(url), ca)


def run_mqtt_sink(url: Optional[str], ca: Optional[str], qos: int, every_frame: bool, queue: Optional[Path],
                  queue_size: str, board: Optional[str], describe: dict):
    """The MQTT sink for `edgeface run --mqtt URL` (None without --mqtt); prints how the broker answered."""
    if url is None:
        if ca is not None:
            raise EdgefaceError("--mqtt-ca needs --mqtt mqtts://HOST/prefix")
        return None
    opts = MqttOptions(url=mqtt_url(url), ca=ca, board=board, qos=qos, every_frame=every_frame, queue_dir=queue,
                       queue_bytes=parse_bytes(queue_size))
    sink = MqttSink(opts, describe)
    warning = sink.check_connection()
    topic = f"{opts.target.address}/{sink.topic}"
    if sink.waiting_before:
        say(f"MQTT: {sink.waiting_before} results from earlier runs are queued; they go first")
    if warning:
        say(redact(warning), "warning:", "yellow")
    else:
        say(f"MQTT: publishing to {topic} (QoS {qos}), status on {opts.target.topic(opts.board, 'status')}")
    return sink


def run_bundle(bundle: Optional[Path], precision: Optional[str], detector_size: Optional[str],
               target: str = "auto") -> tuple:
    """For `edgeface run --bundle FILE`: (model cache = the verified, unpacked bundle, precision, detector
    precision, detector size); (None, precision, None, detector_size) without it.

    With no --target, --precision or --detector-size the run takes the bundle's own (what it was packed for).
    Any of them given decides instead: the models are then looked up in the bundle, then the cache, then the
    installed models package (`hub.locate`), and a model none of them holds is one line naming what each
    holds and what would provide it (never `edgeface convert` on a machine without the toolchain)."""
    if bundle is None:
        return None, precision, None, detector_size
    root, info = open_for_run(bundle)
    size = f"{info.detector_size[0]}x{info.detector_size[1]}"
    det = "" if info.detector_precision_used == info.precision else f", detector {info.detector_precision_used}"
    say(f"bundle {bundle.name}: {len(info.files)} files verified ({info.regressor} + faceboxes "
                  f"{info.detector_size[0]}x{info.detector_size[1]}, {info.precision}{det}, packed for {info.target})")
    if precision is None and detector_size is None and target in ("auto", info.target):
        return root, info.precision, info.detector_precision_used, size
    if precision is not None:
        Precision.parse(precision)  # a bad value is one line
    return root, precision, None, detector_size
