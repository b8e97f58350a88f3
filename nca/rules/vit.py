"""ViT baseline: a feed-forward Vision Transformer denoiser (paper §4, Tables 1-2).

Built from timm's ``VisionTransformer`` and configured to match the paper:
patch 1×1 (configurable), no class token, ``depth`` encoder blocks with 4
heads, ``d = 128``, a bias-free QKV projection, MLP size 64 (what the
parameter counts imply, as for ViTCA), PyTorch LayerNorms, the handcrafted
1-D sinusoidal positional encoding added to the tokens, and a head
(final LayerNorm + Linear) that decodes every token directly into its
patch's output pixels.

Linear-probe features (``features``): the authors' release probes the tokens
before any block runs, ``LN1(embed + PE)`` — the first block's attention
pre-norm applied to the embedded patches plus the positional encoding
(``embedding``, the default); ``final`` reads the final LayerNorm after the
blocks instead (this toolkit's earlier choice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from einops import rearrange
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from nca.layers.init import Initialisation, check_initialisation, initialise_
from nca.layers.positional import sinusoidal_encoding
from nca.rules.base import FeedForwardRule

ProbeFeatures = Literal["embedding", "final"]
#: Valid values of :attr:`ViTConfig.probe_tokens`.
PROBE_FEATURES: tuple[str, ...] = get_args(ProbeFeatures)


@dataclass
class ViTConfig:
    """Configuration of the :class:`ViT` baseline; defaults are the paper's (§4).

    Attributes:
        image_channels: Image channels in and out (1 grayscale, 3 RGB).
        embed_dim: Token size ``d`` (paper: 128).
        heads: Attention heads (paper: 4).
        mlp_dim: Hidden size of each block's MLP (64, as the parameter counts imply).
        depth: Encoder blocks (paper: 1; Table 2 also 2 and 3).
        patch_size: Pixels per token ``(P_H, P_W)`` (paper: 1x1).
        init: ``he`` (Kaiming-normal weights, zero biases; paper §4) or ``pytorch``
            (PyTorch's defaults, what the authors' release uses; also replaces timm's
            own initialisation); see :mod:`nca.layers.init`.
        probe_tokens: What :meth:`ViT.features` returns for linear probing: ``embedding``
            (the first block's pre-norm ``LN1(embed + PE)``, before any block runs:
            the authors' release) or ``final`` (the final LayerNorm after the blocks,
            this toolkit's earlier choice).
    """

    image_channels: int = 1
    embed_dim: int = 128
    heads: int = 4
    mlp_dim: int = 64
    depth: int = 1
    patch_size: tuple[int, int] = (1, 1)
    init: Initialisation = "he"
    probe_tokens: ProbeFeatures = "embedding"

    def __post_init__(self) -> None:
        for name in ("image_channels", "embed_dim", "heads", "mlp_dim", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.embed_dim % self.heads:
            raise ValueError(f"embed_dim {self.embed_dim} must be divisible by heads {self.heads}")
        if len(self.patch_size) != 2 or min(self.patch_size) < 1:
            raise ValueError(f"patch_size must be two positive integers, got {self.patch_size!r}")
        check_initialisation(self.init)
        if self.probe_tokens not in PROBE_FEATURES:
            raise ValueError(
                f"probe_tokens must be one of {PROBE_FEATURES}, got {self.probe_tokens!r}"
            )


class ViT(FeedForwardRule):
    """ViT baseline (timm VisionTransformer, 1×1 patches, no class token): image -> image."""

    config_class = ViTConfig
    presets = {"depth2": {"depth": 2}, "depth3": {"depth": 3}}
    capabilities = frozenset({"features"})

    def __init__(self, config: ViTConfig) -> None:
        super().__init__(config)
        self.image_channels = config.image_channels
        self.patch_size = tuple(config.patch_size)
        self.vit = VisionTransformer(
            img_size=32,  # informative only: dynamic_img_size accepts any multiple of the patch
            patch_size=self.patch_size,
            in_chans=config.image_channels,
            num_classes=config.image_channels * self.patch_size[0] * self.patch_size[1],
            global_pool="",
            class_token=False,
            pos_embed="none",
            embed_dim=config.embed_dim,
            depth=config.depth,
            num_heads=config.heads,
            mlp_ratio=config.mlp_dim / config.embed_dim,
            qkv_bias=False,
            norm_layer=nn.LayerNorm,
            dynamic_img_size=True,
        )
        self.probe_features = config.probe_tokens
        initialise_(self.vit, config.init)

    def _check(self, images: torch.Tensor) -> None:
        if images.ndim != 4 or images.shape[1] != self.image_channels:
            raise ValueError(
                f"images must have shape (B, {self.image_channels}, H, W), "
                f"got {tuple(images.shape)}"
            )
        p_h, p_w = self.patch_size
        if images.shape[-2] % p_h or images.shape[-1] % p_w:
            raise ValueError(
                f"image size {tuple(images.shape[-2:])} is not divisible by the patch size "
                f"{self.patch_size}"
            )

    def _embedded(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Patch embeddings plus the positional encoding ``(B, H'·W', d)``, and ``(H', W')``."""
        self._check(images)
        tokens = self.vit.patch_embed(images)  # (B, H', W', d) with dynamic_img_size
        grid_h, grid_w, dim = tokens.shape[1:]
        tokens = tokens.reshape(tokens.shape[0], grid_h * grid_w, dim)
        pe = sinusoidal_encoding(grid_h * grid_w, dim, device=tokens.device, dtype=tokens.dtype)
        return tokens + pe, (grid_h, grid_w)

    def _tokens(self, images: torch.Tensor) -> torch.Tensor:
        """LayerNorm'd encoder output, channels-last ``(B, H/P_H, W/P_W, d)``."""
        tokens, (grid_h, grid_w) = self._embedded(images)
        tokens = self.vit.norm(self.vit.blocks(tokens))
        return tokens.reshape(-1, grid_h, grid_w, tokens.shape[-1])

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The linear-probe features (paper §4.2) chosen by the config's ``features``.

        ``embedding``: ``blocks[0].norm1(patch_embed(x) + PE)``, the tokens before any
        block runs, normalised by the first block's attention pre-norm (the authors'
        release); ``final``: the final LayerNorm of the encoder output.

        Args:
            images: ``(B, C, H, W)``, ``H`` and ``W`` divisible by the patch size.

        Returns:
            Channels-first ``(B, d, H/P_H, W/P_W)`` (``(B, 128, H, W)`` by default).
        """
        if self.probe_features == "final":
            tokens = self._tokens(images)
        else:
            embedded, (grid_h, grid_w) = self._embedded(images)
            tokens = self.vit.blocks[0].norm1(embedded)  # the first block's attention pre-norm
            tokens = tokens.reshape(-1, grid_h, grid_w, tokens.shape[-1])
        return tokens.permute(0, 3, 1, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C, H, W)``: each token decoded to its patch."""
        pixels = self.vit.head(self._tokens(images))  # (B, H', W', C·P_H·P_W)
        p_h, p_w = self.patch_size
        return rearrange(pixels, "b h w (p1 p2 c) -> b c (h p1) (w p2)", p1=p_h, p2=p_w)
