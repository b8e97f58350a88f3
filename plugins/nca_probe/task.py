"""The ``probe`` task: linear probing of frozen denoising-pretrained models (paper §4.2)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from nca_denoise.data import default_image_size, load_images

from nca import RunContext, Task, find_checkpoint, load_checkpoint, load_rule, make_generator
from nca_probe.classifier import accuracy, make_classifier, train_classifier
from nca_probe.config import ProbeConfig
from nca_probe.features import cache_key, cached, extract


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
        "quick": {"train_subset": 2000, "eval_subset": 500, "epochs": 5, "feature_steps": 32},
    }
    default_presets = {"cpu": "quick"}
    preset_descriptions = {
        "paper": "full splits, T = 64 feature steps, 10 epochs",
        "quick": "2,000 training and 500 test images, T = 32, 5 epochs (CPU minutes)",
    }

    @classmethod
    def source_label(cls, config: ProbeConfig) -> str:
        return "pixels" if config.features == "pixels" else Path(config.source).stem or "model"

    def _source(self, device):
        """The frozen rule, its checkpoint path and the denoise settings it was trained with."""
        cfg = self.config
        if cfg.features == "pixels":
            return None, None, {}
        checkpoint = find_checkpoint(cfg.source)
        data = load_checkpoint(checkpoint)
        rule = load_rule(data, map_location=device).to(device)
        for param in rule.parameters():
            param.requires_grad_(False)
        return rule, checkpoint, (data.get("task") or {}).get("config", {})

    def train(self, rule, run: RunContext):
        from rich.console import Console
        from rich.table import Table

        if rule is not None:
            raise ValueError(
                "the probe task takes its model from --from RUN_OR_CHECKPOINT, not --rule"
            )
        cfg = self.config
        console = Console(quiet=not run.is_main, highlight=False)
        device = torch.device(run.device)
        frozen, checkpoint, trained = self._source(device)
        dataset = cfg.dataset or trained.get("dataset") or "embedded-mnist"
        size = cfg.image_size or trained.get("image_size") or default_image_size(dataset)
        update_rate = float(trained.get("update_rate", 0.5))
        cache_dir = (
            Path(run.run_dir) if checkpoint is None else checkpoint.parent.parent
        ) / "probe_features"

        splits = {}
        for split, subset in (("train", cfg.train_subset), ("test", cfg.eval_subset)):
            images = load_images(
                dataset, split, root=cfg.data_root, download=cfg.download, image_size=size
            ).subset(subset)

            def compute(images=images, split=split):
                with _bar(console, f"{split} features", len(images), run.quiet) as advance:
                    feats = extract(
                        frozen,
                        lambda i: images.batch(i, device),
                        len(images),
                        steps=cfg.feature_steps,
                        update_rate=update_rate,
                        pooled=cfg.pooled,
                        batch_size=cfg.feature_batch_size,
                        device=device,
                        progress=advance,
                    )
                return feats, images.labels

            if checkpoint is None:
                feats, labels = compute()
                hit = False
            else:
                key = cache_key(
                    checkpoint,
                    dataset=dataset,
                    split=split,
                    size=size,
                    count=len(images),
                    steps=cfg.feature_steps,
                    pooled=cfg.pooled,
                    update_rate=update_rate,
                )
                feats, labels, hit = cached(cache_dir / f"{split}-{key}.pt", compute)
            splits[split] = (feats, labels, hit)

        train_x, train_y, hit = splits["train"]
        test_x, test_y, _ = splits["test"]
        classes = int(max(train_y.max(), test_y.max())) + 1
        torch.manual_seed(run.seed)
        classifier = make_classifier(cfg.classifier, train_x.shape[1], classes)
        params = sum(p.numel() for p in classifier.parameters())
        steps = cfg.epochs * -(-len(train_x) // cfg.batch_size)
        with _bar(console, f"training {cfg.classifier}", steps, run.quiet) as advance:
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


class _bar:
    """A rich progress bar yielding ``advance(n)``; a no-op when quiet or not a terminal."""

    def __init__(self, console, label: str, total: int, quiet: bool) -> None:
        import sys

        self.enabled = not quiet and sys.stdout.isatty()
        self.console, self.label, self.total = console, label, total

    def __enter__(self):
        if not self.enabled:
            return lambda n=1: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.progress = Progress(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.progress.__enter__()
        task = self.progress.add_task(self.label, total=self.total)
        return lambda n=1: self.progress.advance(task, n)

    def __exit__(self, *exc):
        if self.enabled:
            self.progress.__exit__(*exc)
        return False
