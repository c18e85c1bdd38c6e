"""`edgeface service install|status|uninstall`: `edgeface run` as a systemd service on a board.

`unit_text(spec)` writes the unit (pure): `Restart=always` with `RestartSec=5` (and, on systemd
>= 254, `RestartSteps`/`RestartMaxDelaySec`: an exponential backoff up to 60 s) and no start limit,
so a lost camera or a crash is retried for ever, never in a tight loop; `User=` (system units),
logs to journald (`journalctl -u edgeface`); stopping sends SIGTERM to the run only (`KillMode=mixed`),
which closes its outputs and drains the MQTT queue (`TimeoutStopSec=30`), so no `ExecStop` is needed.
Secrets stay out of the world-readable unit and off every command line (`ps`, `systemctl status`):
an `--mqtt` URL with a password and the stream token go into an EnvironmentFile readable by its
owner only (0600); the unit's command says `--mqtt env:EDGEFACE_MQTT_URL` and `edgeface run` reads
the URL from its environment (and the token from `EDGEFACE_SERVE_TOKEN`). A `--serve` on a
non-loopback address gets a token generated once at install and kept in `<name>.token` (0600,
beside the environment file): restarts and re-installs keep it, `service status` prints the URL.
Every value written into the unit goes through `fleet.systemd_unit` (checked or refused, one line),
which is also the only writer of unit and secret files; a system service never runs as root.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from edgeface import __version__
from edgeface.errors import EdgefaceError, OptionsError
from edgeface.fleet.systemd_unit import (check_path, check_user, description, env_file_line, env_line, exec_word,
                                         write_secret, write_unit)
from edgeface.redact import redact

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SYSTEM_ENV_DIR = Path("/etc/edgeface")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,80}")
MQTT_ENV = "EDGEFACE_MQTT_URL"
TOKEN_ENV = "EDGEFACE_SERVE_TOKEN"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")


@dataclass(frozen=True)
class ServiceSpec:
    """What to run and how (checked at creation: every value that reaches the unit)."""

    args: List[str]  # edgeface arguments: run ...
    user_mode: bool = False  # a user unit (~/.config/systemd/user) instead of a system one
    name: str = "edgeface"
    run_as: Optional[str] = None  # system units: the account (default: $SUDO_USER, else the current user)
    executable: Optional[Path] = None  # default: the edgeface next to this Python
    environment: dict = field(default_factory=dict)
    systemd: Optional[int] = None  # systemd version on the board (None: unknown, no newer keys)
    stream_token: bool = False  # `--serve` on a non-loopback address: keep a token for it (`install`)

    def __post_init__(self):
        if not _NAME.fullmatch(self.name):
            raise OptionsError(f"bad service name '{redact(self.name)!r}': use letters, digits, '-', '_' or '.'")
        if not self.args or self.args[0] != "run":
            raise OptionsError("give the command to run after --, e.g. edgeface service install -- run --camera --mqtt URL")
        object.__setattr__(self, "args", list(self.args))
        object.__setattr__(self, "environment", dict(self.environment))
        if self.executable is None:
            object.__setattr__(self, "executable", edgeface_executable())
        if not self.user_mode:
            check_user(self.run_as if self.run_as is not None else (os.environ.get("SUDO_USER") or getpass.getuser()))
            if self.run_as is None:
                object.__setattr__(self, "run_as", os.environ.get("SUDO_USER") or getpass.getuser())
        unit_text(self)  # every value checked now: a bad one is one line before anything is written


def edgeface_executable() -> Path:
    p = Path(sys.executable).parent / "edgeface"
    if p.is_file():
        return p
    found = shutil.which("edgeface")
    if not found:
        raise EdgefaceError("cannot find the edgeface command: install edgeface (pip install .) in this environment")
    return Path(found)


def split_secrets(args: List[str]) -> tuple:
    """(args without secrets, {env var: secret}): a password-bearing `--mqtt` URL becomes
    `--mqtt env:EDGEFACE_MQTT_URL`, a `--serve-token T` is taken out (it goes by EDGEFACE_SERVE_TOKEN)."""
    out: List[str] = []
    found: dict = {}
    i = 0
    while i < len(args):
        a = args[i]
        key, eq, inline = a.partition("=")
        if key in ("--mqtt", "--serve-token"):
            value = inline if eq else (args[i + 1] if i + 1 < len(args) else "")
            i += 1 if eq else 2
            if key == "--serve-token":
                found[TOKEN_ENV] = value
                continue
            try:
                has_password = urllib.parse.urlsplit(value).password is not None
            except ValueError:
                has_password = True  # unparsable: treat as secret; `run` says what is wrong with it
            if has_password:
                found[MQTT_ENV] = value
                value = f"env:{MQTT_ENV}"
            out += [key, value]
            continue
        out.append(a)
        i += 1
    return out, found


def unit_dir(user_mode: bool) -> Path:
    if user_mode:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "systemd" / "user"
    return SYSTEM_UNIT_DIR


def env_dir(user_mode: bool) -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")) / "edgeface" if user_mode else SYSTEM_ENV_DIR


def unit_text(spec: ServiceSpec, env_file: Optional[Path] = None) -> str:
    """The unit (pure): every value through `fleet.systemd_unit` (an OptionsError for one it refuses)."""
    args, _ = split_secrets(spec.args)
    execstart = " ".join([exec_word(check_path(spec.executable, "the edgeface executable").replace("%%", "%"))]
                         + [exec_word(a) for a in args])
    lines = [
        f"# Written by `edgeface service install` (edgeface {__version__}); remove with `edgeface service uninstall"
        + (" --user" if spec.user_mode else "") + (f" --name {spec.name}" if spec.name != "edgeface" else "") + "`.",
        "[Unit]",
        f"Description={description('edgeface ' + ' '.join(args))}",
        "After=network-online.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={execstart}",
    ]
    if not spec.user_mode:
        lines += [f"User={check_user(str(spec.run_as))}", "SupplementaryGroups=video"]
    lines.append("WorkingDirectory=~")
    if env_file is not None:
        lines.append(f"EnvironmentFile={check_path(env_file, 'the environment file')}")
    env = {"PYTHONUNBUFFERED": "1", **spec.environment}
    for k, v in env.items():
        if k in (MQTT_ENV, TOKEN_ENV):
            raise OptionsError(f"{k} is a secret: it goes into the 0600 environment file, not the unit")
        if k == "EDGEFACE_HOME":
            check_path(v, "EDGEFACE_HOME")
    lines += [env_line(k, str(v)) for k, v in env.items()]
    lines += ["Restart=always", "RestartSec=5"]
    if spec.systemd is not None and spec.systemd >= 254:
        lines += ["RestartSteps=5", "RestartMaxDelaySec=60"]
    lines += [
        "# stop = SIGTERM to the run (it closes its outputs and drains the MQTT queue), SIGKILL after 30 s",
        "KillMode=mixed",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=30",
        "StandardOutput=journal",
        "StandardError=journal",
        f"SyslogIdentifier={spec.name}",  # the name is checked at creation (_NAME)
        "NoNewPrivileges=yes",
        "",
        "[Install]",
        f"WantedBy={'default.target' if spec.user_mode else 'multi-user.target'}",
    ]
    return "\n".join(lines) + "\n"


def systemd_version() -> Optional[int]:
    if not shutil.which("systemctl"):
        return None
    try:
        out = subprocess.run(["systemctl", "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"systemd (\d+)", out)
    return int(m.group(1)) if m else None


def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def _verify_text(text: str, name: str) -> Optional[str]:
    """`verify_unit` of unit text, in a private temporary folder (before the real file is written).
    Complaints about the executable or the user missing on this machine are not about the unit itself."""
    if shutil.which("systemd-analyze") is None:
        return None
    with tempfile.TemporaryDirectory(prefix="edgeface-unit-") as d:
        path = Path(d) / f"{name}.service"
        write_unit(path, text)
        problems = verify_unit(path)
    if not problems:
        return None
    bad = [line for line in problems.splitlines()
           if not re.search(r"is not executable|No such file|not found|Failed to resolve user|User=|"
                            r"Command .* is not|Failed to prepare filename|Unit .* not found", line)]
    return " / ".join(bad) or None


def verify_unit(path: Path) -> Optional[str]:
    """`systemd-analyze verify` of a unit file: None when clean (or the tool is missing), else its complaints."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return None
    r = subprocess.run([tool, "verify", str(path)], capture_output=True, text=True, timeout=60)
    text = (r.stdout + r.stderr).strip()
    return text if (r.returncode != 0 or text) else None


