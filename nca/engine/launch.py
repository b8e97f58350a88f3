"""Start a run: process group, run directory, seeding, the rule, the trainer; and
evaluate a stored checkpoint. ``nca train`` and ``nca eval`` parse their arguments
and call these; Python users (and torchrun scripts) call them directly."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import torch

from nca.config import config_to_dict
from nca.engine.distributed import (
    barrier,
    distributed_env,
    init_distributed,
    shutdown_distributed,
)
from nca.engine.lock import RunDirLock
from nca.engine.trainer import Trainer, _console
from nca.errors import NCAError

CHECKPOINT = Path("checkpoints") / "last.pt"


class RunDirError(NCAError):
    """The run directory holds another run, or a run with a different configuration."""


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's (if present) and torch's global generators."""
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def check_run_dir(run_dir: Path, resolved: dict[str, Any], *, resume: bool) -> None:
    """Never overwrite a run by accident; never resume with a different config.

    Fields absent from an older ``config.json`` count as unchanged when they hold
    their default (a newer toolkit added them).
    """
    stored_path = run_dir / "config.json"
    if not stored_path.is_file():
        # resume on a new directory starts the run: one job script serves a whole chain
        return
    if not resume:
        raise RunDirError(
            f"run directory {str(run_dir)!r} already holds a run; pass --resume to continue it "
            f"or choose another --run-dir/--name"
        )
    stored = json.loads(stored_path.read_text())
    changed = []
    for section in ("rule", "task"):
        old = (stored.get(section) or {}).get("config", {})
        new = (resolved.get(section) or {}).get("config", {})
        defaults = resolved.get("defaults", {}).get(section, {})
        for key in sorted(set(old) | set(new)):
            if key not in old and new.get(key) == defaults.get(key, object()):
                continue
            if old.get(key) != new.get(key):
                changed.append(f"{section}.{key}")
        if (stored.get(section) or {}).get("name") != (resolved.get(section) or {}).get("name"):
            changed.append(f"{section}.name")
    if stored.get("seed") != resolved["seed"]:
        changed.append("seed")
    if changed:
        raise RunDirError(
            f"cannot resume {str(run_dir)!r} with a different configuration (changed: "
            f"{', '.join(changed)}); start a new run instead"
        )


