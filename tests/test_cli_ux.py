"""What a new user sees on the terminal (issue 24): no TFLite INFO line unless --verbose, every command's
help readable at 80 columns, `--source` help naming every input, the no-camera error pointing at sim:."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
import typer

from edgeface.cli.main import app
from edgeface.runtime.native_stderr import filter_native
from inprocess_cli import cli

INFO_LINE = "INFO: Created TensorFlow Lite XNNPACK delegate"


def _run_cli(*args, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGEFACE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "edgeface", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_tflite_info_line_only_with_verbose(converted_home, samples, tmp_path):
    args = ("run", "--source", samples["jianzhuguo"], "--target", "x86_64", "--precision", "fp32",
            "--json", tmp_path / "out.jsonl", "--quiet")
    quiet = _run_cli(*args, home=converted_home)
    assert quiet.returncode == 0, quiet.stderr
    assert INFO_LINE not in quiet.stderr and "XNNPACK on" in quiet.stderr  # the run's own header still shows
    for loud in (_run_cli("--verbose", *args, home=converted_home), _run_cli(*args, "--verbose", home=converted_home)):
        assert loud.returncode == 0, loud.stderr
        assert INFO_LINE in loud.stderr


def test_doctor_is_quiet_too(converted_home):
    quiet = _run_cli("doctor", home=converted_home)
    assert quiet.returncode == 0, quiet.stderr
    assert INFO_LINE not in quiet.stderr + quiet.stdout and "XNNPACK" in quiet.stdout


def test_convert_reads_a_model_quietly(converted_home):
    """`edgeface convert` reads each converted model's inputs and outputs back (`io_details`): in a fresh process
    that first interpreter kept the runtime's INFO line off the terminal as every other one does."""
    model = next(converted_home.rglob("mb05_int8.tflite"))
    code = ("import sys; from pathlib import Path; from edgeface.tools.convert.onnx2tf_run import io_details; "
            "print(io_details(Path(sys.argv[1]), 'regressor')[0]['dtype'])")
    p = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "uint8", p.stderr
    assert INFO_LINE not in p.stderr


def test_filter_keeps_everything_but_the_runtime_info_lines():
    captured = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nWARNING: something real\nother\n"
    assert filter_native(captured) == b"WARNING: something real\nother\n"


def _commands(group: click.Command, path=()):
    yield path, group
    for name, sub in getattr(group, "commands", {}).items():
        if not sub.hidden:
            yield from _commands(sub, (*path, name))


@pytest.mark.parametrize("path", [p for p, _ in _commands(typer.main.get_command(app))], ids=" ".join)
def test_help_at_80_columns_shows_every_option_whole(path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    command = dict(_commands(typer.main.get_command(app)))[path]
    code, out, err = cli(capsys, *path, "--help")
    assert code == 0, err
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    names = [o for p in command.params if isinstance(p, click.Option) and not p.hidden
             for o in (*p.opts, *p.secondary_opts)]
    words = set(out.replace(",", " ").replace("/", " ").split())
    missing = [n for n in names if n not in words]
    assert not missing, f"not shown whole at 80 columns: {missing}"


def test_source_help_names_every_input(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli(capsys, "run", "--help")
    text = " ".join(out.split())
    for scheme in ("camera:N", "/dev/videoN", "sim:VIDEO[@FPS]", "samples:NAME", "folder of images", "video file"):
        assert scheme in text, scheme


def test_no_camera_error_suggests_the_simulated_camera(capsys):
    assert not os.path.exists("/dev/video7")
    code, out, err = cli(capsys, "run", "--camera", "7", "--target", "x86_64", "--quiet")
    assert code != 0
    (line,) = [ln for ln in err.splitlines() if ln.strip()]
    assert line.startswith("error: no camera at camera:7") and "--source sim:samples:obama@30" in line
    assert "Traceback" not in err


def test_samples_vocabulary_matches_the_card():
    from edgeface.hub.cards import get_card
    from edgeface.sources.spec import SAMPLES

    assert SAMPLES == tuple(f.key for f in get_card("samples").files)


@pytest.mark.parametrize("spec", ["samples:", "samples:nobody"])
def test_unknown_sample_is_one_line_naming_the_samples(spec, capsys):
    code, _, err = cli(capsys, "run", "--source", spec, "--target", "x86_64", "--quiet")
    assert code != 0
    (line,) = [ln for ln in err.splitlines() if ln.strip()]
    assert line.startswith("error: unknown sample") and "samples:obama" in line and "emma" in line
