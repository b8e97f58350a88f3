"""Training throughput of a task against a bare rollout of the same rule with the same loss.

A :class:`Case` names a task, a rule and a fixed rollout length ``T``. Its *task step* is
``nca.Trainer.step`` of the task's ``quick`` preset (pool, masking, noise, damage: all
the task does); its *bare rollout* rolls the same rule out from the same kind of seeds
with a plain ``nca.CellularAutomaton`` (no masking, no noise, no pool), then the case's
loss, backward and an Adam step. Rounds alternate (task, bare, task, bare, ...), so
machine noise hits both alike; :func:`measure` reports the medians.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _machine import cpu_model  # benchmarks/ is the script directory

#: ``bare(trainer) -> (seeds, loss)``: ``seeds()`` gives the starting grids of one bare
#: iteration (the task's batch and grid), ``loss(cells)`` the scalar loss of its result.
BarePieces = Callable[[Any], tuple[Callable[[], Any], Callable[[Any], Any]]]

#: Task options that keep logging, validation and checkpoints out of the timed steps.
QUIET = {"log_every": 10**6, "validate_every": 10**6, "checkpoint_every": 10**6}


@dataclass(frozen=True)
class Case:
    """One row: ``rule`` on ``task`` (its quick preset) with rollouts of ``steps``.

    Attributes:
        task: Registered task name.
        rule: Registered rule name; its config comes from ``nca.engine.resolve_task_rule``.
        steps: ``T`` of both loops (``task_options`` must fix the task's T to it).
        bare: The bare loop's seeds and loss (see :data:`BarePieces`).
        task_options: Task config values on top of the preset.
        rule_options: Rule config values given as a user would (``-o rule.X=``).
    """

    task: str
    rule: str
    steps: int
    bare: BarePieces
    task_options: Mapping[str, Any] = field(default_factory=dict)
    rule_options: Mapping[str, Any] = field(default_factory=dict)
    preset: str = "quick"


@dataclass(frozen=True)
class Result:
    """Medians of a case: seconds per task step and per bare iteration."""

    case: Case
    parameters: int
    task_seconds: float
    bare_seconds: float
    cell_steps: int  # batch x cells x T of one iteration

    @property
    def overhead(self) -> float:
        return self.task_seconds / self.bare_seconds - 1

    @property
    def cell_steps_per_second(self) -> float:
        return self.cell_steps / self.task_seconds


def build_trainer(case: Case, folder: Path):
    """A ``nca.Trainer`` of ``case``'s rule (weights nudged off the zeroed last layer, so
    the rule acts) on its task."""
    import torch

    from nca import RunContext, Trainer, create_rule, create_task, resolve_task_rule

    task = create_task(case.task, preset=case.preset, **QUIET, **case.task_options)
    resolved = resolve_task_rule(task, case.rule, dict(case.rule_options))
    torch.manual_seed(0)
    rule = create_rule(resolved.name, resolved.config)
    with torch.no_grad():  # an active rule: a zeroed last layer would do nothing
        for p in rule.parameters():
            p.add_(torch.randn_like(p) * 1e-2)
    return Trainer(task, rule, RunContext(folder, seed=0, quiet=True))


def seconds_per_call(fn: Callable[[], object], number: int, threads: int) -> float:
    """Mean seconds of ``fn()`` over ``number`` calls, after ``torch.utils.benchmark``'s
    warm-up calls, with ``threads`` torch threads."""
    from torch.utils.benchmark import Timer

    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    return timer.timeit(number).mean


def bare_iteration(rule, seeds, loss_of, steps: int) -> Callable[[], None]:
    """One bare iteration of ``rule``: seeds -> plain rollout of ``steps`` -> loss ->
    backward -> Adam."""
    import torch

    from nca import CellularAutomaton

    automaton = CellularAutomaton(rule, update_rate=0.5)
    optimizer = torch.optim.Adam(rule.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)

    def once() -> None:
        cells = automaton(seeds(), steps, generator=generator).cells
        loss = loss_of(cells)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return once


def measure(cases: Sequence[Case], *, iterations: int, repeats: int, threads: int) -> list[Result]:
    """Each case's task step and bare iteration, ``repeats`` alternating rounds of
    ``iterations`` calls each; medians."""
    import torch

    from nca import parameter_count

    torch.set_num_threads(threads)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases):
            trainer = build_trainer(case, Path(tmp) / str(i))
            seeds, loss_of = case.bare(trainer)
            bare = bare_iteration(trainer.rule, seeds, loss_of, case.steps)
            batch, _, *grid = seeds().shape  # the task's batch and grid
            cell_steps = batch * math.prod(grid) * case.steps
            full, plain = [], []
            for _ in range(repeats):
                full.append(seconds_per_call(trainer.step, iterations, threads))
                plain.append(seconds_per_call(bare, iterations, threads))
            f, b = statistics.median(full), statistics.median(plain)
            results.append(Result(case, parameter_count(trainer.rule), f, b, cell_steps))
            print(f"{case.task} {case.rule}: task step {f:.3f} s, bare {b:.3f} s", flush=True)
    return results


def arguments(description: str, *, iterations: int, repeats: int) -> argparse.ArgumentParser:
    """The options every throughput script takes (add your own before parsing)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--iterations", type=int, default=iterations)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path)
    return parser


def machine_line(threads: int) -> str:
    """The report's machine line."""
    import torch

    return (
        f"Machine: {cpu_model()}, {threads} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}  "
    )
