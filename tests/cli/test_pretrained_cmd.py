"""Pretrained models by name on the command line: ``nca pretrained``, ``nca list``, and a
name wherever a run is accepted (eval, analyze, export, play, ``train --init-from``);
an unknown name, or a damaged file, is one line."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from nca.cli import cli
from nca.pretrained import catalogue, list_pretrained

NAME = "lizard"
#: A grow run small enough to fine-tune in seconds (the rule stays the lizard's).
TINY_GROW = [
    *("-o", "target_size=8", "-o", "target_padding=2", "-o", "steps_min=2"),
    *("-o", "steps_max=3", "-o", "eval_repeats=1", "-o", "pool_size=4", "-o", "batch_size=2"),
    *("-o", "damage_count=1", "--iterations", "1"),
]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})


def error_line(result) -> str:
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("Error")]
    return line


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_pretrained_lists_name_task_rule_numbers_and_size():
    result = invoke("pretrained")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if NAME in line)
    assert "grow" in row and "convca" in row and " KB" in row
    model = next(m for m in list_pretrained() if m.name == NAME)
    first = next(iter(model.evaluation.metrics))
    assert first in result.output


def test_pretrained_json_is_the_manifest():
    result = invoke("pretrained", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [m.to_dict() for m in list_pretrained()]
    one = json.loads(invoke("pretrained", NAME, "--json").output)
    assert one["name"] == NAME and one["sha256"]


def test_pretrained_name_shows_its_whole_entry():
    result = invoke("pretrained", NAME)
    assert result.exit_code == 0, result.output
    model = next(m for m in list_pretrained() if m.name == NAME)
    assert f"trained by: {model.training.command}" in result.output
    assert model.sha256 in result.output


def test_list_mentions_the_pretrained_models():
    only = invoke("list", "--type", "pretrained")
    assert only.exit_code == 0 and NAME in only.output and "convca " not in only.output
    row = next(x for x in invoke("list").output.splitlines() if x.startswith(f"│ {NAME} "))
    assert "pretrained" in row


@pytest.mark.parametrize(
    "args",
    [
        ["pretrained", "salamander"],
        ["eval", "salamander"],
        ["play", "salamander"],
        ["analyze", "regeneration", "salamander"],
        ["export", "salamander", "--format", "onnx", "--no-check"],
        ["train", "--task", "grow", "--rule", "convca", "--init-from", "salamander"],
    ],
    ids=lambda args: args[0],
)
def test_an_unknown_name_is_one_line_listing_the_known_ones(args, workdir):
    line = error_line(invoke(*args))
    assert "named 'salamander'; pretrained models: " in line and NAME in line
    assert list(workdir.iterdir()) == []  # no run directory, no output folder


def test_a_missing_path_keeps_its_message(workdir):
    line = error_line(invoke("eval", str(workdir / "runs" / "gone")))
    assert "is neither a checkpoint file nor a run directory" in line


def test_eval_by_name_writes_its_report_under_runs_pretrained(workdir):
    result = invoke("eval", NAME, "-q", "-o", "eval_repeats=1", "-o", "steps_min=2",
                    "-o", "steps_max=4")  # fmt: skip
    assert result.exit_code == 0, result.output
    (report,) = (workdir / "runs" / "pretrained" / NAME).glob("eval-*.json")
    assert "psnr_T" in json.loads(report.read_text())


def test_analyze_by_name(workdir):
    result = invoke("analyze", "regeneration", NAME, "-o", "steps=6", "-o", "damage_at=2,4",
                    "-o", "count=1")  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = workdir / "runs" / "pretrained" / NAME / "analysis" / "regeneration"
    assert (folder / "results.json").is_file()


def test_export_by_name(workdir):
    pytest.importorskip("onnxscript", reason="ONNX export needs the [export] extra")
    result = invoke("export", NAME, "--format", "onnx", "--no-check")
    assert result.exit_code == 0, result.output
    assert (workdir / "runs" / "pretrained" / NAME / "export" / f"step-{NAME}.onnx").is_file()


def test_init_from_a_name_fine_tunes_it(workdir):
    import torch

    from nca import load_checkpoint
    from nca.pretrained import pretrained_path

    run_dir = workdir / "tuned"
    start = ["train", "--task", "grow", "--preset", "quick", "--init-from", NAME, *TINY_GROW]
    end = ["-o", "lr=1e-9", "--run-dir", str(run_dir), "--device", "cpu", "-q"]
    result = invoke(*start, "--rule", "convca", *end)
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "config.json").read_text())["init_from"] == NAME
    tuned = load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]
    shipped = load_checkpoint(pretrained_path(NAME))["model"]
    assert all(torch.allclose(tuned[k], shipped[k], atol=1e-6) for k in shipped)  # lr ~ 0
    other = invoke(*start, "--rule", "convca:tiny", "--run-dir", str(workdir / "x"))
    assert f"--init-from {NAME} (a pretrained model): its weights do not fit" in (error_line(other))


def test_a_damaged_file_is_refused_in_one_line(tmp_path, monkeypatch):
    shipped = catalogue.MANIFEST_FILE.parent
    copy = tmp_path / "pretrained"
    shutil.copytree(shipped, copy)
    model = next(m for m in list_pretrained() if m.name == NAME)
    weights = copy / "weights" / model.file
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0x10
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(catalogue, "MANIFEST_FILE", copy / "manifest.json")
    monkeypatch.chdir(tmp_path)
    line = error_line(invoke("eval", NAME))
    assert f"pretrained model {NAME!r} is damaged" in line and "sha256" in line
