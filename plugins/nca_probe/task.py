"""The ``probe`` task: linear probing of frozen denoising-pretrained models (paper §4.2)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from nca import (
    RunContext,
    Task,
    default_image_size,
    find_checkpoint,
    load_checkpoint,
    load_images,
    load_rule,
    make_generator,
    progress_bar,
    run_dir_of,
)
from nca_probe.classifier import accuracy, make_classifier, train_classifier
from nca_probe.config import ProbeConfig
from nca_probe.features import cache_key, cached, extract, tensor_digest


class ProbeTask(Task):
    """Linear probe of a frozen denoising-pretrained model, or raw-pixel references."""

    name = "probe"
    config_class = ProbeConfig
    requires_rule = False
    cli_options = (
        "source",
        "features",
        "classifier",
        "pooled",
        "dataset",
        "data_root",
        "download",
        "image_size",
        "train_subset",
        "eval_subset",
        "epochs",
    )
    cli_flags = {"source": "--from"}
    presets = {
        "paper": {},
        "quick": {"train_subset": 2000, "eval_subset": 500, "epochs": 5},
    }
    default_presets = {"cpu": "quick"}
    preset_descriptions = {
        "paper": "full splits, the source's evaluation T (paper: 64), 10 epochs",
        "quick": "2,000 training and 500 test images, 5 epochs (CPU minutes)",
    }

    @classmethod
    def source_label(cls, config: ProbeConfig) -> str:
        if config.features == "pixels":
            return f"pixels-{config.classifier}"
        path = Path(config.source)
        return (path.parent.parent.name if path.suffix == ".pt" else path.name) or "model"

    def _trained_with(self) -> tuple[Path | None, dict]:
        """The source checkpoint and the denoise settings it was trained with."""
        cfg = self.config
        if not cfg.source:
            return None, {}
        checkpoint = find_checkpoint(cfg.source)
        data = load_checkpoint(checkpoint)
        stored = data.get("task") or {}
        if stored.get("name") != "denoise":
            raise ValueError(
                f"{checkpoint} was trained by task {stored.get('name')!r}; the probe reads "
                f"models pretrained with the denoise task (nca train --task denoise)"
            )
        return checkpoint, stored.get("config", {})

    def validate(self) -> None:
        """Check the source before the run directory is created."""
        if self.config.features == "model":
            self._trained_with()

    def check_rule(self, rule) -> None:
        raise ValueError("the probe task takes its model from --from RUN_OR_CHECKPOINT, not --rule")

    def train(self, rule, run: RunContext):
        from rich.console import Console
        from rich.table import Table

        if rule is not None:
            self.check_rule(rule)
        if not run.is_main:  # a probe is cheap: rank 0 does it, the other ranks wait
            return {}
        cfg = self.config
        console = Console(quiet=not run.is_main, highlight=False)
        device = torch.device(run.device)
        checkpoint, trained = self._trained_with()
        frozen = None
        if cfg.features == "model":
            frozen = load_rule(load_checkpoint(checkpoint), map_location=device).to(device)
            for param in frozen.parameters():
                param.requires_grad_(False)
        dataset = cfg.dataset or trained.get("dataset") or "embedded-mnist"
        size = cfg.image_size or trained.get("image_size") or default_image_size(dataset)
        root = cfg.data_root or trained.get("data_root") or "data"
        update_rate = float(trained.get("update_rate", 0.5))
        steps = cfg.feature_steps or int(trained.get("eval_steps", 64))
        cache_dir = run_dir_of(checkpoint) if frozen is not None else Path(run.run_dir)
        cache_dir = cache_dir / "probe_features"
        channels = getattr(getattr(frozen, "config", None), "image_channels", None)

        splits, classes = {}, 0
        for split, subset in (("train", cfg.train_subset), ("test", cfg.eval_subset)):
            full = load_images(dataset, split, root=root, download=cfg.download, image_size=size)
            classes = max(classes, int(full.labels.max()) + 1)  # from the whole split
            images = full.subset(subset)
            if channels is not None and images.channels != channels:
                raise ValueError(
                    f"{dataset} has {images.channels} channel(s) but the model in "
                    f"{checkpoint} was trained on {channels}; probe it on data like its own"
                )

            def compute(images=images, split=split):
                with progress_bar(
                    f"{split} features", len(images), console=console, quiet=run.quiet
                ) as advance:
                    feats = extract(
                        frozen,
                        lambda i: images.batch(i, device),
                        len(images),
                        steps=steps,
                        update_rate=update_rate,
                        pooled=cfg.pooled,
                        batch_size=cfg.feature_batch_size,
                        device=device,
                        progress=advance,
                    )
                return feats, images.labels

            if frozen is None:
                feats, labels = compute()
                hit = False
            else:
                key = cache_key(
                    checkpoint,
                    split=split,
                    data=tensor_digest(images.images, images.labels),
                    steps=steps,
                    pooled=cfg.pooled,
                    update_rate=update_rate,
                    batch=cfg.feature_batch_size,
                    device=device.type,
                )
                feats, labels, hit = cached(cache_dir / f"{split}-{key}.pt", compute)
            splits[split] = (feats, labels, hit)

        train_x, train_y, hit = splits["train"]
        test_x, test_y, _ = splits["test"]
        torch.manual_seed(run.seed)
        classifier = make_classifier(cfg.classifier, train_x.shape[1], classes)
        params = sum(p.numel() for p in classifier.parameters())
        steps = cfg.epochs * -(-len(train_x) // cfg.batch_size)
        with progress_bar(
            f"training {cfg.classifier}", steps, console=console, quiet=run.quiet
        ) as advance:
            losses = train_classifier(
                classifier,
                train_x,
                train_y,
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                weight_decay=cfg.weight_decay,
                generator=make_generator(run.seed),
                device=device,
                progress=advance,
            )
        result = {
            "model": self.source_label(cfg) if frozen is None else frozen.rule_name,
            "source": str(checkpoint) if checkpoint else None,
            "features": cfg.features,
            "pooled": cfg.pooled,
            "classifier": cfg.classifier,
            "dataset": dataset,
            "image_size": size,
            "feature_dim": int(train_x.shape[1]),
            "classifier_parameters": params,
            "train_images": len(train_x),
            "test_images": len(test_x),
            "train_accuracy": accuracy(classifier, train_x, train_y, device),
            "test_accuracy": accuracy(classifier, test_x, test_y, device),
            "final_loss": losses[-1],
            "features_from_cache": hit,
        }
        table = Table(title="linear probe" if cfg.classifier == "linear" else "raw-pixel reference")
        for key in (
            "model",
            "classifier",
            "dataset",
            "feature_dim",
            "classifier_parameters",
            "test_accuracy",
            "train_accuracy",
        ):
            table.add_row(
                key, f"{result[key]:.2f}" if isinstance(result[key], float) else str(result[key])
            )
        console.print(table)
        if run.is_main:
            path = Path(run.run_dir) / "probe.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2) + "\n")
        return {"test_accuracy": result["test_accuracy"], "classifier_parameters": float(params)}

    def evaluate(self, checkpoint: Path, run: RunContext):
        raise ValueError(
            "the probe task evaluates as it trains: its results are in the run's probe.json"
        )
