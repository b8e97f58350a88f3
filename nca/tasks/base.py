"""Base class of task plugins.

A task (denoising autoencoding, linear probing, ...) lives in its own package
under ``plugins/``, imports only ``nca``'s public API, and is discovered from
the ``nca.tasks`` entry-point group. It provides a typed config, ``train`` and
``evaluate`` entry points, and the config fields it exposes as CLI options of
``nca train``.
"""

from __future__ import annotations

import dataclasses
import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from nca.rules.base import RULE_KINDS, Rule

#: Options of ``nca train`` itself; a task cannot reuse these names as CLI options.
RESERVED_OPTIONS = frozenset(
    {
        "rule",
        "task",
        "config",
        "override",
        "preset",
        "run_dir",
        "name",
        "seed",
        "device",
        "resume",
        "quiet",
        "help",
    }
)


@dataclass
class RunContext:
    """Where and how a task runs.

    Attributes:
        run_dir: Directory for the resolved config, metrics, pictures, checkpoints.
        seed: Seed of the run; per-rank generators derive from it (``seed + rank``
            where ranks must differ, e.g. data order and masks).
        device: Torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        resume: Continue from the latest checkpoint in ``run_dir`` if there is one.
        quiet: No progress bars (also implied when stdout is not a terminal).
        rank: Global rank of this process (0 without torch.distributed).
        world_size: Number of processes.
        local_rank: Rank on this machine (selects the GPU).
        stop_after: Stop after this many iterations in this invocation (checkpointed);
            continue later with ``resume``. ``None``: run to the end.
    """

    run_dir: Path
    seed: int = 0
    device: str = "cpu"
    resume: bool = False
    quiet: bool = False
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    stop_after: int | None = None

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints, pictures and logs (rank 0)."""
        return self.rank == 0


class Task(ABC):
    """Base of task plugins.

    Class attributes:
        name: Registered name (informative; the entry-point name is authoritative).
        config_class: The task's config dataclass.
        cli_options: Config fields offered as ``nca train --field-name`` options.
        rule_kinds: Rule kinds this task can train (``"ca"``, ``"feedforward"``).
        presets: Named partial configs (e.g. ``paper``, ``quick``).
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type]
    cli_options: ClassVar[tuple[str, ...]] = ()
    rule_kinds: ClassVar[frozenset[str]] = frozenset(RULE_KINDS)
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: Preset used when none is given, by device type (e.g. ``{"cpu": "quick"}``).
    default_presets: ClassVar[Mapping[str, str]] = {}
    #: One line per preset, shown when a preset is picked and by ``nca info``.
    preset_descriptions: ClassVar[Mapping[str, str]] = {}
    #: Custom flags for CLI options, e.g. ``{"source": "--from"}`` (default ``--field-name``).
    cli_flags: ClassVar[Mapping[str, str]] = {}
    #: False for tasks that can run without ``--rule`` (``train`` then gets ``rule=None``).
    requires_rule: ClassVar[bool] = True

    @classmethod
    def source_label(cls, config: Any) -> str:
        """Short name for run directories when no rule is given."""
        return "model"

    def __init__(self, config: Any) -> None:
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        self.config = config

    @classmethod
    def summary(cls) -> str:
        """First line of the class docstring."""
        doc = inspect.getdoc(cls) or ""
        return doc.splitlines()[0] if doc else ""

    def validate(self) -> None:
        """Check what can be checked before the run directory is written (e.g. that an
        input run exists); raise with a clear message otherwise."""
        return None

    def adapt_rule_config(self, rule_config: Any) -> Any:
        """Adjust a rule's config to the task's data before the rule is built (e.g. set
        ``image_channels`` for an RGB dataset). Returns the (possibly new) config."""
        return rule_config

    def check_rule(self, rule: Rule) -> None:
        """Raise :class:`ValueError` if this task cannot train ``rule``."""
        if rule.kind not in self.rule_kinds:
            raise ValueError(
                f"task {self.name!r} cannot train {rule.kind} rule {rule.rule_name!r}; "
                f"it supports: {', '.join(sorted(self.rule_kinds))}"
            )

    @abstractmethod
    def train(self, rule: Rule | None, run: RunContext) -> Mapping[str, float]:
        """Train ``rule`` (already built from its config; ``None`` only for tasks with
        ``requires_rule = False``) and return final metrics."""

    @abstractmethod
    def evaluate(self, checkpoint: Path, run: RunContext) -> Mapping[str, float]:
        """Evaluate the model stored in ``checkpoint`` and return metrics."""

    # Optional hooks used by ``nca analyze`` (image tasks implement them).
    def analysis_images(self, count: int) -> tuple[Any, Any]:
        """``(images (N, C, H, W) in [0, 1], labels (N,))`` from the task's test data."""
        raise NotImplementedError(f"task {self.name!r} provides no images for analysis")

    def corrupt(self, images: Any, patch: tuple[int, int], coverage: float, generator: Any):
        """``images`` with noise patches of ``patch`` pixels covering ``coverage``."""
        raise NotImplementedError(f"task {self.name!r} defines no corruption for analysis")


def check_task_class(obj: Any) -> None:
    """Raise :class:`TypeError` unless ``obj`` is a valid task class."""
    if not (isinstance(obj, type) and issubclass(obj, Task)):
        raise TypeError(f"expected a subclass of nca.tasks.Task, got {obj!r}")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise TypeError(f"{obj.__name__} does not implement: {missing}")
    config_class = getattr(obj, "config_class", None)
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
        raise TypeError(f"{obj.__name__}.config_class must be a dataclass, got {config_class!r}")
    fields = {f.name for f in dataclasses.fields(config_class)}
    clashing = set(obj.cli_options) & RESERVED_OPTIONS
    if clashing:
        raise TypeError(
            f"{obj.__name__}.cli_options {sorted(clashing)} clash with options of `nca train` "
            f"itself; rename the config fields"
        )
    unknown = set(obj.cli_options) - fields
    if unknown:
        raise TypeError(f"{obj.__name__}.cli_options names unknown config fields {sorted(unknown)}")
    bad_flags = {
        k: v
        for k, v in obj.cli_flags.items()
        if k not in obj.cli_options or not str(v).startswith("--")
    }
    if bad_flags:
        raise TypeError(f"{obj.__name__}.cli_flags must map cli_options to '--flags': {bad_flags}")
    unknown_presets = set(obj.default_presets.values()) - set(obj.presets)
    if unknown_presets:
        raise TypeError(f"{obj.__name__}.default_presets names unknown presets {unknown_presets}")
    bad_kinds = set(obj.rule_kinds) - set(RULE_KINDS)
    if bad_kinds:
        raise TypeError(f"{obj.__name__}.rule_kinds has unknown kinds {sorted(bad_kinds)}")
