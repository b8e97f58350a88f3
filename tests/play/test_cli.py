"""``nca play`` from the command line: its options and one-line refusals."""

import builtins
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from nca.cli import cli

LIZARD = Path(__file__).parent / "data" / "grow-lizard-quick.pt"


def test_help_lists_the_options():
    result = CliRunner().invoke(cli, ["play", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--device", "--max-fps", "--threads", "--open"):
        assert option in result.output


def test_a_feed_forward_run_is_refused_in_one_line(make_run):
    result = CliRunner().invoke(cli, ["play", str(make_run("denoise", "unet"))])
    assert result.exit_code != 0 and "feed-forward" in result.output
    assert "Traceback" not in result.output


def test_missing_aiohttp_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def without_aiohttp(name, *args, **kwargs):
        if name == "aiohttp" or name.startswith("aiohttp."):
            raise ImportError("No module named 'aiohttp'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_aiohttp)
    result = CliRunner().invoke(cli, ["play", str(LIZARD), "--port", "0"])
    assert result.exit_code != 0
    assert "pip install 'nca-toolkit[play]'" in result.output and "Traceback" not in result.output


def test_a_taken_port_is_refused_in_one_line():
    pytest.importorskip("aiohttp")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["play", str(LIZARD), "--port", str(port)])
    assert result.exit_code != 0 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "--port" in result.output and "Traceback" not in result.output
