"""Neighbourhoods and localized attention on grids of 1, 2 and 3 dimensions: every fast
backend (``conv``, ``shifted``, the fused pre-norm and the sparse rows) agrees with the
banded-mask reference in values, weights and gradients for every border mode; each
custom backward passes a float64 gradcheck in 1-D and 3-D; sizes of the wrong dimension
are refused in one line."""

import pytest
import torch
from einops import rearrange
from torch import nn

from nca.layers import BACKENDS, Neighbourhood, attend
from nca.layers.localized_attention.prenorm import (
    _PreNormShiftedAttention,
    prenorm_shifted_attention,
)
from nca.layers.localized_attention.sparse import (
    _PreNormSparseAttention,
    neighbour_rows,
    prenorm_sparse_attention,
)
from nca.layers.neighbourhood import BORDERS, CELL_AXES
from nca.layers.positional import xy_fourier_encoding, xy_grid

FAST = [b for b in BACKENDS if b != "reference"]
CASES = [  # (B, *cells, heads, d_head, neighbourhood)
    (2, 7, 2, 4, (3,)),
    (1, 9, 1, 3, (5,)),
    (3, 2, 2, 3, (1,)),
    (2, 5, 6, 2, 4, (3, 5)),
    (2, 4, 5, 3, 2, 4, (3, 3, 3)),
    (1, 5, 4, 6, 1, 3, (3, 1, 5)),
    (1, 2, 3, 3, 2, 2, (3, 3, 3)),  # smaller than the neighbourhood along one axis
]


def _case_id(case) -> str:
    *shape, size = case
    return "x".join(map(str, shape)) + "-n" + "x".join(map(str, size))


def _fits(border, shape, size) -> bool:
    """A circular border needs a grid at least as large as the neighbourhood."""
    cells = shape[1 : 1 + len(size)]
    return border != "circular" or all(n >= s for n, s in zip(cells, size, strict=True))


def _qkv(shape, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=dtype, requires_grad=True) for _ in range(3)]


def _layers(dim, seed, dtype=torch.float32):
    torch.manual_seed(seed)
    norm, to_qkv = nn.LayerNorm(dim).to(dtype), nn.Linear(dim, 3 * dim, bias=False).to(dtype)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    return norm, to_qkv


# ------------------------------------------------------------------ neighbourhoods
def test_members_are_row_major_in_every_dimension():
    assert Neighbourhood((3,)).offsets() == [(-1,), (0,), (1,)]
    two = Neighbourhood((3, 3)).offsets()  # the 2-D order must not change
    assert two == [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)]
    moore = Neighbourhood((3, 3, 3))
    assert moore.members == 27 and moore.dims == 3 and moore.radius == (1, 1, 1)
    assert moore.offsets()[:4] == [(-1, -1, -1), (-1, -1, 0), (-1, -1, 1), (-1, 0, -1)]
    assert moore.offsets()[13] == (0, 0, 0)  # the centre is the middle member
    assert Neighbourhood((1, 3, 5)).members == 15


@pytest.mark.parametrize("size", [(), (3, 3, 3, 3), (2,), (3, 4, 3), (0, 3)])
def test_bad_sizes_are_refused_in_one_line(size):
    with pytest.raises(ValueError, match="1 to 3 odd positive integers") as refused:
        Neighbourhood(size)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("size", [(3,), (3, 5), (3, 1, 5)])
