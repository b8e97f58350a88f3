"""Make (or replace) a shipped pretrained model from a trained run.

Reads the run's settings (``config.json``, else its checkpoint), writes the ``nca train``
command that reproduces them exactly (checked by parsing it the way ``nca train`` does),
slims the run's checkpoint to weights and configs (no optimiser, pool or random streams),
evaluates the slimmed file as ``nca eval`` would, and writes the manifest entry: the
command with its preset, seed and iterations, the evaluation numbers and settings, the
toolkit version and commit, the file's sha256 and size.

Usage:
    nca train --task grow --rule convca --preset quick --seed 0 --run-dir runs/lizard
    python scripts/make_pretrained.py runs/lizard --name lizard \\
        --description "a growing lizard that regrows after damage (convca)"

Options: ``--checkpoint last|best`` (default: the checkpoint the run's own evaluation
scores, its task's ``eval_checkpoint``, else ``last``); ``--eval -o KEY=VALUE`` (an
evaluation setting, e.g. a smaller test subset so the tests stay fast; recorded with the
numbers); ``--command "nca train ..."`` when the settings cannot be written as one;
``--placeholder`` marks a stand-in; ``--manifest PATH`` writes another manifest (its
weights go to ``weights/`` next to it). Re-train every entry and compare with
``scripts/train_pretrained.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: The total the package's weights should stay under (the issue asks "well under 5 MB").
PACKAGE_BUDGET = 5 * 2**20
#: The shipped models in the source tree (data, not code: changes to them are not "dirty").
PACKAGE_DATA = ("nca/pretrained/manifest.json", "nca/pretrained/weights")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the trained run directory (or a checkpoint)")
    parser.add_argument("--name", required=True, help="the name it is used by (nca play NAME)")
    parser.add_argument("--description", required=True, help="one line on what it does")
    parser.add_argument("--checkpoint", choices=("last", "best"), default=None)
    parser.add_argument(
        "--eval",
        "-o",
        dest="eval_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a task config field for the evaluation (like nca eval -o), recorded",
    )
    parser.add_argument("--eval-seed", type=int, default=0, help="the evaluation's seed")
    parser.add_argument("--command", default=None, help="the nca train command, if not inferred")
    parser.add_argument("--preset", default=None, help="the task preset, if not recorded")
    parser.add_argument("--placeholder", action="store_true", help="mark it as a stand-in")
    parser.add_argument("--manifest", type=Path, default=None, help="[default: the package's]")
    return parser.parse_args(argv)


# ------------------------------------------------------------------ the run's settings
def run_record(source: Path) -> dict[str, Any]:
    """The run's ``rule``, ``task``, ``seed`` (and ``preset``, ``device``, ``threads``
    where recorded):
    its ``config.json``, else its checkpoint's."""
    from nca.checkpoint import find_checkpoint, load_checkpoint
    from nca.engine.run_dir import RUN_CONFIG, read_run_config

    if source.is_dir() and (source / RUN_CONFIG).is_file():
        return read_run_config(source / RUN_CONFIG)
    data = load_checkpoint(find_checkpoint(source))
    return {key: data.get(key) for key in ("rule", "task", "seed")}


def _plain(value: Any) -> Any:
    """As JSON holds it (tuples as lists), to compare with a stored record."""
    return json.loads(json.dumps(value))


def resolve_command(args: list[str]) -> dict[str, Any]:
    """What ``nca ARGS`` (``train ...``, on the CPU) would train: its task and rule configs and
    seed, resolved by the command's own code (presets, task settings, -o values)."""
    from nca.cli.console import make_console
    from nca.cli.train_cmd import _build_task, _read_request, train_command
    from nca.config import config_to_dict
    from nca.engine.rule_config import resolve_task_rule

    if list(args[:1]) != ["train"]:
        raise ValueError(f"not the arguments of nca train: {args}")
    context = train_command.make_context("train", list(args[1:]))
    params = {**context.params, "device": "cpu"}
    request = _read_request(params)
    task, seed, _ = _build_task(request, params, make_console(quiet=True))
    rule = None
    if request.rule_name:
        resolved = resolve_task_rule(task, request.rule_name, request.rule_values)
        rule = {"name": request.rule_name, "config": _plain(config_to_dict(resolved.config))}
    task_record = {"name": request.task_name, "config": _plain(config_to_dict(task.config))}
    return {"rule": rule, "task": task_record, "seed": seed}


