"""Default run folders and the start line name what is trained, once."""

import re
from types import SimpleNamespace

from nca.cli.train_cmd import RunSettings, _run_dir
from nca.engine.launch import _announcement


def test_a_probe_of_a_timestamped_run_gets_one_timestamp():
    params = {"run_dir": None, "name": None, "resume": False}
    folder = _run_dir(params, RunSettings(), "probe", "denoise-vitca-20261204-063706")
    assert re.fullmatch(r"probe-denoise-vitca-\d{8}-\d{6}", folder.name), folder.name
    plain = _run_dir(params, RunSettings(), "grow", "convca")
    assert re.fullmatch(r"grow-convca-\d{8}-\d{6}", plain.name)


def test_the_start_line_puts_the_task_first_when_there_is_no_rule():
    run = SimpleNamespace(world_size=1, device="cpu", seed=0, run_dir="runs/x")
    task = SimpleNamespace(name="probe", config=None,
                           source_label=lambda config: "denoise-vitca-1")  # fmt: skip
    line = _announcement(task, None, run)
    assert line.startswith("Training [bold]probe[/bold] on [bold]denoise-vitca-1[/bold]")
    rule = SimpleNamespace(name="convca")
    line = _announcement(SimpleNamespace(name="grow"), rule, run)
    assert line.startswith("Training [bold]convca[/bold] on [bold]grow[/bold] (cpu, seed 0)")
