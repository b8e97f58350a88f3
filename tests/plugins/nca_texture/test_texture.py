"""The texture task (Niklasson et al., Self-Organising Textures, Distill 2021): targets,
VGG16 weights from a file or the download (and the message when neither works), the Gram
and sliced-OT statistics, training, resume, every CA rule, refusals and the analysis.

Training tests use a VGG16 with random weights written to a file (no download, no
``../shared``); one test checks the offline copy of the real weights when it is there."""

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from nca_texture import TextureTask
from nca_texture.config import TextureConfig
from nca_texture.targets import DEFAULT_TEXTURES, load_texture
from nca_texture.vgg import (
    STYLE_LAYERS,
    VGGUnavailable,
    gram,
    gram_loss,
    load_vgg16_features,
    sliced_ot_loss,
    style_features,
)

from nca import RunContext, RunLog, Trainer, create_rule, load_checkpoint
from nca.cli import cli


def _config(vgg, **overrides):
    small = dict(
        target_size=16, grid_size=16, eval_size=16, batch_size=2, pool_size=4, steps_min=3,
        steps_max=4, reseed_every=2, iterations=6, log_every=1, validate_every=3,
        checkpoint_every=100, eval_steps=6, vgg_weights=vgg,
    )  # fmt: skip
    return TextureConfig(**{**small, **overrides})


def _rule(name="convca"):
    torch.manual_seed(0)
    extra = {
        "convca": {"hidden_channels": 3, "mlp_channels": 16, "padding": "circular"},
        "vitca": {"embed_dim": 16, "heads": 2, "hidden_channels": 3, "mlp_dim": 16,
                  "positional": "none", "border": "circular"},
        "unetca": {"hidden_channels": 3, "features": 4, "downsamplings": 1},
    }[name]  # fmt: skip
    return create_rule(name, image_channels=3, input_channels=0, **extra)


def _trainer(path, vgg, rule=None, **overrides):
    task = TextureTask(_config(vgg, **overrides))
    return Trainer(task, rule or _rule(), RunContext(path, seed=0, quiet=True))


@pytest.mark.parametrize("name", DEFAULT_TEXTURES)
def test_default_texture_and_any_image(tmp_path, name):
    from PIL import Image

    texture = load_texture(name, 64)
    assert texture.shape[0] == 3 and max(texture.shape[1:]) == 64 and texture.min() >= 0
    Image.new("RGB", (40, 20), (0, 255, 0)).save(tmp_path / "green.png")
    green = load_texture(str(tmp_path / "green.png"), 32)
    assert green.shape == (3, 16, 32) and torch.all(green[1] == 1) and torch.all(green[0] == 0)
    with pytest.raises(FileNotFoundError, match="neither a default texture"):
        load_texture(str(tmp_path / "nothing.png"), 32)
    with pytest.raises(ValueError, match="at least 16 pixels"):
        load_texture(str(tmp_path / "green.png"), 20)  # 20x10 after shrinking


def test_a_16_bit_grey_texture_is_grey_not_white(tmp_path):
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((16, 16), 153 * 257, dtype=np.uint16)).save(tmp_path / "g.png")
    texture = load_texture(str(tmp_path / "g.png"), 16)
    assert texture.unique().tolist() == [pytest.approx(153 / 255)]


def test_a_transparent_texture_is_composited_onto_white_and_said(tmp_path):
    import numpy as np
    from PIL import Image

    pixels = np.zeros((16, 16, 4), np.uint8)  # black under full transparency...
    pixels[:8] = (255, 0, 0, 255)  # ...below an opaque red top half
    Image.fromarray(pixels, "RGBA").save(tmp_path / "half.png")
    with pytest.warns(UserWarning, match=r"not opaque \(50% of its pixels .*onto white"):
        texture = load_texture(str(tmp_path / "half.png"), 16)
    assert torch.all(texture[:, 8:] == 1)  # white, not the black the file stores there
    assert torch.all(texture[:, :8] == torch.tensor([1.0, 0, 0])[:, None, None])


