"""Every localized-attention backend agrees with the banded-mask reference
(float32, 1e-5) in values, attention weights and gradients."""

import pytest
import torch

from nca.layers import BACKENDS, Neighbourhood, attend
from nca.layers.neighbourhood import BORDERS

FAST = [b for b in BACKENDS if b != "reference"]
CASES = [  # (B, H, W, heads, d_head, neighbourhood)
    (2, 5, 6, 2, 4, (3, 3)),
    (1, 8, 8, 4, 8, (5, 5)),
    (2, 7, 9, 1, 16, (3, 5)),
    (1, 9, 6, 8, 2, (7, 3)),
    (3, 4, 4, 3, 5, (1, 1)),
]


def _qkv(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, requires_grad=True) for _ in range(3)]


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"-n{c[5]}")
def test_backend_matches_reference(backend, border, case):
    *shape, size = case
    if border == "circular" and (shape[1] < size[0] or shape[2] < size[1]):
        pytest.skip("grid smaller than the neighbourhood")
    nbhd = Neighbourhood(size, border)
    q, k, v = _qkv(shape, seed=sum(shape))
    grad_out = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    ref_out, ref_attn = attend(q, k, v, nbhd, "reference")
    ref_grads = torch.autograd.grad((ref_out * grad_out).sum(), (q, k, v))
    out, attn = attend(q, k, v, nbhd, backend)
    grads = torch.autograd.grad((out * grad_out).sum(), (q, k, v))
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attn, ref_attn, atol=1e-5, rtol=1e-5)
    for name, a, b in zip("qkv", grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=f"grad {name}")


@pytest.mark.parametrize("border", BORDERS)
def test_reference_semantics_of_border_modes(border):
    """Hand-checkable corner cell: where its weights go in each border mode."""
    nbhd = Neighbourhood((3, 3), border)
    shape = (1, 4, 4, 1, 2)
    q = torch.zeros(shape)  # all logits 0: weights are uniform over what counts
    k, v = torch.randn(shape), torch.randn(shape)
    _, attn = attend(q, k, v, nbhd, "reference")
    corner = attn[0, 0, 0, 0]  # top-left cell; members in row-major offset order
    outside = torch.tensor([1, 1, 1, 1, 0, 0, 1, 0, 0], dtype=torch.bool)
    if border == "exclude":
        assert torch.allclose(corner[~outside], torch.full((4,), 0.25))
        assert torch.all(corner[outside] == 0)
    else:  # zeros: out-of-grid zero keys keep their share; circular: all 9 are real cells
        assert torch.allclose(corner, torch.full((9,), 1 / 9))


def test_zeros_border_has_zero_values_outside():
    nbhd = Neighbourhood((3, 3), "zeros")
    shape = (1, 3, 3, 1, 1)
    q, k = torch.zeros(shape), torch.zeros(shape)
    v = torch.ones(shape)
    out, _ = attend(q, k, v, nbhd, "shifted")
    # corner sees 4 in-grid ones and 5 zero values with equal weights
    assert torch.isclose(out[0, 0, 0, 0, 0], torch.tensor(4 / 9))
    assert torch.isclose(out[0, 1, 1, 0, 0], torch.tensor(1.0))


def test_bad_arguments():
    with pytest.raises(ValueError, match="1 to 3 odd positive integers"):
        Neighbourhood((2, 3))
    with pytest.raises(ValueError, match="unknown border mode 'reflect'"):
        Neighbourhood((3, 3), "reflect")
    q = torch.zeros(1, 2, 2, 1, 1)
    with pytest.raises(ValueError, match="circular border needs a grid of at least 3x3"):
        attend(q, q, q, Neighbourhood((3, 3), "circular"), "shifted")
    with pytest.raises(ValueError, match="unknown attention backend 'cuda'"):
        attend(q, q, q, Neighbourhood(), "cuda")
    with pytest.raises(ValueError, match="must share the shape"):
        attend(q, q, torch.zeros(1, 2, 2, 1, 2), Neighbourhood(), "shifted")


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize(
    ("shape", "heads", "size"),
    [((2, 6, 5, 16), 4, (3, 3)), ((1, 7, 7, 12), 3, (5, 3)), ((2, 4, 6, 8), 1, (3, 3))],
)
def test_fused_prenorm_attention_matches_unfused_reference(border, shape, heads, size):
    """The default path (LayerNorm + QKV recomputed in backward) equals the plain graph."""
    from einops import rearrange
    from torch import nn

    from nca.layers.localized_attention.prenorm import prenorm_shifted_attention

    torch.manual_seed(sum(shape) + heads)
    dim = shape[-1]
    norm, to_qkv = nn.LayerNorm(dim), nn.Linear(dim, 3 * dim, bias=False)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    tokens = torch.randn(shape, requires_grad=True)
    nbhd = Neighbourhood(size, border)
    params = [tokens, norm.weight, norm.bias, to_qkv.weight]
    grad_out = torch.randn(*shape[:3], heads, dim // heads)

    q, k, v = rearrange(to_qkv(norm(tokens)), "b x y (t h d) -> t b x y h d", t=3, h=heads)
    ref_out, ref_attn = attend(q, k, v, nbhd, "reference")
    ref_grads = torch.autograd.grad((ref_out * grad_out).sum(), params)
    out, attn = prenorm_shifted_attention(tokens, norm, to_qkv, heads, nbhd)
    grads = torch.autograd.grad((out * grad_out).sum(), params)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attn, ref_attn, atol=1e-5, rtol=1e-5)
    for name, a, b in zip(
        ["tokens", "norm.weight", "norm.bias", "qkv.weight"], grads, ref_grads, strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=f"grad {name}")


def test_layernorm_linear_matches_plain_pair():
    from torch import nn

    from nca.layers.layernorm_linear import LayerNormLinear

    torch.manual_seed(0)
    fused = LayerNormLinear(12, 5)
    with torch.no_grad():
        fused.norm.weight.uniform_(0.5, 1.5)
        fused.norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(3, 4, 4, 12, requires_grad=True)
    params = [x, *fused.parameters()]
    grad_out = torch.randn(3, 4, 4, 5)
    plain = fused.linear(nn.functional.layer_norm(x, (12,), fused.norm.weight, fused.norm.bias))
    ref = torch.autograd.grad((plain * grad_out).sum(), params)
    out = fused(x)
    got = torch.autograd.grad((out * grad_out).sum(), params)
    torch.testing.assert_close(out, plain)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_localized_attention_stays_an_importable_package():
    """Nothing in ``nca.layers`` rebinds the subpackage's name (e.g. to a function)."""
    import inspect
    import subprocess
    import sys

    import nca.layers
    import nca.layers.localized_attention.prenorm as prenorm

    assert inspect.ismodule(nca.layers.localized_attention)
    assert nca.layers.localized_attention.prenorm is prenorm
    assert nca.layers.attend is nca.layers.localized_attention.attend
    code = (
        "import nca.layers; import nca.layers.localized_attention.prenorm as p; "
        "from nca.layers.localized_attention import shifted, conv, reference"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
