"""CUDA checks (marked ``cuda``; skipped without a device): every attention backend and
rule equal on CPU and CUDA, forward and backward; the fixed-point implicit gradient;
bf16 autocast training; checkpoints
written on one device and resumed on the other; NCCL DDP on 2 GPUs. Run them on a GPU
machine with ``python -m pytest -m cuda`` (``benchmarks/device_check.sh`` does)."""

import copy
import json

import pytest
import torch
from click.testing import CliRunner

from nca import CellularAutomaton, create_rule, list_rules, load_checkpoint
from nca.cli import cli
from nca.layers.localized_attention import BACKENDS, attend
from nca.layers.neighbourhood import Neighbourhood
from nca.rules import get_rule_class
from tests.conftest import activate, run_torchrun
from tests.distributed.test_ddp import TINY

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture
def full_float32():
    """CUDA in true float32 for the CPU comparisons: Ampere and later default cuDNN
    convolutions to TF32 (10-bit mantissa), which alone differs from CPU by ~1e-4."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("border", ["zeros", "exclude", "circular"])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_attention_backend_matches_cpu_forward_and_backward(backend, border, full_float32):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 6, 7, 2, 8, generator=g) for _ in range(3))
    grad = torch.randn(2, 6, 7, 2, 8, generator=g)
    results = {}
    for device in ("cpu", "cuda"):
        # fresh leaves per device: `t.to("cpu")` would return `t` itself
        inputs = [t.detach().clone().to(device).requires_grad_() for t in (q, k, v)]
        out, attn = attend(*inputs, Neighbourhood((3, 3), border), backend)
        out.backward(grad.to(device))
        results[device] = [out.detach().cpu(), attn.detach().cpu()] + [t.grad.cpu() for t in inputs]
    for a, b in zip(results["cpu"], results["cuda"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rule_name", [n for n in list_rules() if get_rule_class(n).kind == "ca"])
def test_rule_step_matches_cpu_forward_and_backward(rule_name, full_float32):
    torch.manual_seed(0)
    rule = activate(create_rule(rule_name))
    images = torch.rand(2, 1, 16, 16)
    masks = [(torch.rand(2, 1, 16, 16) < 0.5).float() for _ in range(4)]
    results = {}
    for device in ("cpu", "cuda"):
        # a copy per device: Module.to moves the first device's .grad tensors in place
        ca = CellularAutomaton(copy.deepcopy(rule).to(device))
        cells = ca.seed(images.to(device))
        for mask in masks:  # the same masks on both devices
            cells = ca.step(cells, mask.to(cells.device)[:, :, : cells.shape[2], : cells.shape[3]])
        loss = cells.square().mean()
        loss.backward()
        results[device] = [cells.detach().cpu()] + [
            p.grad.detach().clone().cpu() for p in ca.rule.parameters()
        ]
    for a, b in zip(results["cpu"], results["cuda"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_bf16_autocast_rollout_stays_close_to_float32(backend, full_float32):
    torch.manual_seed(0)
    rule = activate(create_rule("vitca", attention_backend=backend)).cuda()
    ca = CellularAutomaton(rule)
    images = torch.rand(4, 1, 16, 16, device="cuda")
    g = torch.Generator(device="cuda")
    outs = []
    for enabled in (False, True):
        g.manual_seed(0)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled):
            out = ca(ca.seed(images), 8, generator=g).cells
            loss = (ca.output_image(out).float() - images).abs().mean()
        loss.backward()
        assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in rule.parameters())
        outs.append(out.float())
        rule.zero_grad(set_to_none=True)
    # bf16 keeps 8 significant bits (0.4 % per rounding); over 8 recurrent steps the
    # hidden channels (|x| up to ~7) drift a few per cent of the cells' scale, no more
    scale = outs[0].abs().max()
    assert (outs[0] - outs[1]).abs().max() < 0.05 * scale
    assert (outs[0] - outs[1]).abs().mean() < 0.005 * scale


@pytest.mark.parametrize("backward_solver", ["gmres", "picard"])
def test_fixed_point_gradient_matches_cpu(backward_solver):
    """The fixed-point solve and its implicit gradient (GMRES or Picard on the
    vector-Jacobian products), float64, on both devices."""
    from nca.core.equilibrium import FixedPointConfig, fixed_point_rollout
    from tests.core.equilibrium.test_fixed_point import _loss, _problem

    ca, images, target = _problem()
    config = FixedPointConfig(tol=1e-12, max_steps=400, backward_solver=backward_solver,
                              backward_tol=1e-12, backward_max_steps=400)  # fmt: skip
    results = {}
    for device in ("cpu", "cuda"):
        ca.rule.to(device)
        cells = ca.seed(images.to(device))
        star, stats = fixed_point_rollout(ca.step, ca.layout, cells, config, rate=0.5)
        grads = torch.autograd.grad(_loss(ca, star, target.to(device)), list(ca.rule.parameters()))
        assert stats.gradient == "implicit" and stats.backward_converged
        results[device] = [star.detach().cpu()] + [g.cpu() for g in grads]
    for a, b in zip(results["cpu"], results["cuda"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def _train(run_dir, device, *extra):
    args = ["train", *TINY[:-3], "--device", device, "-q", "--run-dir", str(run_dir), *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("first, second", [("cuda", "cpu"), ("cpu", "cuda")])
def test_checkpoint_saved_on_one_device_resumes_on_the_other(tmp_path, first, second):
    _train(tmp_path / "run", first, "--stop-after", "2")
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["iteration"] == 2
    output = _train(tmp_path / "run", second, "--resume")
    assert "saved on another kind of device" in output
    data = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert data["iteration"] == 4
    eval_rows = json.loads((tmp_path / "run" / "eval.json").read_text())["rows"]
    assert all(row["psnr"] == row["psnr"] for row in eval_rows.values())  # finite, not NaN


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL DDP needs 2 GPUs")
def test_nccl_ddp_on_two_gpus(tmp_path):
    args = ["-m", "nca", "train", *TINY[:-3], "--device", "cuda", "-q",
            "--run-dir", str(tmp_path / "run")]  # fmt: skip
    run_torchrun(*args, env={"OMP_NUM_THREADS": "1"})
    data = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert data["iteration"] == 4 and (tmp_path / "run" / "checkpoints" / "rank1.pt").is_file()
