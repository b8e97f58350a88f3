"""The ``denoise`` task: denoising autoencoding (paper §3.1, §4.1, Algorithm 1, Table 1)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from nca import (
    RunContext,
    RunLog,
    Task,
    check_octaves_fit,
    dataset_source,
    load_checkpoint,
    load_images,
    load_rule,
    make_generator,
    octave_plan,
    progress_bar,
)
from nca_denoise.config import DenoiseConfig
from nca_denoise.evaluation import EvalResult, evaluate_rule, predict
from nca_denoise.masking import CONFIGURATIONS, mask_images
from nca_denoise.metrics import LPIPS_MIN_SIZE, LpipsUnavailable, load_lpips, psnr
from nca_denoise.trainer import DenoiseTrainer


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
        # the paper's numbers are the config defaults
        "paper": {"lpips": "on"},
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
    preset_descriptions = {
        "paper": "the paper's settings: 32x32, 100K iterations of batch 32, T ~ U{8,32}, LPIPS",
        "quick": "16x16 images, 600 iterations of batch 16, small evaluation: about 3 minutes "
        "for the default digits on 2 CPU cores",
    }

    # ------------------------------------------------------------ the rule
    def adapt_rule_config(self, rule_config):
        """Match the rule to the data: image channels and (for learned PEs) the image size."""
        changes = {}
        channels = dataset_source(self.config.dataset).channels()
        fields = {f.name for f in dataclasses.fields(rule_config)}
        if getattr(rule_config, "image_channels", channels) != channels:
            changes["image_channels"] = channels
        if "image_size" in fields:
            size = (self.config.size, self.config.size)
            if tuple(rule_config.image_size) != size:
                changes["image_size"] = size
        if self.config.octaves and "patch_size" in fields:  # cells are patches of pixels
            p_h, p_w = rule_config.patch_size
            grid = (self.config.size // p_h, self.config.size // p_w)
            check_octaves_fit(grid, self.config.octaves)
        return dataclasses.replace(rule_config, **changes) if changes else rule_config

    def validate(self) -> None:
        """Fail before the run directory exists: unknown or missing dataset, fusion/mitosis
        octaves that the image size or the shortest rollout cannot hold."""
        cfg = self.config
        source = dataset_source(cfg.dataset)
        source.check(root=cfg.data_root, download=cfg.download, image_size=cfg.size)
        if cfg.octaves:
            try:
                octave_plan(cfg.steps_min, cfg.octaves)
            except ValueError as err:
                raise ValueError(f"{err}; raise steps_min or lower octaves") from None
            check_octaves_fit((cfg.size, cfg.size), cfg.octaves)

    # ------------------------------------------------------------- helpers
    def _lpips(self, device):
        if self.config.lpips == "off":
            return None, "LPIPS off"
        smallest = LPIPS_MIN_SIZE[self.config.lpips_net]
        if self.config.size < smallest:
            message = (
                f"LPIPS-{self.config.lpips_net} needs images of at least {smallest}x{smallest} "
                f"(its backbone pools them away), got {self.config.size}"
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
            cfg.dataset, split, root=cfg.data_root, download=cfg.download, image_size=cfg.size
        )

    def _evaluate(self, rule, run: RunContext, console) -> EvalResult:
        cfg = self.config
        test = self._split("test").subset(cfg.eval_subset)
        lpips_model, note = self._lpips(run.device)
        quiet = run.quiet or not run.is_main
        label = f"evaluating {len(test)} test images x {len(CONFIGURATIONS)} noise configurations"
        total = len(test) * len(CONFIGURATIONS)
        with progress_bar(label, total, console=console, quiet=quiet, unit="images") as advance:
            result = evaluate_rule(
                rule,
                test,
                steps=cfg.eval_steps,
                update_rate=cfg.update_rate,
                batch_size=cfg.eval_batch_size,
                device=run.device,
                lpips_model=lpips_model,
                noise_per_patch=cfg.noise_per_patch,
                progress=advance,
            )
        result.notes.append(
            f"{len(test)} test images of {cfg.dataset} at {cfg.size}x{cfg.size}, "
            f"{cfg.eval_steps} CA steps" + (f"; LPIPS-{cfg.lpips_net}" if lpips_model else "")
        )
        if note:
            result.notes.append(note)
        return result

    def _report(self, result: EvalResult, run: RunContext, console, name: str) -> Path | None:
        from rich.table import Table

        metrics = list(next(iter(result.rows.values())))
        table = Table(title=f"denoising evaluation: {name}")
        table.add_column("noise", style="bold")
        for key in ("psnr", "ssim", "lpips"):
            if key in metrics:
                table.add_column(f"{key.upper()} out", justify="right")
                table.add_column(f"{key.upper()} in", justify="right")
        for config, row in [*result.rows.items(), ("mean", result.mean())]:
            cells = []
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
        path = Path(run.run_dir) / "eval.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
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

    def _validation(self, test, run: RunContext):
        cfg = self.config
        images = test.subset(cfg.validation_size)

        def validate(trainer: DenoiseTrainer) -> dict[str, float]:
            target = images.batch(torch.arange(len(images)), run.device)
            masked = mask_images(
                target, (1, 0.5), make_generator(0), noise_per_patch=cfg.noise_per_patch
            )
            rule = trainer.rule
            was_training = rule.training
            rule.eval()
            output = predict(
                rule,
                masked,
                steps=cfg.eval_steps,
                update_rate=cfg.update_rate,
                generator=make_generator(1, run.device),
            ).float()
            rule.train(was_training)
            if run.is_main:  # rows: masked input | output | target
                from torchvision.utils import save_image

                n = min(8, len(images))
                rows = torch.cat([masked[:n], output[:n], target[:n]]).clamp(0, 1)
                path = Path(run.run_dir) / "samples" / f"iter_{trainer.iteration:07d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                save_image(rows, path, nrow=n, padding=1)
            return {
                "psnr_1x1_50": float(psnr(output, target).mean()),
                "input_psnr_1x1_50": float(psnr(masked, target).mean()),
            }

        return validate

    # ------------------------------------------------------- analysis hooks
    def analysis_images(self, count: int):
        test = self._split("test").subset(count)
        return test.batch(torch.arange(len(test))), test.labels

    def corrupt(self, images, patch, coverage, generator):
        return mask_images(
            images, (tuple(patch), coverage), generator, noise_per_patch=self.config.noise_per_patch
        )

    # --------------------------------------------------------- entry points
    def train(self, rule, run: RunContext):
        cfg = self.config
        console = _console(not run.is_main)
        if cfg.lpips == "on":  # fail before training, not after
            self._lpips("cpu")
        train = self._split("train").subset(cfg.train_subset)
        test = self._split("test")
        if train.channels != getattr(rule.config, "image_channels", train.channels):
            raise ValueError(
                f"{cfg.dataset} has {train.channels} channel(s) but the rule has image_channels="
                f"{rule.config.image_channels}; set -o rule.image_channels={train.channels}"
            )
        trainer = DenoiseTrainer(rule, cfg, train, run, task_name=self.name)
        log = RunLog(run.run_dir, enabled=run.is_main)
        if run.resume and trainer.checkpoint_path.is_file():
            trainer.load(trainer.checkpoint_path)
            console.print(f"resumed from iteration {trainer.iteration}")
        elif run.resume:
            console.print("no checkpoint yet: starting from iteration 0")
        log.truncate_after(trainer.iteration)  # drop records past the checkpoint
        console.print(
            f"{len(train)} training images ({cfg.dataset}, {cfg.size}x{cfg.size}), "
            f"{cfg.iterations} iterations of batch {cfg.batch_size}"
        )
        with progress_bar(
            "training",
            cfg.iterations,
            console=console,
            quiet=run.quiet or not run.is_main,
            metrics=("loss",),
            completed=trainer.iteration,
        ) as advance:

            def progress(i: int, metrics: dict) -> None:
                advance(completed=i, loss=metrics["loss"])

            try:
                final = trainer.fit(
                    log,
                    validate=self._validation(test, run) if run.is_main else None,
                    progress=progress,
                    stop_after=run.stop_after,
                )
            except KeyboardInterrupt:
                console.print(
                    f"interrupted at iteration {trainer.iteration}; checkpoint saved to "
                    f"{trainer.checkpoint_path}; continue with --resume"
                )
                raise
        if trainer.iteration < cfg.iterations:  # stopped early (--stop-after): no evaluation
            console.print(f"stopped at iteration {trainer.iteration}; continue with --resume")
            log.close()
            return final
        if not run.is_main:  # rank 0 evaluates; the others are done
            return final
        result = self._evaluate(trainer.rule, run, console)
        self._report(result, run, console, f"{rule.rule_name} after {trainer.iteration} iterations")
        log.write(trainer.iteration, result.mean(), kind="evaluation")
        log.close()
        return {**final, **{f"eval_{k}": v for k, v in result.mean().items()}}

    def evaluate(self, checkpoint: Path, run: RunContext):
        console = _console(not run.is_main)
        data = load_checkpoint(checkpoint)
        stored = (data.get("task") or {}).get("name")
        if stored != self.name:
            raise ValueError(
                f"{checkpoint} was written by task {stored!r}, not {self.name!r}; evaluate it "
                f"with its own task"
            )
        rule = load_rule(data)
        result = self._evaluate(rule, run, console)
        self._report(result, run, console, f"{data['rule']['name']} ({checkpoint})")
        return result.mean()
