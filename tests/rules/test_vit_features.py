"""ViT linear-probe features: ``embedding`` (the release's LN1(embed + PE)) or ``final``."""

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from nca import create_rule
from nca.layers.positional import sinusoidal_encoding


def _vit(patch=(1, 1), **overrides):
    torch.manual_seed(0)
    rule = create_rule("vit", embed_dim=32, heads=4, patch_size=patch, **overrides)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # LayerNorms with distinct, non-trivial affine parameters
        for module in rule.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(1 + 0.5 * torch.randn(module.weight.shape, generator=g))
                module.bias.copy_(0.5 * torch.randn(module.bias.shape, generator=g))
    return rule.eval()


def _embedded(rule, images, patch):
    """Patch embedding (a strided convolution) plus the 1-D sinusoidal encoding,
    ``(B, H'·W', d)``, computed without the rule's own code path."""
    proj = rule.vit.patch_embed.proj
    tokens = F.conv2d(images, proj.weight, proj.bias, stride=patch)  # (B, d, H', W')
    _, d, h, w = tokens.shape
    tokens = tokens.flatten(2).transpose(1, 2)  # (B, H'·W', d), row-major cells
    return tokens + sinusoidal_encoding(h * w, d), (h, w)


@pytest.mark.parametrize("patch", [(1, 1), (2, 2)])
def test_embedding_features_are_the_first_blocks_prenorm_of_embed_plus_pe(patch):
    rule = _vit(patch)
    assert rule.config.probe_tokens == "embedding"  # the default (the authors' release)
    images = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    tokens, (h, w) = _embedded(rule, images, patch)
    norm1 = rule.vit.blocks[0].norm1
    expected = F.layer_norm(tokens, (tokens.shape[-1],), norm1.weight, norm1.bias, norm1.eps)
    expected = rearrange(expected, "b (h w) d -> b d h w", h=h, w=w)
    with torch.no_grad():
        features = rule.features(images)
    assert features.shape == (2, 32, 8 // patch[0], 8 // patch[1])
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("patch", [(1, 1), (2, 2)])
def test_final_features_are_the_final_layernorm_after_the_blocks(patch):
    rule = _vit(patch, probe_tokens="final")
    images = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    tokens, (h, w) = _embedded(rule, images, patch)
    with torch.no_grad():
        final = rule.vit.norm(rule.vit.blocks(tokens))  # the former features() path
        features = rule.features(images)
        out = rule(images)
    expected = rearrange(final, "b (h w) d -> b d h w", h=h, w=w)
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)
    # the denoiser's output decodes those same tokens, whichever features are probed
    pixels = rule.vit.head(final)
    p1, p2 = patch
    decoded = rearrange(pixels, "b (h w) (p1 p2 c) -> b c (h p1) (w p2)", h=h, p1=p1, p2=p2)
    torch.testing.assert_close(out, decoded, atol=1e-5, rtol=1e-5)


def test_the_two_choices_differ_and_share_weights():
    embedding, final = _vit(), _vit(probe_tokens="final")
    final.load_state_dict(embedding.state_dict())  # same weights: only the read-out differs
    images = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        a, b = embedding.features(images), final.features(images)
        assert torch.equal(embedding(images), final(images))
    assert a.shape == b.shape and not torch.allclose(a, b, atol=1e-3)
