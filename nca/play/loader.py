"""Load a run for ``nca play``: its task, its trained model, and a playground factory."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nca.play.playground import Playground


@dataclass
class PlayTarget:
    """A trained run ready to be played with.

    Attributes:
        task: The run's task (built from its stored config).
        model: The task's model around the trained rule (frozen, eval mode).
        checkpoint: The checkpoint it was loaded from.
        device: Where the model runs.
        model_lock: Held around every call of the shared model (see
            :mod:`nca.play.session`).
    """

    task: Any
    model: Any
    checkpoint: Path
    device: str
    model_lock: threading.Lock = field(default_factory=threading.Lock)

    def playground(self) -> Playground:
        """A fresh playground (one per tab)."""
        playground = self.task.playground(self.model)
        if not isinstance(playground, Playground):
            raise TypeError(
                f"task {self.task.name!r} returned {type(playground).__name__} from "
                f"playground(); expected an nca.Playground"
            )
        return playground

    def describe(self) -> dict:
        """Run facts for the page (JSON-ready)."""
        rule = self.model.rule
        return {
            "task": self.task.name,
            "rule": getattr(rule, "rule_name", None) or type(rule).__name__,
            "checkpoint": shown_checkpoint(self.checkpoint),
            "device": self.device,
            "update_rate": self.model.automaton.update_rate,
        }


def shown_checkpoint(checkpoint: Path) -> str:
    """How the page names a checkpoint: its path, or ``pretrained NAME`` for the weights
    of a shipped model (not a path inside the installed package)."""
    from nca.pretrained import shipped_name

    name = shipped_name(checkpoint)
    return f"pretrained {name}" if name is not None else str(checkpoint)


def load_play_target(source: str | Path, *, device: str = "cpu") -> PlayTarget:
    """The run in ``source`` (a run directory or checkpoint) on ``device``.

    Raises:
        ValueError: the run's task has no viewer, or its model is not a CA (one line).
    """
    from nca.checkpoint import find_checkpoint, load_checkpoint
    from nca.tasks import TASKS, Task, load_run

    checkpoint = find_checkpoint(source)
    name = (load_checkpoint(checkpoint).get("task") or {}).get("name")
    if name in TASKS and TASKS.load(name).playground is Task.playground:
        raise ValueError(f"task {name!r} has no interactive viewer (nca play needs a live grid)")
    stored = load_run(checkpoint, device=device)
    target = PlayTarget(stored.task, stored.model, checkpoint, device)
    target.playground()  # fail now (e.g. a feed-forward rule), not in the first tab
    return target
