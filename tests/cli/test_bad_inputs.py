"""A table of bad inputs through the CLI, in-process: each one must fail with a non-zero
exit, one error line on stderr naming the bad value, no traceback, and no run directory
left behind. Add cases here as they are found."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from nca.cli import cli

BASE = [
    *("train", "--rule", "vitca", "--task", "denoise", "--preset", "quick"),
    *("--iterations", "2", "--eval-subset", "4", "--device", "cpu", "-q"),
]

#: (extra arguments, text the error line must contain)
CASES = [
    (["--seed", "-1"], "-1 is not in the range x>=0"),
    (["-o", "lr=-1"], "lr must be > 0, got -1.0"),
    (["-o", "weight_decay=-0.5"], "weight_decay must be >= 0, got -0.5"),
    (["-o", "optimizer=lbfgs"], "task.optimizer: 'lbfgs' is not one of 'adamw', 'adam', 'sgd'"),
    (["-o", "lr_schedule=step"], "lr_schedule=step needs lr_milestones"),
    (["-o", "pool_size=-1"], "pool_size must be >= 0, got -1"),
    (["-o", "octaves=-2"], "octaves must be >= 0, got -2"),
    (["--batch-size", "0"], "batch_size must be >= 1, got 0"),
    (["-o", "steps_min=8", "-o", "steps_max=4"], "steps_max (4) must be >= steps_min (8)"),
    (["-o", "update_rate=1.5"], "update_rate must be in (0, 1], got 1.5"),
    (["--image-size", "10"], "image_size must be a multiple of 4"),
    (["-o", "rule.patch_size=0,0"], "patch_size must be positive integers, one per dimension"),
    (["-o", "rule.heads=3"], "embed_dim 128 must be divisible by heads 3"),
    (["-o", "rule.attention_backend=magic"], "rule.attention_backend: 'magic' is not one of"),
    (
        ["--image-size", "24", "-o", "rule.image_size=20,20"],
        "rule.image_size=20,20 conflicts with the task, which sets image_size=(24, 24)",
    ),
    (["--image-size", "24", "-o", "task.image_size=20"], "--image-size 24 and -o image_size=20"),
    (["--dataset", "no-such-set"], "no-such-set"),
    (["--dataset", "folder:/no/such/folder"], "/no/such/folder"),
    (["--init-from", "/no/such/run"], "/no/such/run"),
    (["-o", "rule.hidden_channels=many"], "rule.hidden_channels: expected an integer, got 'many'"),
    (["--lpips", "on", "--image-size", "8"], "LPIPS-vgg needs images of at least 16x16"),
    (["--image-size", "100000"], "images of 100000x100000 needs at least"),
    (["--batch-size", "100000000"], "a batch of 100000000 images of 16x16 needs at least"),
    (["-o", "lr=inf"], "task.lr: expected a finite number (not inf or nan), got 'inf'"),
    (["-o", "lr=1e999"], "task.lr: expected a finite number (not inf or nan), got '1e999'"),
    (["-o", "weight_decay=-inf"], "task.weight_decay: expected a finite number"),
    (["-o", "weight_decay=nan"], "task.weight_decay: expected a finite number"),
    (["-o", "lr_gamma=inf"], "task.lr_gamma: expected a finite number"),
    (["-o", "reconstruction_weight=inf"], "task.reconstruction_weight: expected a finite"),
    (["-o", "update_rate=nan"], "task.update_rate: expected a finite number"),
    (["-o", "fixed_point.jacobian_weight=inf"], "fixed_point.jacobian_weight: expected a finite"),
    (["-o", "rule.pos_embedding_std=inf"], "rule.pos_embedding_std: expected a finite number"),
    (["-o", "rule.hidden_channels=300000000"], "rule vitca with these sizes needs at least"),
    (["-o", "rule.embed_dim=300000000"], "rule vitca with these sizes needs at least"),
    (["-o", "rule.mlp_dim=1000000000"], "rule vitca with these sizes needs at least"),
    (["-o", "rule.heads=65536", "-o", "rule.embed_dim=4294967296"], "rule vitca with these"),
]


@pytest.mark.parametrize(("extra", "message"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_fails_in_one_line_and_leaves_no_run(tmp_path, extra, message):
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(cli, [*BASE, *extra, "--run-dir", str(run_dir)])
    assert result.exit_code not in (0, None), result.output
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0], result.stderr
    assert not run_dir.exists()
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_the_table_covers_at_least_twenty_cases():
    assert len(CASES) >= 20


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "the top level must be a table"),
        ('"denoise"', "the top level must be a table"),
        ('{"rule": {"name": 3}, "task": {"name": "denoise"}}', "[rule] name must be"),
    ],
)
def test_a_config_file_of_the_wrong_shape_is_one_line(tmp_path, text, message):
    config = tmp_path / "run.json"
    config.write_text(text)
    result = CliRunner().invoke(cli, ["train", "-c", str(config), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code not in (0, None)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0] and str(config) in errors[0], result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["../escape", "..", ".", "", "a/b", "/tmp/nca-abs-run", " "])
def test_a_run_name_stays_inside_runs(tmp_path, monkeypatch, name):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(cli, [*BASE, "--name", name])
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 2 and len(errors) == 1, result.output
    assert f"{name!r} is not a run name" in errors[0]
    assert list(tmp_path.rglob("*")) == [work]  # nothing written, inside or out
