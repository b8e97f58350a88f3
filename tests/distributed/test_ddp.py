"""The denoise task under torchrun (2 CPU processes, gloo): identical weights after every
step, rank 0 logs the rank-averaged metrics once, and an interrupted-and-resumed run
matches an uninterrupted one. (The engine's own DDP tests: tests/engine.)"""

import json

import pytest

from nca import load_checkpoint
from nca.engine import CHECKSUM_ENV
from tests.conftest import run_torchrun

TINY = [
    "--rule",
    "vitca",
    "--task",
    "denoise",
    "--preset",
    "quick",
    "--image-size",
    "8",
    "--iterations",
    "4",
    "--batch-size",
    "4",
    "--eval-subset",
    "8",
    "--eval-steps",
    "4",
    "-o",
    "steps_min=2",
    "-o",
    "steps_max=4",
    "-o",
    "rule.embed_dim=16",
    "-o",
    "rule.heads=2",
    "-o",
    "checkpoint_every=2",
    "-o",
    "log_every=1",
    "--device",
    "cpu",
    "-q",
]


def _torchrun(run_dir, *extra):
    # per-step parameter checksums are a debugging aid, recorded only when asked for
    args = ["-m", "nca", "train", *TINY, "--run-dir", str(run_dir), *extra]
    return run_torchrun(*args, env={CHECKSUM_ENV: "1"}).stdout


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddp") / "straight"
    output = _torchrun(run_dir)
    return run_dir, output


def test_ranks_hold_identical_weights_after_every_step(straight):
    run_dir, output = straight
    main = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    other = load_checkpoint(run_dir / "checkpoints" / "rank1.pt")
    assert main["iteration"] == other["iteration"] == 4
    assert len(main["checksums"]) == 4 and main["checksums"] == other["checksums"]
    assert len(set(main["checksums"])) == 4  # the weights change every step
    assert "2 processes" in output


def test_rank_0_logs_each_iteration_once_and_evaluates(straight):
    run_dir, _ = straight
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3, 4]  # written once, by rank 0
    # the logged loss is the rank mean of α·L1 + β·overflow, as the objective defines it
    for r in train:
        assert r["loss"] == pytest.approx(100 * r["reconstruction"] + 100 * r["overflow"])
    assert [r["step"] for r in records if r["kind"] == "evaluation"] == [4]
    assert (run_dir / "eval.json").is_file()


def test_resumed_two_process_run_continues_where_it_stopped(straight, tmp_path):
    run_dir, _ = straight
    resumed = tmp_path / "resumed"
    _torchrun(resumed, "--stop-after", "2")
    assert load_checkpoint(resumed / "checkpoints" / "last.pt")["iteration"] == 2
    assert load_checkpoint(resumed / "checkpoints" / "rank1.pt")["iteration"] == 2
    _torchrun(resumed, "--resume")
    expected = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    got = load_checkpoint(resumed / "checkpoints" / "last.pt")
    assert got["iteration"] == 4
    assert got["checksums"] == expected["checksums"]  # bit-identical continuation
    assert (
        load_checkpoint(resumed / "checkpoints" / "rank1.pt")["checksums"]
        == (expected["checksums"])
    )


def test_checkpointing_and_fusion_under_ddp(tmp_path):
    run_dir = tmp_path / "ckpt"
    _torchrun(
        run_dir,
        "-o",
        "gradient=checkpoint",
        "-o",
        "octaves=1",
        "-o",
        "steps_min=4",
        "-o",
        "steps_max=6",
        "--stop-after",
        "2",
    )
    main = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert main["checksums"] == load_checkpoint(run_dir / "checkpoints" / "rank1.pt")["checksums"]
    assert len(main["checksums"]) == 2


def test_fixed_point_gradients_under_ddp(tmp_path):
    """The implicit gradient's backward hook runs its own vector-Jacobian products inside
    DDP's backward; the all-reduced weights must still agree on both ranks."""
    run_dir = tmp_path / "fp"
    _torchrun(run_dir, "--gradient", "fixed-point", "-o", "fixed_point.max_steps=4",
              "--stop-after", "2")  # fmt: skip
    main = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert main["checksums"] == load_checkpoint(run_dir / "checkpoints" / "rank1.pt")["checksums"]
    assert len(set(main["checksums"])) == 2
    train = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(r["fp_forward_steps"] <= 4 for r in train if r["kind"] == "train")
