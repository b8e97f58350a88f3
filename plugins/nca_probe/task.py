"""The ``probe`` task: linear probing of frozen denoising-pretrained models (paper §4.2)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nca import (
    ImageModel,
    Losses,
    RunContext,
    Task,
    TrainState,
    barrier,
    create_task,
    default_image_size,
    derive_seed,
    find_checkpoint,
    get_rule_class,
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
from nca_probe.features import cache_key, cached, epoch_feature_seed, extract, tensor_digest


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
        per_epoch: The training features of the shard are recomputed every epoch
            (``features_per_epoch`` with a CA model); the other rows stay zero.
        epoch: The epoch whose features ``train_x`` holds (per-epoch only; ``None``:
            none computed yet).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: int
    shard: torch.Tensor
    from_cache: bool
    meta: dict
    per_epoch: bool = False
    epoch: int | None = None


@dataclass
class FrozenSource:
    """The model a probe reads.

    Attributes:
        checkpoint: The source checkpoint (``None``: raw pixels without a source).
        trained: The typed config of the denoise run that trained it (``None``: none).
        model: The frozen rule as an image model (``None``: raw pixels).
    """

    checkpoint: Path | None
    trained: Any
    model: ImageModel | None


@dataclass
class FeatureReading:
    """How the features are read: data, size, CA steps, and the cache.

    Attributes:
        dataset: Dataset probed.
        size: Image side.
        root: Data root.
        steps: CA steps of the extraction.
        cache_dir: Where features are cached (``None``: not cached).
        cache_key: Rule settings that are part of the cache key.
        tokens: ViT tokens probed (``None``: not a ViT choice).
        channels: Image channels the model was trained on (``None``: pixels).
        per_epoch: Training features are recomputed every epoch.
    """

    dataset: str
    size: int
    root: str
    steps: int
    cache_dir: Path | None
    cache_key: dict
    tokens: str | None
    channels: int | None
    per_epoch: bool


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
        "vit_features",
        "features_per_epoch",
    )
    cli_flags = {"source": "--from"}
    presets = {
        # the authors' release: CA features recomputed (fresh update masks) every epoch;
        # ViT tokens before the blocks (vit_features=auto: the rule's default, embedding)
        "paper": {"features_per_epoch": True},
        "quick": {"train_subset": 2000, "eval_subset": 500, "epochs": 5},
    }
    default_presets = {"cpu": "quick"}
    preset_descriptions = {
        "paper": (
            "full splits, the source's evaluation T (paper: 64), 10 epochs, CA features "
            "recomputed every epoch with fresh update masks (the authors' release)"
        ),
        "quick": "2,000 training and 500 test images, 5 epochs (CPU minutes)",
    }

    @classmethod
    def source_label(cls, config: ProbeConfig) -> str:
        if config.features == "pixels":
            return f"pixels-{config.classifier}"
        path = Path(config.source)
        return (path.parent.parent.name if path.suffix == ".pt" else path.name) or "model"

    def _trained_with(self) -> tuple[Path | None, Any]:
        """The source checkpoint and the typed config of the denoise run that wrote it
        (``(None, None)`` without a source)."""
        cfg = self.config
        if not cfg.source:
            return None, None
        checkpoint = find_checkpoint(cfg.source)
        stored = load_checkpoint(checkpoint).get("task") or {}
        if stored.get("name") != "denoise":
            raise ValueError(
                f"{checkpoint} was trained by task {stored.get('name')!r}; the probe reads "
                f"models pretrained with the denoise task (nca train --task denoise)"
            )
        return checkpoint, create_task("denoise", **stored.get("config", {})).config

    def _rule_overrides(self, checkpoint: Path, rule_name: str) -> dict:
        """Rule config values the probe sets on the source rule (``vit_features``)."""
        choice = self.config.vit_features
        if choice == "auto":
            return {}
        fields = {f.name for f in dataclasses.fields(get_rule_class(rule_name).config_class)}
        if "probe_tokens" not in fields:
            raise ValueError(
                f"vit_features={choice} chooses the tokens of a rule with a `probe_tokens` "
                f"setting (vit); the model in {checkpoint} is a {rule_name!r} rule, which "
                f"has none: use vit_features=auto"
            )
        return {"probe_tokens": choice}

    def _load_source(self, checkpoint: Path):
        """The source rule with its stored config, as :attr:`ProbeConfig.vit_features`
        adjusts it (stored weights unchanged)."""
        data = load_checkpoint(checkpoint)
        stored = data.get("rule") or {}
        overrides = self._rule_overrides(checkpoint, stored.get("name", ""))
        if overrides:
            data = {**data, "rule": {**stored, "config": {**stored["config"], **overrides}}}
        return load_rule(data)

    def validate(self) -> None:
        """Check the source before the run directory is created."""
        if self.config.gradient != "bptt" or self.config.compile or self.config.sparse_update:
            what = (
                "compile=true" if self.config.compile
                else "sparse_update=true" if self.config.sparse_update
                else f"gradient={self.config.gradient}"
            )  # fmt: skip
            raise ValueError(
                f"the probe task trains a linear classifier on frozen features: no rollout is "
                f"differentiated or compiled, so {what} would do nothing; leave it unset"
            )
        if self.config.features == "model":
            checkpoint, _ = self._trained_with()
            stored = load_checkpoint(checkpoint).get("rule") or {}
            if "name" in stored:
                self._rule_overrides(checkpoint, stored["name"])

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

        console = Console(quiet=not run.is_main, highlight=False)
        source = self._source(torch.device(run.device))
        reading = self._reading(source, run, console)
        splits, classes = {}, 0
        for split, subset in (
            ("train", self.config.train_subset),
            ("test", self.config.eval_subset),
        ):
            images, count = self._split_images(split, subset, reading, source)
            classes = max(classes, count)
            splits[split] = self._features(split, images, reading, source, run, console)
        self._data = self._probe_data(splits, classes, reading, source, run)
        return self._data

    def _source(self, device: torch.device) -> FrozenSource:
        """The frozen model to probe (``features=model``) with the settings it was trained
        with: its σ and its evaluation's fusion/mitosis octaves."""
        checkpoint, trained = self._trained_with()
        if self.config.features != "model":
            return FrozenSource(checkpoint, trained, None)
        rule = self._load_source(checkpoint).to(device)
        for param in rule.parameters():
            param.requires_grad_(False)
        model = ImageModel(
            rule,
            update_rate=trained.update_rate,
            octaves=trained.eval_octaves,
            octave_steps=trained.octave_steps,
        ).eval()
        return FrozenSource(checkpoint, trained, model)

    def _reading(self, source: FrozenSource, run: RunContext, console) -> FeatureReading:
        """What is read (data, size, steps) and where the features are cached."""
        cfg, trained, frozen = self.config, source.trained, source.model
        dataset = cfg.dataset or getattr(trained, "dataset", None) or "embedded-mnist"
        size = cfg.image_size or getattr(trained, "image_size", None) or default_image_size(dataset)
        root = cfg.data_root or getattr(trained, "data_root", None) or "data"
        steps = cfg.feature_steps or getattr(trained, "eval_steps", 64)
        cache_dir = run_dir_of(source.checkpoint) if frozen is not None else Path(run.run_dir)
        cache_dir = cache_dir / "probe_features"
        can_cache = frozen is not None and writable_folder(cache_dir)
        if frozen is not None and not can_cache:
            console.print(
                f"[yellow]{cache_dir} is not writable (a read-only source run): features are "
                f"computed without caching[/yellow]"
            )
        rule_config = getattr(getattr(frozen, "rule", None), "config", None)
        # ViT: which tokens are probed (part of the cache key; absent for other rules)
        tokens = getattr(rule_config, "probe_tokens", None)
        key = {} if tokens is None else {"rule_features": tokens}
        if frozen is not None and frozen.is_ca and frozen.octaves:  # part of the cache key
            key.update(octaves=frozen.octaves, octave_steps=frozen.octave_steps)
        return FeatureReading(
            dataset, size, root, steps, cache_dir if can_cache else None, key, tokens,
            getattr(rule_config, "image_channels", None),
            # CA models with features_per_epoch: training features recomputed every epoch
            cfg.features_per_epoch and frozen is not None and frozen.is_ca,
        )  # fmt: skip

    def _split_images(self, split: str, subset, reading: FeatureReading, source: FrozenSource):
        """The images of one split (its first ``subset``) and its number of classes."""
        name = self.config.eval_split if split == "test" else split
        full = load_images(reading.dataset, name, root=reading.root, download=self.config.download,
                           image_size=reading.size)  # fmt: skip
        if bool((full.labels < 0).any()):
            raise ValueError(
                f"{reading.dataset}'s {name} split has no labels (Tiny ImageNet's test images); "
                f"a probe needs them: use -o eval_split=val"
            )
        images = full.subset(subset, "train_subset" if split == "train" else "eval_subset")
        if reading.channels is not None and images.channels != reading.channels:
            raise ValueError(
                f"{reading.dataset} has {images.channels} channel(s) but the model in "
                f"{source.checkpoint} was trained on {reading.channels}; probe it on data like "
                f"its own"
            )
        return images, int(full.labels.max()) + 1  # classes from the whole split

    def _features(self, split, images, reading, source, run, console):
        """``(features, labels, from_cache, images)`` of one split."""
        cfg, frozen, device = self.config, source.model, torch.device(run.device)

        def compute():
            with progress_bar(
                f"{split} features", len(images), console=console, quiet=run.quiet
            ) as advance:
                feats = extract(frozen, lambda i: images.batch(i, device), len(images),
                                steps=reading.steps, pooled=cfg.pooled,
                                batch_size=cfg.feature_batch_size, device=device,
                                progress=advance)  # fmt: skip
            return feats, images.labels

        if reading.per_epoch and split == "train":
            return None, images.labels, False, images  # filled every epoch
        if reading.cache_dir is None:
            return (*compute(), False, images)
        key = cache_key(
            source.checkpoint, split=split, data=tensor_digest(images.images, images.labels),
            steps=reading.steps, pooled=cfg.pooled, update_rate=frozen.update_rate,
            device=device.type, **reading.cache_key,
        )  # fmt: skip
        path = reading.cache_dir / f"{split}-{key}.pt"
        if run.is_main:
            feats, labels, hit = cached(path, compute)
            if not hit and path.is_file():  # say where the source run grew, and by how much
                console.print(
                    f"{split} features cached in {path} ({path.stat().st_size / 2**20:.1f} MiB; "
                    f"later probes of this run reuse them; delete {path.parent} to free it)"
                )
        barrier()  # rank 0 wrote the cache; the other ranks read it
        if not run.is_main:
            feats, labels, hit = cached(path, compute)
        return feats, labels, hit, images

    def _probe_data(self, splits, classes, reading, source, run) -> ProbeData:
        train_x, train_y, hit, train_images = splits["train"]
        test_x, test_y, _, _ = splits["test"]
        if reading.per_epoch:  # this rank's rows are filled at the start of every epoch
            train_x = torch.zeros((len(train_y), test_x.shape[1]), dtype=torch.float16)
            device = torch.device(run.device)
            self._epoch_source = (source.model, train_images, reading.steps, device)
        # each rank trains on its own shard, all of one size (equal steps on every rank)
        usable = len(train_x) // run.world_size * run.world_size
        shard = torch.arange(run.rank, usable, run.world_size)
        frozen = source.model
        meta = {
            "model": self.source_label(self.config) if frozen is None else frozen.name,
            "source": str(source.checkpoint) if source.checkpoint else None,
            # a source still training moves on: the iteration its features come from
            "source_iteration": (
                load_checkpoint(source.checkpoint).get("iteration") if source.checkpoint else None
            ),
            "dataset": reading.dataset,
            "image_size": reading.size,
            **({} if reading.tokens is None else {"vit_features": reading.tokens}),
        }
        return ProbeData(train_x, train_y, test_x, test_y, classes, shard, hit, meta,
                         reading.per_epoch)  # fmt: skip

    def epoch_features(self, data: ProbeData, epoch: int, seed: int) -> None:
        """Recompute this rank's training features for ``epoch`` (``features_per_epoch``).

        Image ``i``'s update masks come from ``derive_seed(seed, "features/<epoch>", i)``
        (:func:`~nca_probe.features.epoch_feature_seed`): fresh every epoch, the same for
        a resumed run, and independent of the batch size and the number of ranks.
        """
        if not data.per_epoch or data.epoch == epoch:
            return
        frozen, images, steps, device = self._epoch_source
        shard = data.shard
        whole = len(shard) == len(data.train_x)  # one rank: fill train_x in place
        features = extract(
            frozen,
            lambda i: images.batch(shard[i], device),
            len(shard),
            steps=steps,
            pooled=self.config.pooled,
            batch_size=self.config.feature_batch_size,
            device=device,
            mask_seed=lambda i: epoch_feature_seed(seed, epoch, int(shard[i])),
            out=data.train_x if whole else None,
        )
        if not whole:
            data.train_x[shard] = features
        data.epoch = epoch

    def train_data(self, run: RunContext) -> ProbeData:
        return self._prepare(run)

    def describe(self, data: ProbeData) -> str:
        note = " (features from cache)" if data.from_cache else ""
        if data.per_epoch:
            note = " (training features recomputed every epoch)"
        return (
            f"{len(data.shard)} training features of size {data.train_x.shape[1]} "
            f"({data.meta['dataset']}), {self.config.epochs} epochs of batch "
            f"{self.config.batch_size}" + note
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
        function of the seed, ``e`` and the rank alone, so resume is exact); with
        ``features_per_epoch``, the epoch's features are computed first."""
        per_epoch = self._steps_per_epoch(data)
        epoch, position = divmod(state.iteration - 1, per_epoch)
        self.epoch_features(data, epoch, state.run.seed)
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
        train_x, train_y = data.train_x, data.train_y
        if data.per_epoch:  # the features of the last epoch trained on (this rank's)
            self.epoch_features(data, cfg.epochs - 1, run.seed)
            train_x, train_y = train_x[data.shard], train_y[data.shard]
        result = {
            **run.report_header(),
            **data.meta,
            "features": cfg.features,
            "pooled": cfg.pooled,
            "classifier": cfg.classifier,
            "feature_dim": int(data.train_x.shape[1]),
            "classifier_parameters": params,
            "train_images": len(data.train_x),
            "test_images": len(data.test_x),
            "train_accuracy": accuracy(model, train_x, train_y, device),
            "test_accuracy": accuracy(model, data.test_x, data.test_y, device),
            "features_from_cache": data.from_cache,
            "features_per_epoch": data.per_epoch,
        }
        table = Table(title="linear probe" if cfg.classifier == "linear" else "raw-pixel reference",
                      show_header=False)  # fmt: skip
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
        return {"test_accuracy": result["test_accuracy"], "classifier_parameters": params}
