import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nca import __version__
from nca.cli import cli


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from nca.cli import main\n"
        "sys.argv = ['nca', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('TORCH_IMPORTED' if 'torch' in sys.modules else 'TORCH_FREE')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "Commands:" in proc.stdout
    assert proc.stdout.strip().endswith("TORCH_FREE")


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_list_shows_rules_and_tasks(runner, toy_task):
    result = runner.invoke(cli, ["list"])
    assert result.exit_code == 0, result.output
    convca = next(line for line in result.output.splitlines() if "convca" in line)
    assert "CA rule" in convca and "nca-toolkit" in convca and "tiny" in convca
    toy = next(line for line in result.output.splitlines() if "toy" in line)
    assert "task" in toy and "module tests.tasks.toy_task" in toy
    only_tasks = runner.invoke(cli, ["list", "--type", "tasks"])
    assert "convca" not in only_tasks.output and "toy" in only_tasks.output
    assert "No plugins match 'zzz*'" in runner.invoke(cli, ["list", "zzz*"]).output
    datasets = runner.invoke(cli, ["list", "--type", "datasets"]).output
    assert "landcover" in datasets and "folder:PATH" in datasets and "convca" not in datasets


def test_info_rule_task_and_unknown(runner, toy_task):
    result = runner.invoke(cli, ["info", "convca"])
    assert result.exit_code == 0
    assert "hidden_channels" in result.output and "Hidden channels per cell" in result.output
    assert "convca:tiny" in result.output
    task = runner.invoke(cli, ["info", "toy"])
    assert task.exit_code == 0 and "--iterations" in task.output
    unknown = runner.invoke(cli, ["info", "convka"])
    assert unknown.exit_code == 1
    assert "no rule, task or dataset called 'convka'" in unknown.output
    landcover = runner.invoke(cli, ["info", "landcover"])
    assert landcover.exit_code == 0 and "3 channel(s), default image size 32" in landcover.output
    assert "Did you mean 'convca'?" in unknown.output
    assert "Traceback" not in unknown.output


