"""ONNX export of the step function: onnxruntime replays PyTorch's rollouts."""

from __future__ import annotations

import json

import pytest
import torch

from nca.core.automaton import CellularAutomaton
from nca.core.image_model import ImageModel
from nca.export import ExportError, check_export, check_state, export_step
from nca.rules import create_rule
from tests.export.automata import SIDE, SIDES, SMALL_VITCA, make_automaton

ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed ([export] extra)")
pytest.importorskip("onnxscript", reason="onnxscript not installed ([export] extra)")

KINDS = ["convca", "unetca", "vitca", "grow"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """kind -> (automaton, report); each automaton exported once for the module."""
    folder = tmp_path_factory.mktemp("onnx")
    out = {}
    for kind in [*KINDS, "vitca-reference"]:
        automaton = make_automaton(kind.removesuffix("-reference"))
        side = SIDES.get(kind, SIDE)
        attention = "reference" if kind.endswith("-reference") else None
        path = folder / f"{kind}.onnx"
        out[kind] = automaton, export_step(automaton, path, height=side, width=side,
                                           attention=attention)  # fmt: skip
    return out


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def plain_rollout(
    automaton: CellularAutomaton, cells: torch.Tensor, masks: list[torch.Tensor]
) -> torch.Tensor:
    """An oracle written here, not the package's step: each ``(B, 1, H', W')`` mask adds
    ``mask · rule(cells)`` to the output and hidden channels (the last ones) and, with
    living-cell masking, zeroes them where no alpha in the 3×3 neighbourhood exceeds the
    threshold before and after the update (Mordvintsev et al. 2020)."""
    alive = automaton.alive
    assert alive is None or alive.neighbourhood
    count = automaton.layout.updatable_channels

    def living(grid):
        alpha = grid[:, alive.channel : alive.channel + 1]
        return torch.nn.functional.max_pool2d(alpha, 3, stride=1, padding=1) > alive.threshold

    with torch.no_grad():
        for mask in masks:
            fixed, state = cells[:, :-count], cells[:, -count:]
            state = state + mask * automaton.rule(cells)
            if alive is not None:
                state = state * (living(cells) & living(torch.cat([fixed, state], dim=1)))
            cells = torch.cat([fixed, state], dim=1)
    return cells


@pytest.mark.parametrize("kind", [*KINDS, "vitca-reference"])
def test_onnxruntime_replays_1_and_32_steps(exported, kind):
    automaton, report = exported[kind]
    assert report.exporter == "dynamo"
    check = check_export(automaton, report.path, steps=(1, 32), atol=1e-4)
    assert check.ok and set(check.errors) == {1, 32}
    assert all(error <= 1e-4 for error in check.errors.values()), check.lines()
    # the same against the plain rollout above, with masks drawn here
    grid = report.inputs["cells"][2:]
    generator = torch.Generator().manual_seed(3)
    cells = check_state(automaton, 2, grid, generator)
    masks = [(torch.rand(2, 1, *grid, generator=generator) < automaton.update_rate).float()
             for _ in range(32)]  # fmt: skip
    run, out = session(report.path), cells.numpy()
    for count, mask in enumerate(masks, start=1):
        (out,) = run.run(None, {"cells": out, "mask": mask.numpy()})
        if count in (1, 32):
            expected = plain_rollout(automaton, cells, masks[:count])
            torch.testing.assert_close(torch.from_numpy(out), expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_the_step_changes_the_grid_like_pytorch(exported, kind):
    """The round trip is no artefact of a rule that does nothing."""
    automaton, report = exported[kind]
    side = SIDES.get(kind, SIDE)
    cells = check_state(automaton, 2, (side, side), torch.Generator().manual_seed(1))
    mask = torch.ones(2, 1, side, side)
    (onnx_out,) = session(report.path).run(None, {"cells": cells.numpy(), "mask": mask.numpy()})
    with torch.no_grad():
        torch_out = automaton.step(cells, mask)
    assert (torch.from_numpy(onnx_out) - cells).abs().max() > 1e-3
    torch.testing.assert_close(torch.from_numpy(onnx_out), torch_out, rtol=0, atol=1e-5)


def test_vitca_backends(exported):
    """The fast default backend exports itself; the reference one exports when asked."""
    assert exported["vitca"][1].attention_backend == "shifted"
    assert not any("backend" in note for note in exported["vitca"][1].notes)
    reference = exported["vitca-reference"][1]
    assert reference.attention_backend == "reference"
    assert any("'reference' backend (as asked)" in note for note in reference.notes)
    assert exported["vitca"][0].rule.attention_layers[0].backend == "shifted"  # not mutated


def test_the_batch_axis_is_dynamic_and_the_mask_is_honoured(exported):
    automaton, report = exported["convca"]
    assert report.inputs == {"cells": ("batch", 6, SIDE, SIDE), "mask": ("batch", 1, SIDE, SIDE)}
    assert report.outputs == {"next_cells": ("batch", 6, SIDE, SIDE)}
    run = session(report.path)
    for batch in (1, 3):
        cells = check_state(automaton, batch, (SIDE, SIDE), torch.Generator().manual_seed(2))
        mask = (torch.rand(batch, 1, SIDE, SIDE) < 0.5).float()
        (out,) = run.run(None, {"cells": cells.numpy(), "mask": mask.numpy()})
        out = torch.from_numpy(out)
        assert out.shape == cells.shape
        still = mask.expand_as(cells) == 0  # cells that did not fire keep every channel
        assert torch.equal(out[still], cells[still])
        assert (out - cells)[~still].abs().max() > 1e-3


def test_alive_masking_is_in_the_graph(exported):
    automaton, report = exported["grow"]
    assert any("living-cell masking" in note for note in report.notes)
    cells = check_state(automaton, 1, (SIDE, SIDE), torch.Generator())  # one live cell
    mask = torch.ones(1, 1, SIDE, SIDE)
    (out,) = session(report.path).run(None, {"cells": cells.numpy(), "mask": mask.numpy()})
    out = torch.from_numpy(out)
    with torch.no_grad():
        unmasked = automaton.rule(cells)  # the rule updates every cell (nonzero bias)
    far = (slice(None), slice(None), slice(0, 4), slice(0, 4))  # far from the centre cell
    assert unmasked[far].abs().max() > 1e-3
    assert torch.equal(out[far], torch.zeros_like(out[far]))
    centre = SIDE // 2
    assert out[0, :, centre, centre].abs().max() > 0


def test_metadata_describes_the_automaton(exported):
    automaton, report = exported["grow"]
    meta = session(report.path).get_modelmeta().custom_metadata_map
    assert meta["nca.rule"] == "convca"
    assert float(meta["nca.update_rate"]) == automaton.update_rate
    layout = json.loads(meta["nca.layout"])
    assert layout["slices"]["output"] == [0, 4] and layout["hidden_channels"] == 8
    assert json.loads(meta["nca.alive"]) == {"channel": 3, "threshold": 0.1, "neighbourhood": True}


def test_the_check_fails_for_a_file_of_other_weights(exported):
    """An honest check: the same layout with other weights is caught."""
    report = exported["convca"][1]
    other = make_automaton("convca")
    with torch.no_grad():
        other.rule.update_mlp[-1].bias.add_(0.01)
    result = check_export(other, report.path, steps=(1, 4), raise_on_failure=False)
    assert not result.ok and min(result.errors.values()) > 1e-3
    with pytest.raises(ExportError, match=r"differs from PyTorch by .* after 1 step\(s\)"):
        check_export(other, report.path, steps=(1,))


def test_the_check_refuses_a_file_of_another_layout(exported):
    with pytest.raises(ExportError, match="takes 6-channel cells but rule 'unetca' has 10"):
        check_export(exported["unetca"][0], exported["convca"][1].path)


def test_feed_forward_rules_are_refused(tmp_path):
    unet = create_rule("unet", features=4)
    for model in (unet, ImageModel(unet)):
        with pytest.raises(ExportError, match="rule 'unet' cannot be exported as a CA step"):
            export_step(model, tmp_path / "unet.onnx", height=8, width=8)
    with pytest.raises(ExportError, match="rule 'convca' is not wrapped in an automaton"):
        export_step(create_rule("convca:tiny"), tmp_path / "c.onnx", height=8, width=8)
    assert not list(tmp_path.iterdir())


def test_bad_sizes_and_existing_files(exported, tmp_path):
    automaton, report = exported["convca"]
    with pytest.raises(FileExistsError, match="exists; pass another path"):
        export_step(automaton, report.path, height=SIDE, width=SIDE)
    with pytest.raises(ValueError, match="height must be a positive integer, got 0"):
        export_step(automaton, tmp_path / "x.onnx", height=0, width=SIDE)
    patched = CellularAutomaton(create_rule("vitca", patch_size=(2, 2), **SMALL_VITCA))
    with pytest.raises(ValueError, match="image size 7x8 is not divisible by the patch size 2x2"):
        export_step(patched, tmp_path / "x.onnx", height=7, width=8)
    with pytest.raises(ValueError, match="has no attention layers"):
        export_step(automaton, tmp_path / "x.onnx", height=8, width=8, attention="conv")


def test_an_attention_backend_that_does_not_export_falls_back_to_reference(monkeypatch, tmp_path):
    import nca.layers.attention as attention

    fast = attention.prenorm_shifted_attention

    def untraceable(tokens, *args):
        if bool(tokens.abs().sum() >= 0):  # a branch on data: torch.export cannot trace it
            return fast(tokens, *args)
        raise AssertionError("unreachable")

    monkeypatch.setattr(attention, "prenorm_shifted_attention", untraceable)
    automaton = make_automaton("vitca")
    report = export_step(automaton, tmp_path / "v.onnx", height=8, width=8, exporters=["dynamo"])
    assert report.attention_backend == "reference"
    assert any("own backend 'shifted' does not export" in note for note in report.notes)
    # the PyTorch rule, with its own shifted backend, is the truth
    assert check_export(automaton, report.path, steps=(1, 8)).ok
