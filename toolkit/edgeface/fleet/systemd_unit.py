"""Every value that goes into a systemd unit, checked here, and the one writer of unit and secret files.

systemd reads a unit line by line, expands `%` specifiers everywhere and `$VAR` on command lines,
unquotes words by its own rules and runs `ExecStart` prefixes (`+` = as root). So a value that
reaches a unit is either proven harmless or refused with one line, never "mostly escaped":

- `check_user`: a POSIX portable user name ([A-Za-z_][A-Za-z0-9_.-]*, at most 32 characters, not all
  digits), never root;
- `check_path`: an absolute path without control characters (a newline would start a new unit line);
- `exec_word`: one `ExecStart` word, quoted by systemd's rules (`%` -> `%%`, `$` -> `$$`, `\\` and `"`
  escaped inside double quotes); control characters are refused;
- `env_line`: one `Environment="KEY=value"` assignment (a shell-style name, a value without control
  characters);
- `description`: free text for `Description=` (`%` escaped, control characters refused).

`write_unit` is the only function that writes a unit file (0644, atomically, each line re-checked);
`write_secret` the only one that writes the files holding secrets (0600 from the first byte, atomic).
tests/test_hostile_fleet.py fails if any other module writes a `.service` file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Union

from edgeface.errors import OptionsError

_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NEEDS_QUOTES = re.compile(r"[\s\"'\\;]")


def _show(value: str) -> str:
    return repr(value)[1:-1]  # control characters as \n, \x1b: safe to print


def _no_control(value: str, what: str, fix: str) -> str:
    if _CONTROL.search(value):
        raise OptionsError(f"{what} '{_show(value)}' has a control character (newline, tab, escape...): {fix}")
    return value


def check_user(name: str) -> str:
    """A POSIX user name for `User=`, never root (a service of camera frames needs no privileges)."""
    if name == "root" or name.strip() == "0":
        raise OptionsError("a system service must not run as root: give --run-as USER (e.g. pi), "
                           "or install a user service with --user")
    if not _USER.fullmatch(name) or name.isdigit():
        raise OptionsError(f"bad user name '{_show(name)}' for --run-as: use a POSIX name (letters, digits, "
                           "'_', '.', '-', not starting with a digit or '-'), e.g. pi")
    return name


def check_path(path: Union[str, Path], what: str = "path") -> str:
    """An absolute path without control characters, as unit text (`%` escaped)."""
    s = str(path)
    _no_control(s, what, "rename it, or pick another path")
    if not os.path.isabs(s):
        raise OptionsError(f"{what} '{s}' must be absolute for a systemd unit")
    return s.replace("%", "%%")


def exec_word(arg: str) -> str:
    """One `ExecStart=` word: `%` and `$` doubled (no specifier, no variable expansion), quoted when it
    has spaces, quotes, backslashes or `;`; a control character is refused (systemd would read a
    newline as the end of the line, or refuse the unit)."""
    _no_control(arg, "the service argument", "systemd cannot pass it; remove it from the arguments after --")
    s = arg.replace("%", "%%").replace("$", "$$")
    if s and not _NEEDS_QUOTES.search(s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def env_line(key: str, value: str) -> str:
    """`Environment="KEY=value"` for a setting that is not secret (secrets go to `write_secret`)."""
    if not _ENV_KEY.fullmatch(key):
        raise OptionsError(f"bad environment variable name '{_show(key)}' for the service")
    _no_control(value, f"the value of {key}", f"fix {key} (export it without newlines) and install again")
    return "Environment=" + exec_word(f"{key}={value}").replace("$$", "$")  # Environment= expands no $


def description(text: str) -> str:
    """`Description=` text: one line, `%` escaped, at most 120 characters."""
    _no_control(text, "the description", "remove it")
    return text[:120].replace("%", "%%")


def env_file_line(key: str, value: str) -> str:
    """One `KEY=value` line of an EnvironmentFile (0600): the value single-quoted, so systemd takes it
    literally (no `$` or `\\` processing); a control character or a single quote is refused."""
    if not _ENV_KEY.fullmatch(key):
        raise OptionsError(f"bad environment variable name '{_show(key)}' for the service")
    _no_control(value, f"the value of {key}", "systemd cannot pass it through an environment file")
    if "'" in value:
        raise OptionsError(f"the value of {key} has a single quote: systemd's environment file cannot hold it as is")
    return f"{key}='{value}'"


def write_unit(path: Path, text: str) -> None:
    """Write a unit (0644: units are world-readable, so they hold no secret), each line checked."""
    for line in text.split("\n"):
        _no_control(line, "a unit line", "this is a bug: report it")
    _write(path, text, 0o644)


def write_secret(path: Path, text: str) -> None:
    """Write a file that holds a secret (environment file, token): mode 0600 from creation, atomically."""
    _write(path, text, 0o600)


def _write(path: Path, text: str, mode: int) -> None:
    path = Path(path)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(part, mode)  # the umask may have narrowed it
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