def test_train_names_what_is_not_installed(runner):
    result = runner.invoke(cli, ["train", "--rule", "vitcaa", "--task", "no-such-task"])
    assert result.exit_code == 1
    assert "rule 'vitcaa' is not installed. Did you mean 'vitca'?" in result.output
    assert "task 'no-such-task' is not installed" in result.output
    assert "Installed rules: " in result.output and ", vitca" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_train_end_to_end_then_eval(runner, toy_task, tmp_path):
    run_dir = tmp_path / "run"
    args = [
        "train",
        "--rule",
        "convca:tiny",
        "--task",
        "toy",
        "--iterations",
        "12",
        "--mode",
        "noise",
        "-o",
        "rule.mlp_channels=8",
        "-o",
        "lr=0.02",
        "--run-dir",
        str(run_dir),
        "--seed",
        "3",
        "--device",
        "cpu",
        "--quiet",
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "eval_loss" in result.output  # the engine evaluated the finished run
    config = json.loads((run_dir / "config.json").read_text())
    assert config["rule"] == {
        "name": "convca:tiny",
        "config": {
            "image_channels": 1,
            "input_channels": None,
            "hidden_channels": 4,
            "mlp_channels": 8,
            "perception": "fixed",
            "perception_channels": 80,
            "depthwise_filters": 2,
            "laplacian": True,
            "padding": "zeros",
            "dims": 2,  # the toy task's grids (RuleNeeds' default)
            "cell_init": "constant",
            "init": "pytorch",
            "zero_last_layer": True,
        },
    }
    assert config["task"]["config"]["iterations"] == 12
    assert config["task"]["config"]["mode"] == "noise"
    assert config["task"]["config"]["lr"] == 0.02
    assert config["seed"] == 3
    evaluated = runner.invoke(cli, ["eval", str(run_dir), "--device", "cpu"])
    assert evaluated.exit_code == 0, evaluated.output
    final = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert final["kind"] == "evaluation"
    assert f"{final['loss']:.4f}" in evaluated.output  # the same model scores the same


def test_train_is_reproducible(runner, toy_task, tmp_path):
    def losses(name):
        args = [
            "train",
            "-r",
            "convca:tiny",
            "-t",
            "toy",
            "--iterations",
            "5",
            "--run-dir",
            str(tmp_path / name),
            "--device",
            "cpu",
        ]
        assert runner.invoke(cli, args).exit_code == 0
        from nca import load_checkpoint

        return load_checkpoint(tmp_path / name / "checkpoints" / "last.pt")["model"]

    a, b = losses("a"), losses("b")
    assert all((a[k] == b[k]).all() for k in a)


def test_train_from_config_file(runner, toy_task, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(
        f'seed = 1\nrun_dir = "{tmp_path / "cfgrun"}"\n'
        '[rule]\nname = "convca"\nhidden_channels = 2\nmlp_channels = 4\n'
        '[task]\nname = "toy"\npreset = "tiny"\n'
    )
    result = runner.invoke(cli, ["train", "--config", str(config), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    resolved = json.loads((tmp_path / "cfgrun" / "config.json").read_text())
    assert resolved["rule"]["config"]["hidden_channels"] == 2
    assert resolved["task"]["config"]["iterations"] == 2  # from the preset
    assert resolved["seed"] == 1


def test_command_line_over_a_config_file_value_is_announced(runner, toy_task, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[rule]\nname = "convca:tiny"\n[task]\nname = "toy"\nbatch_size = 3\n')
    args = ["train", "--config", str(config), "--device", "cpu", "--iterations", "2"]
    result = runner.invoke(cli, [*args, "--batch-size", "2", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert f"batch_size=2 from the command line replaces batch_size=3 from {config}" in (
        " ".join(result.output.split())
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--iteration", "3"], "No such option '--iteration'. Did you mean '--iterations'?"),
        (["--mode", "stripes"], "'stripes' is not one of 'blocks', 'noise'"),
        (["-o", "rule.hiden_channels=3"], "unknown option 'hiden_channels'. Did you mean"),
        (["-o", "hidden_channels=lots"], "rule.hidden_channels: expected an integer, got 'lots'"),
        (["-o", "nonsense"], "not of the form key=value"),
        (["--iterations", "0"], "iterations must be >= 1, got 0"),
        (["--preset", "huge"], "no preset 'huge'; presets: tiny"),
        (["--device", "tpu9"], "is not a torch device"),
    ],
)
def test_bad_options_give_one_line_errors(runner, toy_task, tmp_path, extra, message):
    args = ["train", "-r", "convca:tiny", "-t", "toy", "--run-dir", str(tmp_path / "r"), *extra]
    result = runner.invoke(cli, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_task_options_show_in_help_only_for_that_task(runner, toy_task):
    with_task = runner.invoke(cli, ["train", "--task", "toy", "--help"])
    assert "--iterations" in with_task.output and "--mode [blocks|noise]" in with_task.output
    plain = runner.invoke(cli, ["train", "--help"])
    assert "--iterations" not in plain.output


def test_eval_errors(runner, tmp_path):
    result = runner.invoke(cli, ["eval", str(tmp_path)])
    assert result.exit_code == 1 and "has no checkpoints" in result.output


@pytest.mark.skipif(os.name != "posix", reason="console script check on POSIX")
def test_console_script_is_installed():
    proc = subprocess.run(["nca", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and __version__ in proc.stdout


def test_short_task_flag_form_adds_task_options(runner, toy_task, tmp_path):
    args = [
        "train",
        "-rconvca:tiny",
        "-ttoy",
        "--iterations",
        "2",
        "--run-dir",
        str(tmp_path / "r"),
        "--device",
        "cpu",
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output


def test_runs_are_never_overwritten_and_resume_checks_the_config(runner, toy_task, tmp_path):
    run_dir = str(tmp_path / "run")
    base = ["train", "-r", "convca:tiny", "-t", "toy", "--iterations", "2", "--device", "cpu"]
    assert runner.invoke(cli, [*base, "--run-dir", run_dir]).exit_code == 0
    again = runner.invoke(cli, [*base, "--run-dir", run_dir])
    assert again.exit_code != 0 and "already holds a run; pass --resume" in again.output
    changed = runner.invoke(cli, [*base, "--run-dir", run_dir, "--resume", "--mode", "noise"])
    assert changed.exit_code != 0
    assert "different configuration (changed: task.mode)" in changed.output
    resumed = runner.invoke(cli, [*base, "--run-dir", run_dir, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    no_dir = runner.invoke(cli, [*base, "--resume"])
    assert no_dir.exit_code != 0 and "--resume needs the run to continue" in no_dir.output
    fresh = runner.invoke(cli, [*base, "--run-dir", str(tmp_path / "new"), "--resume"])
    assert fresh.exit_code == 0, fresh.output  # nothing to resume yet: a new run starts
    assert (tmp_path / "new" / "checkpoints" / "last.pt").is_file()


def test_config_file_top_level_values_are_typed(runner, toy_task, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('seed = "abc"\n[rule]\nname = "convca:tiny"\n[task]\nname = "toy"\n')
    result = runner.invoke(cli, ["train", "--config", str(config)])
    assert result.exit_code != 0
    assert "run config.seed: expected an integer, got 'abc'" in result.output


def test_debug_flag_shows_tracebacks(runner, monkeypatch):
    monkeypatch.setenv("NCA_DEBUG", "0")  # restored after the test (--debug sets it)
    result = runner.invoke(cli, ["--debug", "info", "nothing-here"])
    assert result.exit_code != 0
    assert result.exception is not None and not isinstance(result.exception, SystemExit)
