"""``scripts/render_gallery.py`` draws the front page's gallery from a manifest of shipped
models: one-iteration runs of every task here (a manifest of its own), the viewer's
screenshot too where a chromium is installed. Models the manifest lacks are skipped
with a note; pictures of models that are gone are dropped from the page."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from nca import RunContext, RunLog, Trainer, create_rule, create_task
from nca.pretrained import (
    EvaluationRecord,
    PretrainedModel,
    TrainingRecord,
    file_sha256,
    write_manifest,
)
from nca.rules import get_rule_class
from tests.conftest import SMALL_RULE

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "render_gallery.py"
COMMON = dict(iterations=1, log_every=1, validate_every=100, checkpoint_every=100)
#: name -> (task, rule, task settings, evaluation numbers)
MODELS = {
    "lizard": ("grow", "convca", dict(target_size=8, target_padding=2, batch_size=2,
               pool_size=4, damage_count=1, steps_min=2, steps_max=3, eval_repeats=1),
               {"psnr_T": 12.5, "psnr_damaged": 9.0, "psnr_recovered": 11.0}),
    "digits": ("classify", "convca", dict(batch_size=4, pool_size=8, steps=2, image_size=16,
               validation_size=4, eval_steps=3), {"cell_accuracy_T": 40.0}),
    "texture": ("texture", "convca", dict(target_size=16, grid_size=16, eval_size=16,
                batch_size=1, pool_size=2, steps_min=2, steps_max=2, eval_steps=4),
                {"loss_T": 0.25}),
    "denoise-vitca": ("denoise", "vitca", dict(image_size=8, batch_size=2, steps_min=2,
                      steps_max=2, eval_steps=2, pool_size=4, train_subset=8, lpips="off"),
                      {"psnr": 11.0, "input_psnr": 8.0}),
}  # fmt: skip


def script():
    spec = importlib.util.spec_from_file_location("render_gallery", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["render_gallery"] = module  # dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


def tiny_model(name: str, folder: Path, vgg: str) -> PretrainedModel:
    """A one-iteration run of ``name``'s task, its checkpoint as a shipped model."""
    task_name, rule_name, settings, metrics = MODELS[name]
    extra = {"vgg_weights": vgg} if task_name == "texture" else {}
    task = create_task(task_name, **settings, **COMMON, **extra)
    fields = {f.name for f in dataclasses.fields(get_rule_class(rule_name).config_class)}
    wanted = task.rule_settings(fields)
    small = {k: v for k, v in SMALL_RULE.items() if k in fields and k not in wanted}
    torch.manual_seed(0)
    rule = create_rule(rule_name, **small, **wanted)
    run_dir = folder / "runs" / name
    Trainer(task, rule, RunContext(run_dir, seed=0, quiet=True)).fit(
        RunLog(run_dir, tensorboard=False)
    )
    weights = folder / "pack" / "weights" / f"{name}.pt"
    weights.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "checkpoints" / "last.pt", weights)
    return PretrainedModel(
        name=name, task=task_name, rule=rule_name, description=f"a tiny {task_name} model",
        training=TrainingRecord(command=f"nca train --task {task_name} --rule {rule_name}",
                                preset=None, seed=0, iterations=1),
        evaluation=EvaluationRecord(metrics, overrides={"eval_repeats": 1}),
        toolkit_version="0.1.0", file=weights.name, sha256=file_sha256(weights),
        size_bytes=weights.stat().st_size, placeholder=name == "lizard",
    )  # fmt: skip


@pytest.fixture(scope="module")
def pack(tmp_path_factory, random_vgg) -> tuple[Path, dict[str, PretrainedModel]]:
    """The folder of the weights (``weights/``) and the models, by name."""
    folder = tmp_path_factory.mktemp("gallery")
    return folder / "pack", {name: tiny_model(name, folder, random_vgg) for name in MODELS}


def manifest_of(pack, without: set[str] = frozenset()) -> Path:
    """The manifest of the pack's models but those in ``without``."""
    folder, models = pack
    chosen = [model for name, model in models.items() if name not in without]
    return write_manifest(folder / "manifest.json", chosen)


@pytest.mark.slow  # about 30 s on 2 busy cores: four runs trained, six pictures drawn
def test_the_gallery_is_drawn_from_the_shipped_models_only(pack, tmp_path, random_vgg, capsys):
    gallery, models = script(), pack[1]
    wanted = ["growth", "class-map", "mutation", "texture", "denoise"]
    if gallery.viewer_missing() is None:
        wanted.append("viewer")
    out = tmp_path / "gallery"
    args = ["--only", ",".join(wanted), "--out", str(out), "--vgg-weights", random_vgg,
            "--manifest", str(manifest_of(pack, without={"texture"}))]  # fmt: skip
    assert gallery.main(args) == 0
    printed = capsys.readouterr().out
    assert "note: skipping texture.gif: no shipped model 'texture'" in printed

    captions = json.loads((out / "captions.json").read_text())["pictures"]
    drawn = [p.file for p in gallery.PICTURES if p.key in wanted and p.key != "texture"]
    assert [entry["file"] for entry in captions] == drawn
    assert all((out / name).stat().st_size > 0 for name in drawn)
    snippet = (out / "gallery.md").read_text()
    for entry in captions:
        model = models[entry["model"]]
        assert f"](gallery/{entry['file']})" in snippet and entry["caption"] in snippet
        assert f"the shipped model `{model.name}` ({model.task}, {model.rule})" in entry["caption"]
        assert f"`{model.training.command}` (1 iteration on cpu, seed 0)" in entry["caption"]
        assert entry["drawn_by"] in entry["caption"] and entry["sha256"] == model.sha256
    growth = captions[0]["caption"]
    assert growth.startswith("**Placeholder model, barely trained.**")  # lizard is marked
    assert "PSNR at T 12.5 dB; cut: 9.0 dB" in growth and "eval_repeats=1" in growth

    # the texture is shipped now; digits is gone: its pictures are dropped, the rest kept
    args = ["--only", "texture", "--out", str(out), "--vgg-weights", random_vgg,
            "--manifest", str(manifest_of(pack, without={"digits"}))]  # fmt: skip
    assert gallery.main(args) == 0
    kept = [entry["file"] for entry in json.loads((out / "captions.json").read_text())["pictures"]]
    gone = ("class-map.gif", "mutation.png")
    assert kept == [p.file for p in gallery.PICTURES if p.key in wanted and p.file not in gone]
    assert not any((out / name).exists() for name in gone)
    assert "class-map" not in (out / "gallery.md").read_text()
    assert "style loss at T 0.25" in (out / "gallery.md").read_text()


def test_an_unknown_picture_is_refused(capsys):
    with pytest.raises(SystemExit):
        script().main(["--only", "lizard"])
    assert "no picture 'lizard'; pictures: growth, class-map" in capsys.readouterr().err
