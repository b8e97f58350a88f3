"""Configuration of the grow task; defaults are the Distill article's (Mordvintsev et al.,
*Growing Neural Cellular Automata*, 2020, and its reference notebook)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nca import Optimizer, Schedule, TrainerConfig

Experiment = Literal["growing", "persistent", "regenerating"]
EXPERIMENTS: tuple[str, ...] = ("growing", "persistent", "regenerating")


@dataclass
class GrowConfig(TrainerConfig):
    """Growing an image from one cell. Defaults follow the article's notebook.

    The engine's fields keep their meaning; their defaults here are the article's:
    Adam at 2e-3 decayed ×0.1 after 2,000 of 8,000 iterations, per-parameter gradient
    normalisation.

    Attributes:
        target: A default target (``lizard``, ``butterfly``, ``mushroom``: emoji shipped
            with the package; ``snowman``, ``tree``, ``mushroom3d``: voxel volumes, grown
            on a 3-D grid) or the path of any RGBA (or RGB) image, or of a ``.npy``
            volume ``(D, H, W, 4)`` (RGBA voxels, uint8 or float in [0, 1]).
        target_size: Largest side of the target after shrinking (the article: 40).
            Volumes are shrunk (trilinear) but never enlarged.
        target_padding: Empty cells around the target on every side (the article: 16).
        experiment: ``growing`` (from the seed every time, no pool), ``persistent``
            (a pool of grids, the highest-loss entry reseeded) or ``regenerating``
            (as persistent, and the lowest-loss entries are damaged with discs).
        batch_size: Grids per iteration (the article: 8).
        pool_size: Pool entries (the article: 1024).
        damage_count: ``regenerating``: lowest-loss pool samples damaged per batch (3).
        steps_min: Smallest rollout length (the article: 64).
        steps_max: Largest rollout length (the article: 96).
        update_rate: Cell fire rate σ (the article: 0.5).
        alive_threshold: Cells whose 3×3 neighbourhood has no alpha above it are dead
            (the article: 0.1).
        eval_repeats: Seeds grown per evaluation.
        validation_steps: Rollout length of the periodic validation (``steps_max`` if unset).
    """

    iterations: int = 8000
    optimizer: Optimizer = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    lr_schedule: Schedule = "step"
    lr_milestones: tuple[int, ...] = (2000,)
    lr_gamma: float = 0.1
    log_every: int = 50
    validate_every: int = 500
    checkpoint_every: int = 500
    target: str = "lizard"
    target_size: int = 40
    target_padding: int = 16
    experiment: Experiment = "regenerating"
    batch_size: int = 8
    pool_size: int = 1024
    damage_count: int = 3
    steps_min: int = 64
    steps_max: int = 96
    update_rate: float = 0.5
    alive_threshold: float = 0.1
    eval_repeats: int = 8
    validation_steps: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("target_size", "batch_size", "steps_min", "eval_repeats"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("target_padding", "damage_count"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.steps_max < self.steps_min:
            raise ValueError(
                f"steps_max ({self.steps_max}) must be >= steps_min ({self.steps_min})"
            )
        if self.experiment not in EXPERIMENTS:
            raise ValueError(
                f"experiment must be one of {', '.join(EXPERIMENTS)}, got {self.experiment!r}"
            )
        if self.experiment != "growing" and self.pool_size < self.batch_size:
            raise ValueError(
                f"pool_size ({self.pool_size}) must hold a batch ({self.batch_size}) for the "
                f"{self.experiment} experiment"
            )
        if self.experiment == "regenerating" and self.damage_count >= self.batch_size:
            raise ValueError(
                f"damage_count ({self.damage_count}) must leave the reseeded sample undamaged: "
                f"below batch_size ({self.batch_size})"
            )
        if not 0 < self.update_rate <= 1:
            raise ValueError(f"update_rate must be in (0, 1], got {self.update_rate}")
        if not 0 <= self.alive_threshold < 1:
            raise ValueError(f"alive_threshold must be in [0, 1), got {self.alive_threshold}")
        if self.validation_steps is not None and self.validation_steps < 1:
            raise ValueError(f"validation_steps must be >= 1 or unset, got {self.validation_steps}")


#: The article's model: 12 hidden channels, identity + Sobel perception, a 128-wide MLP.
_ARTICLE_RULE = {"convca": {"hidden_channels": 12, "laplacian": False}}
PRESETS = {
    # the article's settings are the config defaults
    "paper": {"rule": _ARTICLE_RULE},
    # CPU: a 20-pixel lizard with 6 cells of padding, short rollouts; regenerating
    "quick": {
        "target_size": 20,
        "target_padding": 6,
        "iterations": 1000,
        "batch_size": 4,
        "steps_min": 32,
        "steps_max": 48,
        "lr_milestones": (800,),
        "validate_every": 250,
        "checkpoint_every": 250,
        "log_every": 25,
        "eval_repeats": 4,
        "rule": _ARTICLE_RULE,
    },
}
#: 3-D: a small convca growing the snowman volume.
PRESETS["quick3d"] = {
    "target": "snowman",
    "target_size": 8,
    "target_padding": 2,
    "iterations": 300,
    "batch_size": 4,
    "steps_min": 12,
    "steps_max": 16,
    "lr_milestones": (240,),
    "validate_every": 75,
    "checkpoint_every": 75,
    "log_every": 25,
    "eval_repeats": 4,
    "rule": {"convca": {"hidden_channels": 8, "mlp_channels": 64, "laplacian": False}},
}
PRESET_DESCRIPTIONS = {
    "paper": "the article's settings: 40-pixel target padded by 16, 8000 iterations of "
    "batch 8, T ~ U{64,96}, pool 1024, the regenerating experiment",
    "quick": "a 20-pixel target padded by 6, 1000 iterations of batch 4, T ~ U{32,48}, "
    "the regenerating experiment: about 3.5 minutes on 2 CPU cores",
    "quick3d": "3-D: the snowman volume shrunk to 8 voxels and padded by 2 (a 12x12x12 "
    "grid), 300 iterations of batch 4, T ~ U{12,16}, the regenerating experiment with "
    "balls of damage, a small convca",
}
