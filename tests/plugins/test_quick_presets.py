"""Each classic-NCA task's quick preset, for real, with a check that the effect happened
(3-5 minutes each on 2 cores: marked slow)."""

import json
import subprocess
import sys

import pytest
import torch


def _train(task: str, run_dir, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "nca", "train", "--rule", "convca", "--task", task,
           "--run-dir", str(run_dir), "--device", "cpu", "--quiet", *extra]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"using {task}'s 'quick' preset" in proc.stdout
    return json.loads((run_dir / "eval.json").read_text())


@pytest.mark.slow
def test_grow_quick_preset_grows_closer_to_the_target_than_the_seed(tmp_path):
    from nca_grow.targets import load_target

    from nca import psnr

    report = _train("grow", tmp_path / "run")
    target = load_target("lizard", 20, 6).unsqueeze(0)
    seed = torch.zeros_like(target)
    h, w = target.shape[-2:]
    seed[:, 3, h // 2, w // 2] = 1  # the single live cell's RGBA
    seed_psnr = float(psnr(seed, target))
    assert report["psnr_T"] > seed_psnr + 5, (report, seed_psnr)


@pytest.mark.slow
def test_classify_quick_preset_is_well_above_chance(tmp_path):
    report = _train("classify", tmp_path / "run")
    # three digits: chance is 33 %
    assert report["majority_accuracy_T"] > 60, report
    assert report["cell_accuracy_T"] > 45, report


@pytest.mark.slow
def test_texture_quick_preset_lowers_the_style_loss(tmp_path, shared_dir):
    weights = shared_dir / "weights" / "lpips_vgg16_features.pth"
    if not weights.is_file():
        pytest.skip(f"{weights} (VGG16's features, offline) is absent")
    report = _train("texture", tmp_path / "run", "--vgg-weights", str(weights))
    # the grey seed against the grown texture, both scored by the task's Gram loss
    assert report["loss_T"] < 0.7 * report["loss_seed"], report
