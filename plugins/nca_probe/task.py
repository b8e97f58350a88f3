"""The ``probe`` task: linear probing of frozen denoising-pretrained models (paper §4.2)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from nca import (
    PAPER_UPDATE_RATE,
    ImageModel,
    Losses,
    RunContext,
    Task,
    TrainState,
    barrier,
    default_image_size,
    derive_seed,
    find_checkpoint,
    load_checkpoint,
    load_images,
    load_rule,
    make_generator,
    progress_bar,
    run_dir_of,
    writable_folder,
)
from nca_probe.classifier import accuracy, make_classifier
from nca_probe.config import ProbeConfig
from nca_probe.features import cache_key, cached, extract, tensor_digest


@dataclass
class ProbeData:
    """Features and labels of both splits (float16 features, on the CPU).

    Attributes:
        train_x: ``(N, F)`` training features.
        train_y: ``(N,)`` labels.
        test_x: ``(M, F)`` test features.
        test_y: ``(M,)`` labels.
        classes: Number of classes (from the whole splits).
        shard: Indices of the training features this rank trains on (all of them
            without torchrun).
        from_cache: The training features came from the cache.
        meta: What was probed (model, dataset, image size, source checkpoint).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: int
    shard: torch.Tensor
    from_cache: bool
    meta: dict


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

    streams = {"data": "cpu"}

    # ----------------------------------------------------------------- data
    def _prepare(self, run: RunContext) -> ProbeData:
        """Features of both splits: extracted on rank 0 into the cache next to the
        source run, read back by the other ranks (pixels: computed everywhere)."""
        if getattr(self, "_data", None) is not None:
            return self._data
        from rich.console import Console

        cfg = self.config
        console = Console(quiet=not run.is_main, highlight=False)
        device = torch.device(run.device)
        checkpoint, trained = self._trained_with()
        frozen = None
        if cfg.features == "model":
            rule = load_rule(load_checkpoint(checkpoint), map_location=device).to(device)
            for param in rule.parameters():
                param.requires_grad_(False)
            frozen = ImageModel(
                rule,
                update_rate=float(trained.get("update_rate", PAPER_UPDATE_RATE)),
            ).eval()
        dataset = cfg.dataset or trained.get("dataset") or "embedded-mnist"
        size = cfg.image_size or trained.get("image_size") or default_image_size(dataset)
        root = cfg.data_root or trained.get("data_root") or "data"
        steps = cfg.feature_steps or int(trained.get("eval_steps", 64))
        cache_dir = run_dir_of(checkpoint) if frozen is not None else Path(run.run_dir)
        cache_dir = cache_dir / "probe_features"
        can_cache = writable_folder(cache_dir)
        if frozen is not None and not can_cache:
            console.print(
                f"[yellow]{cache_dir} is not writable (a read-only source run): features are "
                f"computed without caching[/yellow]"
            )
        channels = getattr(getattr(frozen, "rule", None), "config", None)
        channels = getattr(channels, "image_channels", None)

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
                        pooled=cfg.pooled,
                        batch_size=cfg.feature_batch_size,
                        device=device,
                        progress=advance,
                    )
                return feats, images.labels

            if frozen is None or not can_cache:
                feats, labels = compute()
                hit = False
            else:
                key = cache_key(
                    checkpoint,
                    split=split,
                    data=tensor_digest(images.images, images.labels),
                    steps=steps,
                    pooled=cfg.pooled,
                    update_rate=frozen.update_rate,
                    device=device.type,
                )
                path = cache_dir / f"{split}-{key}.pt"
                if run.is_main:
                    feats, labels, hit = cached(path, compute)
                barrier()  # rank 0 wrote the cache; the other ranks read it
                if not run.is_main:
                    feats, labels, hit = cached(path, compute)
            splits[split] = (feats, labels, hit)

        train_x, train_y, hit = splits["train"]
        # each rank trains on its own shard, all of one size (equal steps on every rank)
        usable = len(train_x) // run.world_size * run.world_size
        shard = torch.arange(run.rank, usable, run.world_size)
        meta = {
            "model": self.source_label(cfg) if frozen is None else frozen.name,
            "source": str(checkpoint) if checkpoint else None,
            "dataset": dataset,
            "image_size": size,
        }
        self._data = ProbeData(train_x, train_y, *splits["test"][:2], classes, shard, hit, meta)
        return self._data

    def train_data(self, run: RunContext) -> ProbeData:
        return self._prepare(run)

    def describe(self, data: ProbeData) -> str:
        return (
            f"{len(data.shard)} training features of size {data.train_x.shape[1]} "
            f"({data.meta['dataset']}), {self.config.epochs} epochs of batch "
            f"{self.config.batch_size}" + (" (features from cache)" if data.from_cache else "")
        )

    def build_model(self, rule, run: RunContext):
        if rule is not None:
            self.check_rule(rule)
        data = self._prepare(run)
        torch.manual_seed(run.seed)  # the classifier's initial weights
        return make_classifier(self.config.classifier, data.train_x.shape[1], data.classes)

    # ------------------------------------------------------------- training
    def _steps_per_epoch(self, data: ProbeData) -> int:
        return math.ceil(len(data.shard) / self.config.batch_size)

    def total_iterations(self, data: ProbeData) -> int:
        return self.config.epochs * self._steps_per_epoch(data)

    def sample_batch(self, data: ProbeData, state: TrainState):
        """Shuffled mini-batches, a new order each epoch (the order of epoch ``e`` is a
        function of the seed, ``e`` and the rank alone, so resume is exact)."""
        per_epoch = self._steps_per_epoch(data)
        epoch, position = divmod(state.iteration - 1, per_epoch)
        if getattr(self, "_epoch", None) != epoch:
            seed = derive_seed(state.run.seed, "probe-epoch", epoch, state.run.rank)
            order = torch.randperm(len(data.shard), generator=make_generator(seed))
            self._order, self._epoch = data.shard[order], epoch
        b = self.config.batch_size
        index = self._order[position * b : (position + 1) * b]
        x = data.train_x[index].to(device=state.device, dtype=torch.float32)  # float16 storage
        return x, data.train_y[index].to(state.device)

    def objective(self, model, batch, state: TrainState) -> Losses:
        x, y = batch
        return Losses(torch.nn.functional.cross_entropy(model(x), y))

    # ----------------------------------------------------------- evaluation
    def evaluate(self, model, run: RunContext):
        from rich.console import Console
        from rich.table import Table

        cfg = self.config
        data = self._prepare(run)
        device = torch.device(run.device)
        params = sum(p.numel() for p in model.parameters())
        result = {
            **data.meta,
            "features": cfg.features,
            "pooled": cfg.pooled,
            "classifier": cfg.classifier,
            "feature_dim": int(data.train_x.shape[1]),
            "classifier_parameters": params,
            "train_images": len(data.train_x),
            "test_images": len(data.test_x),
            "train_accuracy": accuracy(model, data.train_x, data.train_y, device),
            "test_accuracy": accuracy(model, data.test_x, data.test_y, device),
            "features_from_cache": data.from_cache,
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
        Console(quiet=not run.is_main, highlight=False).print(table)
        if run.is_main:
            path = run.report_path("probe.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2) + "\n")
        return {"test_accuracy": result["test_accuracy"], "classifier_parameters": float(params)}
