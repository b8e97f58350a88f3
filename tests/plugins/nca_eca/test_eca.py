"""The eca task: elementary rules, the 1-D NCA learning one, its refusals and reports."""

import json

import pytest
import torch
from click.testing import CliRunner
from nca_eca.rules import eca_step, random_rows, rule_table, space_time

from nca import create_task, launch, make_generator
from nca.cli import cli


def test_rule_tables_and_known_diagrams():
    assert rule_table(90).tolist() == [0, 1, 0, 1, 1, 0, 1, 0]  # left XOR right
    single = torch.zeros(1, 9)
    single[0, 4] = 1
    sierpinski = space_time(single, 90, 3)[0]
    assert sierpinski[1].tolist() == [0, 0, 0, 1, 0, 1, 0, 0, 0]
    assert sierpinski[3].tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0]
    assert space_time(single, 30, 1)[0, 1].tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert space_time(single, 110, 2)[0, 2].tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0]
    edge = torch.tensor([[1.0, 0, 0, 0, 1]])
    assert eca_step(edge, 90).tolist() == [[0, 1, 0, 1, 0]]  # 0 beyond both ends
    rows = random_rows(1000, 16, make_generator(0))
    assert rows.mean() == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="numbered 0 to 255, got 256"):
        rule_table(256)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--rule", "unetca"], "'unetca': it serves 2-D grids, the task's grids are 1-D"),
        (["--rule", "unet"], "cannot train feedforward rule 'unet': it trains ca rules only"),
        (["--rule", "convca", "--rule-number", "300"], "rule_number must be 0 to 255, got 300"),
        (["--rule", "convca", "-o", "gradient=fixed-point"], "cannot train with gradient=fixed"),
        (["--rule", "convca", "-o", "rule.dims=2"], "rule.dims=2 conflicts with the task"),
    ],
)  # fmt: skip
def test_bad_choices_are_refused_in_one_line(tmp_path, options, message):
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--task", "eca", *options, "--run-dir",
                                      str(run_dir), "--device", "cpu"])  # fmt: skip
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output and not run_dir.exists()


def test_a_short_run_learns_and_reports_on_unseen_rows(tmp_path):
    task = create_task("eca", width=16, iterations=300, generations_max=4, lr=3e-3,
                       validate_every=100, log_every=10, eval_rows=32,
                       eval_generations=16)  # fmt: skip
    metrics = launch(task, rule="convca", rule_options={"hidden_channels": 2, "mlp_channels": 16},
                     run_dir=tmp_path / "run", quiet=True)  # fmt: skip
    report = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert report["rule"] == 90 and report["k"] == 16 and len(report["accuracy"]) == 16
    assert metrics["eval_cell_accuracy"] == pytest.approx(sum(report["accuracy"]) / 16)
    log = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    losses = [r["loss"] for r in log if r["kind"] == "train"]
    assert losses[-1] < 0.5 * losses[0]
    assert metrics["eval_cell_accuracy"] > 90  # chance is 50 % (measured: 100 %)
    assert (tmp_path / "run" / "eval.png").is_file()
    assert sorted(p.name for p in (tmp_path / "run" / "samples").glob("*.png"))


@pytest.mark.slow
def test_the_quick_preset_learns_rule_90_exactly_on_unseen_rows(tmp_path):
    task = create_task("eca", preset="quick")
    metrics = launch(task, rule="convca", run_dir=tmp_path / "run", quiet=True)
    assert metrics["eval_exact_rows"] == 100.0 and metrics["eval_cell_accuracy"] == 100.0
