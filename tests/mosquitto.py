"""A real Mosquitto broker for the tests: its own config file, 127.0.0.1, a free port.

`Broker(tmp).start()` writes `mosquitto.conf` (a listener on 127.0.0.1:<free port>, persistence
in its folder so a stopped and restarted broker keeps the collector's session, optionally a
password file) and runs `mosquitto -c`. `stop()` ends it with SIGTERM (it saves its sessions),
`start()` again reuses the same port. If `mosquitto` is not installed and we are root, the Debian
package is installed with apt-get (what `make test` in CI relies on); otherwise the tests skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

import pytest


def ensure_installed(binary: str, package: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path:
        return path
    if os.geteuid() != 0:
        pytest.skip(f"{binary} is not installed (apt-get install {package}, or run the tests as root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True, env=env, timeout=600)
    r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
                       capture_output=True, text=True, env=env, timeout=900)
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if not path:
        pytest.fail(f"apt-get install {package} did not provide {binary}: {r.stderr[-500:]}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificates(directory: Path) -> Path:
    """A throw-away CA and a server certificate for localhost / 127.0.0.1 signed by it (openssl); returns the CA file."""
    d = Path(directory)
    ssl = ensure_installed("openssl", "openssl")

    def run(*args):
        subprocess.run([ssl, *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=edgeface test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.crt")
    return d / "ca.crt"


class Broker:
    def __init__(self, directory: Path, users: Optional[dict] = None, tls: bool = False):
        self.binary = ensure_installed("mosquitto", "mosquitto")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.tls = tls
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {self.dir}/",
                 "autosave_interval 1", f"log_dest file {self.dir}/mosquitto.log", "max_queued_messages 100000"]
        if os.geteuid() == 0:  # as root mosquitto switches to user mosquitto, who cannot write the test's folder
            lines.append("user root")
        if users:
            pw = self.dir / "passwd"
            pw.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
            pw.chmod(0o600)
            subprocess.run([ensure_installed("mosquitto_passwd", "mosquitto"), "-U", str(pw)], check=True)
            lines += [f"password_file {pw}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            self.ca = make_certificates(self.dir)
            lines += [f"cafile {self.ca}", f"certfile {self.dir}/server.crt", f"keyfile {self.dir}/server.key"]
        self.config = self.dir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def url(self, prefix: str = "edgeface", user: str = "") -> str:
        scheme, host = ("mqtts", "localhost") if self.tls else ("mqtt", "127.0.0.1")
        return f"{scheme}://{user + '@' if user else ''}{host}:{self.port}/{prefix}"

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()[-400:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
