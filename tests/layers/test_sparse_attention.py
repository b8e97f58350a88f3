"""Sparse (firing-cells-only) localized attention equals the dense fused attention at
the query rows, in values, attention weights and every gradient (float64)."""

import pytest
import torch
from torch import nn

from nca.layers import Neighbourhood
from nca.layers.localized_attention.prenorm import prenorm_shifted_attention
from nca.layers.localized_attention.sparse import (
    _PreNormSparseAttention,
    neighbour_rows,
    prenorm_sparse_attention,
)
from nca.layers.neighbourhood import BORDERS

CASES = [  # (B, H, W, heads, d, neighbourhood)
    (2, 5, 6, 2, 8, (3, 3)),
    (1, 7, 9, 1, 6, (3, 5)),
    (3, 4, 4, 4, 8, (1, 1)),
    (1, 8, 8, 2, 4, (5, 5)),
]


def _layers(dim, seed):
    torch.manual_seed(seed)
    norm, to_qkv = nn.LayerNorm(dim).double(), nn.Linear(dim, 3 * dim, bias=False).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    return norm, to_qkv


def _grads(out, grad_out, tokens, norm, to_qkv):
    inputs = (tokens, norm.weight, norm.bias, to_qkv.weight)
    return torch.autograd.grad((out * grad_out).sum(), inputs)


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"-n{c[5]}")
@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_sparse_attention_equals_the_dense_rows(border, case, share):
    batch, height, width, heads, dim, size = case
    if border == "circular" and (height < size[0] or width < size[1]):
        pytest.skip("grid smaller than the neighbourhood")
    nbhd = Neighbourhood(size, border)
    norm, to_qkv = _layers(dim, seed=batch * height + width)
    tokens = torch.randn(batch, height, width, dim, dtype=torch.float64, requires_grad=True)
    firing = torch.rand(batch * height * width) < share
    rows = firing.nonzero().squeeze(1)
    if share == 0.5:
        assert 0 < len(rows) < firing.numel()  # a real subset

    dense, dense_attn = prenorm_shifted_attention(tokens, norm, to_qkv, heads, nbhd)
    dense_rows = dense.reshape(-1, heads, dim // heads)[rows]
    dense_attn_rows = dense_attn.reshape(-1, heads, nbhd.members)[rows]
    out, attn = prenorm_sparse_attention(tokens, norm, to_qkv, heads, nbhd, rows)
    assert out.shape == (len(rows), heads, dim // heads)
    assert attn.shape == (len(rows), heads, nbhd.members)
    torch.testing.assert_close(out, dense_rows)
    torch.testing.assert_close(attn, dense_attn_rows)

    grad_out = torch.randn(out.shape, dtype=torch.float64)
    grads = _grads(out, grad_out, tokens, norm, to_qkv)
    expected = _grads(dense_rows, grad_out, tokens, norm, to_qkv)
    names = ("tokens", "norm.weight", "norm.bias", "qkv")
    for name, a, b in zip(names, grads, expected, strict=True):
        torch.testing.assert_close(a, b, msg=f"grad of {name}")


def test_sparse_attention_gradcheck():
    """Against finite differences, not only against the dense custom backward."""
    nbhd = Neighbourhood((3, 3), "zeros")
    norm, to_qkv = _layers(4, seed=0)
    tokens = torch.randn(1, 4, 5, 4, dtype=torch.float64, requires_grad=True)
    rows = torch.tensor([0, 3, 7, 12, 19])

    def fn(tokens, weight, bias, qkv):
        return _PreNormSparseAttention.apply(tokens, weight, bias, qkv, rows, 2, nbhd, 1e-5)[0]

    params = [t.detach().clone().requires_grad_(True) for t in (norm.weight, norm.bias)]
    qkv = to_qkv.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (tokens, *params, qkv))


@pytest.mark.parametrize("border", BORDERS)
def test_neighbour_rows_point_at_the_neighbours(border):
    nbhd = Neighbourhood((3, 5), border)
    batch, height, width = 2, 4, 6
    rows = torch.tensor([0, 5, 23, 24, 47])
    got, outside = neighbour_rows(rows, nbhd, batch, height, width)
    assert got.shape == (nbhd.members, len(rows))
    assert (outside is None) == (border == "circular")
    for n, row in enumerate(rows.tolist()):
        b, i, j = row // (height * width), row % (height * width) // width, row % width
        for m, (di, dj) in enumerate(nbhd.offsets()):
            ni, nj = i + di, j + dj
            if border == "circular":
                expected = b * height * width + (ni % height) * width + nj % width
            elif 0 <= ni < height and 0 <= nj < width:
                expected = b * height * width + ni * width + nj
                assert not outside[m, n]
            else:  # the zero row after the grid
                expected = batch * height * width
                assert outside[m, n]
            assert got[m, n] == expected


def test_sparse_attention_refuses_a_qkv_bias():
    nbhd = Neighbourhood((3, 3))
    with pytest.raises(ValueError, match="bias-free"):
        prenorm_sparse_attention(
            torch.randn(1, 3, 3, 4), nn.LayerNorm(4), nn.Linear(4, 12), 2, nbhd, torch.tensor([0])
        )