def differences(record: dict[str, Any], resolved: dict[str, Any]) -> list[str]:
    """``section.field`` of every setting where ``resolved`` differs from ``record``."""
    from nca.pretrained.command import changed_fields

    found = []
    for section in ("task", "rule"):
        old, new = record.get(section) or {}, resolved.get(section) or {}
        if old.get("name") != new.get("name"):
            found.append(f"{section}.name")
        changed = changed_fields(new.get("config") or {}, _plain(old.get("config") or {}))
        found += [f"{section}.{key}" for key in sorted(changed)]
    if record.get("seed", 0) != resolved.get("seed"):
        found.append("seed")
    return found


def command_for(record: dict[str, Any], preset: str | None) -> str:
    """The ``nca train`` command with ``preset`` whose settings are the record's: the
    task fields and then the rule fields that differ from what it resolves to."""
    from nca.pretrained.command import changed_fields, command_arguments, training_command

    task, rule = record["task"]["name"], (record.get("rule") or {}).get("name")
    seed = int(record.get("seed") or 0)

    rule_fields = tuple((record.get("rule") or {}).get("config") or {})

    def command(task_values=None, rule_values=None) -> str:
        return training_command(
            task,
            rule,
            preset=preset,
            seed=seed,
            task_values=task_values,
            rule_values=rule_values,
            rule_fields=rule_fields,
        )

    base = resolve_command(command_arguments(command()))
    task_values = changed_fields(base["task"]["config"], _plain(record["task"]["config"]))
    with_task = resolve_command(command_arguments(command(task_values)))
    rule_values = {}
    if rule:
        recorded_rule = _plain(record["rule"]["config"])
        rule_values = changed_fields(with_task["rule"]["config"], recorded_rule)
    return command(task_values, rule_values)


def infer_command(record: dict[str, Any], preset: str | None) -> str:
    """The shortest exact command: with the recorded (or given) preset if that
    reproduces the settings, else with whichever preset needs the fewest ``-o`` values.

    Raises:
        SystemExit: no preset reproduces them (pass --command).
    """
    from nca.pretrained.command import command_arguments
    from nca.tasks import TASKS

    task_class = TASKS.load(record["task"]["name"])
    first = [preset or record.get("preset")] if (preset or record.get("preset")) else []
    # without --preset, `nca train` picks a preset by device (task.default_presets): a
    # command for such a task names its preset, so it trains the same on every device
    bare = [] if task_class.default_presets else [None]
    candidates = first + [p for p in (*bare, *task_class.presets) if p not in first]
    found, why = [], []
    for candidate in candidates:
        try:
            command = command_for(record, candidate)
            wrong = differences(record, resolve_command(command_arguments(command)))
        except Exception as err:  # a preset that does not fit (a rule it refuses...)
            why.append(f"preset {candidate}: {type(err).__name__}: {err}")
            continue
        if wrong:
            why.append(f"preset {candidate}: differs in {', '.join(wrong)}")
        elif candidate in first:
            return command
        else:
            found.append(command)
    if not found:
        raise SystemExit(
            "no nca train command reproduces the run's settings; pass --command\n  "
            + "\n  ".join(why)
        )
    return min(found, key=lambda c: c.count(" -o "))


def check_command(command: str, record: dict[str, Any]) -> None:
    """Refuse a given ``--command`` whose settings differ from the run's."""
    from nca.pretrained.command import command_arguments

    wrong = differences(record, resolve_command(command_arguments(command)))
    if wrong:
        raise SystemExit(f"--command trains other settings than the run: {', '.join(wrong)}")


def preset_of(command: str) -> str | None:
    words = command.split()
    return words[words.index("--preset") + 1] if "--preset" in words else None