def test_a_texture_past_pils_pixel_limit_is_one_line(tmp_path, random_vgg, huge_png):
    args = ["train", "--task", "texture", "--rule", "convca", "--target", huge_png]
    args += ["--vgg-weights", random_vgg, "--run-dir", str(tmp_path / "r"), "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert f"{huge_png!r} has 400,000,000 pixels" in message and "resize it" in message
    assert not (tmp_path / "r").exists()


def test_gram_and_sliced_ot_statistics():
    features = torch.randn(1, 4, 5, 6)
    g = gram(features)
    flat = features.reshape(4, 30)
    torch.testing.assert_close(g[0], flat @ flat.T / 30)
    shuffled = features.flatten(2)[..., torch.randperm(30)].view(1, 4, 5, 6)
    # both are statistics of the feature distribution: blind to where features are
    assert gram_loss([shuffled], [features]).item() == pytest.approx(0, abs=1e-6)
    generator = torch.Generator().manual_seed(0)
    assert sliced_ot_loss([shuffled], [features], 8, generator).item() == pytest.approx(0, abs=1e-5)
    other = torch.randn(1, 4, 5, 6) * 3
    assert gram_loss([other], [features]).item() > 0.1
    assert sliced_ot_loss([other], [features], 8, generator).item() > 0.1


def test_vgg_weights_from_a_file_or_a_clear_message(tmp_path, random_vgg, monkeypatch):
    vgg = load_vgg16_features(random_vgg)
    assert len(vgg) == STYLE_LAYERS[-1] + 1 and not any(p.requires_grad for p in vgg.parameters())
    maps = style_features(vgg, torch.rand(1, 3, 32, 32))
    assert [m.shape[1] for m in maps] == [64, 128, 256, 512, 512] and maps[-1].shape[-1] == 2
    bare = tmp_path / "bare.pth"  # keys without the "features." prefix work too
    torch.save({k.removeprefix("features."): v for k, v in torch.load(random_vgg).items()}, bare)
    load_vgg16_features(bare)
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(VGGUnavailable, match="does not hold VGG16's features"):
        load_vgg16_features(tmp_path / "bad.pth")

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(VGGUnavailable, match="vgg_weights=PATH"):
        load_vgg16_features(None)
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--rule", "convca", "--task", "texture",
                                      "--run-dir", str(run), "-q"])  # fmt: skip
    assert result.exit_code != 0 and "needs VGG16's ImageNet weights" in result.output
    assert "Traceback" not in result.output and not run.exists()


def _tensors(path):
    return torch.load(path, weights_only=True)


def _changed(random_vgg, key, value):
    return {**_tensors(random_vgg), key: value}


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda vgg, p: p.write_bytes(Path(vgg).read_bytes()[:100_000]),
         "cannot read VGG16 weights '{path}' (RuntimeError: "),
        (lambda vgg, p: p.write_text("features.0.weight = 1\n"),
         "cannot read VGG16 weights '{path}' ("),
        (lambda vgg, p: p.write_bytes(b""), "cannot read VGG16 weights '{path}' ("),
        (lambda vgg, p: torch.save([1, 2], p), "'{path}' is not a state dict"),
        (lambda vgg, p: torch.save(_changed(vgg, "features.0.weight", torch.ones(3, 3, 3, 3)), p),
         "'{path}' are unusable: features.0.weight has shape (3, 3, 3, 3), VGG16's is "
         "(64, 3, 3, 3)"),
        (lambda vgg, p: torch.save({k: torch.full_like(v, torch.nan) for k, v in
                                    _tensors(vgg).items()}, p),
         "'{path}' are unusable: features.0.weight holds 1728 NaN or infinite values"),
        (lambda vgg, p: torch.save(_changed(vgg, "features.24.bias",
                                            torch.tensor([torch.inf] + [0.0] * 511)), p),
         "features.24.bias holds 1 NaN or infinite values"),
        (lambda vgg, p: torch.save(_changed(vgg, "features.2.weight",
                                            torch.zeros(64, 64, 3, 3)), p),
         "features.2.weight is all zeros"),
        (lambda vgg, p: torch.save(_changed(vgg, "features.0.bias",
                                            torch.zeros(64, dtype=torch.long)), p),
         "features.0.bias holds torch.int64 values"),
    ],
    ids=["truncated", "text", "empty", "a-list", "wrong-shape", "all-nan", "one-inf",
         "zero-filters", "integers"],
)  # fmt: skip
def test_unusable_vgg_weights_are_refused_at_load_naming_the_file(tmp_path, random_vgg, write,
                                                                  message):  # fmt: skip
    path = tmp_path / "vgg.pth"
    write(random_vgg, path)
    with pytest.raises(VGGUnavailable) as err:
        load_vgg16_features(path)
    assert message.format(path=path) in str(err.value) and "\n" not in str(err.value)


