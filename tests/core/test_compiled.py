"""The compiled CA step equals the eager one (values and gradients, every rule and every
attention backend including the custom-autograd ones), and falls back to eager with one
warning where ``torch.compile`` is unavailable."""

import warnings

import pytest
import torch

from nca import CellularAutomaton, create_rule, list_rules, make_generator, overflow_losses
from nca.core.compiled import CompiledStep, CompileUnavailable
from nca.rules import get_rule_class


def _compiler_works() -> str | None:
    try:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(2))
    except Exception as err:
        return f"torch.compile is unavailable here ({type(err).__name__})"
    return None


UNAVAILABLE = _compiler_works()
needs_compiler = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")


def _loss_and_grads(ca, images, steps=4, gradient="bptt"):
    ca.rule.zero_grad(set_to_none=True)
    out = ca(ca.seed(images), steps, generator=make_generator(0), gradient=gradient).cells
    loss = (ca.output_image(out) - images).abs().mean() + overflow_losses(ca.layout, out).total
    loss.backward()
    return out.detach(), [p.grad.clone() for p in ca.rule.parameters()]


def _compare(rule, images, gradient="bptt"):
    eager_out, eager_grads = _loss_and_grads(CellularAutomaton(rule), images, gradient=gradient)
    compiled = CellularAutomaton(rule)
    step = compiled.compile_step()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileUnavailable)
        out, grads = _loss_and_grads(compiled, images, gradient=gradient)
    assert step.active
    torch.testing.assert_close(out, eager_out, rtol=1e-4, atol=1e-5)
    for a, b in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@needs_compiler
@pytest.mark.parametrize("gradient", ["bptt", "checkpoint", "fixed-point"])
def test_compiled_convca_step_equals_eager(gradient):
    torch.manual_seed(0)
    rule = create_rule("convca", hidden_channels=4, mlp_channels=16, zero_last_layer=False)
    _compare(rule, torch.rand(2, 1, 8, 8), gradient)


@pytest.mark.slow
@needs_compiler
@pytest.mark.parametrize(
    "rule_name, options",
    [(name, {}) for name in list_rules() if get_rule_class(name).kind == "ca"]
    + [("vitca", {"attention_backend": b}) for b in ("conv", "reference")],
)  # fmt: skip
def test_compiled_step_equals_eager_for_every_rule_and_backend(rule_name, options):
    torch.manual_seed(0)
    fields = {
        f.name for f in __import__("dataclasses").fields(get_rule_class(rule_name).config_class)
    }
    extra = {"zero_last_layer": False} if "zero_last_layer" in fields else {}
    rule = create_rule(rule_name, **options, **extra)
    _compare(rule, torch.rand(2, 1, 8, 8))


def test_a_failing_compiler_falls_back_to_eager_with_one_warning(monkeypatch):
    from torch._inductor.exc import InductorError

    def broken(fn, **_):
        def call(*args):
            raise InductorError(RuntimeError("no C++ compiler found"), None)

        return call

    monkeypatch.setattr(torch, "compile", broken)
    torch.manual_seed(0)
    rule = create_rule("convca", hidden_channels=4, mlp_channels=16, zero_last_layer=False)
    images = torch.rand(2, 1, 8, 8)
    eager_out, eager_grads = _loss_and_grads(CellularAutomaton(rule), images)
    ca = CellularAutomaton(rule)
    step = ca.compile_step()
    with pytest.warns(CompileUnavailable, match="no C\\+\\+ compiler found.*running it eagerly"):
        out, grads = _loss_and_grads(ca, images)
    assert not step.active and "no C++ compiler" in str(step.failure)
    torch.testing.assert_close(out, eager_out)
    for a, b in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not every step
        _loss_and_grads(ca, images)


def test_a_genuine_error_in_the_step_is_not_taken_for_a_compiler_failure(monkeypatch):
    step = CompiledStep(lambda cells, mask, noise: cells.view(-1, 7), "toy")
    monkeypatch.setattr(step, "compiled", step.eager)
    with pytest.raises(RuntimeError, match="invalid"):
        step(torch.ones(2, 3), None, None)
    assert step.active


@pytest.mark.parametrize("budget", [0.0, 1.5])
def test_memory_budget_is_checked(budget):
    with pytest.raises(ValueError, match=f"memory_budget must be in \\(0, 1\\], got {budget}"):
        CompiledStep(lambda cells, mask, noise: cells, "toy", memory_budget=budget)


@pytest.mark.slow
@needs_compiler
def test_compiled_sparse_update_equals_eager_dense():
    """The firing cells' count changes every step: one graph with a symbolic count, not a
    recompile per step (nor a fallback)."""
    from torch._dynamo.utils import counters

    torch.manual_seed(0)
    rule = create_rule("vitca", embed_dim=16, heads=2, hidden_channels=4, mlp_dim=8,
                       zero_last_layer=False)  # fmt: skip
    images = torch.rand(2, 1, 8, 8)
    eager_out, eager_grads = _loss_and_grads(CellularAutomaton(rule), images, steps=6)
    compiled = CellularAutomaton(rule, sparse_update=True)
    step = compiled.compile_step()
    torch._dynamo.reset()  # count this step's graphs, not reuse of an earlier test's
    counters.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileUnavailable)
        out, grads = _loss_and_grads(compiled, images, steps=6)
    assert step.active
    assert 1 <= counters["stats"]["unique_graphs"] <= 3  # not one per firing count
    torch.testing.assert_close(out, eager_out, rtol=1e-4, atol=1e-5)
    for a, b in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@needs_compiler
