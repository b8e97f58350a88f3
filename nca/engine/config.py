"""The training engine's settings: one typed config that every task's config extends."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal, get_args

from nca.core.equilibrium import FixedPointConfig, GradientMode, check_gradient_mode

Optimizer = Literal["adamw", "adam", "sgd"]
Schedule = Literal["cosine", "constant", "step"]
#: Which weights the final evaluation scores.
EvalCheckpoint = Literal["last", "best"]


@dataclass
class TrainerConfig:
    """Settings of :class:`nca.engine.Trainer`. Defaults are the ViTCA paper's (§4, Alg. 1).

    A task's config dataclass extends this one, so ``-o task.lr=...`` and run config
    files set the engine's fields next to the task's own.

    Attributes:
        iterations: Training iterations ``I`` (paper: 100K).
        optimizer: ``adamw`` (paper), ``adam`` or ``sgd`` (momentum 0.9).
        lr: Learning rate ``η`` (paper: 1e-3).
        weight_decay: Weight decay (AdamW's PyTorch default 0.01; 0 for adam/sgd users
            who want none).
        lr_schedule: ``cosine`` (annealed to 0 over ``iterations``, paper), ``constant``
            or ``step`` (multiplied by ``lr_gamma`` at each of ``lr_milestones``).
        lr_milestones: Iterations at which the ``step`` schedule decays the rate.
        lr_gamma: Factor of each ``step`` decay.
        gradient_normalization: Per-parameter gradient L2 normalisation (Alg. 1 line 23).
        gradient: How rollouts are differentiated: ``bptt`` (through every step, the
            paper's default), ``checkpoint`` (the same gradient with rollouts checkpointed
            in ⌊T/2⌋ segments, App. A.2) or ``fixed-point`` (solve for the equilibrium and
            differentiate it implicitly: memory flat in the number of steps; see
            :mod:`nca.core.equilibrium`). Tasks that have no equilibrium refuse it.
        fixed_point: The ``fixed-point`` mode's solver, tolerances and backward method
            (``-o fixed_point.tol=1e-4``).
        compile: Compile every CA step of the task's model with ``torch.compile`` (CPU
            and CUDA; the first iterations pay the compilation). Where compilation is
            unavailable, one warning says why and the step runs eagerly.
        sparse_update: Each step computes the update of the firing cells only (rules with
            the ``sparse_update`` capability, e.g. ViTCA: the last block's queries, MLP and
            head run on the firing cells; keys and values on all). The same values and
            gradients up to float rounding; less work at σ < 1. Other rules refuse it.
        bf16: bfloat16 autocast for the model's forward pass (meant for CUDA; also runs
            on CPU). Losses and the logged metrics stay float32.
        log_every: Iterations between metric records.
        validate_every: Iterations between validations and sample pictures.
        checkpoint_every: Iterations between checkpoints (also at the end and on Ctrl-C).
        eval_checkpoint: Weights the final evaluation scores: ``last`` (the end of
            training) or ``best`` (``checkpoints/best.pt``: the best validation of the
            task's ``best_metric``, which the authors' release keeps as
            ``nca_best.pth.tar``). ``best.pt`` is written either way.
    """

    iterations: int = 100_000
    optimizer: Optimizer = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.01
    lr_schedule: Schedule = "cosine"
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    gradient_normalization: bool = True
    gradient: GradientMode = "bptt"
    fixed_point: FixedPointConfig = field(default_factory=FixedPointConfig)
    compile: bool = False
    sparse_update: bool = False
    bf16: bool = False
    log_every: int = 50
    validate_every: int = 1000
    checkpoint_every: int = 1000
    eval_checkpoint: EvalCheckpoint = "last"

    def __post_init__(self) -> None:
        check_finite_fields(self)
        for name in ("iterations", "log_every", "validate_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_gradient_mode(self.gradient)
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        for name, kind in (
            ("optimizer", Optimizer),
            ("lr_schedule", Schedule),
            ("eval_checkpoint", EvalCheckpoint),
        ):
            if getattr(self, name) not in get_args(kind):
                raise ValueError(
                    f"{name} must be one of {get_args(kind)}, got {getattr(self, name)!r}"
                )
        milestones = tuple(self.lr_milestones)
        if any(m < 1 for m in milestones) or list(milestones) != sorted(set(milestones)):
            raise ValueError(
                f"lr_milestones must be increasing positive iterations, got {milestones}"
            )
        if self.lr_schedule == "step" and not milestones:
            raise ValueError("lr_schedule=step needs lr_milestones, e.g. lr_milestones=2000")
        if not 0 < self.lr_gamma <= 1:
            raise ValueError(f"lr_gamma must be in (0, 1], got {self.lr_gamma}")


# torch.finfo(torch.float32).max, without importing torch for a config
FLOAT32_MAX = 3.4028234663852886e38


def inert_settings(config: TrainerConfig) -> list[str]:
    """Settings that ``config`` holds but that do nothing, one line each (``nca train``
    prints them as warnings; a task that trains no rollout refuses them instead, as the
    probe task does).

    Today: ``fixed_point.*`` changed from its defaults while ``gradient`` is not
    ``fixed-point``, the only mode that solves for an equilibrium.
    """
    if config.gradient == "fixed-point":
        return []
    defaults = FixedPointConfig()
    changed = [
        f"fixed_point.{item.name}={getattr(config.fixed_point, item.name)}"
        for item in dataclasses.fields(FixedPointConfig)
        if getattr(config.fixed_point, item.name) != getattr(defaults, item.name)
    ]
    if not changed:
        return []
    return [
        f"{', '.join(changed)} would do nothing with gradient={config.gradient}: only "
        f"gradient=fixed-point solves for an equilibrium; leave fixed_point unset or set "
        f"gradient=fixed-point"
    ]


def check_finite_fields(config: object) -> None:
    """Refuse ``inf`` and ``nan`` in every float field of a config (and of the configs it
    holds): ``lr=inf`` trains to NaN weights, and a NaN compares false with every bound
    a ``__post_init__`` checks (``weight_decay=nan`` passes ``< 0``). Files and ``-o``
    values are refused when coerced; this catches configs built in Python.

    Floats beyond float32's range are refused too (``lr=1e39`` is finite in Python but
    overflows the optimizer's float32 arithmetic).

    Raises:
        ValueError: naming the field and its value.
    """
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_finite_fields(value)
        values = value if isinstance(value, (tuple, list)) else (value,)
        for number in values:
            if isinstance(number, float) and not math.isfinite(number):
                raise ValueError(f"{item.name} must be a finite number, got {value}")
            if isinstance(number, float) and abs(number) > FLOAT32_MAX:
                raise ValueError(
                    f"{item.name}={value} is beyond float32's range (|x| <= {FLOAT32_MAX:.4g}), "
                    f"in which the model's arithmetic runs"
                )