def test_nan_vgg_weights_stop_training_before_the_run(tmp_path, random_vgg):
    nan = tmp_path / "nan.pth"
    torch.save({k: torch.full_like(v, torch.nan) for k, v in _tensors(random_vgg).items()}, nan)
    args = ["train", "--task", "texture", "--rule", "convca", "--vgg-weights", str(nan)]
    result = CliRunner().invoke(cli, [*args, "--run-dir", str(tmp_path / "r"), "-q"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "NaN or infinite values" in " ".join(result.output.split()), result.output
    assert not (tmp_path / "r").exists()


def test_a_truncated_download_in_torch_hubs_cache_is_named(tmp_path, random_vgg, monkeypatch):
    from torchvision.models import VGG16_Weights

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # no network needed:
    cached = tmp_path / "checkpoints" / VGG16_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    cached.parent.mkdir()  # torch.hub reads a cached file without downloading
    cached.write_bytes(Path(random_vgg).read_bytes()[:100_000])
    with pytest.raises(VGGUnavailable, match=f"{cached}' may be truncated: delete it"):
        load_vgg16_features(None)


def test_the_offline_copy_of_the_real_weights_loads(shared_dir):
    path = shared_dir / "weights" / "lpips_vgg16_features.pth"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    vgg = load_vgg16_features(path)
    assert float(vgg[0].weight.abs().mean()) > 0.01  # ImageNet filters, not zeros


def test_training_steps_and_resumes_exactly(tmp_path, random_vgg):
    # that the loss falls with the real VGG16 is the slow quick-preset test's job
    trainer = _trainer(tmp_path / "a", random_vgg, iterations=6, lr=1e-2)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    log = RunLog(tmp_path / "a", tensorboard=False)
    trainer.fit(log)
    losses = [r["style"] for r in log.read() if r["kind"] == "train"]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    after = list(trainer.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    straight = _trainer(tmp_path / "b", random_vgg)
    straight.fit(RunLog(tmp_path / "b", tensorboard=False))
    first = _trainer(tmp_path / "c", random_vgg)
    first.fit(RunLog(tmp_path / "c", tensorboard=False), stop_after=3)
    resumed = _trainer(tmp_path / "c", random_vgg)
    resumed.load(tmp_path / "c" / "checkpoints" / "last.pt")
    resumed.fit(RunLog(tmp_path / "c", tensorboard=False))
    a = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "c" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_batches_reseed_the_first_grid_every_few_iterations(tmp_path, random_vgg):
    trainer = _trainer(tmp_path, random_vgg, reseed_every=2)
    trainer.pool.cells += 1.0  # every pooled grid "grown"
    odd = trainer.task.sample_batch(trainer.data, trainer.state(1))
    even = trainer.task.sample_batch(trainer.data, trainer.state(2))
    assert odd.cells[0].abs().sum() > 0 and even.cells[0].abs().sum() == 0
    assert 3 <= odd.steps <= 4


def test_evaluation_compares_with_the_seed(tmp_path, random_vgg):
    trainer = _trainer(tmp_path, random_vgg)
    result = trainer.task.evaluate(trainer.model, RunContext(tmp_path))
    assert set(result) == {"loss_seed", "loss_T", "loss_6_steps_16px", "overflow_T"}
    assert json.loads((tmp_path / "eval.json").read_text())["loss"] == "gram"
    assert (tmp_path / "eval.png").is_file()


@pytest.mark.parametrize("name", ["convca", "vitca", "unetca"])  # every built-in CA rule
def test_every_ca_rule_grows_a_texture(tmp_path, random_vgg, name):
    trainer = _trainer(tmp_path, random_vgg, rule=_rule(name), iterations=2, loss="ot")
    trainer.fit(RunLog(tmp_path, tensorboard=False))
    assert trainer.iteration == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rule", "unet"], "task 'texture' cannot train feedforward rule 'unet'"),
        (
            ["--rule", "vitca", "-o", "rule.patch_size=2x2"],
            "task 'texture' cannot train ca rule 'vitca': its cells are 2x2 pixel patches, the "
            "task needs one cell per pixel",
        ),
        (["--rule", "convca", "--target", "nowhere.png"], "neither a default texture"),
        (["--rule", "convca", "-o", "grid_size=8"], "grid_size must be >= 16"),
    ],
)
def test_bad_inputs_are_one_line(tmp_path, random_vgg, extra, message):
    args = ["train", "--task", "texture", *extra, "--vgg-weights", random_vgg]
    result = CliRunner().invoke(cli, [*args, "--run-dir", str(tmp_path / "r"), "-q"])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()


def test_cli_trains_and_analyzes(tmp_path, random_vgg):
    run = tmp_path / "run"
    args = ["train", "--rule", "convca", "--task", "texture", "--run-dir", str(run), "-q"]
    args += ["--vgg-weights", random_vgg, "--iterations", "2", "--grid-size", "16"]
    args += ["-o", "target_size=16", "-o", "steps_min=2", "-o", "steps_max=3"]
    args += ["-o", "eval_size=16", "-o", "eval_steps=4"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["rule"]["config"]
    assert config["padding"] == "circular" and config["hidden_channels"] == 9  # the article
    import numpy as np
    from PIL import Image

    for picture, rows in [(sorted((run / "samples").glob("iter_*.png"))[-1], 2),
                          (run / "eval.png", 3)]:  # fmt: skip
        pixels = np.asarray(Image.open(picture).convert("L"))
        assert pixels.shape[0] >= rows * 32, (picture, pixels.shape)  # rows, scaled up
        margin = pixels[:, :20]  # the labels' column, left of the pictures
        assert (margin < 100).any(), f"{picture} has no row labels"
    assert config["mlp_channels"] == 96 and config["input_channels"] == 0
    for experiment, options, files in [
        ("growth", ["-o", "steps=4", "-o", "every=2"], ["growth.gif", "frames.png"]),
        ("persistence", ["-o", "factor=2", "-o", "count=1"], ["frames.png"]),
    ]:
        out = tmp_path / experiment
        command = ["analyze", experiment, str(run), "--out", str(out), *options]
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, result.output
        assert all((out / f).is_file() for f in [*files, "results.json"])
    assert json.loads((tmp_path / "persistence" / "results.json").read_text())["marks"] == [3, 6]
