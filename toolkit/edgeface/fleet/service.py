"""`edgeface service install|status|uninstall`: `edgeface run` as a systemd service on a board.

`unit_text(spec)` writes the unit (pure): `Restart=always` with `RestartSec=5` (and, on systemd
>= 254, `RestartSteps`/`RestartMaxDelaySec`: an exponential backoff up to 60 s) and no start limit,
so a lost camera or a crash is retried for ever, never in a tight loop; `User=` (system units),
logs to journald (`journalctl -u edgeface`); stopping sends SIGTERM to the run only (`KillMode=mixed`),
which closes its outputs and drains the MQTT queue (`TimeoutStopSec=30`), so no `ExecStop` is needed.
Secrets stay out of the world-readable unit: an `--mqtt` URL with a password goes into an
EnvironmentFile readable by its owner only (0600), and the unit passes it as `${EDGEFACE_MQTT_URL}`.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from edgeface import __version__
from edgeface.errors import EdgefaceError, OptionsError
from edgeface.hub.atomic import write_text_atomic

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SYSTEM_ENV_DIR = Path("/etc/edgeface")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,80}")


@dataclass
class ServiceSpec:
    """What to run and how (checked at creation)."""

    args: List[str]  # edgeface arguments: run ...
    user_mode: bool = False  # a user unit (~/.config/systemd/user) instead of a system one
    name: str = "edgeface"
    run_as: Optional[str] = None  # system units: the account (default: $SUDO_USER, else the current user)
    executable: Optional[Path] = None  # default: the edgeface next to this Python
    environment: dict = field(default_factory=dict)
    systemd: Optional[int] = None  # systemd version on the board (None: unknown, no newer keys)

    def __post_init__(self):
        if not _NAME.fullmatch(self.name):
            raise OptionsError(f"bad service name '{self.name}': use letters, digits, '-', '_' or '.'")
        if not self.args or self.args[0] != "run":
            raise OptionsError("give the command to run after --, e.g. edgeface service install -- run --camera --mqtt URL")
        if self.executable is None:
            self.executable = edgeface_executable()
        if not self.user_mode and self.run_as is None:
            self.run_as = os.environ.get("SUDO_USER") or getpass.getuser()
            if self.run_as == "root":
                raise OptionsError("a system service should not run as root: give --run-as USER (e.g. pi), "
                                   "or install a user service with --user")


def edgeface_executable() -> Path:
    p = Path(sys.executable).parent / "edgeface"
    if p.is_file():
        return p
    found = shutil.which("edgeface")
    if not found:
        raise EdgefaceError("cannot find the edgeface command: install edgeface (pip install .) in this environment")
    return Path(found)


def systemd_quote(arg: str) -> str:
    """One ExecStart word: `%` and `$` escaped, quoted when it has spaces, quotes or backslashes."""
    s = arg.replace("%", "%%").replace("$", "$$")
    if s and not re.search(r"[\s\"'\\;]", s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_secret(args: List[str]) -> tuple:
    """(args with a password-bearing --mqtt URL replaced by ${EDGEFACE_MQTT_URL}, that URL or None)."""
    out, secret = list(args), None
    for i, a in enumerate(out):
        key, _, inline = a.partition("=")
        if key == "--mqtt":
            j = i if inline else i + 1
            url = inline if inline else (out[j] if j < len(out) else "")
            if urllib.parse.urlsplit(url).password is not None:
                secret = url
                out[j] = "--mqtt=${EDGEFACE_MQTT_URL}" if inline else "${EDGEFACE_MQTT_URL}"
    return out, secret


def unit_dir(user_mode: bool) -> Path:
    if user_mode:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "systemd" / "user"
    return SYSTEM_UNIT_DIR


def env_dir(user_mode: bool) -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")) / "edgeface" if user_mode else SYSTEM_ENV_DIR


def unit_text(spec: ServiceSpec, env_file: Optional[Path] = None) -> str:
    args, _ = split_secret(spec.args)
    words = [str(spec.executable)] + args
    execstart = " ".join(systemd_quote(w) if "${EDGEFACE_MQTT_URL}" not in w else w for w in words)
    lines = [
        f"# Written by `edgeface service install` (edgeface {__version__}); remove with `edgeface service uninstall"
        + (" --user" if spec.user_mode else "") + (f" --name {spec.name}" if spec.name != "edgeface" else "") + "`.",
        "[Unit]",
        f"Description=edgeface {' '.join(a for a in args if '${' not in a)[:120]}",
        "After=network-online.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={execstart}",
    ]
    if not spec.user_mode:
        lines += [f"User={spec.run_as}", "SupplementaryGroups=video"]
    lines.append("WorkingDirectory=~")
    if env_file is not None:
        lines.append(f"EnvironmentFile={env_file}")
    env = {"PYTHONUNBUFFERED": "1", **spec.environment}
    lines += [f"Environment={systemd_quote(f'{k}={v}')}" for k, v in env.items()]
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
        f"SyslogIdentifier={spec.name}",
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


@dataclass
class InstallReport:
    unit: Path
    env_file: Optional[Path]
    started: bool
    notes: List[str]


def install(spec: ServiceSpec, directory: Optional[Path] = None, start: bool = True) -> InstallReport:
    """Write the unit (and its 0600 EnvironmentFile for a secret), check it with systemd-analyze, and
    enable + start it when systemd runs here (else say which commands to run)."""
    udir = Path(directory) if directory is not None else unit_dir(spec.user_mode)
    edir = Path(directory) if directory is not None else env_dir(spec.user_mode)
    _, secret = split_secret(spec.args)
    env_file = edir / f"{spec.name}.env" if secret else None
    unit = udir / f"{spec.name}.service"
    text = unit_text(spec, env_file)
    try:
        if env_file is not None:
            edir.mkdir(parents=True, exist_ok=True)
            fd = os.open(env_file.with_suffix(".env.part"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(f"EDGEFACE_MQTT_URL={secret}\n")
            os.replace(env_file.with_suffix(".env.part"), env_file)
        write_text_atomic(unit, text)
    except PermissionError:
        raise EdgefaceError(f"cannot write {unit}: permission denied; run with sudo, or install a user service with --user") from None
    except OSError as e:
        raise EdgefaceError(f"cannot write {unit}: {e.strerror or e}") from None
    notes: List[str] = []
    problems = verify_unit(unit)
    if problems:
        notes.append(f"systemd-analyze verify: {problems}")
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
    return InstallReport(unit, env_file, started, notes)


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
    for p in (unit, env_file):
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