def write_resolved_config(run_dir: Path, resolved: dict[str, Any]) -> Path:
    """Write ``config.json`` atomically in ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(resolved, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def launch(
    task: Any,
    *,
    run_dir: str | Path,
    rule: str | None = None,
    rule_config: Any = None,
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

    Joins the process group when torchrun started this process (and leaves it at
    the end), refuses to overwrite another run or to resume with another config,
    seeds every global generator (identical initial weights on every rank), builds
    the rule, writes ``config.json`` (rank 0) and runs the :class:`Trainer`.

    Args:
        task: A configured :class:`nca.tasks.Task`.
        run_dir: Run directory.
        rule: Registered rule name, optionally ``name:preset``; ``None`` for tasks
            with ``requires_rule = False``.
        rule_config: The rule's config (default: the name's defaults and preset).
        task_name: Name recorded for ``nca eval`` (default ``task.name``).
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
    from nca.rules import create_rule, resolve_rule_config
    from nca.tasks import RunContext

    run_dir = Path(run_dir)
    task_name = task_name or task.name
    if rule is not None and rule_config is None:
        _, rule_config = resolve_rule_config(rule, preset_rule_defaults(task, rule))
    if rule is not None:
        rule_config = task.adapt_rule_config(rule_config)
    if rule is None and task.requires_rule:
        raise ValueError(f"task {task_name!r} needs a rule")
    if init_from is not None and rule is None:
        raise ValueError("--init-from loads a rule's weights; this run trains no rule")
    resolved = {
        "rule": {"name": rule, "config": config_to_dict(rule_config)} if rule else None,
        "task": {"name": task_name, "config": config_to_dict(task.config)},
        "seed": seed,
        "defaults": {"task": config_to_dict(type(task.config)())} if _defaults_ok(task) else {},
    }
    env = distributed_env()
    if env["world_size"] > 1:
        device = init_distributed(device, env["local_rank"])
    main = env["rank"] == 0
    created = not run_dir.exists()
    lock = None
    trainer = None
    try:
        if main:  # one process per run directory (a second one fails here, in one line)
            lock = RunDirLock(run_dir).acquire()
        check_run_dir(run_dir, resolved, resume=resume)
        barrier()  # every rank checked the run dir before rank 0 writes into it
        if main:
            _remove_orphans(run_dir, console)
        seed_everything(seed)  # same on every rank: identical initial weights
        built = None
        if rule is not None:
            built = create_rule(rule, rule_config)
            task.check_rule(built)
            if init_from is not None:
                _initialise(built, init_from, rule)
        run = RunContext(
            run_dir,
            seed=seed,
            device=device,
            resume=resume,
            quiet=quiet,
            stop_after=stop_after,
            **env,
        )
        console = console or _console(not run.is_main)
        if run.is_main:
            stored = {k: v for k, v in resolved.items() if k != "defaults"}
            if init_from is not None:
                stored["init_from"] = str(init_from)
            write_resolved_config(run_dir, {**stored, "device": device})
            ranks = f", {run.world_size} processes" if run.world_size > 1 else ""
            console.print(
                f"Training [bold]{rule or task.source_label(task.config)}[/bold] on "
                f"[bold]{task_name}[/bold] ({device}{ranks}, seed {seed}) -> {run_dir}"
            )
        barrier()
        trainer = Trainer(task, built, run, task_name=task_name, console=console)
        return trainer.run_training()
    except BaseException:
        # a run that failed before its first checkpoint leaves no directory behind
        nothing_kept = trainer is None or trainer.saved_at is None
        if main and created and nothing_kept and not (run_dir / CHECKPOINT).exists():
            if lock is not None:
                lock.release()
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if lock is not None:
            lock.release()
        shutdown_distributed()


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
    """Load a checkpoint's weights into a freshly built rule (``--init-from``)."""
    from nca.checkpoint import find_checkpoint, load_checkpoint, state_mismatch

    path = find_checkpoint(source)
    data = load_checkpoint(path)
    stored = data.get("rule") or {}
    if stored.get("name", "").split(":")[0] != rule.rule_name:
        raise ValueError(
            f"--init-from {path} holds a {stored.get('name')!r} rule; this run trains "
            f"{name!r}: initialise from a checkpoint of the same rule"
        )
    mismatch = state_mismatch(rule.state_dict(), data.get("model", {}))
    if mismatch:
        raise ValueError(
            f"--init-from {path}: its weights do not fit this rule's config ({mismatch}); "
            f"use the rule settings it was trained with: {stored.get('config')}"
        )
    rule.load_state_dict(data["model"])


def _defaults_ok(task: Any) -> bool:
    try:
        type(task.config)()
    except (TypeError, ValueError):  # a config with required fields has no defaults
        return False
    return True


def preset_rule_defaults(task: Any, rule: str) -> dict[str, Any]:
    """The rule-config defaults of the preset ``task`` was created with (``create_task``),
    for the fields rule ``rule`` has and its own preset does not set."""
    import dataclasses

    from nca.rules import RULES, split_rule_name
    from nca.tasks import preset_rule_values

    family, rule_preset = split_rule_name(rule)
    cls = RULES.load(family)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    own = set(cls.presets.get(rule_preset, {})) if rule_preset else set()
    values = preset_rule_values(type(task), getattr(task, "preset", None), family, fields)
    return {k: v for k, v in values.items() if k not in own}


def evaluate_checkpoint(task: Any, checkpoint: str | Path, run: Any) -> dict[str, float]:
    """Score the model stored in ``checkpoint`` with ``task.evaluate``.

    Raises:
        ValueError: the checkpoint was written by another task.
    """
    from nca.checkpoint import load_checkpoint, load_rule

    data = load_checkpoint(checkpoint)
    stored = (data.get("task") or {}).get("name")
    if stored != task.name:
        raise ValueError(
            f"{checkpoint} was written by task {stored!r}, not {task.name!r}; evaluate it "
            f"with its own task"
        )
    rule = load_rule(data) if data.get("rule") else None
    model = task.build_model(rule, run)
    if rule is None:
        model.load_state_dict(data["model"])
    model = model.to(torch.device(run.device)).eval()
    with torch.no_grad():
        return dict(task.evaluate(model, run))
