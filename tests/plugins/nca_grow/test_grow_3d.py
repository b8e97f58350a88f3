"""The grow task on voxel volumes: 3-D targets, pictures of volumes, training, damage by
balls, and the quick3d preset (slow)."""

import numpy as np
import pytest
import torch
from nca_grow.analysis import project, to_picture
from nca_grow.targets import DEFAULT_VOLUMES, load_target

from nca import create_task, launch, load_run, psnr


@pytest.mark.parametrize("name", DEFAULT_VOLUMES)
def test_shipped_volumes_load_padded_to_multiples_of_four(name):
    volume = load_target(name, 10, 3)
    assert volume.ndim == 4 and volume.shape[0] == 4
    assert all(n % 4 == 0 and n >= 16 for n in volume.shape[1:])
    assert float(volume[3].max()) == pytest.approx(1.0)
    assert torch.all(volume[:3] <= volume[3:] + 1e-6)  # premultiplied: colour <= alpha
    assert volume[3, :3].sum() == 0 and volume[3, :, :3].sum() == 0  # the padding is empty


def test_any_npy_volume_is_a_target_and_bad_ones_are_refused(tmp_path):
    cube = np.zeros((6, 6, 6, 4), np.float32)
    cube[1:5, 1:5, 1:5] = (1.0, 0.0, 0.0, 0.5)
    np.save(tmp_path / "cube.npy", cube)
    volume = load_target(str(tmp_path / "cube.npy"), 6, 1)
    assert volume.shape == (4, 8, 8, 8)
    assert volume[0, 3, 3, 3] == pytest.approx(0.5) and volume[1].sum() == 0  # premultiplied
    np.save(tmp_path / "flat.npy", np.zeros((6, 6, 4), np.uint8))
    with pytest.raises(
        ValueError, match=r"must have shape \(D, H, W, 4\) \(RGBA voxels\), got \(6, 6, 4\)"
    ):
        load_target(str(tmp_path / "flat.npy"), 6, 1)
    np.save(tmp_path / "empty.npy", np.zeros((4, 4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="fully transparent"):
        load_target(str(tmp_path / "empty.npy"), 4, 0)
    (tmp_path / "junk.npy").write_text("not numpy")
    with pytest.raises(ValueError, match="cannot read target volume"):
        load_target(str(tmp_path / "junk.npy"), 4, 0)


def test_views_of_a_volume_composite_front_to_back_on_white():
    volume = torch.zeros(1, 4, 4, 4, 4)
    volume[0, :, 0, 1, 2] = torch.tensor([1.0, 0, 0, 1])  # an opaque red voxel in front
    volume[0, :, 3, 1, 2] = torch.tensor([0, 0, 1.0, 1])  # a blue one behind it
    front = project(volume, 0)[0]  # seen along depth: rows x cols
    assert front[:, 1, 2].tolist() == [1.0, 0.0, 0.0]  # the front voxel hides the back one
    assert front[:, 0, 0].tolist() == [1.0, 1.0, 1.0]  # empty: white
    assert project(volume, 1)[0, :, 3, 2].tolist() == [
        0.0,
        0.0,
        1.0,
    ]  # from the top: blue at depth 3
    picture = to_picture(volume)
    assert picture.shape[:2] == (1, 3) and picture.shape[-2] == 16  # 4 pixels per voxel


def test_convca_grows_a_volume_and_damage_cuts_balls(tmp_path):
    task = create_task("grow", target="snowman", target_size=4, target_padding=2, batch_size=4,
                       pool_size=8, damage_count=1, steps_min=3, steps_max=4, iterations=4,
                       eval_repeats=2, validate_every=2, log_every=1)  # fmt: skip
    assert task.rule_needs().dims == 3 and task.grid_size == (8, 8, 8)
    metrics = launch(task, rule="convca", rule_options={"hidden_channels": 4, "mlp_channels": 16},
                     run_dir=tmp_path / "run", quiet=True)  # fmt: skip
    assert {"eval_psnr_T", "eval_psnr_damaged", "eval_recovery_steps"} <= set(metrics)
    stored = load_run(tmp_path / "run")
    assert stored.model.layout.dims == 3 and stored.model.rule.dims == 3
    playground = stored.task.playground(stored.model)  # nca play draws its voxels
    assert playground.seed().shape[2:] == (8, 8, 8)
    assert playground.render(playground.seed()).shape == (4, 8, 8, 8)


@pytest.mark.slow
def test_the_quick3d_preset_grows_closer_than_the_seed_and_regrows(tmp_path):
    task = create_task("grow", preset="quick3d")
    metrics = launch(task, rule="convca", run_dir=tmp_path / "run", quiet=True)
    target = task.target
    seed = torch.zeros_like(target)
    seed[(0, 3, *(n // 2 for n in target.shape[2:]))] = 1.0  # the seed's alpha
    seed_psnr = float(psnr(seed, target))
    assert metrics["eval_psnr_T"] > seed_psnr + 3
    assert metrics["eval_psnr_recovered"] > metrics["eval_psnr_damaged"]


def test_a_turn_about_the_vertical_axis_swaps_depth_and_width():
    from nca_grow.analysis import rotate, turntable

    volume = torch.zeros(1, 4, 8, 6, 8)
    volume[0, :, :, 2:4, 3:5] = torch.tensor([1.0, 0, 0, 1]).view(4, 1, 1, 1)  # a bar in depth

    def extent(turned, dims):  # the cells where the bar's alpha is (mostly) along one axis
        return (turned[0, 3].sum(dims) > 0.5).nonzero().flatten().tolist()

    still, turned = rotate(volume, 0), rotate(volume, 90)
    assert still.shape == turned.shape == (1, 4, 12, 6, 12)  # room for the corners
    assert extent(still, (1, 2)) == extent(turned, (0, 1)) == list(range(2, 10))  # 8 long
    assert len(extent(still, (0, 1))) == len(extent(turned, (1, 2))) == 2  # 2 thick
    views = turntable(volume, frames=4)
    assert len(views) == 4 and views[0].shape == (1, 3, 6 * 4, 12 * 4)
    front, side = views[0][0, 1], views[1][0, 1]  # green: 0 where the red bar is seen
    assert (front < 0.5).sum() < (side < 0.5).sum()  # end-on, then from its side


def test_the_grow_experiments_run_on_a_volume(tmp_path):
    import json

    from click.testing import CliRunner
    from PIL import Image

    from nca.cli import cli

    task = create_task("grow", target="snowman", target_size=4, target_padding=2, batch_size=2,
                       pool_size=4, damage_count=1, steps_min=3, steps_max=4, iterations=1,
                       eval_repeats=1, validate_every=1)  # fmt: skip
    run = tmp_path / "run"
    launch(task, rule="convca", rule_options={"hidden_channels": 4, "mlp_channels": 16},
           run_dir=run, quiet=True)  # fmt: skip
    runner = CliRunner()
    for experiment in ("growth", "regeneration", "persistence"):
        result = runner.invoke(cli, ["analyze", experiment, str(run), "-o", "count=2"])
        assert result.exit_code == 0, result.output
    folder = run / "analysis"
    with Image.open(folder / "growth" / "turntable.gif") as gif:
        assert gif.n_frames == 24  # a full turn in steps of 15 degrees
    regrown = json.loads((folder / "regeneration" / "results.json").read_text())
    assert regrown["damage"] == "ball" and len(regrown["loss"]) == len(regrown["psnr"]) == 12
    assert all(value >= 0 for value in regrown["loss"])
    assert (folder / "persistence" / "frames.png").is_file()
