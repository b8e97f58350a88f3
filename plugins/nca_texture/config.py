"""Configuration of the texture task; defaults are the article's PyTorch notebook
(Niklasson et al., *Self-Organising Textures*, Distill 2021, ``texture_nca_pytorch.ipynb``
as published with the article: the Gram-matrix loss)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nca import Optimizer, Schedule, TrainerConfig

STYLE_LOSSES: tuple[str, ...] = ("gram", "ot")


@dataclass
class TextureConfig(TrainerConfig):
    """A texture grown from empty cells, matched in VGG16 feature statistics.

    The engine's fields keep their meaning; their defaults here are the notebook's: Adam at
    1e-3, ×0.3 after 2,000 of 4,000 iterations, per-parameter gradient normalisation.

    Attributes:
        target: ``spots`` (shipped with the package) or the path of any image.
        target_size: Largest side of the target after shrinking (the notebook: 128).
        grid_size: Side of the (square, toroidal) training grid (the notebook: 128).
        loss: ``gram`` (mean squared error of Gram matrices of VGG16's relu1_1 ... relu5_1,
            the article's) or ``ot`` (sliced optimal transport of the same features, the
            notebook's later revision).
        ot_projections: ``ot``: random projections per layer (the notebook: 32).
        overflow_weight: Weight of the overflow loss ``Σ |x − clamp(x, −1, 1)|`` over
            every channel of every cell (the notebook: 1).
        vgg_weights: File with torchvision's VGG16 weights (``features.N.weight`` /
            ``bias``, or a whole ``vgg16`` state dict); empty: torchvision's download
            (cached in ``~/.cache/torch``).
        batch_size: Grids per iteration (the notebook: 4).
        pool_size: Pool entries (the notebook: 256).
        reseed_every: Every this many iterations, the batch's first grid is replaced by
            the seed (the notebook: 8).
        steps_min: Smallest rollout length (the notebook: 32).
        steps_max: Largest rollout length (the notebook: 95).
        update_rate: Cell fire rate σ (the notebook: 0.5).
        eval_steps: Rollout of the evaluation from the seed (the notebook's videos: ~500).
        eval_size: Side of the evaluation grid (the article: textures grow on any grid).
    """

    iterations: int = 4000
    optimizer: Optimizer = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: Schedule = "step"
    lr_milestones: tuple[int, ...] = (2000,)
    lr_gamma: float = 0.3
    log_every: int = 50
    validate_every: int = 500
    checkpoint_every: int = 500
    target: str = "spots"
    target_size: int = 128
    grid_size: int = 128
    loss: Literal["gram", "ot"] = "gram"
    ot_projections: int = 32
    overflow_weight: float = 1.0
    vgg_weights: str = ""
    batch_size: int = 4
    pool_size: int = 256
    reseed_every: int = 8
    steps_min: int = 32
    steps_max: int = 95
    update_rate: float = 0.5
    eval_steps: int = 512
    eval_size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("batch_size", "steps_min", "reseed_every", "eval_steps", "ot_projections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("target_size", "grid_size", "eval_size"):
            if getattr(self, name) < 16:
                raise ValueError(
                    f"{name} must be >= 16 (VGG16's relu5_1 needs 16 pixels), got "
                    f"{getattr(self, name)}"
                )
        if self.steps_max < self.steps_min:
            raise ValueError(
                f"steps_max ({self.steps_max}) must be >= steps_min ({self.steps_min})"
            )
        if self.loss not in STYLE_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(STYLE_LOSSES)}, got {self.loss!r}")
        if self.pool_size < self.batch_size:
            raise ValueError(f"pool_size ({self.pool_size}) must hold a batch ({self.batch_size})")
        if self.overflow_weight < 0:
            raise ValueError(f"overflow_weight must be >= 0, got {self.overflow_weight}")
        if not 0 < self.update_rate <= 1:
            raise ValueError(f"update_rate must be in (0, 1], got {self.update_rate}")


#: The notebook's model: 12 channels (RGB + 9), identity/Sobel/Laplacian perception on a
#: torus, a 96-wide MLP. Attention and U-Net rules: position-free, wrapping borders.
_RULE_DEFAULTS = {
    "convca": {"hidden_channels": 9, "mlp_channels": 96, "padding": "circular"},
    "vitca": {"hidden_channels": 9, "positional": "none", "border": "circular"},
    "unetca": {"hidden_channels": 9},
}
PRESETS = {
    "paper": {"rule": _RULE_DEFAULTS},
    "quick": {
        "target_size": 48,
        "grid_size": 48,
        "eval_size": 64,
        "iterations": 300,
        "lr": 2e-3,
        "lr_milestones": (200,),
        "steps_min": 24,
        "steps_max": 48,
        "pool_size": 64,
        "eval_steps": 192,
        "validate_every": 100,
        "checkpoint_every": 100,
        "log_every": 10,
        "rule": _RULE_DEFAULTS,
    },
}
PRESET_DESCRIPTIONS = {
    "paper": "the notebook's settings: a 128-pixel target on a 128x128 torus, 4,000 "
    "iterations of batch 4, T ~ U{32,95}, pool 256, Gram loss of VGG16 relu1_1-5_1",
    "quick": "a 48-pixel target on a 48x48 torus, 300 iterations of batch 4, "
    "T ~ U{24,48}: a few minutes on 2 CPU cores",
}
