"""`edgeface service install|status|uninstall`: the generated systemd unit passes `systemd-analyze
verify` (installed with apt-get when missing and root), keeps the MQTT password out of the unit,
refuses commands that do not parse, and is removed again."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess

import pytest

from inprocess_cli import cli


@pytest.fixture(scope="module")
def analyze():
    tool = shutil.which("systemd-analyze")
    if tool is None and os.geteuid() == 0:
        from mosquitto import ensure_installed

        tool = ensure_installed("systemd-analyze", "systemd")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return tool


def _verify(tool, unit):
    r = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


@pytest.mark.system
def test_system_service_unit_verifies_and_hides_the_password(analyze, tmp_path, capsys):
    url = "mqtt://board:p%40ss@broker.local:1884/shop"
    code, out, err = cli(capsys, "service", "install", "--unit-dir", tmp_path, "--run-as", "daemon", "--",
                         "run", "--camera", "--mqtt", url, "--board-id", "door 1", "--precision", "int8")
    assert code == 0, err
    unit = tmp_path / "edgeface.service"
    text = unit.read_text()
    assert "p%40ss" not in text and "board:" not in text  # the unit is world-readable
    env = tmp_path / "edgeface.env"
    assert env.read_text() == f"EDGEFACE_MQTT_URL='{url}'\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600 and stat.S_IMODE(unit.stat().st_mode) & 0o004
    execstart = next(x for x in text.splitlines() if x.startswith("ExecStart="))
    assert execstart.split("=", 1)[1].split()[0].endswith("/edgeface")
    assert '--mqtt env:EDGEFACE_MQTT_URL --board-id "door 1" --precision int8' in execstart  # no ${...} expansion
    for line in ("User=daemon", "Restart=always", "RestartSec=5", "StartLimitIntervalSec=0", "KillSignal=SIGTERM",
                 "KillMode=mixed", "StandardOutput=journal", f"EnvironmentFile={env}", "WantedBy=multi-user.target"):
        assert line in text.splitlines()
    assert "ExecStop" not in text  # stopping is SIGTERM, handled by edgeface run
    rc, complaints = _verify(analyze, unit)
    assert rc == 0 and complaints == "", complaints
    code, out, err = cli(capsys, "service", "status", "--unit-dir", tmp_path)
    assert code == 0 and str(unit) in out
    code, out, err = cli(capsys, "service", "uninstall", "--unit-dir", tmp_path)
    assert code == 0 and not unit.exists() and not env.exists()
    code, out, err = cli(capsys, "service", "status", "--unit-dir", tmp_path)
    assert code == 2 and "no service edgeface installed" in err


@pytest.mark.system
def test_user_service_and_backoff_keys(analyze, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    from edgeface.fleet.service import ServiceSpec, install, unit_text

    rep = install(ServiceSpec(args=["run", "--camera", "--mqtt", "mqtt://broker/edgeface"], user_mode=True),
                  start=False)
    assert rep.unit == tmp_path / "config/systemd/user/edgeface.service" and rep.env_file is None
    text = rep.unit.read_text()
    assert "User=" not in text and "WantedBy=default.target" in text and "mqtt://broker/edgeface" in text
    assert any("loginctl enable-linger" in n for n in rep.notes)
    rc, complaints = _verify(analyze, rep.unit)
    assert rc == 0 and complaints == "", complaints
    # exponential restart backoff only where systemd knows the keys (>= 254; bookworm has 252)
    spec = ServiceSpec(args=["run", "--camera"], user_mode=True, systemd=254)
    assert "RestartSteps=5" in unit_text(spec) and "RestartMaxDelaySec=60" in unit_text(spec)
    spec = dataclasses.replace(spec, systemd=252)
    assert "RestartSteps" not in unit_text(spec)
    # percent and dollar signs are escaped for systemd
    spec = ServiceSpec(args=["run", "--source", "/data/50%/$x.mp4"], user_mode=True)
    assert '"/data/50%%/$$x.mp4"' in unit_text(spec) or "/data/50%%/$$x.mp4" in unit_text(spec)


@pytest.mark.parametrize("args, needle", [
    (["--", "run", "--camra"], "No such option: --camra"),
    (["--", "bench"], "give the command to run after --"),
    ([], "give the command to run after --"),
    (["--run-as", "daemon", "--name", "bad/name", "--", "run", "--camera"], "bad service name"),
])
def test_bad_service_commands_are_one_line(tmp_path, capsys, args, needle):
    code, out, err = cli(capsys, "service", "install", "--unit-dir", tmp_path, *args)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())
