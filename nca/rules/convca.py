"""ConvCA: the classic convolutional NCA update rule (Mordvintsev et al., 2020).

Not a rule of the ViTCA paper: it is the toolkit's smallest complete CA rule,
the reference [30] the paper builds on, and a template for new rules. Perceive
with fixed depthwise filters (identity, Sobel x/y, optionally a Laplacian:
growing and textures), a learned 3×3 convolution with a ReLU (self-classifying
digits, whose authors found "fully trainable 3x3 kernels outperformed their fixed
counterparts"), or the cell and learned depthwise 3×3 filters (``depthwise``: the
fixed filters' shape with learned values, NCALab's default perception), then update
each cell with a 1×1-convolution MLP whose last layer is zero-initialised, so an
untrained rule leaves the grid unchanged.

It serves grids of 1, 2 and 3 dimensions (``dims``): the fixed filters are generated
for the dimension (:func:`perception_filters`: the Sobel pair of 2-D becomes one
derivative per axis, a triple in 3-D), the convolutions are ``conv{1,2,3}d``. On a CPU
they run channels-last where that measured faster (:func:`compute_format`): the same
values, gradients equal to float rounding.

Initialisation: PyTorch's defaults (``init="pytorch"``, the default, as in the
PyTorch ports of the Distill article) or He (``init="he"``, ReLU gain, the
ViTCA paper's choice for its rules); the last layer is zeroed unless
``zero_last_layer=false``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from nca.core.layout import CellLayout
from nca.core.seed import CELL_INITS, CellInit
from nca.layers.init import (
    Initialisation,
    check_flag,
    check_initialisation,
    initialise_,
    zero_layer_,
)
from nca.rules.base import CARule

#: ConvCA's perceptions (see :class:`ConvCAConfig`).
PERCEPTIONS = ("fixed", "learned", "depthwise")
#: Convolutions by the grid's number of spatial dimensions.
_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
#: Channels-last memory formats by spatial dimensions (1-D grids have none).
CHANNELS_LAST = {2: torch.channels_last, 3: torch.channels_last_3d}
#: PyTorch's CPU convolution runs a 1×1 kernel on one thread with its own (THNN) kernel
#: below this many samples, oneDNN otherwise.
_ONEDNN_MIN_BATCH = 16
_SMOOTH = (1.0, 2.0, 1.0)  # the Sobel filters' smoothing across an axis
_DERIVATIVE = (-1.0, 0.0, 1.0)


def _outer(vectors: list[tuple[float, ...]]) -> torch.Tensor:
    """The outer product of 1-D vectors: a ``3 × ... × 3`` kernel, axis ``i`` from
    ``vectors[i]``. Made where tensors are made by default (so a rule built on the
    ``meta`` device, to measure it, allocates nothing)."""
    kernel = torch.tensor(vectors[0])
    for vector in vectors[1:]:
        kernel = kernel[..., None] * torch.tensor(vector)
    return kernel


def perception_filters(dims: int, laplacian: bool) -> torch.Tensor:
    """The fixed perception filters of a ``dims``-dimensional grid: ``(F, 3, ..., 3)``.

    Identity; one Sobel derivative per axis, the last axis first (in 2-D: Sobel x, then
    Sobel y), each the derivative ``[-1, 0, 1]`` along its axis times the smoothing
    ``[1, 2, 1]`` across the others, over ``2·4^(n-1)``; and (``laplacian``) the
    smoothed Laplacian ``(⊗[1, 2, 1] - 4^n δ) / 4^n``. In 2-D these are exactly
    Mordvintsev et al.'s ``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]] / 8`` and
    ``[[1, 2, 1], [2, -12, 2], [1, 2, 1]] / 16``.
    """
    identity = torch.zeros((3,) * dims)
    identity[(1,) * dims] = 1.0
    filters = [identity]
    for axis in reversed(range(dims)):
        vectors = [_DERIVATIVE if i == axis else _SMOOTH for i in range(dims)]
        filters.append(_outer(vectors) / (2 * 4 ** (dims - 1)))
    if laplacian:
        smooth = _outer([_SMOOTH] * dims)
        filters.append((smooth - 4**dims * identity) / 4**dims)
    return torch.stack(filters)


def compute_format(cells: torch.Tensor) -> torch.memory_format | None:
    """The memory format ConvCA computes in for ``cells`` ``(B, C, *grid)``: channels-last
    where it measured faster, ``None`` (the cells' own layout) elsewhere.

    On a CPU, oneDNN's 1×1 and depthwise convolutions of NHWC/NDHWC run without reorders:
    the growing NCA's step takes 0.71-0.80x with 2 threads, a 3-D rollout 0.51-0.62x, and
    0.79-0.86x on one thread (``benchmarks/results/convca_step_variants_cpu.md``). A 2-D
    batch of fewer than 16 grids on one thread is the exception: PyTorch then gives the
    1×1 convolutions to its own kernel, slower on channels-last (1.08-1.24x), so it stays
    NCHW. Other devices keep the cells' layout: not measured there.
    """
    dims = cells.ndim - 2
    if cells.device.type != "cpu" or dims not in CHANNELS_LAST:
        return None
    if dims == 2 and cells.shape[0] < _ONEDNN_MIN_BATCH and _one_thread():
        return None
    return CHANNELS_LAST[dims]


@torch.compiler.assume_constant_result
def _one_thread() -> bool:
    # a constant to torch.compile (a graph break otherwise): a compiled step keeps the
    # layout of the thread count it was compiled under, which only costs speed
    return torch.get_num_threads() == 1


@dataclass
class ConvCAConfig:
    """Configuration of :class:`ConvCA`.

    Attributes:
        image_channels: Output image channels ``C_o`` (1 grayscale, 3 RGB, 4 RGBA).
        input_channels: Injected input channels ``C_i``; unset: ``image_channels``
            (denoising); 0 for tasks without an input (growing from a seed).
        hidden_channels: Hidden channels per cell ``C_h``.
        mlp_channels: Width of the per-cell update MLP.
        perception: ``fixed`` (identity, Sobel x/y and optionally the Laplacian, per
            channel), ``learned`` (a 3×3 convolution over all channels and a ReLU) or
            ``depthwise`` (the cell and ``depthwise_filters`` learned 3×3 filters per
            channel, no bias, no ReLU: ``C·(K + 1)`` features).
        perception_channels: ``learned``: its output channels (Randazzo et al.: 80).
        depthwise_filters: ``depthwise``: learned filters per channel ``K``.
        laplacian: ``fixed``: add a Laplacian filter to identity and Sobel x/y.
        padding: Border handling of the perception filters.
        dims: Spatial dimensions of the grid, 1 to 3 (tasks set it).
        cell_init: How grids are seeded: ``constant`` (0.5 / 0) or ``random``.
        init: ``pytorch`` (PyTorch's defaults; the default, not a paper rule) or ``he``
            (Kaiming-normal, ReLU gain, zero biases); see :mod:`nca.layers.init`.
        zero_last_layer: Zero the MLP's last layer so an untrained rule leaves the grid
            unchanged (Mordvintsev et al.'s "do-nothing" start).
    """

    image_channels: int = 1
    input_channels: int | None = None
    hidden_channels: int = 16
    mlp_channels: int = 128
    perception: Literal["fixed", "learned", "depthwise"] = "fixed"
    perception_channels: int = 80
    depthwise_filters: int = 2
    laplacian: bool = True
    padding: Literal["zeros", "circular"] = "zeros"
    dims: int = 2
    cell_init: CellInit = "constant"
    init: Initialisation = "pytorch"
    zero_last_layer: bool = True

    def __post_init__(self) -> None:
        for name in ("image_channels", "mlp_channels", "perception_channels", "depthwise_filters"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_channels < 0:
            raise ValueError(f"hidden_channels must be >= 0, got {self.hidden_channels}")
        if self.input_channels is not None and self.input_channels < 0:
            raise ValueError(f"input_channels must be >= 0 or unset, got {self.input_channels}")
        if self.perception not in PERCEPTIONS:
            raise ValueError(f"perception must be one of {PERCEPTIONS}, got {self.perception!r}")
        if self.dims not in (1, 2, 3):
            raise ValueError(f"dims must be 1, 2 or 3 (spatial dimensions), got {self.dims!r}")
        if self.padding not in ("zeros", "circular"):
            raise ValueError(f"padding must be 'zeros' or 'circular', got {self.padding!r}")
        if self.cell_init not in CELL_INITS:
            raise ValueError(f"cell_init must be one of {CELL_INITS}, got {self.cell_init!r}")
        check_initialisation(self.init)
        check_flag(self.zero_last_layer, "zero_last_layer")


class ConvCA(CARule):
    """Classic convolutional NCA: Sobel/Laplacian (or learned 3×3) perception + 1×1 MLP."""

    config_class = ConvCAConfig
    presets = {"tiny": {"hidden_channels": 4, "mlp_channels": 16}}
    dimensions = frozenset({1, 2, 3})

    def __init__(self, config: ConvCAConfig) -> None:
        super().__init__(config)
        inputs = config.image_channels if config.input_channels is None else config.input_channels
        dims = config.dims
        self.layout = CellLayout(
            inputs, config.image_channels, config.hidden_channels, patch_size=(1,) * dims
        )
        self.cell_init = config.cell_init
        self.padding = config.padding
        channels = self.layout.cell_channels
        self.perception = self.depthwise = None
        if config.perception == "learned":
            self.perception = _CONV[dims](channels, config.perception_channels, 3)
            perceived = config.perception_channels
        elif config.perception == "depthwise":
            # one multiplier-1 depthwise convolution per filter, as the fixed filters
            self.depthwise = nn.ModuleList(
                _CONV[dims](channels, channels, 3, groups=channels, bias=False)
                for _ in range(config.depthwise_filters)
            )
            perceived = channels * (config.depthwise_filters + 1)
        else:
            filters = perception_filters(dims, config.laplacian)  # (F, 3, ..., 3)
            # one depthwise (channel multiplier 1) kernel per filter but the identity,
            # which is the cell itself: oneDNN's backward of a multiplier-3 depthwise
            # convolution costs more (benchmarks/results/convca_step_variants_cpu.md)
            kernels = filters[1:].unsqueeze(1).unsqueeze(1)  # (F-1, 1, 1, 3, ...)
            kernels = kernels.expand(-1, channels, *[-1] * (dims + 1)).contiguous()
            self.register_buffer("perception_kernels", kernels, persistent=False)
            perceived = channels * len(filters)
        self.update_mlp = nn.Sequential(
            _CONV[dims](perceived, config.mlp_channels, 1),
            nn.ReLU(),
            _CONV[dims](config.mlp_channels, self.layout.updatable_channels, 1),
        )
        if config.init == "he":  # "pytorch": the layers are as constructed
            initialise_(self.update_mlp, "he")
            for layer in (self.perception, self.depthwise):
                if layer is not None:
                    initialise_(layer, "he")
        if config.zero_last_layer:  # do-nothing start (zero-initialised last layer)
            zero_layer_(self.update_mlp[-1])

    def perceive(self, cells: torch.Tensor) -> torch.Tensor:
        """``(B, C, *cells) -> (B, C·F, *cells)`` with ``F`` fixed filters per channel
        (``depthwise``: the cell and ``K`` learned ones, ``F = K + 1``), or
        ``(B, perception_channels, *cells)`` (learned)."""
        dims = self.layout.dims
        memory_format = compute_format(cells)
        if memory_format is not None:  # a no-op where the grid is channels-last already
            cells = cells.contiguous(memory_format=memory_format)
        if self.padding == "circular":
            padded, padding = F.pad(cells, (1, 1) * dims, mode="circular"), 0
            if memory_format is not None:
                padded = padded.contiguous(memory_format=memory_format)
        else:  # the convolution's own zero padding: the same values, without a padded copy
            padded, padding = cells, 1
        if self.perception is not None:
            weight, bias = self.perception.weight, self.perception.bias
            return F.relu(_CONV_FN[dims](padded, weight, bias, padding=padding))
        if self.depthwise is not None:
            kernels = [layer.weight for layer in self.depthwise]  # K × (C, 1, 3, ...)
        else:
            kernels = self.perception_kernels.to(cells.dtype)  # (F-1, C, 1, 3, ...)
        groups = cells.shape[1]
        derived = [_CONV_FN[dims](padded, k, padding=padding, groups=groups) for k in kernels]
        if memory_format is None:
            # (B, C, F, *cells) -> (B, C·F, *cells): channel c's filter f at c·F + f
            return torch.stack([cells, *derived], dim=2).flatten(1, 2)
        # the same order, stacked channels-last: (B, *cells, C, F) -> (B, *cells, C·F)
        last = [t.movedim(1, -1) for t in (cells, *derived)]
        return torch.stack(last, dim=-1).flatten(-2).movedim(-1, 1)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        """``(B, C, *cells) -> (B, C_o + C_h, *cells)`` update."""
        self.layout.check_cells(cells)
        return self.update_mlp(self.perceive(cells))
