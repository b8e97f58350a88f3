"""ONNX export of 1-D and 3-D steps: onnxruntime's values against PyTorch's step."""

from __future__ import annotations

import pytest
import torch

from nca.core.alive import AliveMasking
from nca.core.automaton import CellularAutomaton
from nca.export import check_export, check_state, export_step
from nca.rules import create_rule
from tests.conftest import activate
from tests.export.automata import SMALL_VITCA

ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed ([export] extra)")
pytest.importorskip("onnxscript", reason="onnxscript not installed ([export] extra)")


def _automaton(kind: str) -> tuple[CellularAutomaton, tuple[int, ...]]:
    """A small active automaton and the image size it is exported for."""
    torch.manual_seed(0)
    if kind == "convca-1d":  # as the eca task builds it: one state channel, no inputs
        rule = create_rule("convca", dims=1, image_channels=1, input_channels=0,
                           hidden_channels=4, mlp_channels=16)  # fmt: skip
        return CellularAutomaton(activate(rule)), (16,)
    if kind == "convca-3d":  # as the grow task builds it: RGBA voxels, alive masking
        rule = create_rule("convca", dims=3, image_channels=4, input_channels=0,
                           hidden_channels=4, mlp_channels=16)  # fmt: skip
        rule = activate(rule)
        alpha = rule.layout.slice("output").start + 3
        with torch.no_grad():  # alpha grows, so the live region spreads from the seed
            rule.update_mlp[-1].bias[3] = 0.1
        return CellularAutomaton(rule, alive=AliveMasking(alpha)), (6, 6, 6)
    rule = create_rule("vitca", dims=3, image_channels=4, input_channels=0, **SMALL_VITCA)
    return CellularAutomaton(activate(rule, scale=0.03)), (4, 4, 4)


@pytest.mark.parametrize(
    "kind",
    # ViTCA's 3-D export takes ~40 s on the shared 2-core machine (torch.export of the
    # shifted backend), the convca ones ~8 s
    ["convca-1d", "convca-3d", pytest.param("vitca-3d", marks=pytest.mark.slow)],
)
def test_the_onnx_step_matches_pytorch_in_1d_and_3d(kind, tmp_path):
    automaton, size = _automaton(kind)
    report = export_step(automaton, tmp_path / "step.onnx", size=size)
    assert report.inputs["cells"] == ("batch", automaton.layout.cell_channels, *size)
    assert report.inputs["mask"] == ("batch", 1, *size)
    # one synchronous step by hand: onnxruntime against the PyTorch step
    cells = check_state(automaton, 2, size, torch.Generator().manual_seed(1))
    mask = (torch.rand(2, 1, *size, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"cells": cells.numpy(), "mask": mask.numpy()})[0]
    with torch.no_grad():
        want = automaton.step(cells, mask, None)
    assert float((want - cells).abs().max()) > 1e-3  # the step changes the grid
    assert torch.allclose(torch.from_numpy(got), want, atol=1e-5)
    # chained: each runtime feeds itself its own output for 16 steps
    check = check_export(automaton, report.path, steps=(1, 16))
    assert check.ok, check.lines()


def test_sizes_must_fit_the_dimension(tmp_path):
    automaton, _ = _automaton("convca-3d")
    with pytest.raises(ValueError, match="steps 3-D grids: pass size=\\(...\\) with 3 entries"):
        export_step(automaton, tmp_path / "x.onnx", height=8, width=8)
    with pytest.raises(ValueError, match="size \\(8, 8\\) has 2 entries; .* pass 3"):
        export_step(automaton, tmp_path / "x.onnx", size=(8, 8))
    assert not list(tmp_path.iterdir())


def _trained(task_name: str, rule_options: dict, run_dir, **config):
    from nca import create_task, launch

    task = create_task(task_name, **config)
    launch(task, rule="convca", rule_options=rule_options, run_dir=run_dir, quiet=True)
    return run_dir


@pytest.mark.parametrize(
    ("task", "config", "shape"),
    [
        ("eca", {"width": 16, "iterations": 1}, "cells ('batch', 5, 16)"),
        ("grow", {"target": "snowman", "target_size": 4, "target_padding": 2, "batch_size": 2,
                  "pool_size": 4, "damage_count": 1, "steps_min": 2, "steps_max": 2,
                  "iterations": 1, "eval_repeats": 1, "validate_every": 1},
         "cells ('batch', 8, 8, 8, 8)"),
    ],
)  # fmt: skip
def test_nca_export_reads_the_training_size_of_1d_and_3d_runs(tmp_path, task, config, shape):
    from click.testing import CliRunner

    from nca.cli import cli

    run_dir = _trained(task, {"hidden_channels": 4, "mlp_channels": 16}, tmp_path / "run",
                       **config)  # fmt: skip
    result = CliRunner().invoke(cli, ["export", str(run_dir), "--format", "onnx"],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert shape in result.output and "check (ok)" in result.output
    wrong = CliRunner().invoke(cli, ["export", str(run_dir), "--format", "onnx", "--height",
                                     "8", "--out", str(tmp_path / "x.onnx")])  # fmt: skip
    assert wrong.exit_code == 2 and "pass --size with" in wrong.output
