"""The generic NCA core: cell layout, seeding, asynchronous updates, rollout,
pool, fusion/mitosis, damage and training helpers. One concept per module."""

from nca.core.alive import ALIVE_THRESHOLD, AliveMasking, living_mask
from nca.core.automaton import PAPER_UPDATE_RATE, CellularAutomaton, UpdateRuleLike
from nca.core.damage import circle_damage, damage
from nca.core.equilibrium import (
    GRADIENT_MODES,
    FixedPointConfig,
    FixedPointStats,
    GradientMode,
    fixed_point_metrics,
    fixed_point_penalty,
    fixed_point_rollout,
)
from nca.core.fusion import (
    OCTAVE_STEPS,
    OctaveSteps,
    Phase,
    check_octaves_fit,
    fuse,
    mitosis,
    octave_plan,
)
from nca.core.gradients import GRADIENT_NORM_EPS, normalize_gradients_
from nca.core.grid_model import BLANK_SEEDS, BlankSeed, GridModel
from nca.core.image_model import ImageModel, ModelOutput
from nca.core.layout import GROUPS, UPDATABLE_GROUPS, CellLayout
from nca.core.losses import OverflowLosses, image_overflow, overflow_losses
from nca.core.random import SampleGenerators, derive_seed, make_generator
from nca.core.rollout import RolloutResult, paper_checkpoint_segments, rollout
from nca.core.seed import CELL_INITS, CellInit, inject, seed, single_cell_seed
from nca.core.shuffle_pool import PAPER_POOL_CAPACITY, PoolBatch, ShufflePool
from nca.core.slot_pool import SlotPool
from nca.core.update import apply_update, draw_update_mask, firing_rows, scatter_rows

__all__ = [
    "ALIVE_THRESHOLD",
    "BLANK_SEEDS",
    "CELL_INITS",
    "GRADIENT_MODES",
    "GRADIENT_NORM_EPS",
    "GROUPS",
    "OCTAVE_STEPS",
    "PAPER_POOL_CAPACITY",
    "PAPER_UPDATE_RATE",
    "UPDATABLE_GROUPS",
    "AliveMasking",
    "BlankSeed",
    "CellInit",
    "CellLayout",
    "CellularAutomaton",
    "FixedPointConfig",
    "FixedPointStats",
    "GradientMode",
    "GridModel",
    "ImageModel",
    "ModelOutput",
    "OctaveSteps",
    "OverflowLosses",
    "Phase",
    "PoolBatch",
    "RolloutResult",
    "SampleGenerators",
    "ShufflePool",
    "SlotPool",
    "UpdateRuleLike",
    "apply_update",
    "check_octaves_fit",
    "circle_damage",
    "damage",
    "derive_seed",
    "draw_update_mask",
    "firing_rows",
    "fixed_point_metrics",
    "fixed_point_penalty",
    "fixed_point_rollout",
    "fuse",
    "image_overflow",
    "inject",
    "living_mask",
    "make_generator",
    "mitosis",
    "normalize_gradients_",
    "octave_plan",
    "overflow_losses",
    "paper_checkpoint_segments",
    "rollout",
    "scatter_rows",
    "seed",
    "single_cell_seed",
]

#: Earlier names of the two pools (kept importable, with a warning).
DEPRECATED = {"SamplePool": "ShufflePool", "SeedPool": "SlotPool"}


def __getattr__(name: str):
    if name in DEPRECATED:
        import warnings

        new = DEPRECATED[name]
        warnings.warn(f"nca.core.{name} is deprecated: use {new}", DeprecationWarning, 2)
        return globals()[new]
    raise AttributeError(f"module 'nca.core' has no attribute {name!r}")