def _systemctl(user_mode: bool, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemctl", *(["--user"] if user_mode else []), *args], capture_output=True, text=True, timeout=60)


@dataclass(frozen=True)
class InstallReport:
    unit: Path
    env_file: Optional[Path]
    started: bool
    notes: List[str]
    token_file: Optional[Path] = None


def token_path(name: str = "edgeface", user_mode: bool = False, directory: Optional[Path] = None) -> Path:
    """Where the service's stream token is kept (0600, beside its environment file)."""
    return (Path(directory) if directory is not None else env_dir(user_mode)) / f"{name}.token"


def stored_token(path: Path) -> Optional[str]:
    """The token kept at `path`, None if there is none (or it is not one edgeface wrote)."""
    try:
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token if _TOKEN.fullmatch(token) else None


def install(spec: ServiceSpec, directory: Optional[Path] = None, start: bool = True) -> InstallReport:
    """Write the unit (and its 0600 EnvironmentFile for secrets, and the stream token kept across
    re-installs), check it with systemd-analyze, and enable + start it when systemd runs here (else
    say which commands to run). The unit is refused, with nothing written, if systemd-analyze finds it bad."""
    udir = Path(directory) if directory is not None else unit_dir(spec.user_mode)
    edir = Path(directory) if directory is not None else env_dir(spec.user_mode)
    _, found = split_secrets(spec.args)
    token_file = token_path(spec.name, spec.user_mode, directory) if (spec.stream_token or TOKEN_ENV in found) else None
    if token_file is not None:
        token = found.get(TOKEN_ENV) or stored_token(token_file) or secrets.token_urlsafe(24)
        if not _TOKEN.fullmatch(token):
            raise OptionsError("--serve-token must be 16-128 letters, digits, '-' or '_' for a service "
                               "(leave it out and edgeface generates one)")
        found[TOKEN_ENV] = token
    env_file = edir / f"{spec.name}.env" if found else None
    env_text = "".join(env_file_line(k, v) + "\n" for k, v in sorted(found.items()))
    unit = udir / f"{spec.name}.service"
    text = unit_text(spec, env_file)
    problems = _verify_text(text, spec.name)
    if problems:
        raise EdgefaceError(f"systemd-analyze refuses the unit: {redact(problems, *found.values())}; "
                            "fix the arguments after -- (nothing was written)")
    try:
        if env_file is not None:
            edir.mkdir(parents=True, exist_ok=True)
            write_secret(env_file, env_text)
            if token_file is not None:
                write_secret(token_file, found[TOKEN_ENV] + "\n")
        udir.mkdir(parents=True, exist_ok=True)
        write_unit(unit, text)
    except PermissionError:
        raise EdgefaceError(f"cannot write {unit}: permission denied; run with sudo, or install a user service with --user") from None
    except OSError as e:
        raise EdgefaceError(f"cannot write {unit}: {e.strerror or e}") from None
    notes: List[str] = []
    started = False
    scope = "--user " if spec.user_mode else ""
    sudo = "" if spec.user_mode else "sudo "
    if directory is None and start and systemd_running():
        for step in (("daemon-reload",), ("enable", "--now", f"{spec.name}.service")):
            r = _systemctl(spec.user_mode, *step)
            if r.returncode != 0:
                raise EdgefaceError(f"systemctl {scope}{' '.join(step)} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
        started = True
    else:
        notes.append(f"to start it: {sudo}systemctl {scope}daemon-reload && {sudo}systemctl {scope}enable --now {spec.name}")
    if spec.user_mode:
        notes.append(f"to keep it running without a login: sudo loginctl enable-linger {getpass.getuser()}")
    return InstallReport(unit, env_file, started, notes, token_file)


def status(name: str = "edgeface", user_mode: bool = False, directory: Optional[Path] = None) -> str:
    """The unit file's place and, when systemd runs here, `systemctl status` (a one-line error if not installed)."""
    unit = (Path(directory) if directory is not None else unit_dir(user_mode)) / f"{name}.service"
    if not unit.is_file():
        raise EdgefaceError(f"no service {name} installed ({unit} does not exist): "
                            f"edgeface service install{' --user' if user_mode else ''} -- run --camera ...")
    head = f"unit {unit}"
    if directory is None and systemd_running():
        r = _systemctl(user_mode, "status", "--no-pager", "--lines", "15", f"{name}.service")
        return f"{head}\n{(r.stdout or r.stderr).rstrip()}"
    return f"{head} (systemd is not running on this machine: nothing to report beyond the file)\n" + unit.read_text()


def unit_args(name: str = "edgeface", user_mode: bool = False, directory: Optional[Path] = None) -> List[str]:
    """The `edgeface` arguments of an installed service (its ExecStart, unquoted), [] if unreadable."""
    unit = (Path(directory) if directory is not None else unit_dir(user_mode)) / f"{name}.service"
    try:
        line = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
        words = shlex.split(line.split("=", 1)[1])
    except (OSError, StopIteration, ValueError):
        return []
    return [w.replace("%%", "%").replace("$$", "$") for w in words[1:]]


def uninstall(name: str = "edgeface", user_mode: bool = False, directory: Optional[Path] = None) -> List[Path]:
    """Stop and disable the service (when systemd runs here) and remove its unit and environment files."""
    udir = Path(directory) if directory is not None else unit_dir(user_mode)
    edir = Path(directory) if directory is not None else env_dir(user_mode)
    unit, env_file = udir / f"{name}.service", edir / f"{name}.env"
    if not unit.is_file():
        raise EdgefaceError(f"no service {name} installed ({unit} does not exist)")
    if directory is None and systemd_running():
        _systemctl(user_mode, "disable", "--now", f"{name}.service")
    removed = []
    for p in (unit, env_file, token_path(name, user_mode, directory)):
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
        except PermissionError:
            raise EdgefaceError(f"cannot remove {p}: permission denied; run with sudo") from None
    if directory is None and systemd_running():
        _systemctl(user_mode, "daemon-reload")
    return removed
