"""Start a run: process group, run directory, seeding, the rule, the trainer; and
evaluate a stored checkpoint. ``nca train`` and ``nca eval`` parse their arguments
and call these; Python users (and torchrun scripts) call them directly."""

from __future__ import annotations

import contextlib
import random
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from nca.config import config_to_dict
from nca.engine.config import TrainerConfig, inert_settings
from nca.engine.distributed import (
    barrier,
    distributed_env,
    init_distributed,
    shutdown_distributed,
)
from nca.engine.lock import RunDirLock
from nca.engine.memory import check_rule_fits
from nca.engine.rule_config import ResolvedRule, resolve_task_rule
from nca.engine.run import RunContext
from nca.engine.run_dir import check_run_dir, write_resolved_config
from nca.engine.trainer import Trainer, _console

CHECKPOINT = Path("checkpoints") / "last.pt"


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's (if present) and torch's global generators."""
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def launch(
    task: Any,
    *,
    run_dir: str | Path,
    rule: str | None = None,
    rule_config: Any = None,
    rule_options: Mapping[str, Any] | None = None,
    task_name: str | None = None,
    seed: int = 0,
    device: str = "cpu",
    resume: bool = False,
    quiet: bool = False,
    stop_after: int | None = None,
    init_from: str | Path | None = None,
    console: Any = None,
) -> dict[str, float]:
    """Train ``task`` in ``run_dir``, alone or as one rank of a torchrun job.

    Resolves the rule's config the one way every command does
    (:func:`nca.engine.rule_config.resolve_task_rule`: presets, the task's settings,
    the given options), builds the rule and checks it against the task's needs before
    anything is written; joins the process group when torchrun started this process
    (and leaves it at the end), refuses to overwrite another run or to resume with
    another config, writes ``config.json`` (rank 0) and runs the :class:`Trainer`.

    Args:
        task: A configured :class:`nca.tasks.Task`.
        run_dir: Run directory.
        rule: Registered rule name, optionally ``name:preset``; ``None`` for tasks
            with ``requires_rule = False``.
        rule_config: A config of the rule; the task's settings fill the fields it
            leaves at their defaults (a different value is an error). Default: resolved
            from ``rule`` and ``rule_options``.
        rule_options: Rule config values (like ``-o rule.X=...``), over the presets.
        task_name: The name checkpoints record (default ``task.name``, which
            :func:`nca.tasks.create_task` sets to the registered name).
        seed: Seed of the run.
        device: ``cpu``, ``cuda`` or ``cuda:N`` (``cuda:LOCAL_RANK`` under torchrun).
        resume: Continue from ``run_dir``'s last checkpoint, if it has one.
        quiet: No progress bars.
        stop_after: Stop (checkpointed) after this many iterations of this call.
        init_from: Start a *new* run from the weights of this checkpoint or run
            directory (same rule and rule config; fresh optimiser, schedule and streams),
            e.g. to branch a diverged run with a lower learning rate.
        console: A rich console for notes.

    Returns:
        Final metrics (rank 0 includes the evaluation's, prefixed ``eval_``).
    """
    if task_name is not None:
        task.name = task_name  # one name everywhere: config.json, checkpoints, nca eval
    env = distributed_env()
    console = console or _console(env["rank"] != 0)
    resolved = _resolve_rule(task, rule, rule_config, rule_options, init_from)
    built = _build_rule(task, resolved, init_from, seed, device)
    _print_notes(task, resolved, console)
    record = _run_record(task, resolved, seed)
    if env["world_size"] > 1:
        device = init_distributed(device, env["local_rank"])
    run = RunContext(
        Path(run_dir),
        seed=seed,
        device=device,
        resume=resume,
        quiet=quiet,
        stop_after=stop_after,
        **env,
    )
    try:
        note = _announcement(task, resolved, run)
        directory = _run_directory(run, record, console, init_from, note, type(task.config))
        with directory as holder:
            holder.trainer = Trainer(task, built, run, task_name=task.name, console=console)
            return holder.trainer.run_training()
    finally:
        shutdown_distributed()


def _print_notes(task: Any, resolved: ResolvedRule | None, console: Any) -> None:
    """Settings that do nothing (a warning each), and what the task's preset set."""
    for line in inert_settings(task.config) if isinstance(task.config, TrainerConfig) else ():
        console.print(f"[yellow]warning:[/yellow] {line}")
    if resolved is not None and resolved.from_preset:
        console.print(
            f"{task.name}'s {task.preset!r} preset sets "
            + ", ".join(f"rule.{k}={v}" for k, v in sorted(resolved.from_preset.items()))
        )


def _resolve_rule(
    task: Any,
    rule: str | None,
    rule_config: Any,
    rule_options: Mapping[str, Any] | None,
    init_from: str | Path | None,
) -> ResolvedRule | None:
    """The rule's name and config (``None`` for a task that trains no rule)."""
    if rule is None:
        if task.requires_rule:
            raise ValueError(f"task {task.name!r} needs a rule")
        if init_from is not None:
            raise ValueError("--init-from loads a rule's weights; this run trains no rule")
        if rule_config is not None or rule_options:
            raise ValueError("rule_config and rule_options need a rule name (rule=...)")
        return None
    if rule_config is not None and rule_options:
        raise ValueError("give rule_config or rule_options, not both")
    return resolve_task_rule(task, rule, rule_options, config=rule_config)


def _build_rule(
    task: Any,
    resolved: ResolvedRule | None,
    init_from: str | Path | None,
    seed: int,
    device: str,
) -> Any:
    """The rule, measured first (weights that cannot be held are refused before they
    are allocated), built from the run's seed (identical weights on every rank), checked
    against the task's needs and initialised ``--init-from`` a checkpoint."""
    from nca.rules import create_rule

    if resolved is not None:  # before seeding: the measurement draws no random numbers
        optimizer = getattr(task.config, "optimizer", None)
        check_rule_fits(resolved.name, resolved.config, optimizer=optimizer, device=device)
    seed_everything(seed)
    if resolved is None:
        return None
    built = create_rule(resolved.name, resolved.config)
    task.check_rule(built)
    if init_from is not None:
        _initialise(built, init_from, resolved.name)
    return built


def _run_record(task: Any, resolved: ResolvedRule | None, seed: int) -> dict[str, Any]:
    """What ``config.json`` holds: rule, task and seed (which a resume compares), and the
    task preset the config was built from (a note: the config holds its values)."""
    rule = None
    if resolved is not None:
        rule = {"name": resolved.name, "config": config_to_dict(resolved.config)}
    return {
        "rule": rule,
        "task": {"name": task.name, "config": config_to_dict(task.config)},
        "seed": seed,
        "preset": getattr(task, "preset", None),
        "defaults": {"task": config_to_dict(type(task.config)())} if _defaults_ok(task) else {},
    }


class _TrainerHolder:
    """The trainer a run directory is opened for, once it exists."""

    trainer: Any = None


@contextlib.contextmanager
def _run_directory(
    run: RunContext,
    record: dict[str, Any],
    console: Any,
    init_from: str | Path | None,
    announcement: str,
    config_class: type,
) -> Iterator[_TrainerHolder]:
    """Lock (rank 0), check and write the run directory; remove it again if the run
    fails before its first checkpoint."""
    run_dir = Path(run.run_dir)
    created = not run_dir.exists()
    lock = RunDirLock(run_dir).acquire() if run.is_main else None  # one process per run
    holder = _TrainerHolder()
    try:
        note = check_run_dir(run_dir, record, resume=run.resume, task_config_class=config_class)
        barrier()  # every rank checked the run dir before rank 0 writes into it
        if run.is_main:
            _remove_orphans(run_dir, console)
            stored = {k: v for k, v in record.items() if k != "defaults"}
            if init_from is not None:
                stored["init_from"] = str(init_from)
            # threads: a CPU run's float sums (and so its numbers) depend on the count
            machine = {"device": run.device, "threads": torch.get_num_threads()}
            write_resolved_config(run_dir, {**stored, **machine})
            if note:
                console.print(note)
            console.print(announcement)
        barrier()
        yield holder
    except BaseException:
        trainer = holder.trainer
        nothing_kept = trainer is None or trainer.saved_at is None
        if run.is_main and created and nothing_kept and not (run_dir / CHECKPOINT).exists():
            if lock is not None:
                lock.release()
                lock = None
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if lock is not None:
            lock.release()


def _announcement(task: Any, resolved: ResolvedRule | None, run: RunContext) -> str:
    ranks = f", {run.world_size} processes" if run.world_size > 1 else ""
    where = f"({run.device}{ranks}, seed {run.seed}) -> {run.run_dir}"
    if resolved is None:  # a task without a rule (a probe): it trains on a source
        source = task.source_label(task.config)
        return f"Training [bold]{task.name}[/bold] on [bold]{source}[/bold] {where}"
    return f"Training [bold]{resolved.name}[/bold] on [bold]{task.name}[/bold] {where}"


def _remove_orphans(run_dir: Path, console: Any) -> None:
    """Delete temporary checkpoint files of writes that were killed (this process holds
    the run-directory lock, so no other process is writing them)."""
    orphans = sorted((run_dir / "checkpoints").glob(".*.tmp"))
    for path in orphans:
        path.unlink(missing_ok=True)
    if orphans and console is not None:
        console.print(
            f"removed {len(orphans)} unfinished checkpoint file(s) left by an interrupted "
            f"write ({orphans[0].name}{', ...' if len(orphans) > 1 else ''})"
        )


def _initialise(rule: Any, source: str | Path, name: str) -> None:
    """Load the weights of a checkpoint, run directory or pretrained model into a freshly
    built rule (``--init-from``)."""
    from nca.checkpoint import find_checkpoint, load_checkpoint, state_mismatch
    from nca.pretrained import shipped_name

    path = find_checkpoint(source)  # a pretrained model's name: its shipped file, checked
    data = load_checkpoint(path)
    pretrained = shipped_name(path)
    shown = f"{pretrained} (a pretrained model)" if pretrained else str(path)
    stored = data.get("rule") or {}
    if stored.get("name", "").split(":")[0] != rule.rule_name:
        raise ValueError(
            f"--init-from {shown} holds a {stored.get('name')!r} rule; this run trains "
            f"{name!r}: initialise from a checkpoint of the same rule"
        )
    mismatch = state_mismatch(rule.state_dict(), data.get("model", {}))
    if mismatch:
        raise ValueError(
            f"--init-from {shown}: its weights do not fit this rule's config ({mismatch}); "
            f"use the rule settings it was trained with: {stored.get('config')}"
        )
    rule.load_state_dict(data["model"])


def _defaults_ok(task: Any) -> bool:
    try:
        type(task.config)()
    except (TypeError, ValueError):  # a config with required fields has no defaults
        return False
    return True
