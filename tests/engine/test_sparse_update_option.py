"""The engine's ``sparse_update`` option: a ViTCA run trains like the dense one, and
rules or tasks that cannot use it refuse it in one line, before a run directory exists."""

import json

import pytest
import torch
from click.testing import CliRunner

from nca import RunContext, RunLog, Trainer, create_rule, create_task
from nca.cli import cli
from tests.plugins.test_gradient_modes import TASKS


def _losses(tmp_path, sparse):
    task = create_task("denoise", **TASKS["denoise"], iterations=3, log_every=1,
                       validate_every=100, checkpoint_every=100, sparse_update=sparse)  # fmt: skip
    torch.manual_seed(0)
    rule = create_rule("vitca", embed_dim=16, heads=2, hidden_channels=4, mlp_dim=8,
                       zero_last_layer=False, **task.rule_settings({"image_channels"}))  # fmt: skip
    run_dir = tmp_path / str(sparse)
    trainer = Trainer(task, rule, RunContext(run_dir, seed=0, quiet=True))
    assert trainer.model.automaton.sparse_update is sparse
    trainer.fit(RunLog(run_dir, tensorboard=False))
    records = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(r)["loss"] for r in records if '"train"' in r]


def test_sparse_update_trains_like_dense(tmp_path):
    dense, sparse = _losses(tmp_path, False), _losses(tmp_path, True)
    assert len(dense) == 3
    assert sparse == pytest.approx(dense, rel=1e-4)


@pytest.mark.parametrize(
    "args, message",
    [(["--rule", "convca", "--task", "grow", "--preset", "quick"],
      "rule 'convca' cannot compute a sparse update: it lacks the 'sparse_update' "
      "capability; rules that can: vitca"),
     (["--rule", "vitca", "--task", "probe", "--features", "pixels"],
      "sparse_update=true would do nothing"),
     (["--rule", "unet", "--task", "denoise", "--preset", "quick"],
      "runs no CA steps (a feed-forward rule); leave sparse_update unset")],
)  # fmt: skip
def test_cli_refuses_sparse_update_where_it_cannot_work(tmp_path, args, message):
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        cli, ["train", *args, "--sparse-update", "--run-dir", str(run_dir), "--device", "cpu"]
    )
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert not run_dir.exists()
