"""Benchmark scripts stay runnable (their numbers are committed, not asserted)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize("script", sorted(BENCHMARKS.glob("[a-z]*.py")), ids=lambda p: p.name)
def test_script_imports_and_shows_help(script):
    proc = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_landcover_loading_runs_on_a_few_tiles(tmp_path):
    output = tmp_path / "result.md"
    script = str(BENCHMARKS / "landcover_loading.py")
    proc = subprocess.run(
        [sys.executable, script, "--tiles", "20", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| training tiles | 20 |" in output.read_text()


def test_gradient_modes_memory_runs_at_a_toy_size(tmp_path):
    output = tmp_path / "result.md"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gradient_modes.py"), "--memory", "--batch", "1",
         "--size", "8", "--steps-list", "4", "--output", str(output)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in output.read_text().splitlines() if line.startswith("| 4 |"))
    assert len(row.split("|")) == 8  # T and the five columns


@pytest.mark.slow
def test_device_check_dry_run_on_cpu(tmp_path):
    """The prepared GPU check, at toy sizes on the CPU (its CUDA tests skip)."""
    output = tmp_path / "device_check.md"
    proc = subprocess.run(
        ["bash", str(BENCHMARKS / "device_check.sh"), "--cpu", str(output)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    text = output.read_text()
    assert proc.returncode == 0, text
    assert text.count("exit 0 after") == 4 and "skipped" in text


def test_stochastic_convergence_runs_on_a_tiny_denoise_run(tmp_path):
    run = tmp_path / "run"
    train = [sys.executable, "-m", "nca", "train", "--rule", "convca", "--task", "denoise",
             "--preset", "quick", "--iterations", "2", "--image-size", "8", "--eval-subset", "4",
             "--eval-steps", "4", "-o", "rule.hidden_channels=3", "-o", "rule.mlp_channels=8",
             "--device", "cpu", "--run-dir", str(run), "--quiet"]  # fmt: skip
    proc = subprocess.run(train, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    script = str(BENCHMARKS / "stochastic_convergence.py")
    proc = subprocess.run([sys.executable, script, str(run), "--threads", "1"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| 256 |")]
    assert len(rows) == 1 and float(rows[0].split("|")[2]) >= 0


def test_stochastic_convergence_refuses_a_run_that_is_not_a_denoiser(tmp_path):
    script = str(BENCHMARKS / "stochastic_convergence.py")
    lizard = BENCHMARKS.parent / "tests" / "play" / "data" / "grow-lizard-quick.pt"
    proc = subprocess.run([sys.executable, script, str(lizard)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0 and "is not a denoising CA run" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_grow3d_hand_written_nca_is_the_toolkit_convca():
    """The 3-D benchmark's hand-written loop does the toolkit's work: with the toolkit
    convca's weights and the same firing masks, its rollout equals the toolkit's."""
    import torch

    sys.path.insert(0, str(BENCHMARKS))
    try:
        from grow3d_throughput import HandWrittenNCA3d
    finally:
        sys.path.remove(str(BENCHMARKS))
    from nca import CellularAutomaton, create_rule
    from nca.core.alive import AliveMasking

    torch.manual_seed(0)
    rule = create_rule("convca", image_channels=4, input_channels=0, hidden_channels=12,
                       laplacian=False, dims=3, zero_last_layer=False)  # fmt: skip
    automaton = CellularAutomaton(rule, alive=AliveMasking(channel=3))
    hand = HandWrittenNCA3d()
    hand.mlp.load_state_dict(rule.update_mlp.state_dict())
    cells = hand.seeds(2, 8)
    ours = theirs = cells
    for _ in range(6):
        fire = torch.rand(2, 1, 8, 8, 8) < 0.5
        ours = automaton.step(ours, fire.float())
        theirs = hand.step(theirs, fire)
    assert ours[:, 3].gt(0.1).sum() > 1  # it grew: the comparison is not of empty grids
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("option", ["--batch", "--steps", "--repeats", "--threads"])
def test_convca_step_variants_refuses_a_count_below_one(option):
    script = str(BENCHMARKS / "convca_step_variants.py")
    proc = subprocess.run([sys.executable, script, option, "0"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 2 and f"{option} must be >= 1, got 0" in proc.stderr