# ------------------------------------------------------------------ the entry
def chosen_checkpoint(source: Path, record: dict[str, Any], which: str | None) -> Path:
    """The checkpoint to ship: ``which``, else the one the run's evaluation scores."""
    from nca.checkpoint import find_checkpoint

    if source.is_file():
        return source
    which = which or record["task"]["config"].get("eval_checkpoint") or "last"
    return find_checkpoint(source, which)


def git_commit() -> str | None:
    """The toolkit source tree's commit (``+dirty`` with uncommitted changes to its code:
    ``nca/`` and ``plugins/``, not the shipped models themselves), if it is a git checkout."""
    import nca

    root = Path(nca.__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                "nca",
                "plugins",
                *(f":(exclude){path}" for path in PACKAGE_DATA),
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def parse_overrides(texts: list[str]) -> dict[str, str]:
    from nca.config import parse_override

    return dict(parse_override(text) for text in texts)


def make_entry(options: argparse.Namespace) -> Any:
    """Slim, evaluate and describe the run; the weights go next to the manifest."""
    import nca
    from nca.pretrained import (
        EvaluationRecord,
        PretrainedModel,
        TrainingRecord,
        file_sha256,
        slim_checkpoint,
    )
    from nca.pretrained.catalogue import MANIFEST_FILE, WEIGHTS_FOLDER
    from nca.tasks import evaluate_run

    record = run_record(options.run)
    if options.command:
        check_command(options.command, record)
    command = options.command or infer_command(record, options.preset)
    checkpoint = chosen_checkpoint(options.run, record, options.checkpoint)
    overrides = parse_overrides(options.eval_overrides)
    weights = (options.manifest or MANIFEST_FILE).parent / WEIGHTS_FOLDER / f"{options.name}.pt"
    with tempfile.TemporaryDirectory(prefix="nca-make-pretrained-") as tmp:
        slim = slim_checkpoint(checkpoint, Path(tmp) / weights.name)
        metrics = evaluate_run(
            slim, Path(tmp) / "eval", overrides=overrides, seed=options.eval_seed, device="cpu"
        )
        weights.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(slim, weights)
    task_config = record["task"]["config"]
    training = TrainingRecord(
        command=command,
        preset=preset_of(command),
        seed=int(record.get("seed") or 0),
        iterations=task_config.get("iterations"),
        checkpoint=checkpoint.stem if checkpoint.stem in ("last", "best") else "last",
        device=record.get("device") or "cpu",
        commit=git_commit(),
        threads=record.get("threads"),
    )
    numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    return PretrainedModel(
        name=options.name,
        task=record["task"]["name"],
        rule=(record.get("rule") or {}).get("name"),
        description=options.description,
        training=training,
        evaluation=EvaluationRecord(numbers, overrides, options.eval_seed, "cpu"),
        toolkit_version=nca.__version__,
        file=weights.name,
        sha256=file_sha256(weights),
        size_bytes=weights.stat().st_size,
        placeholder=options.placeholder,
    )


def main(argv: list[str] | None = None) -> int:
    from nca.pretrained import list_pretrained, write_manifest
    from nca.pretrained.catalogue import MANIFEST_FILE

    options = parse_args(argv)
    manifest = options.manifest or MANIFEST_FILE
    entry = make_entry(options)
    others = [m for m in list_pretrained(manifest) if m.name != entry.name]
    replaced = len(others) != len(list_pretrained(manifest))
    write_manifest(manifest, [*others, entry])
    print(f"{'replaced' if replaced else 'added'} {entry.name!r} in {manifest}")
    print(f"  trained by: {entry.training.command}")
    print(f"  weights: {entry.file}, {entry.size_bytes / 1024:,.1f} KB, sha256 {entry.sha256}")
    print(f"  evaluation: {json.dumps(entry.evaluation.metrics)}")
    total = sum(m.size_bytes for m in [*others, entry])
    print(f"  all shipped weights: {total / 2**20:.2f} MB")
    if total > PACKAGE_BUDGET:
        print(f"warning: over the {PACKAGE_BUDGET / 2**20:.0f} MB budget", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
