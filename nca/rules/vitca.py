"""ViTCA: the Vision Transformer Cellular Automaton update rule (paper §3, Fig. 3).

Cells ``(B, C, H', W')`` are read channels-last as tokens, linearly embedded to
``d``, given positional information, passed through ``depth`` pre-norm encoder
blocks whose self-attention is localized to each cell's ``N_H × N_W``
neighbourhood, and decoded by a head (LayerNorm + Linear) into an update of the
output and hidden channels. The head's last layer starts at zero, so an
untrained rule leaves the grid unchanged (paper §4; ``zero_last_layer``).

It serves grids of 1, 2 and 3 dimensions (``dims``; the paper's are 2-D): cells
``(B, C, *cells)``, a neighbourhood, patch and image size with one entry per
dimension, the coordinates ``x`` / ``x, y`` / ``x, y, z`` in the concatenated
encodings, a learned embedding table over the training grid resized linearly,
bilinearly or trilinearly, and the handcrafted encoding over the row-major token
index. Every capability (head masking, attention maps ``(B, *cells, heads, M)``,
the sparse update) serves every dimension.

Fidelity notes (the paper's tables are what the authors ran):

* **MLP size 64.** §4 says the MLP size is 128, but every parameter count in
  Tables 1, 2 and 4 (and the ViT baseline's) is reproduced exactly only with a
  hidden MLP size of 64, kept fixed in the embed-size ablation; the inverted
  bottleneck variant ("i") uses d = 64 and MLP 256 as stated.
* **Output projection.** The heads' concatenated outputs are projected by a
  ``d×d`` matrix with bias, except with a single head, where the authors'
  release skips it (Table 2: 1 head = 76.0K).
* **Scale.** Attention logits are divided by ``sqrt(d/h)`` (per head), as in the release.
* **Initialisation.** The paper's text says He initialisation (``init="he"``, the
  default); the release leaves PyTorch's defaults (``init="pytorch"``), zeroes the
  head's last layer as the paper says, and draws a ``learned`` embedding with std 1
  (``pos_embedding_std=1.0``; default 0.02).
* **PE channels.** ``sincos5`` adds ``4J = 20`` channels per pixel, ``sincos5xy``
  22 and ``xy`` 2; learned embeddings are ``(H'·W') × d`` for the training size. On a
  grid of ``n`` dimensions: ``2nJ``, ``2nJ + n`` and ``n`` (one coordinate per axis).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from nca.core.layout import CellLayout
from nca.core.seed import CELL_INITS, CellInit
from nca.core.update import firing_rows, scatter_rows
from nca.layers.encoder_block import LocalizedEncoderBlock
from nca.layers.init import (
    Initialisation,
    check_flag,
    check_initialisation,
    initialise_,
    zero_layer_,
)
from nca.layers.layernorm_linear import LayerNormLinear
from nca.layers.localized_attention import BACKENDS, AttentionBackend
from nca.layers.neighbourhood import BORDERS, Border, Neighbourhood
from nca.layers.positional import sinusoidal_encoding, xy_fourier_encoding
from nca.rules.base import CARule, parameter_count

PositionalEncoding = Literal["handcrafted", "learned", "sincos5", "sincos5xy", "xy", "none"]
POSITIONAL_ENCODINGS: tuple[str, ...] = get_args(PositionalEncoding)
#: Encodings concatenated to cells as channels (the others are added to tokens).
CONCATENATED = ("sincos5", "sincos5xy", "xy")
#: The per-dimension options: their 2-D defaults and the entry a ``dims``-D default repeats.
PER_DIMENSION = {"patch_size": 1, "neighbourhood": 3, "image_size": 32}
#: ``F.interpolate`` modes that resize a learned embedding, by dimension.
_RESIZE = {1: "linear", 2: "bilinear", 3: "trilinear"}


@dataclass
class ViTCAConfig:
    """Configuration of :class:`ViTCA`; defaults are the paper's baseline (§4).

    Attributes:
        image_channels: Output image channels ``C_o`` (1 grayscale, 3 RGB, 4 RGBA).
        input_channels: Injected input channels ``C_i``; unset: ``image_channels``
            (denoising); 0 for tasks without an input (growing from a seed).
        hidden_channels: Hidden channels per cell ``C_h`` (paper: 32).
        embed_dim: Token size ``d`` (paper: 128).
        heads: Attention heads ``h``; must divide ``embed_dim`` (paper: 4).
        mlp_dim: Hidden size of each block's MLP (64: what the paper's parameter
            counts imply; its prose says 128).
        depth: Encoder blocks (paper: 1).
        dims: Spatial dimensions of the grid, 1 to 3 (tasks set it; the paper's are 2).
            ``patch_size``, ``neighbourhood`` and ``image_size`` have one entry per
            dimension; left at their 2-D defaults ``(1, 1)``, ``(3, 3)`` and ``(32, 32)``
            they become ``(1,)*dims``, ``(3,)*dims`` and ``(32,)*dims``; any other value
            with another number of entries is refused.
        patch_size: Pixels per cell ``(P_H, P_W)``, non-overlapping (paper: 1x1); one
            entry per dimension.
        neighbourhood: Attention neighbourhood ``(N_H, N_W)``, odd sizes (paper: 3x3,
            Moore); one entry per dimension (``(3, 3, 3)``: the 26-neighbour Moore
            neighbourhood of 3-D).
        border: Neighbours outside the grid: ``zeros`` (zero keys/values that stay in
            the softmax, the authors' release), ``exclude`` (left out of the softmax)
            or ``circular`` (the grid wraps).
        positional: ``handcrafted`` / ``learned`` (added to tokens), ``sincos5``,
            ``sincos5xy``, ``xy`` (concatenated to cells as channels; the coordinates
            are ``x``, ``x, y`` or ``x, y, z`` by dimension) or ``none``.
        pe_frequencies: Fourier frequencies ``J`` of the ``sincos`` encodings (paper: 5).
        image_size: Training image size ``(H, W)``, one entry per dimension; sizes the
            ``learned`` embedding, which is resized (linearly, bilinearly, trilinearly)
            for other grid sizes.
        cell_init: How grids are seeded: ``constant`` (0.5 / 0, paper) or ``random``.
        attention_backend: Localized-attention implementation: ``shifted`` (fast
            default), ``conv`` (the authors' approach) or ``reference`` (slow, exact).
        init: ``he`` (Kaiming-normal weights, zero biases; paper §4 and Alg. 1) or
            ``pytorch`` (PyTorch's default initialisation, what the authors' release
            uses); see :mod:`nca.layers.init`.
        zero_last_layer: Zero the head's Linear (weight and bias) so an untrained rule
            leaves the grid unchanged (paper §4; the authors' release zeroes it too).
        pos_embedding_std: Standard deviation of the normal the ``learned`` positional
            embedding is drawn from (0.02, timm's convention; the authors' release
            draws ``torch.randn``, i.e. 1.0; not truncated in either case). Must be > 0.
    """

    image_channels: int = 1
    input_channels: int | None = None
    hidden_channels: int = 32
    embed_dim: int = 128
    heads: int = 4
    mlp_dim: int = 64
    depth: int = 1
    dims: int = 2
    patch_size: tuple[int, ...] = (1, 1)
    neighbourhood: tuple[int, ...] = (3, 3)
    border: Border = "zeros"
    positional: PositionalEncoding = "handcrafted"
    pe_frequencies: int = 5
    image_size: tuple[int, ...] = (32, 32)
    cell_init: CellInit = "constant"
    attention_backend: AttentionBackend = "shifted"
    init: Initialisation = "he"
    zero_last_layer: bool = True
    pos_embedding_std: float = 0.02

    def __post_init__(self) -> None:
        for name in ("image_channels", "embed_dim", "heads", "mlp_dim", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_channels < 0:
            raise ValueError(f"hidden_channels must be >= 0, got {self.hidden_channels}")
        if self.input_channels is not None and self.input_channels < 0:
            raise ValueError(f"input_channels must be >= 0 or unset, got {self.input_channels}")
        if self.embed_dim % self.heads:
            raise ValueError(f"embed_dim {self.embed_dim} must be divisible by heads {self.heads}")
        choices = {
            "border": BORDERS,
            "positional": POSITIONAL_ENCODINGS,
            "cell_init": CELL_INITS,
            "attention_backend": tuple(BACKENDS),
        }
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"{name} must be one of {valid}, got {getattr(self, name)!r}")
        check_initialisation(self.init)
        check_flag(self.zero_last_layer, "zero_last_layer")
        std = self.pos_embedding_std
        if isinstance(std, bool) or not isinstance(std, (int, float)) or not std > 0:
            raise ValueError(f"pos_embedding_std must be a number > 0, got {std!r}")
        if not math.isfinite(std):
            raise ValueError(f"pos_embedding_std must be finite, got {std!r}")
        if self.pe_frequencies < 1:
            raise ValueError(f"pe_frequencies must be >= 1, got {self.pe_frequencies}")
        self._check_sizes()

    def _check_sizes(self) -> None:
        """Check ``dims`` and give the per-dimension options ``dims`` entries: a 2-D
        default becomes its ``dims``-D default, any other length is refused."""
        dims = self.dims
        if isinstance(dims, bool) or dims not in (1, 2, 3):
            raise ValueError(f"dims must be 1, 2 or 3 (spatial dimensions), got {dims!r}")
        for name, entry in PER_DIMENSION.items():
            value = tuple(getattr(self, name))
            if value == (entry, entry) and dims != 2:
                setattr(self, name, (entry,) * dims)
            elif len(value) != dims:
                other = f" or set dims to {len(value)}" if len(value) in (1, 2, 3) else ""
                raise ValueError(
                    f"{name} {value} has {len(value)} entries but dims is {dims}; give one "
                    f"per dimension (e.g. {(entry,) * dims}){other}"
                )
            elif any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
                raise ValueError(
                    f"{name} must be positive integers, one per dimension, got {value}"
                )
        Neighbourhood(tuple(self.neighbourhood), self.border)  # validates odd sizes
        if any(n % p for n, p in zip(self.image_size, self.patch_size, strict=True)):
            raise ValueError(
                f"image_size {tuple(self.image_size)} is not divisible by patch_size "
                f"{tuple(self.patch_size)}"
            )


class ViTCA(CARule):
    """ViTCA: localized-attention Vision Transformer update rule (Tesfaldet et al. 2022)."""

    config_class = ViTCAConfig
    #: Table 1 variants: 32 heads, xy coordinates, inverted bottleneck (d=64, MLP 256).
    presets = {
        "32": {"heads": 32},
        "32xy": {"heads": 32, "positional": "xy"},
        "i": {"embed_dim": 64, "mlp_dim": 256},
        "i16": {"embed_dim": 64, "mlp_dim": 256, "heads": 16},
        "ixy": {"embed_dim": 64, "mlp_dim": 256, "positional": "xy"},
        "i16xy": {"embed_dim": 64, "mlp_dim": 256, "heads": 16, "positional": "xy"},
    }
    capabilities = frozenset({"head_masking", "attention_maps", "sparse_update"})
    dimensions = frozenset({1, 2, 3})

    def __init__(self, config: ViTCAConfig) -> None:
        super().__init__(config)
        self.positional = config.positional
        self.pe_frequencies = config.pe_frequencies
        self.cell_init = config.cell_init
        dims, fourier = config.dims, 2 * config.dims * config.pe_frequencies  # 4J in 2-D
        positional_channels = {
            "sincos5": fourier,
            "sincos5xy": fourier + dims,
            "xy": dims,
        }.get(config.positional, 0)
        patch = tuple(config.patch_size)
        inputs = config.image_channels if config.input_channels is None else config.input_channels
        self.layout = CellLayout(
            inputs,
            config.image_channels,
            config.hidden_channels,
            positional_channels,
            patch,
        )
        nbhd = Neighbourhood(tuple(config.neighbourhood), config.border)
        dim = config.embed_dim
        self.embed = nn.Linear(self.layout.cell_channels, dim)
        self.learned_grid = tuple(n // p for n, p in zip(config.image_size, patch, strict=True))
        self._pe_cache: tuple | None = None  # (key, handcrafted encoding); not state
        if config.positional == "learned":
            self.pos_embedding = nn.Parameter(torch.zeros(*self.learned_grid, dim))
        else:
            self.register_parameter("pos_embedding", None)
        self.blocks = nn.ModuleList(
            LocalizedEncoderBlock(dim, config.heads, config.mlp_dim, nbhd, config.attention_backend)
            for _ in range(config.depth)
        )
        self.head = LayerNormLinear(dim, self.layout.updatable_channels)
        self._initialise(config)

    def _initialise(self, config: ViTCAConfig) -> None:
        initialise_(self, config.init)
        if self.pos_embedding is not None:
            # a normal of this std; the bounds at ±100 std never cut in practice and keep
            # std 0.02 bit-identical to the former trunc_normal_(std=0.02) (bounds ±2)
            std = float(config.pos_embedding_std)
            nn.init.trunc_normal_(self.pos_embedding, std=std, a=-100 * std, b=100 * std)
        if config.zero_last_layer:
            # the first rollouts do not move the cells (paper §4)
            zero_layer_(self.head.linear)

    # ------------------------------------------------------------- positions
    def positional_encoding(
        self, *size: int, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor | None:
        """Per-pixel channels for the concatenated encodings, else ``None``.

        Args:
            *size: Image size in pixels, one entry per dimension (``H, W`` in 2-D).
            device: Device of the result.
            dtype: Its dtype.

        Returns:
            ``(C_γ, *size)``, or ``None`` for the encodings added to tokens.
        """
        if len(size) != self.layout.dims:
            raise ValueError(
                f"this ViTCA serves {self.layout.dims}-D grids; got an image size of "
                f"{len(size)} entries {size}"
            )
        if self.positional not in CONCATENATED:
            return None
        return xy_fourier_encoding(
            *size,
            frequencies=self.pe_frequencies,
            fourier=self.positional != "xy",
            raw_xy=self.positional != "sincos5",
            device=device,
            dtype=dtype,
        )

    def _token_positions(self, size: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
        """``(*cells, d)`` added to the tokens of a grid of ``size`` cells, or ``None``."""
        if self.positional == "handcrafted":
            key = (size, like.shape[-1], like.device, like.dtype)
            if torch.compiler.is_compiling():
                # a compiled step must not guard on the cache: a graph traced before the
                # cache was filled differs from one traced after, and a checkpointed
                # segment's recomputation could pick the other (CheckpointError), or the
                # next rollout recompile; inside a graph the encoding is a constant anyway
                pe = sinusoidal_encoding(math.prod(size), key[1], device=key[2], dtype=key[3])
                return pe.view(*size, key[1])
            if self._pe_cache is None or self._pe_cache[0] != key:
                pe = sinusoidal_encoding(math.prod(size), key[1], device=key[2], dtype=key[3])
                self._pe_cache = (key, pe.view(*size, key[1]))
            return self._pe_cache[1]
        if self.positional == "learned":
            pe = self.pos_embedding
            if size != self.learned_grid:
                pe = F.interpolate(
                    pe.movedim(-1, 0).unsqueeze(0),
                    size=size,
                    mode=_RESIZE[len(size)],
                    align_corners=False,
                )[0].movedim(0, -1)
            return pe
        return None

    # ------------------------------------------------------------- inspection
    # (the ``head_masking`` and ``attention_maps`` capabilities, nca.rules.CAPABILITIES)
    @property
    def attention_layers(self) -> list[nn.Module]:
        """Each block's :class:`~nca.layers.attention.LocalizedSelfAttention`, in order."""
        return [block.attn for block in self.blocks]

    def head_count(self) -> int:
        """Attention heads per block (``head_masking`` masks subsets of them)."""
        return self.attention_layers[0].heads

    def attention_neighbourhood(self) -> Neighbourhood:
        """The neighbourhood whose ``M`` members (``N_H·N_W`` in 2-D) :meth:`attention_maps`
        weighs."""
        return self.attention_layers[-1].neighbourhood

    def mask_heads(self, heads: Sequence[int]) -> None:
        """Zero the attention of these heads in every block (paper Fig. 7).

        Args:
            heads: Head indices in ``[0, heads)``; ``[]`` unmasks all.

        Raises:
            ValueError: an index is out of range.
        """
        for layer in self.attention_layers:
            layer.mask_heads(heads)

    def record_attention(self, enabled: bool = True) -> None:
        """Keep each block's last attention weights (see :meth:`attention_maps`).

        Args:
            enabled: Start (``True``) or stop recording; stopping drops what was kept.
        """
        for layer in self.attention_layers:
            layer.record_attention = enabled
            if not enabled:
                layer.last_attention = None

    def attention_maps(self) -> list[torch.Tensor]:
        """Last step's attention weights per block.

        Returns:
            One tensor per block, each ``(B, *cells, heads, M)``: ``(B, H', W', heads, M)``
            with ``M = N_H·N_W`` in 2-D.

        Raises:
            RuntimeError: nothing recorded (call :meth:`record_attention` before a step).
        """
        maps = [layer.last_attention for layer in self.attention_layers]
        if any(m is None for m in maps):
            raise RuntimeError("no attention recorded: call rule.record_attention() before a step")
        return maps

    # ---------------------------------------------------------------- forward
    def forward(self, cells: torch.Tensor, firing: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, C, *cells) -> (B, C_o·P + C_h, *cells)`` update (``P = P_H·P_W`` in 2-D).

        Args:
            cells: The grid, ``(B, C, H', W')`` in 2-D, ``(B, C, L')`` in 1-D,
                ``(B, C, D', H', W')`` in 3-D.
            firing: ``(B, 1, *cells)`` 0/1 mask of the cells whose update will be used
                (the ``sparse_update`` capability). Every cell still supplies keys and
                values, but the last block's queries and MLP and the head run on the
                firing cells only; the update is zero elsewhere. ``None``: every cell.
        """
        self.layout.check_cells(cells)
        tokens = self.embed(cells.movedim(1, -1))  # (B, *cells, d)
        positions = self._token_positions(tuple(cells.shape[2:]), tokens)
        if positions is not None:
            tokens = tokens + positions
        if firing is None:
            for block in self.blocks:
                tokens = block(tokens)
            return self.head(tokens).movedim(-1, 1)
        if firing.shape != (cells.shape[0], 1, *cells.shape[2:]):
            raise ValueError(
                f"firing mask must be {(cells.shape[0], 1, *cells.shape[2:])} for cells "
                f"{tuple(cells.shape)}, got {tuple(firing.shape)}"
            )
        for block in self.blocks[:-1]:  # every cell's tokens feed the next block's keys
            tokens = block(tokens)
        rows = firing_rows(firing)
        update = self.head(self.blocks[-1](tokens, rows=rows))  # (N, C_o·P + C_h)
        return scatter_rows(update, rows, tokens.shape[:-1])


__all__ = ["ViTCA", "ViTCAConfig", "parameter_count"]
