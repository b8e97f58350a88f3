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
    for option in ("--host", "--port", "--allow-host", "--device", "--max-fps", "--threads",
                   "--open"):  # fmt: skip
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


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("cuda", "'cuda': this machine has no CUDA device; use cpu"),
        ("cuda:3", "'cuda:3': this machine has no CUDA device; use cpu"),
        ("nosuch", "'nosuch' is not a torch device; valid: cpu, cuda, cuda:N"),
        ("cuda:x", "'cuda:x' is not a torch device"),
    ],
)
@pytest.mark.parametrize("command", ["play", "analyze", "eval", "train"])
def test_a_device_this_machine_lacks_is_refused_in_one_line(
    monkeypatch, tmp_path, command, device, message
):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a CPU machine
    args = {
        "play": ["play", str(LIZARD), "--port", "0"],
        "analyze": ["analyze", "growth", str(LIZARD)],
        "eval": ["eval", str(LIZARD)],
        "train": ["train", "--rule", "convca", "--task", "grow", "--run-dir", str(tmp_path / "r")],
    }[command]
    result = CliRunner().invoke(cli, [*args, "--device", device])
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output and "--device" in result.output
    assert not (tmp_path / "r").exists()  # refused before a run directory exists


def test_a_gpu_index_beyond_the_machine_is_refused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    result = CliRunner().invoke(cli, ["play", str(LIZARD), "--device", "cuda:2"])
    assert result.exit_code != 0 and "no such GPU; valid: cuda:0 to cuda:1" in result.output


@pytest.mark.parametrize("host", ["999.1.1.1", "no-such-host.invalid", "10.255.255.254"])
def test_an_invalid_host_says_so_and_not_to_change_the_port(host):
    pytest.importorskip("aiohttp")
    result = CliRunner().invoke(cli, ["play", str(LIZARD), "--host", host, "--port", "0"])
    assert result.exit_code != 0, result.output
    assert f"cannot listen on {host}: not a valid address of this machine" in result.output
    assert "--port" not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-fps", "nan"], "nan is not a frame rate"),
        (["--threads", "9" * 30], "is not in the range 1<=x<=1024"),
    ],
)
def test_numbers_that_do_not_fit_the_options_are_refused(args, message):
    result = CliRunner().invoke(cli, ["play", str(LIZARD), *args])
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output
