"""The CLI's top-level handler: an exception no command anticipated becomes one line
(type, message, how to see the traceback) and a non-zero exit; Ctrl-C is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from nca.cli import cli
from nca.cli.errors import DEBUG_HINT

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def failing_command():
    """A command ``boom`` that raises what the test puts in ``raised[0]``."""
    raised: list[BaseException] = []

    @click.command("boom")
    def boom() -> None:
        raise raised[0]

    cli.add_command(boom)
    yield raised
    cli.commands.pop("boom")


@pytest.fixture
def no_debug(monkeypatch):
    monkeypatch.setenv("NCA_DEBUG", "0")


def test_an_unexpected_error_is_one_line_with_its_type(failing_command, no_debug):
    failing_command.append(AttributeError("'list' object has\nno attribute 'items'"))
    result = CliRunner().invoke(cli, ["boom"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"Error: AttributeError: 'list' object has no attribute 'items' ({DEBUG_HINT})"
    ]
    assert isinstance(result.exception, SystemExit)


def test_debug_lets_the_unexpected_error_through(failing_command, monkeypatch):
    monkeypatch.setenv("NCA_DEBUG", "0")  # restored after the test (--debug sets it)
    failing_command.append(RuntimeError("boom"))
    result = CliRunner().invoke(cli, ["--debug", "boom"])
    assert isinstance(result.exception, RuntimeError)


def test_ctrl_c_is_not_turned_into_an_error_line(failing_command, no_debug):
    failing_command.append(KeyboardInterrupt())
    result = CliRunner().invoke(cli, ["boom"])
    assert result.exit_code == 1 and "Aborted!" in result.output  # click's own handling
    assert DEBUG_HINT not in result.output


def test_system_exit_keeps_its_code(failing_command, no_debug):
    failing_command.append(SystemExit(130))  # what `nca train` raises on Ctrl-C
    result = CliRunner().invoke(cli, ["boom"])
    assert result.exit_code == 130 and DEBUG_HINT not in result.output


@pytest.mark.parametrize("debug", ["0", "1"])
def test_the_console_script_prints_one_line_without_a_traceback(debug):
    code = (
        "import click, sys\n"
        "from nca.cli import app\n"
        "@click.command('boom')\n"
        "def boom():\n"
        "    raise ZeroDivisionError('division by zero')\n"
        "app.cli.add_command(boom)\n"
        "sys.argv = ['nca', 'boom']\n"
        "app.main()\n"
    )
    env = {**os.environ, "NCA_DEBUG": debug, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode != 0
    if debug == "1":
        assert "Traceback" in proc.stderr and "ZeroDivisionError" in proc.stderr
    else:
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip() == f"Error: ZeroDivisionError: division by zero ({DEBUG_HINT})"
