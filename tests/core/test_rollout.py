import pytest
import torch

from nca.core import CellularAutomaton, make_generator, paper_checkpoint_segments
from tests.conftest import activate


def _setup(seed=0, size=8, batch=2, hidden=4):
    from nca.rules import create_rule

    rule = activate(create_rule("convca", hidden_channels=hidden, mlp_channels=16), seed)
    ca = CellularAutomaton(rule, update_rate=0.5)
    images = torch.rand(batch, 1, size, size, generator=torch.Generator().manual_seed(seed))
    return ca, images


def test_rollout_updates_only_output_and_hidden():
    ca, images = _setup()
    cells = ca.seed(images)
    out = ca(cells, 12, generator=make_generator(0)).cells
    layout = ca.layout
    assert torch.equal(out[:, layout.fixed_slice], cells[:, layout.fixed_slice])
    assert not torch.equal(out[:, layout.updatable_slice], cells[:, layout.updatable_slice])


def test_rollout_is_reproducible_from_the_generator():
    ca, images = _setup()
    cells = ca.seed(images)
    a = ca(cells, 10, generator=make_generator(3)).cells
    b = ca(cells, 10, generator=make_generator(3)).cells
    c = ca(cells, 10, generator=make_generator(4)).cells
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_return_states_records_every_step():
    ca, images = _setup()
    result = ca(ca.seed(images), 7, generator=make_generator(0), return_states=True)
    assert len(result.states) == 7
    assert torch.equal(result.states[-1], result.cells)
    assert not result.states[0].requires_grad


def test_zero_steps_is_identity():
    ca, images = _setup()
    cells = ca.seed(images)
    assert torch.equal(ca(cells, 0).cells, cells)


def _loss_and_grads(ca, cells0, steps, segments, octaves=0):
    cells0 = cells0.clone().requires_grad_(True)
    out = ca(
        cells0, steps, generator=make_generator(11), checkpoint_segments=segments, octaves=octaves
    ).cells
    loss = (ca.output_image(out) - 0.3).abs().mean() + out[:, ca.layout.slice("hidden")].pow(
        2
    ).mean()
    params = list(ca.rule.parameters())
    grads = torch.autograd.grad(loss, [cells0, *params])
    return out.detach(), grads


@pytest.mark.parametrize(("steps", "segments"), [(8, None), (13, None), (9, 3), (32, None)])
def test_checkpointed_rollout_matches_plain_rollout(steps, segments):
    ca, images = _setup(seed=steps)
    cells = ca.seed(images)
    segments = segments or paper_checkpoint_segments(steps)
    plain_out, plain_grads = _loss_and_grads(ca, cells, steps, 0)
    ckpt_out, ckpt_grads = _loss_and_grads(ca, cells, steps, segments)
    torch.testing.assert_close(ckpt_out, plain_out, rtol=0, atol=0)  # forward is identical
    for a, b in zip(ckpt_grads, plain_grads, strict=False):
        # only summation order differs (paper App. A.2): float32 round-off
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert any(g.abs().sum() > 0 for g in plain_grads[1:])


def test_checkpointed_rollout_with_octaves_matches_plain():
    ca, images = _setup(size=16)
    cells = ca.seed(images)
    plain_out, plain_grads = _loss_and_grads(ca, cells, 16, 0, octaves=1)
    ckpt_out, ckpt_grads = _loss_and_grads(ca, cells, 16, 4, octaves=1)
    torch.testing.assert_close(ckpt_out, plain_out, rtol=0, atol=0)
    for a, b in zip(ckpt_grads, plain_grads, strict=False):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_states_and_checkpointing_conflict_under_grad():
    ca, images = _setup()
    with pytest.raises(ValueError, match="return_states"):
        ca(ca.seed(images), 4, checkpoint_segments=2, return_states=True)
    with torch.no_grad():
        assert len(ca(ca.seed(images), 4, checkpoint_segments=2, return_states=True).states) == 4


def test_bad_steps():
    ca, images = _setup()
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        ca(ca.seed(images), -1)


def test_checkpointing_really_recomputes_steps():
    ca, images = _setup()
    calls = []
    ca.rule.register_forward_hook(lambda *args: calls.append(1))
    out = ca(ca.seed(images), 8, generator=make_generator(0), checkpoint_segments=4).cells
    assert len(calls) == 8
    out.sum().backward()
    assert len(calls) == 8 + 6  # 3 checkpointed segments of 2 steps re-run; the last is kept


def test_bfloat16_rollout_on_cpu():
    ca, images = _setup()
    ca.to(torch.bfloat16)
    out = ca(ca.seed(images.bfloat16()), 3, generator=make_generator(0)).cells
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_clear_errors_for_bad_arguments():
    ca, images = _setup()
    cells = ca.seed(images)
    with pytest.raises(ValueError, match="checkpoint_segments must be a non-negative integer"):
        ca(cells, 4, checkpoint_segments=2.5)
    with pytest.raises(ValueError, match="octaves must be a non-negative integer"):
        ca(cells, 4, octaves=True)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        ca(cells, 4, generator=0)
    with pytest.raises(TypeError, match=r"images are torch.float64 but the rule's parameters"):
        ca.seed(images.double())


def test_update_noise_is_added_before_masking_reproducibly_and_checkpoints_exactly():
    from nca.rules import create_rule

    rule = create_rule("convca", hidden_channels=4, mlp_channels=16)  # zero last layer
    images = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    quiet = CellularAutomaton(rule, update_rate=0.5)
    noisy = CellularAutomaton(rule, update_rate=0.5, update_noise=0.02)
    cells = quiet.seed(images)
    assert torch.equal(quiet(cells, 5, generator=make_generator(1)).cells, cells)  # no-op rule
    a = noisy(cells, 5, generator=make_generator(1)).cells
    b = noisy(cells, 5, generator=make_generator(1)).cells
    assert torch.equal(a, b) and not torch.equal(a, cells)
    change = (a - cells)[:, quiet.layout.updatable_slice].detach()
    assert 0.01 < float(change.std()) < 0.04  # ~ 0.02 * sqrt(5 * 0.5)
    one = noisy(cells, 1, generator=make_generator(1)).cells - cells
    fired = one[:, quiet.layout.updatable_slice].abs().sum(1) > 0  # masked cells get none
    assert 0.3 < fired.float().mean() < 0.7
    activate(rule, 0)
    plain_out, plain_grads = _loss_and_grads(noisy, cells, 8, 0)
    ckpt_out, ckpt_grads = _loss_and_grads(noisy, cells, 8, 4)
    torch.testing.assert_close(ckpt_out, plain_out, rtol=0, atol=0)
    for x, y in zip(ckpt_grads, plain_grads, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="update_noise must be >= 0"):
        CellularAutomaton(rule, update_noise=-1.0)
