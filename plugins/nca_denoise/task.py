"""The ``denoise`` task: denoising autoencoding (paper §3.1, §4.1, Algorithm 1, Table 1)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from nca import (
    ImageModel,
    ImageSet,
    Losses,
    RuleNeeds,
    RunContext,
    ShufflePool,
    Task,
    TrainState,
    Validation,
    check_fits_in_memory,
    check_octaves_fit,
    dataset_source,
    fixed_point_metrics,
    fixed_point_penalty,
    image_overflow,
    load_images,
    make_generator,
    octave_plan,
    progress_bar,
    psnr,
    readable_scale,
    save_grid,
)
from nca_denoise.config import DenoiseConfig
from nca_denoise.evaluation import PROTOCOLS, EvalResult, evaluate_model
from nca_denoise.masking import CONFIGURATIONS, Curriculum, mask_images
from nca_denoise.metrics import LPIPS_MIN_SIZE, LpipsUnavailable, load_lpips


@dataclass
class DenoiseData:
    """The task's data on this rank.

    Attributes:
        train: This rank's training images (its shard under torchrun).
        validation: Images of the periodic validation (the ``val`` split where the
            dataset has one, else ``test``, as in the release).
        curriculum: The masking curriculum the batches draw their noise from.
    """

    train: ImageSet
    validation: ImageSet
    curriculum: Curriculum


@dataclass
class DenoiseBatch:
    """One iteration's batch (Alg. 1 lines 4-17).

    Attributes:
        inputs: Masked images ``(b, C, H, W)``, or pool grids ``(b, C_cell, H', W')``.
        targets: Clean images ``(b, C, H, W)``.
        steps: Rollout length ``T`` (0 for feed-forward rules).
        from_pool: ``inputs`` are pool grids.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    steps: int
    from_pool: bool


def _console(silent: bool):
    """Console for tables and notes; ``silent`` on non-main ranks only (``--quiet`` only
    hides progress bars)."""
    from rich.console import Console

    return Console(quiet=silent, highlight=False)