def test_pad_and_outside_mask(border, size):
    nbhd = Neighbourhood(size, border)
    cells = (6, 7, 5)[: len(size)]
    x = torch.randn(2, *cells, 3, 4)
    padded = nbhd.pad(x)
    assert padded.shape == (2, *(n + 2 * r for n, r in zip(cells, nbhd.radius, strict=True)), 3, 4)
    first = nbhd.pad(x[..., 0, :].movedim(-1, 1), channels_last=False)  # (B, C, *cells)
    assert torch.equal(first, padded[..., 0, :].movedim(-1, 1))
    outside = nbhd.outside_mask(cells)
    assert outside.shape == (*cells, nbhd.members)
    for index in [(0,) * len(size), tuple(n - 1 for n in cells), tuple(n // 2 for n in cells)]:
        for m, offset in enumerate(nbhd.offsets()):
            out = any(not 0 <= i + o < n for i, o, n in zip(index, offset, cells, strict=True))
            assert outside[index][m] == (out and border != "circular")
            inner = tuple(slice(r + i + o, r + i + o + 1) for r, i, o in
                          zip(nbhd.radius, index, offset, strict=True))  # fmt: skip
            if border == "circular":  # the padded view wraps around
                wrapped = tuple((i + o) % n for i, o, n in zip(index, offset, cells, strict=True))
                assert torch.equal(padded[(0, *inner)].squeeze(), x[(0, *wrapped)])
            elif out:  # zero padding outside the grid
                assert torch.all(padded[(0, *inner)] == 0)


def test_a_grid_of_another_dimension_is_refused_in_one_line():
    nbhd = Neighbourhood((3, 3, 3))
    with pytest.raises(ValueError, match="a 3x3x3 neighbourhood needs a 3-D grid, got 2-D") as e:
        nbhd.check_grid(4, 4)
    assert "\n" not in str(e.value)
    q = torch.zeros(1, 4, 4, 1, 2)
    with pytest.raises(ValueError, match=r"\(B, D, H, W, heads, d_head\) for a 3-D") as e:
        attend(q, q, q, nbhd)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="circular border needs a grid of at least 3x3x3"):
        attend(*[torch.zeros(1, 3, 2, 3, 1, 2)] * 3, Neighbourhood((3, 3, 3), "circular"))


# -------------------------------------------------------- backends against reference
@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_backend_matches_reference_in_every_dimension(backend, border, case):
    *shape, size = case
    if not _fits(border, shape, size):
        pytest.skip("grid smaller than the neighbourhood")
    nbhd = Neighbourhood(size, border)
    q, k, v = _qkv(shape, seed=sum(shape))
    grad_out = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    ref_out, ref_attn = attend(q, k, v, nbhd, "reference")
    ref_grads = torch.autograd.grad((ref_out * grad_out).sum(), (q, k, v))
    out, attn = attend(q, k, v, nbhd, backend)
    grads = torch.autograd.grad((out * grad_out).sum(), (q, k, v))
    assert attn.shape == (*shape[:-1], nbhd.members)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attn, ref_attn, atol=1e-5, rtol=1e-5)
    for name, a, b in zip("qkv", grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=f"grad {name}")


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_fused_and_sparse_attention_match_reference_in_every_dimension(border, case):
    """The pre-norm fused backend (every cell) and the sparse one (a subset of cells)
    against LayerNorm -> QKV -> reference, values, weights and every gradient."""
    batch, *cells, heads, d_head, size = case
    if not _fits(border, [batch, *cells], size):
        pytest.skip("grid smaller than the neighbourhood")
    nbhd, dim = Neighbourhood(size, border), heads * d_head
    norm, to_qkv = _layers(dim, seed=sum(cells))
    tokens = torch.randn(batch, *cells, dim, requires_grad=True)
    params = [tokens, norm.weight, norm.bias, to_qkv.weight]
    axes = CELL_AXES[len(cells)]
    pattern = f"b {axes} (t h d) -> t b {axes} h d"
    q, k, v = rearrange(to_qkv(norm(tokens)), pattern, t=3, h=heads)
    ref_out, ref_attn = attend(q, k, v, nbhd, "reference")
    grad_out = torch.randn(ref_out.shape, generator=torch.Generator().manual_seed(2))
    rows = torch.randperm(ref_out[..., 0, 0].numel(), generator=torch.Generator().manual_seed(3))
    rows = rows[: max(1, len(rows) // 2)].sort().values
    fused = prenorm_shifted_attention(tokens, norm, to_qkv, heads, nbhd)
    sparse = prenorm_sparse_attention(tokens, norm, to_qkv, heads, nbhd, rows)
    flat = (ref_out.reshape(-1, heads, d_head), ref_attn.reshape(-1, heads, nbhd.members))
    expected = {
        "fused": (ref_out, ref_attn, grad_out),
        "sparse": (flat[0][rows], flat[1][rows], grad_out.reshape(flat[0].shape)[rows]),
    }
    for name, (out, attn) in {"fused": fused, "sparse": sparse}.items():  # fmt: skip
        want_out, want_attn, g = expected[name]
        torch.testing.assert_close(out, want_out, atol=1e-5, rtol=1e-5, msg=name)
        torch.testing.assert_close(attn, want_attn, atol=1e-5, rtol=1e-5, msg=name)
        got = torch.autograd.grad((out * g).sum(), params)
        want = torch.autograd.grad((want_out * g).sum(), params, retain_graph=True)
        for param, a, b in zip(["tokens", "norm.w", "norm.b", "qkv"], got, want, strict=True):
            torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-5, msg=f"{name} grad {param}")


@pytest.mark.parametrize("border", BORDERS)
def test_a_3d_corner_cell_spreads_its_attention_as_its_border_says(border):
    nbhd = Neighbourhood((3, 3, 3), border)
    shape = (1, 4, 4, 4, 1, 2)
    q = torch.zeros(shape)  # all logits 0: uniform weights over what counts
    k, v = torch.randn(shape), torch.randn(shape)
    for backend in BACKENDS:
        _, attn = attend(q, k, v, nbhd, backend)
        corner = attn[0, 0, 0, 0, 0]
        inside = torch.tensor([all(o >= 0 for o in offset) for offset in nbhd.offsets()])
        assert int(inside.sum()) == 8
        if border == "exclude":
            assert torch.allclose(corner[inside], torch.full((8,), 1 / 8))
            assert torch.all(corner[~inside] == 0)
        else:  # zeros: 19 zero keys keep their share; circular: 27 real cells
            assert torch.allclose(corner, torch.full((27,), 1 / 27))


def test_a_1d_zeros_border_has_zero_values_outside():
    shape = (1, 4, 1, 1)
    q, k, v = torch.zeros(shape), torch.zeros(shape), torch.ones(shape)
    for backend in BACKENDS:
        out, _ = attend(q, k, v, Neighbourhood((3,), "zeros"), backend)
        assert torch.allclose(out[0, :, 0, 0], torch.tensor([2 / 3, 1, 1, 2 / 3]))


# ------------------------------------------------------------------ gradchecks
GRADCHECK = [(1, 5, 1, 2, (3,)), (1, 3, 3, 3, 1, 2, (3, 3, 3))]


def _gradcheck(fn, inputs) -> bool:
    """Finite differences against the analytical Jacobian, in float64."""
    return torch.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("case", GRADCHECK, ids=_case_id)
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_backends_gradcheck_in_1d_and_3d(backend, border, case):
    *shape, size = case
    nbhd = Neighbourhood(size, border)
    q, k, v = _qkv(shape, seed=0, dtype=torch.float64)
    assert _gradcheck(lambda *t: attend(*t, nbhd, backend)[0], (q, k, v))


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("case", GRADCHECK, ids=_case_id)
def test_fused_and_sparse_backwards_gradcheck_in_1d_and_3d(border, case):
    batch, *cells, heads, d_head, size = case
    nbhd, dim = Neighbourhood(size, border), heads * d_head
    norm, to_qkv = _layers(dim, seed=1, dtype=torch.float64)
    tokens = torch.randn(batch, *cells, dim, dtype=torch.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_(True) for p in (norm.weight, norm.bias)]
    qkv = to_qkv.weight.detach().clone().requires_grad_(True)
    rows = torch.tensor([0, 2, tokens[..., 0].numel() - 1])

    def fused(*args):
        return _PreNormShiftedAttention.apply(*args, heads, nbhd, 1e-5)[0]

    def sparse(*args):
        return _PreNormSparseAttention.apply(*args, rows, heads, nbhd, 1e-5)[0]

    assert _gradcheck(fused, (tokens, *params, qkv))
    assert _gradcheck(sparse, (tokens, *params, qkv))


# ------------------------------------------------------------------ sparse rows
@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize(("cells", "size"), [((7,), (5,)), ((3, 4, 5), (3, 1, 5))])
def test_neighbour_rows_point_at_the_neighbours_in_every_dimension(border, cells, size):
    nbhd, batch = Neighbourhood(size, border), 2
    grid = torch.arange(batch * torch.Size(cells).numel()).view(batch, *cells)
    rows = torch.tensor([0, 3, grid.numel() // 2, grid.numel() - 1])
    got, outside = neighbour_rows(rows, nbhd, batch, *cells)
    assert got.shape == (nbhd.members, len(rows)) and (outside is None) == (border == "circular")
    for n, row in enumerate(rows.tolist()):
        b, *index = torch.nonzero(grid == row)[0].tolist()
        for m, offset in enumerate(nbhd.offsets()):
            moved = [i + o for i, o in zip(index, offset, strict=True)]
            if border == "circular":
                expected = grid[(b, *(i % c for i, c in zip(moved, cells, strict=True)))]
            elif all(0 <= i < c for i, c in zip(moved, cells, strict=True)):
                expected = grid[(b, *moved)]
            else:  # the zero row after the grid
                expected = grid.numel()
            assert got[m, n] == expected


# ------------------------------------------------------------------ positions
def test_coordinates_and_fourier_channels_in_every_dimension():
    assert torch.equal(xy_grid(5)[0], torch.linspace(-1, 1, 5))
    xyz = xy_grid(2, 3, 4)  # (D, H, W): x along W, y along H, z along D
    assert xyz.shape == (3, 2, 3, 4)
    assert torch.equal(xyz[0, 1, 2], torch.linspace(-1, 1, 4))
    assert torch.equal(xyz[1, 1, :, 3], torch.linspace(-1, 1, 3))
    assert torch.equal(xyz[2, :, 2, 0], torch.linspace(-1, 1, 2))
    xy = xy_grid(3, 4)  # (H, W): x along W (columns), y along H (rows), as before
    assert torch.equal(xy[0, 2], torch.linspace(-1, 1, 4))
    assert torch.equal(xy[1, :, 0], torch.linspace(-1, 1, 3))
    for size, coords in (((6,), 1), ((3, 4), 2), ((2, 3, 4), 3)):
        assert xy_fourier_encoding(*size, frequencies=5).shape == (2 * coords * 5, *size)
        encoding = xy_fourier_encoding(*size, frequencies=2, raw_xy=True)
        assert encoding.shape == (2 * coords * 2 + coords, *size)
        x = xy_grid(*size)[0]
        torch.testing.assert_close(encoding[0], torch.sin(torch.pi * x))  # sin(x_0)
        torch.testing.assert_close(encoding[1], torch.sin(2 * torch.pi * x))  # sin(x_1)
        torch.testing.assert_close(encoding[2 * coords], torch.cos(torch.pi * x))  # cos(x_0)
        assert torch.equal(encoding[-coords:], xy_grid(*size))
    with pytest.raises(ValueError, match="1 to 3 positive integers"):
        xy_grid(2, 2, 2, 2)