@pytest.mark.parametrize("gradient", ["bptt", "checkpoint"])
def test_compiled_vitca_from_a_fresh_rule_compiles_once_and_equals_eager(gradient):
    """A fresh ViTCA compiled before any eager call: its step used to guard on the rule's
    positional-encoding cache, so a checkpointed segment's recomputation picked another
    graph (CheckpointError, found on the H200) and the next rollout recompiled (a 100x
    slower first iteration)."""
    torch.manual_seed(0)
    images = torch.rand(2, 1, 8, 8)
    rule = create_rule("vitca", embed_dim=16, heads=2, zero_last_layer=False)
    eager_rule = __import__("copy").deepcopy(rule)
    compiled = CellularAutomaton(rule)
    step = compiled.compile_step()
    out, grads = _loss_and_grads(compiled, images, gradient=gradient)
    assert step.active
    with torch._dynamo.config.patch(error_on_recompile=True):  # a second rollout reuses graphs
        again, _ = _loss_and_grads(compiled, images, gradient=gradient)
    eager_out, eager_grads = _loss_and_grads(
        CellularAutomaton(eager_rule), images, gradient=gradient
    )
    torch.testing.assert_close(out, eager_out, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(again, eager_out, rtol=1e-4, atol=1e-5)
    for a, b in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@pytest.fixture
def donated_buffers_on():
    """PyTorch's default (an earlier compiled step may have turned them off), and no
    compilation cache, so that the graphs below are compiled here."""
    with (
        torch._functorch.config.patch(donated_buffer=True),
        torch._inductor.config.patch(force_disable_caches=True),
    ):
        yield


@needs_compiler
def test_a_compiled_step_can_be_differentiated_twice_after_a_plain_backward(donated_buffers_on):
    """The implicit fixed-point backward takes vector-Jacobian products through one
    step's graph with ``retain_graph=True``; a graph whose backward first ran as a plain
    ``backward()`` (a BPTT rollout) had donated its saved buffers and refused that."""
    torch.manual_seed(0)
    weight = torch.randn(16, 16, requires_grad=True)

    def toy(cells, mask, noise=None):  # saves an intermediate: a donated buffer
        return cells + mask * torch.tanh(torch.relu(cells @ weight) @ weight)

    step = CompiledStep(toy, "toy", memory_budget=1.0)  # keeps the intermediate
    cells, mask = torch.randn(4, 16, requires_grad=True), torch.rand(4, 1)
    step(cells, mask).sum().backward()  # compiles the backward, as a BPTT rollout does
    out, probe = step(cells, mask), torch.randn(4, 16)
    twice = [torch.autograd.grad(out, cells, probe, retain_graph=True)[0] for _ in range(2)]
    eager_out = toy(cells, mask)
    (want,) = torch.autograd.grad(eager_out, cells, probe)
    assert step.active
    for got in twice:
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@needs_compiler
@pytest.mark.parametrize("rule_name", ["convca", "vitca"])
def test_compiled_implicit_fixed_point_after_bptt_equals_eager(donated_buffers_on, rule_name):
    """``--compile`` with ``--gradient fixed-point`` and either implicit solve, in a
    process that first trained with BPTT: values and gradients equal eager ones."""
    from nca import FixedPointConfig

    torch.manual_seed(0)
    extra = {
        "convca": {"hidden_channels": 4, "mlp_channels": 16},
        "vitca": {"embed_dim": 16, "heads": 2, "hidden_channels": 4, "mlp_dim": 8},
    }
    rule = create_rule(rule_name, zero_last_layer=False, **extra[rule_name])  # fmt: skip
    images, eager = torch.rand(2, 1, 8, 8), CellularAutomaton(rule)
    compiled = CellularAutomaton(rule)
    step = compiled.compile_step()
    _loss_and_grads(compiled, images)  # BPTT first: the step's backward compiled plainly
    for solver in ("gmres", "picard"):
        config = FixedPointConfig(backward_solver=solver, max_steps=8, backward_max_steps=6)
        results = []
        for ca in (compiled, eager):
            ca.rule.zero_grad(set_to_none=True)
            out = ca(ca.seed(images), 4, generator=make_generator(0), gradient="fixed-point",
                     fixed_point=config).cells  # fmt: skip
            (ca.output_image(out) - images).abs().mean().backward()
            results.append((out.detach(), [p.grad.clone() for p in ca.rule.parameters()]))
        (out, grads), (eager_out, eager_grads) = results
        assert step.active
        torch.testing.assert_close(out, eager_out, rtol=1e-4, atol=1e-5)
        for a, b in zip(grads, eager_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
