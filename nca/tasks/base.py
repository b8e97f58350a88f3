"""Base class of task plugins.

A task (denoising autoencoding, linear probing, ...) lives in its own package
under ``plugins/``, imports only ``nca``'s public API, and is discovered from
the ``nca.tasks`` entry-point group. It provides a typed config (extending
:class:`nca.engine.TrainerConfig`), its data, an objective and an evaluation;
:mod:`nca.engine` trains it.
"""

from __future__ import annotations

import dataclasses
import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from nca.engine.config import TrainerConfig
from nca.engine.rule_config import PRESET_RULE_KEY
from nca.engine.run import RunContext
from nca.rules import RULE_KINDS, Rule, RuleNeeds, rule_mismatch

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
        "stop_after",
        "init_from",
        "quiet",
        "help",
    }
)


class Task(ABC):
    """Base of task plugins: data, an objective and an evaluation.

    The training engine (:class:`nca.engine.Trainer`) owns everything else: the loop,
    optimiser and schedule, checkpoints and exact resume, random streams, Ctrl-C, the
    NaN stop, bf16, data parallelism, the metrics log and the progress bar. A task's
    config extends :class:`nca.engine.TrainerConfig`.

    Required:
        * :meth:`train_data` — the training data (anything; the task reads it back in
          :meth:`sample_batch`);
        * :meth:`sample_batch` — one iteration's batch, drawn from ``state.streams``;
        * :meth:`objective` — the batch's named losses under the model;
        * :meth:`evaluate` — final metrics of a trained model.

    The rule: :meth:`rule_needs` declares what the task needs of a rule's layout
    (channels in and out, grid size, one cell per pixel); the engine turns the needs
    into rule settings (:meth:`rule_settings`, the one hook for the rule's config)
    and checks every rule it builds or loads against them (:meth:`check_rule`).

    Optional: :meth:`build_model` (default: the rule as an
    :class:`~nca.core.ImageModel`; grid tasks configure a :class:`~nca.core.GridModel`),
    :meth:`make_pool` and :meth:`after_step` (a sample pool), :meth:`validation` and
    :meth:`pictures` (periodic), and :meth:`total_iterations`.

    Class attributes:
        name: Default name. :func:`nca.tasks.create_task` sets an instance's ``name``
            to the name it was registered under, which is the one recorded in
            checkpoints and compared by ``nca eval``.
        config_class: The task's config dataclass (extends ``TrainerConfig``).
        cli_options: Config fields offered as ``nca train --field-name`` options.
        rule_kinds: Rule kinds this task can train (``"ca"``, ``"feedforward"``).
        presets: Named partial configs (e.g. ``paper``, ``quick``). A preset's
            ``"rule"`` entry holds defaults for the rule's config, ``{"*": {...}}`` for
            every rule that has the field and ``{"vitca": {...}}`` for one rule; the
            rule's own preset and ``-o rule.FIELD=...`` win over them.
        streams: The run's random streams: ``{name: "cpu" | "device"}``.
        best_metric: ``(validation metric, "min" | "max")``: the engine keeps the
            weights of the best validation in ``checkpoints/best.pt``; ``None``: none.
        experiments: ``nca analyze`` experiments of this task: ``{name: method}``. The
            method is ``method(model, out: Path, *, seed: int, **options) -> dict``: it
            writes pictures to ``out`` and returns the numbers behind them; its
            keyword-only parameters are the experiment's ``-o`` options.
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
    #: False for tasks that can run without ``--rule`` (they build their own model).
    requires_rule: ClassVar[bool] = True
    #: Random streams; ``steps`` (on the device) drives CA update masks.
    streams: ClassVar[Mapping[str, str]] = {"data": "cpu", "steps": "device"}
    best_metric: ClassVar[tuple[str, str] | None] = None
    experiments: ClassVar[Mapping[str, str]] = {}

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
        #: The name checkpoints record (the registered name under ``create_task``).
        self.name: str = type(self).name
        #: The preset the config came from (set by :func:`nca.tasks.create_task`); its
        #: rule defaults apply when :func:`nca.launch` builds the rule from its name.
        self.preset: str | None = None

    @classmethod
    def summary(cls) -> str:
        """First line of the class docstring."""
        doc = inspect.getdoc(cls) or ""
        return doc.splitlines()[0] if doc else ""

    def validate(self) -> None:
        """Check what can be checked before the run directory is written (e.g. that an
        input run exists); raise with a clear message otherwise."""
        return None

    def rule_needs(self) -> RuleNeeds:
        """What this task needs of a rule's layout (default: nothing)."""
        return RuleNeeds()

    def rule_settings(self, fields: set[str]) -> dict[str, Any]:
        """Rule config values the task decides, among the rule's config ``fields``.

        The default is what :meth:`rule_needs` decides (``image_channels``,
        ``input_channels``, ``image_size``). They apply before the rule's config is
        validated, on every path that builds a rule (``nca train``, :func:`nca.launch`);
        a user value that contradicts one is an error.
        """
        return self.rule_needs().settings(fields)

    def check_rule_class(self, rule_class: type, name: str) -> None:
        """Raise :class:`ValueError` (one line) before rule ``name`` (of ``rule_class``) is
        even configured, if its kind or the grid dimensions it serves rule it out."""
        why = self._kind_or_dimension_problem(rule_class.kind, rule_class.dimensions)
        if why:
            kind = rule_class.kind
            raise ValueError(f"task {self.name!r} cannot train {kind} rule {name!r}: {why}")

    def check_rule(self, rule: Rule) -> None:
        """Raise :class:`ValueError` (one line) if this task cannot train ``rule``: a
        rule kind it does not train, or a layout short of :meth:`rule_needs`."""
        name = getattr(rule, "rule_name", None) or type(rule).__name__
        kind = getattr(rule, "kind", None)
        why = self._kind_or_dimension_problem(kind, None)
        if not why:
            problems = rule_mismatch(rule, self.rule_needs())
            if not problems:
                return
            why = (
                f"{'; '.join(problems)} (the task sets image_channels, input_channels and "
                f"image_size on the rules that have those options)"
            )
        raise ValueError(f"task {self.name!r} cannot train {kind} rule {name!r}: {why}")

    def _kind_or_dimension_problem(self, kind: str | None, dimensions) -> str:
        if kind not in self.rule_kinds:
            return f"it trains {' and '.join(sorted(self.rule_kinds))} rules only"
        dims = self.rule_needs().dims
        if dimensions is not None and dims not in dimensions:
            serves = ", ".join(f"{d}-D" for d in sorted(dimensions))
            return f"it serves {serves} grids, the task's grids are {dims}-D"
        return ""

    # ------------------------------------------------------------ the model
    def build_model(self, rule: Rule | None, run: RunContext) -> Any:
        """The module the engine trains and :meth:`evaluate` scores (an ``nn.Module``).

        Default: ``rule`` as an :class:`nca.core.ImageModel` with the config's
        ``update_rate`` (σ, default 0.5), ``eval_steps``, ``octaves``, ``octave_steps``,
        ``gradient`` and ``fixed_point`` where the config has them. Tasks without a rule
        (``requires_rule = False``) build theirs.
        """
        from nca.core import PAPER_UPDATE_RATE, ImageModel

        if rule is None:
            raise ValueError(f"task {self.name!r} needs a rule (--rule NAME)")
        cfg = self.config
        return ImageModel(
            rule,
            update_rate=getattr(cfg, "update_rate", PAPER_UPDATE_RATE),
            steps=getattr(cfg, "eval_steps", 64),
            octaves=getattr(cfg, "octaves", 0),
            octave_steps=getattr(cfg, "octave_steps", "total"),
            gradient=getattr(cfg, "gradient", "bptt"),
            fixed_point=getattr(cfg, "fixed_point", None),
        )

    # ------------------------------------------------------------- training
    @abstractmethod
    def train_data(self, run: RunContext) -> Any:
        """The training data of this rank (shard it by ``run.rank`` under torchrun)."""

    @abstractmethod
    def sample_batch(self, data: Any, state: Any) -> Any:
        """One iteration's batch from ``data``; draw randomness from ``state.streams``
        only (``state`` is a :class:`nca.engine.TrainState`), so resume is exact."""

    @abstractmethod
    def objective(self, model: Any, batch: Any, state: Any) -> Any:
        """The batch's losses under ``model``: an :class:`nca.engine.Losses`."""

    def total_iterations(self, data: Any) -> int:
        """Optimiser steps of the run (default: ``config.iterations``)."""
        return self.config.iterations

    def make_pool(self, model: Any, data: Any, generator: Any) -> Any:
        """The run's pool of grids, or ``None`` (default: none).

        Anything with ``state_dict()`` and ``load_state_dict()`` (the engine checkpoints
        it per rank and restores it on resume): a :class:`nca.core.SlotPool` (fixed
        slots, written back in place: the Growing NCA pool) or a
        :class:`nca.core.ShufflePool` (append, shuffle, truncate: the ViTCA pool). The
        task samples it in :meth:`sample_batch` and refills it in :meth:`after_step`.

        Args:
            model: The model from :meth:`build_model` (e.g. to seed the grids).
            data: The training data from :meth:`train_data`.
            generator: The CPU generator the pool shuffles or samples with.
        """
        return None

    def after_step(self, batch: Any, losses: Any, state: Any) -> None:
        """Called after each optimiser step (e.g. to return grids to the pool)."""
        return None

    def validation(self, model: Any, state: Any) -> Any:
        """Every ``validate_every`` iterations (main rank, eval mode, no grad): a
        :class:`nca.engine.Validation` (metrics, and samples for :meth:`pictures`), or
        just a mapping of metrics."""
        return {}

    def pictures(self, model: Any, state: Any, folder: Path, samples: Any) -> None:
        """Write sample pictures to ``folder`` after each validation (main rank).

        Args:
            model: The model being trained.
            state: The iteration's :class:`nca.engine.TrainState`.
            folder: Where pictures go (``RUN/samples``).
            samples: The validation's ``samples`` (``None`` if it returned plain metrics).
        """
        return None

    def describe(self, data: Any) -> str:
        """One line printed when training starts (what is trained on)."""
        return ""

    # ----------------------------------------------------------- evaluation
    @abstractmethod
    def evaluate(self, model: Any, run: RunContext) -> Mapping[str, float]:
        """Score a trained ``model`` (from :meth:`build_model`) and return metrics."""

    # Optional hook used by ``nca play``.
    def playground(self, model: Any) -> Any:
        """A fresh :class:`nca.play.Playground` (one per viewer tab) around a trained
        ``model`` from :meth:`build_model`; tasks without a live grid have none."""
        raise ValueError(f"task {self.name!r} has no interactive viewer (nca play)")

    @classmethod
    def analysis_experiments(cls) -> tuple[str, ...]:
        """The experiments ``nca analyze`` runs on this task's runs: its own
        (:attr:`experiments`), else the paper's when it provides images and their noise
        (:meth:`analysis_images` and :meth:`corrupt`), else none."""
        if cls.experiments:
            return tuple(cls.experiments)
        if cls.analysis_images is not Task.analysis_images and cls.corrupt is not Task.corrupt:
            from nca.analysis.experiments import EXPERIMENTS

            return tuple(EXPERIMENTS)
        return ()

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
    if hasattr(obj, "adapt_rule_config"):
        raise TypeError(
            f"{obj.__name__}.adapt_rule_config is no longer called: declare the task's needs "
            f"in rule_needs() and extra rule values in rule_settings(fields)"
        )
    _check_config_class(obj)
    _check_cli_options(obj)
    _check_presets(obj)
    bad_streams = {k: v for k, v in obj.streams.items() if v not in ("cpu", "device")}
    if bad_streams:
        raise TypeError(f"{obj.__name__}.streams must map names to 'cpu' or 'device'")
    best = obj.best_metric
    if best is not None and (
        not isinstance(best, tuple) or len(best) != 2 or best[1] not in ("min", "max")
    ):
        raise TypeError(f"{obj.__name__}.best_metric must be (metric, 'min' | 'max'), got {best!r}")
    not_methods = {
        name: method
        for name, method in obj.experiments.items()
        if not callable(getattr(obj, method, None))
    }
    if not_methods:
        raise TypeError(f"{obj.__name__}.experiments names missing methods: {not_methods}")
    bad_kinds = set(obj.rule_kinds) - set(RULE_KINDS)
    if bad_kinds:
        raise TypeError(f"{obj.__name__}.rule_kinds has unknown kinds {sorted(bad_kinds)}")


def _check_config_class(obj: type) -> None:
    config_class = getattr(obj, "config_class", None)
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
        raise TypeError(f"{obj.__name__}.config_class must be a dataclass, got {config_class!r}")
    if not issubclass(config_class, TrainerConfig):
        raise TypeError(
            f"{obj.__name__}.config_class {config_class.__name__} must extend "
            f"nca.engine.TrainerConfig (the engine's iterations, lr, ... settings)"
        )


def _check_cli_options(obj: type) -> None:
    fields = {f.name for f in dataclasses.fields(obj.config_class)}
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


def _check_presets(obj: type) -> None:
    unknown_presets = set(obj.default_presets.values()) - set(obj.presets)
    if unknown_presets:
        raise TypeError(f"{obj.__name__}.default_presets names unknown presets {unknown_presets}")
    for preset, values in obj.presets.items():
        rule_part = values.get(PRESET_RULE_KEY, {})
        if not isinstance(rule_part, Mapping) or not all(
            isinstance(v, Mapping) for v in rule_part.values()
        ):
            raise TypeError(
                f"{obj.__name__}.presets[{preset!r}]['rule'] must map '*' or rule names to "
                f"field defaults, got {rule_part!r}"
            )
