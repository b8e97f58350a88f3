"""Train every shipped pretrained model again from its recorded command, evaluate it
the way its manifest entry was evaluated, and compare the numbers with the manifest's.

Each entry's ``nca train`` command runs in a new process with ``--run-dir OUT/NAME``,
``--device`` and ``--quiet`` added; the checkpoint the entry ships (``last`` or
``best``) is evaluated with the entry's evaluation seed and overrides; a table shows
each metric: the manifest's value, the new one, the difference and the tolerance it is
held to (:mod:`nca.pretrained.tolerance`: 1 dB for PSNR, 0.02 for SSIM/LPIPS, 0.05 for
accuracies, 2 steps + 10 % for step counts, 10 % for losses, 5 % otherwise). The new
run's task and rule settings are also compared with the shipped checkpoint's. Training
and evaluation use the CPU thread count the entry records (``--threads`` overrides it):
a CPU run's floating-point sums, and so its numbers, depend on it.

Usage:
    python scripts/train_pretrained.py [--only NAME ...] [--out DIR] [--check]
    python scripts/train_pretrained.py --shipped --check   # evaluate the shipped files only
    python scripts/train_pretrained.py --only NAME --out DIR --reuse --check

``--check`` exits with status 1 when a metric is out of tolerance or the settings
differ; ``--shipped`` skips training and evaluates the shipped weights (seconds, where
retraining takes each entry's training time). ``--reuse`` takes ``OUT/NAME`` where it
already holds a run of the entry's checkpoint instead of training again: a run of the
entry's command made beside the shipped one (a twin started at the same time), or an
interrupted check; its settings are still compared with the shipped checkpoint's.
``--manifest PATH`` reads another manifest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="train only this entry (repeatable)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder of the new runs [default: a new temporary folder]",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a number is out of tolerance"
    )
    parser.add_argument(
        "--shipped",
        action="store_true",
        help="evaluate the shipped weights instead of training again",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="evaluate OUT/NAME where it already holds a trained run of the entry",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads of training and evaluation [default: each entry's recorded count]",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N [default: cpu]")
    parser.add_argument("--manifest", type=Path, default=None, help="[default: the package's]")
    options = parser.parse_args(argv)
    if options.threads is not None and options.threads < 1:
        parser.error(f"--threads must be at least 1, got {options.threads}")
    return options


@dataclass
class Outcome:
    """One entry's result.

    Attributes:
        name: The entry.
        rows: Its metrics, recorded next to measured.
        settings: Settings of the new run that differ from the shipped checkpoint's.
        seconds: Training and evaluation time.
        added: Fields the shipped checkpoint predates, at their defaults in the new run
            (reported, not a difference: the command cannot have set them).
    """

    name: str
    rows: list
    settings: list[str]
    seconds: float
    added: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.settings and all(row.ok for row in self.rows)


def selected(manifest: Path | None, only: list[str]) -> list:
    """The entries to train (``--only``: those, each of which must exist)."""
    from nca.pretrained import get_pretrained, list_pretrained

    if only:
        return [get_pretrained(name, manifest) for name in only]
    return list_pretrained(manifest)


def threads_for(model, options: argparse.Namespace) -> int | None:
    """CPU threads to reproduce ``model`` with: ``--threads``, else the count it was
    trained with (``None``: not recorded, the environment's)."""
    if options.threads is not None:
        return options.threads
    return model.training.threads if options.device == "cpu" else None


def train(model, run_dir: Path, device: str, threads: int | None = None) -> Path:
    """Run the entry's command into ``run_dir`` (with ``threads`` CPU threads where
    given); the checkpoint it ships.

    Raises:
        SystemExit: training failed (its output is in ``run_dir``.log).
    """
    from nca.checkpoint import find_checkpoint
    from nca.pretrained.command import command_arguments

    args = command_arguments(model.training.command)
    args += ["--run-dir", str(run_dir), "--device", device, "--quiet"]
    log = run_dir.with_suffix(".log")
    env = dict(os.environ)
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    where = f"{threads} thread{'s' * (threads != 1)}, " if threads is not None else ""
    print(f"[{model.name}] nca {' '.join(args)}  ({where}log: {log})", flush=True)
    with open(log, "w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "nca", *args], stdout=handle, stderr=subprocess.STDOUT, env=env
        )
    if done.returncode:
        raise SystemExit(f"[{model.name}] training failed (exit {done.returncode}); see {log}")
    return find_checkpoint(run_dir, model.training.checkpoint)


def trained_checkpoint(model, run_dir: Path) -> Path | None:
    """The checkpoint the entry ships (``last`` or ``best``) in ``run_dir`` if that run
    finished its iterations; ``None`` where there is none yet."""
    from nca.checkpoint import find_checkpoint, load_checkpoint

    try:
        found = find_checkpoint(run_dir, model.training.checkpoint)
    except (FileNotFoundError, ValueError):
        return None
    state = load_checkpoint(found)
    done = (state.get("iteration"), state.get("seed"))
    if done != (model.training.iterations, model.training.seed):
        print(f"[{model.name}] {found} is at iteration {done[0]} with seed {done[1]}, not "
              f"{model.training.iterations} with seed {model.training.seed}: training "
              "again", flush=True)  # fmt: skip
        return None
    return found


def changed_settings(shipped: Path, trained: Path) -> tuple[list[str], list[str]]:
    """``task.field`` / ``rule.field`` where the new checkpoint's settings differ from
    the shipped one's (training-only fields too: the command must reproduce the run),
    except the training machine's paths, which a shipped file leaves out; and, apart,
    the fields the shipped checkpoint predates that hold their defaults in the new run
    (a field added to the config since, such as a new option of the rule)."""
    from nca.checkpoint import load_checkpoint
    from nca.pretrained.command import changed_fields
    from nca.pretrained.slim import MACHINE_LOCAL_FIELDS

    old, new = load_checkpoint(shipped), load_checkpoint(trained)
    found, added = [], []
    for section in ("task", "rule"):
        a, b = old.get(section) or {}, new.get(section) or {}
        if a.get("name", "").split(":")[0] != b.get("name", "").split(":")[0]:
            found.append(f"{section}.name")
        recorded = a.get("config") or {}
        changed = changed_fields(recorded, b.get("config") or {})
        local = MACHINE_LOCAL_FIELDS if section == "task" else ()  # dropped when shipped
        defaults = _config_defaults(section, b.get("name", ""))
        for key in sorted(set(changed) - set(local)):
            top = key.split(".")[0]
            at_default = top in defaults and not changed_fields(
                {top: defaults[top]}, {top: b["config"][top]}
            )
            if top not in recorded and at_default:
                added.append(f"{section}.{key}")
            else:
                found.append(f"{section}.{key}")
    return found, added


def _config_defaults(section: str, name: str) -> dict[str, Any]:
    """The default of every field of the ``section`` (task or rule) ``name``'s config."""
    import dataclasses

    from nca.rules.registry import get_rule_class
    from nca.tasks.registry import get_task_class

    family = name.split(":")[0]
    cls = (get_task_class if section == "task" else get_rule_class)(family)
    return dataclasses.asdict(cls.config_class())


def reproduce(model, out: Path, options: argparse.Namespace) -> Outcome:
    """Train (unless ``--shipped``) and evaluate one entry, and compare."""
    import torch

    from nca.pretrained import compare_metrics, pretrained_path
    from nca.tasks import evaluate_run

    start = time.perf_counter()
    threads = threads_for(model, options)
    shipped = pretrained_path(model.name, options.manifest)
    run_dir = out / model.name
    if options.shipped:
        checkpoint = shipped
    elif options.reuse and (found := trained_checkpoint(model, run_dir)) is not None:
        print(f"[{model.name}] reusing {found}", flush=True)
        checkpoint = found
    else:
        checkpoint = train(model, run_dir, options.device, threads)
    evaluation = model.evaluation
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        metrics = evaluate_run(
            checkpoint,
            out / f"{model.name}-eval",
            overrides=evaluation.overrides,
            seed=evaluation.seed,
            device=options.device,
        )
    finally:
        torch.set_num_threads(before)
    settings, added = ([], []) if options.shipped else changed_settings(shipped, checkpoint)
    rows = compare_metrics(evaluation.metrics, metrics)
    return Outcome(model.name, rows, settings, time.perf_counter() - start, added)


def _number(value: Any) -> str:
    return "nan" if value is None else f"{value:.4g}"


def report(outcomes: list[Outcome], shipped: bool) -> None:
    """A table per entry: metric, manifest, new value, difference, tolerance, verdict."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=110, highlight=False)
    new = "shipped, again" if shipped else "retrained"
    table = Table(title=f"pretrained models: the manifest's numbers vs {new}")
    for column in ("model", "metric", "manifest", new, "difference", "tolerance", ""):
        table.add_column(column, justify="left" if column in ("model", "metric") else "right")
    for outcome in outcomes:
        for row in outcome.rows:
            both = row.recorded is not None and row.measured is not None
            diff = f"{row.measured - row.recorded:+.3g}" if both else "-"
            verdict = "[green]ok[/green]" if row.ok else "[red]OFF[/red]"
            table.add_row(
                outcome.name,
                row.metric,
                _number(row.recorded),
                _number(row.measured),
                diff,
                row.tolerance.describe(),
                verdict,
            )
        if outcome.settings:
            table.add_row(
                outcome.name,
                "settings",
                "",
                "",
                "",
                "",
                f"[red]differ: {', '.join(outcome.settings)}[/red]",
            )
        if outcome.added:
            table.add_row(
                outcome.name,
                "settings added since",
                "",
                "",
                "",
                "",
                f"at defaults: {', '.join(outcome.added)}",
            )
        table.add_row(outcome.name, "time", "", f"{outcome.seconds:.0f} s", "", "", "")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    models = selected(options.manifest, options.only)
    if not models:
        print("the manifest lists no models")
        return 0
    out = options.out or Path(tempfile.mkdtemp(prefix="nca-train-pretrained-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"runs and evaluations in {out}", flush=True)
    outcomes = [reproduce(model, out, options) for model in models]
    report(outcomes, options.shipped)
    failed = [o.name for o in outcomes if not o.ok]
    print(f"out of tolerance: {', '.join(failed)}" if failed else "all within tolerance")
    return 1 if options.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