class DenoiseTask(Task):
    """Denoising autoencoding with the paper's masking curriculum and pool training."""

    name = "denoise"
    config_class = DenoiseConfig
    cli_options = (
        "dataset",
        "data_root",
        "download",
        "image_size",
        "iterations",
        "batch_size",
        "train_subset",
        "eval_subset",
        "eval_steps",
        "lpips",
        "lpips_weights",
        "bf16",
    )
    presets = {
        # the paper's numbers are the config defaults; this preset adds the protocol of
        # the authors' release where the paper is silent or differs (docs/reproducing.md)
        "paper": {
            "lpips": "on",
            "eval_protocol": "authors",
            "eval_checkpoint": "best",
            "batch_sampling": "iid",
            "curriculum_order": "release",
            "coverage": "bernoulli",
            "octave_steps": "coarsest",
            "rule": {
                "*": {"init": "pytorch", "pos_embedding_std": 1.0},
                "unetca": {"zero_last_layer": False},
            },
        },
        # CPU: 16x16 images, short rollouts, a small evaluation; ~3 minutes on 2 cores (MNIST)
        "quick": {
            "image_size": 16,
            "iterations": 600,
            "batch_size": 16,
            "steps_min": 8,
            "steps_max": 16,
            "eval_steps": 32,
            "pool_size": 256,
            "curriculum_start": 50,
            "curriculum_end": 500,
            "eval_subset": 100,
            "validate_every": 200,
            "checkpoint_every": 200,
            "log_every": 25,
            "validation_size": 32,
            "lpips": "off",
        },
    }
    default_presets = {"cpu": "quick"}
    #: data order and T, noise masks, CA update masks (on the device)
    streams = {"data": "cpu", "mask": "cpu", "steps": "device"}
    best_metric = ("reconstruction", "min")
    preset_descriptions = {
        "paper": "the paper's settings (32x32, 100K iterations of batch 32, T ~ U{8,32}, "
        "LPIPS) with the authors' release's protocol: its test loop and PSNR, best "
        "checkpoint, i.i.d. batches, curriculum order, Bernoulli masks, PyTorch init",
        "quick": "16x16 images, 600 iterations of batch 16, small evaluation: about 3-5 minutes "
        "for the default digits on 2 CPU cores",
    }

    # ------------------------------------------------------------ the rule
    def rule_needs(self) -> RuleNeeds:
        """The dataset's channels in and out, at the image size."""
        channels = dataset_source(self.config.dataset).channels()
        size = (self.config.image_size, self.config.image_size)
        return RuleNeeds(input_channels=channels, output_channels=channels, image_size=size)

    def check_rule(self, rule) -> None:
        """Also: the cell grid (pixels / patch size) holds the fusion/mitosis octaves."""
        super().check_rule(rule)
        most = max(self.config.octaves, self.config.eval_octaves)
        layout = getattr(rule, "layout", None)
        if most and layout is not None:  # cells are patches of pixels
            p_h, p_w = layout.patch_size
            check_octaves_fit((self.config.image_size // p_h, self.config.image_size // p_w), most)

    def validate(self) -> None:
        """Fail before the run directory exists: unknown or missing dataset, fusion/mitosis
        octaves that the image size or the shortest rollout cannot hold."""
        cfg = self.config
        source = dataset_source(cfg.dataset)
        # a float32 batch of one-channel images is the least a step holds (the cell grid
        # and the activations are larger still): catches sizes that can never fit
        check_fits_in_memory(
            max(cfg.batch_size, cfg.eval_batch_size) * cfg.image_size**2 * 4,
            f"a batch of {max(cfg.batch_size, cfg.eval_batch_size)} images of "
            f"{cfg.image_size}x{cfg.image_size}",
            "lower --image-size or --batch-size / eval_batch_size",
        )
        source.check(root=cfg.data_root, download=cfg.download, image_size=cfg.image_size)
        if cfg.eval_split not in source.splits:
            raise ValueError(
                f"eval_split={cfg.eval_split} but {cfg.dataset} has no such split; valid: "
                f"{', '.join(s for s in source.splits if s != 'train')}"
            )
        for octaves, steps, what in (
            (cfg.octaves, cfg.steps_min, "raise steps_min or lower octaves"),
            (cfg.eval_octaves, cfg.eval_steps, "raise eval_steps or lower eval_octaves"),
        ):
            if octaves:
                try:
                    octave_plan(steps, octaves, cfg.octave_steps)
                except ValueError as err:
                    raise ValueError(f"{err}; {what}") from None
                check_octaves_fit((cfg.image_size, cfg.image_size), octaves)

    # ------------------------------------------------------------- helpers
    def _lpips(self, device):
        if self.config.lpips == "off":
            return None, "LPIPS off"
        smallest = LPIPS_MIN_SIZE[self.config.lpips_net]
        if self.config.image_size < smallest:
            message = (
                f"LPIPS-{self.config.lpips_net} needs images of at least {smallest}x{smallest} "
                f"(its backbone pools them away), got {self.config.image_size}"
            )
            if self.config.lpips == "on":
                raise ValueError(message + "; set lpips=off or a larger image_size")
            return None, f"LPIPS skipped: {message}"
        try:
            model = load_lpips(self.config.lpips_net, self.config.lpips_weights or None, device)
            return model, None
        except LpipsUnavailable as err:
            if self.config.lpips == "on":
                raise
            return None, f"LPIPS skipped: {err}"

    def _split(self, split: str):
        cfg = self.config
        return load_images(
            cfg.dataset, split, root=cfg.data_root, download=cfg.download, image_size=cfg.image_size
        )

    @cached_property
    def validation_images(self) -> ImageSet:
        """The first ``validation_size`` images of the validation split."""
        return self._split(self._validation_split()).subset(
            self.config.validation_size, "validation_size"
        )

    def _validation_split(self) -> str:
        """``val`` where the dataset has one (Tiny ImageNet), else ``test`` (the release)."""
        return "val" if "val" in dataset_source(self.config.dataset).splits else "test"

    def _evaluate(self, model: ImageModel, run: RunContext, console) -> EvalResult:
        cfg = self.config
        test = self._split(cfg.eval_split).subset(cfg.eval_subset, "eval_subset")
        lpips_model, note = self._lpips(run.device)
        quiet = run.quiet or not run.is_main
        if cfg.eval_protocol == "full":
            label = f"evaluating {len(test)} {cfg.eval_split} images x {len(CONFIGURATIONS)} noise"
            total = len(test) * len(CONFIGURATIONS)
        else:
            label = f"evaluating {len(test)} {cfg.eval_split} images (authors' protocol)"
            total = len(test)
        octaves = cfg.eval_octaves if model.is_ca else 0
        with progress_bar(label, total, console=console, quiet=quiet, unit="images") as advance:
            result = evaluate_model(
                model,
                test,
                protocol=cfg.eval_protocol,
                steps=cfg.eval_steps,
                octaves=octaves,
                batch_size=cfg.eval_batch_size,
                authors_batch_size=cfg.authors_batch_size,
                device=run.device,
                lpips_model=lpips_model,
                noise_per_patch=cfg.noise_per_patch,
                coverage=cfg.coverage,
                progress=advance,
            )
        steps = ""
        if model.is_ca:
            steps = f", {cfg.eval_steps} CA steps at σ = {model.update_rate}"
            if octaves:
                steps += f" with {octaves} octave(s) of fusion/mitosis ({cfg.octave_steps})"
        batches = ""
        if cfg.eval_protocol == "authors":
            batches = f", {sum(result.batches.values())} batches of {cfg.authors_batch_size}"
        result.notes.append(
            f"{len(test)} {cfg.eval_split} images of {cfg.dataset} at "
            f"{cfg.image_size}x{cfg.image_size}"
            + steps
            + batches
            + (f"; LPIPS-{cfg.lpips_net}" if lpips_model else "")
        )
        if note:
            result.notes.append(note)
        return result

    def _report(self, result: EvalResult, run: RunContext, console, name: str) -> Path | None:
        from rich.table import Table

        metrics = list(next(iter(result.rows.values())))
        protocol = result.protocol
        table = Table(
            title=f"denoising evaluation: {name} ({protocol} protocol: {PROTOCOLS[protocol]})"
        )
        table.add_column("noise", style="bold")
        if result.batches is not None:
            table.add_column("batches", justify="right")
        for key in ("psnr", "ssim", "lpips"):
            if key in metrics:
                table.add_column(f"{key.upper()} out", justify="right")
                table.add_column(f"{key.upper()} in", justify="right")
        headline = "mean" if result.batches is None else "mean over batches"
        for config, row in [*result.rows.items(), (headline, result.mean())]:
            cells = []
            if result.batches is not None:
                cells.append(str(result.batches.get(config, sum(result.batches.values()))))
            for key in ("psnr", "ssim", "lpips"):
                if key in metrics:
                    digits = 2 if key == "psnr" else 3
                    cells += [f"{row[key]:.{digits}f}", f"{row['input_' + key]:.{digits}f}"]
            table.add_row(config, *cells)
        console.print(table)
        for note in result.notes:
            console.print(f"[dim]{note}[/dim]")
        if not run.is_main:
            return None
        path = run.report_path("eval.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    **run.report_header(),
                    "protocol": result.protocol,
                    "protocol_description": PROTOCOLS[result.protocol],
                    "split": self.config.eval_split,
                    "authors_batch_size": self.config.authors_batch_size
                    if result.protocol == "authors"
                    else None,
                    "batches": result.batches,
                    "rows": result.rows,
                    "mean": result.mean(),
                    "notes": result.notes,
                    "lpips_net": self.config.lpips_net,
                },
                indent=2,
            )
            + "\n"
        )
        return path

    # ------------------------------------------------------- analysis hooks
    def analysis_images(self, count: int):
        test = self._split("test").subset(count, "--count")
        return test.batch(torch.arange(len(test))), test.labels

    def _first_test_images(self, count: int):
        """Up to ``count`` test images and labels (fewer, quietly, on a small split)."""
        test = self._split("test")
        index = torch.arange(min(count, len(test)))
        return test.batch(index), test.labels[index]

    def corrupt(self, images, patch, coverage, generator):
        cfg = self.config
        return mask_images(
            images,
            (tuple(patch), coverage),
            generator,
            noise_per_patch=cfg.noise_per_patch,
            coverage_mode=cfg.coverage,
        )

    def playground(self, model):
        """A live grid denoising one of the first 16 test images (``nca play``)."""
        from nca_denoise.play import DenoisePlayground

        if getattr(model, "automaton", None) is None:
            raise ValueError(
                f"rule {model.name!r} is feed-forward: it has no grid to play with "
                f"(nca play needs a CA rule)"
            )
        images, labels = self._first_test_images(16)
        device = next(model.parameters()).device
        return DenoisePlayground(model, images.to(device), labels, self.corrupt)

    # ------------------------------------------------------------- training
    def train_data(self, run: RunContext) -> DenoiseData:
        cfg = self.config
        if cfg.lpips == "on":  # fail before training, not after
            self._lpips("cpu")
        train = self._split("train").subset(cfg.train_subset, "train_subset")
        if not cfg.augment:
            train = dataclasses.replace(train, random_crop=False, flips="none")
        if len(train) < cfg.batch_size:
            raise ValueError(
                f"the training set has {len(train)} images, fewer than batch_size {cfg.batch_size}"
            )
        if run.world_size > 1:
            train = train.shard(run.rank, run.world_size)
        validation = self.validation_images
        curriculum = Curriculum(
            cfg.curriculum_start, cfg.curriculum_end, cfg.curriculum, cfg.curriculum_order
        )
        return DenoiseData(train, validation, curriculum)

    def describe(self, data: DenoiseData) -> str:
        cfg = self.config
        return (
            f"{len(data.train)} training images ({cfg.dataset}, "
            f"{cfg.image_size}x{cfg.image_size}), {cfg.iterations} iterations of batch "
            f"{cfg.batch_size}"
        )

    def make_pool(self, model: ImageModel, data: DenoiseData, generator) -> ShufflePool | None:
        if model.is_ca and self.config.pool_size:
            return ShufflePool(
                self.config.pool_size,
                generator=generator,
                replace_sampled=self.config.pool_replace_sampled,
            )
        return None

    def sample_batch(self, data: DenoiseData, state: TrainState) -> DenoiseBatch:
        """Alg. 1 lines 4-13: a batch of images (a random contiguous slice, i.i.d. draws
        or distinct random images); for CA rules, on even iterations with a large
        enough pool its first ``b`` grids and targets instead, else fresh grids of
        masked images."""
        cfg, i, streams = self.config, state.iteration, state.streams
        n, b = len(data.train), cfg.batch_size
        if cfg.batch_sampling == "contiguous":
            start = int(torch.randint(0, n - b + 1, (1,), generator=streams.data))
            index = torch.arange(start, start + b)
        elif cfg.batch_sampling == "iid":
            index = torch.randint(0, n, (b,), generator=streams.data)
        else:
            index = torch.randperm(n, generator=streams.data)[:b]
        # augmented sets (landcover: random crops and flips) draw from the same stream
        targets = data.train.batch(index, state.device, generator=streams.data)
        pool = state.pool
        from_pool = pool is not None and len(pool) > b and i % 2 == 0
        if from_pool:
            entries = pool.sample(b)
            inputs, targets = entries.cells.to(state.device), entries.targets.to(state.device)
        else:
            config = data.curriculum.sample(i, streams.mask)
            inputs = mask_images(
                targets,
                config,
                streams.mask,
                noise_per_patch=cfg.noise_per_patch,
                coverage_mode=cfg.coverage,
            )
        steps = 0
        if state.model.is_ca:
            steps = int(
                torch.randint(cfg.steps_min, cfg.steps_max + 1, (1,), generator=streams.data)
            )
        return DenoiseBatch(inputs, targets, steps, from_pool)

    def objective(self, model: ImageModel, batch: DenoiseBatch, state: TrainState) -> Losses:
        """Alg. 1 lines 14-22: roll out ``T`` steps; α·L1 + β·overflow (for feed-forward
        rules, the output's overflow when ``baseline_overflow``, as in the release)."""
        cfg = self.config
        out = model.run(
            batch.inputs,
            steps=batch.steps,
            generator=state.streams.steps,
            seeded=batch.from_pool,
            octaves=cfg.octaves,
        )
        reconstruction = (out.images.float() - batch.targets).abs().mean()
        overflow = out.overflow
        if not model.is_ca and cfg.baseline_overflow:
            overflow = image_overflow(out.images)
        loss = cfg.reconstruction_weight * reconstruction + cfg.overflow_weight * overflow
        loss = loss + fixed_point_penalty(out.fixed_point)  # 0 unless the regulariser is on
        return Losses(
            loss,
            {"reconstruction": reconstruction, "overflow": overflow},
            outputs=out.cells,
            info={
                "steps": batch.steps,
                "from_pool": float(batch.from_pool),
                **fixed_point_metrics(out.fixed_point),
            },
        )

    def after_step(self, batch: DenoiseBatch, losses: Losses, state: TrainState) -> None:
        """Alg. 1 lines 25-26: the updated grids join the pool."""
        if state.pool is not None:
            state.pool.add(losses.outputs.detach().float(), batch.targets)

    def _validation_batch(self, model: ImageModel, state: TrainState):
        """The validation images, image ``k`` masked with configuration ``k mod 9`` (all
        nine in use, as the release validates with all of them), fixed masks."""
        cfg = self.config
        images = self.validation_images
        target = images.batch(torch.arange(len(images)), state.device)
        generator = make_generator(0)
        masked = torch.empty_like(target)
        for index, config in enumerate(CONFIGURATIONS[: len(images)]):
            rows = torch.arange(index, len(images), len(CONFIGURATIONS), device=target.device)
            masked[rows] = mask_images(
                target[rows],
                config,
                generator,
                noise_per_patch=cfg.noise_per_patch,
                coverage_mode=cfg.coverage,
            )
        steps = make_generator(1, state.device)
        octaves = cfg.eval_octaves if model.is_ca else 0
        output = model.run(masked, steps=cfg.eval_steps, generator=steps, octaves=octaves)
        return masked, output.images.float(), target

    def validation(self, model: ImageModel, state: TrainState) -> Validation:
        """L1 reconstruction error (``reconstruction``, which ``best.pt`` minimises, like
        the release's best checkpoint) and PSNR of the validation images under all nine
        configurations; PSNR of the 1x1/50 % ones."""
        masked, output, target = self._validation_batch(model, state)
        values = psnr(output, target)
        inputs = psnr(masked, target)
        metrics = {
            "reconstruction": float((output - target).abs().mean()),
            "psnr": float(values.mean()),
            "input_psnr": float(inputs.mean()),
        }
        if len(target) > 1:  # configuration 1 is 1x1/50 %
            middle = torch.arange(1, len(target), len(CONFIGURATIONS), device=target.device)
            metrics["psnr_1x1_50"] = float(values[middle].mean())
            metrics["input_psnr_1x1_50"] = float(inputs[middle].mean())
        return Validation(metrics, samples=(masked, output, target))

    def pictures(self, model: ImageModel, state: TrainState, folder: Path, samples) -> None:
        """Rows: masked input | output | target of the validation images, labelled, and
        upscaled so that a 16-pixel digit shows at 64 pixels."""
        masked, output, target = samples
        n = min(8, len(target))
        save_grid([masked[:n], output[:n], target[:n]], folder / f"iter_{state.iteration:07d}.png",
                  scale=readable_scale(target), labels=("input", "output", "target"))  # fmt: skip

    # ----------------------------------------------------------- evaluation
    def evaluate(self, model: ImageModel, run: RunContext):
        console = _console(not run.is_main)
        result = self._evaluate(model, run, console)
        self._report(result, run, console, model.name)
        return result.mean()
