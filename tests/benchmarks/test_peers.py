"""benchmarks/peers/: the toolkit's growing step is the article's, and CAX's and NCALab's
steps, loaded with the same weights through the drivers' layouts, give the same grid.

One deterministic step (fire rate 1) of a small grid: the toolkit's against a NumPy
reference always; against CAX (both update variants) and NCALab in their own virtual
environments (``setup_venvs.sh``; ``NCA_PEERS_DIR``, default ``/work/peers``) when they
are there, else skipped.

Self-classifying MNIST: CAX's step (both variants) and L2 loss against the toolkit's,
through the driver's layout, at fire rate 1 without noise; NCALab, whose architecture
differs (depthwise learned filters), against a NumPy reference of its architecture under
the driver's rules (alive = own pixel, the pixel fixed) and its L2 against the toolkit's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

PEERS = Path(__file__).resolve().parents[2] / "benchmarks" / "peers"
PEERS_DIR = Path(os.environ.get("NCA_PEERS_DIR", "/work/peers"))
THRESHOLD = 0.1


def load(name: str):
    """A module of benchmarks/peers (its folder on the path, as when run as a script)."""
    for folder in (PEERS, PEERS.parent):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(f"peers_{name}", PEERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run_our_child(ours, common, setup: Path, data: dict, capsys, *extra: str) -> dict:
    """Our child's ``run`` on ``setup`` (1 warm-up + 1 timed iteration, 1 thread; ``extra``:
    its own options, e.g. ``--perception depthwise``) in this process; the result line it
    prints, parsed."""
    options = ["--setup", str(setup), "--iterations", "1", "--warmup", "1", "--threads", "1"]
    child = ours.arguments().parse_args([*options, *extra])
    threads = torch.get_num_threads()
    try:
        ours.run(child, data)
    finally:
        torch.set_num_threads(threads)  # the child sets its own
    line = capsys.readouterr().out.strip().splitlines()[-1]
    return json.loads(line.removeprefix(common.RESULT_PREFIX))


def case(all_alive: bool, seed: int = 0) -> dict:
    """Random weights (an active last layer) and a 2 x 16 x 10 x 12 state: alpha above the
    threshold everywhere (``all_alive``), or a live blob with dead cells around it."""
    rng = np.random.default_rng(seed)
    state = rng.uniform(0, 1, (2, 16, 10, 12)).astype(np.float32)
    if all_alive:
        state[:, 3] = rng.uniform(0.5, 1, (2, 10, 12))
    else:
        state[:, 3] = 0.0
        state[:, 3, 3:6, 4:8] = rng.uniform(0, 0.4, (2, 3, 4))
    w = lambda *shape: (rng.standard_normal(shape) * 0.1).astype(np.float32)  # noqa: E731
    b2 = np.zeros(16, np.float32) if all_alive else w(16)  # NCALab's last layer: no bias
    return {"state": state, "w1": w(48, 128), "b1": w(128), "w2": w(128, 16) * 0.1, "b2": b2,
            "alive_threshold": np.float32(THRESHOLD)}  # fmt: skip


def reference_step(c: dict) -> np.ndarray:
    """The article's step in NumPy: identity + Sobel x/y per channel (zero padding),
    ``relu(p w1 + b1) w2 + b2`` added to every cell, then cells dead before or after it
    (3x3 max of alpha <= 0.1) cleared."""
    x = c["state"].astype(np.float64)
    _, _, h, w = x.shape
    sobel_x = np.outer([1, 2, 1], [-1, 0, 1]) / 8.0
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))

    def correlate(kernel):
        return sum(kernel[i, j] * padded[:, :, i : i + h, j : j + w]
                   for i in range(3) for j in range(3))  # fmt: skip

    perceived = np.stack([x, correlate(sobel_x), correlate(sobel_x.T)], axis=2)
    perceived = perceived.reshape(x.shape[0], -1, h, w)  # feature 3 c + f
    hidden = np.maximum(np.einsum("bfhw,fo->bohw", perceived, c["w1"]) + c["b1"][:, None, None], 0)
    new = x + np.einsum("bohw,oc->bchw", hidden, c["w2"]) + c["b2"][:, None, None]

    def alive(grid):
        a = np.pad(grid[:, 3], ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
        pooled = np.max([a[:, i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=0)
        return pooled > THRESHOLD

    return (new * (alive(x) & alive(new))[:, None]).astype(np.float32)


def ours_step(c: dict) -> np.ndarray:
    """One step of the rule the grow task resolves (``ours_grow.build_rule``), through
    ``nca.GridModel`` with alive masking, at fire rate 1."""
    from nca import AliveMasking, GridModel, create_task

    ours = load("ours_grow")
    task = create_task("grow", preset="paper", experiment="persistent")
    rule = ours.build_rule(task, c)
    model = GridModel(rule, update_rate=1.0, blank="single-cell", alive=AliveMasking(3))
    with torch.no_grad():
        return model.run(torch.from_numpy(c["state"]), 1).numpy()


def peer_step(venv: str, script: str, c: dict, tmp_path: Path) -> dict:
    python = PEERS_DIR / venv / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no {venv} under {PEERS_DIR} (benchmarks/peers/setup_venvs.sh makes it)")
    np.savez(tmp_path / "in.npz", **c)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["JAX_PLATFORMS"] = "cpu"
    cmd = [str(python), str(PEERS / script), "--check-step", "in.npz", "out.npz"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(tmp_path / "out.npz") as out:
        return {k: out[k] for k in out.files}


def test_ours_step_is_the_article_step():
    for all_alive in (False, True):
        c = case(all_alive)
        np.testing.assert_allclose(ours_step(c), reference_step(c), atol=2e-5, rtol=1e-5)


def test_the_sparse_case_clears_cells():
    """The masked case has cells the step clears, and cells it leaves alive and changes."""
    c = case(False)
    after = reference_step(c)
    assert (after == 0).all(axis=1).any() and (after != 0).any(axis=1).any()
    assert not np.allclose(after, c["state"])


def test_cax_step_equals_ours(tmp_path):
    c = case(False)
    out = peer_step("cax-venv", "cax_grow.py", c, tmp_path)
    ours = ours_step(c)
    for variant in ("conv", "dense", "conv-unrolled", "dense-unrolled"):
        np.testing.assert_allclose(out[variant], ours, atol=2e-5, rtol=1e-5, err_msg=variant)


def test_ncalab_step_equals_ours_where_every_cell_lives(tmp_path):
    """NCALab masks after the update only and has no last-layer bias: equal where every
    cell lives before and after, with ``b2 = 0``."""
    c = case(True)
    out = peer_step("ncalab-venv", "ncalab_grow.py", c, tmp_path)
    np.testing.assert_allclose(out["ncalab"], ours_step(c), atol=2e-5, rtol=1e-5)


def test_weight_layouts_are_permutations():
    common = load("_common")
    w1 = np.arange(48 * 2, dtype=np.float32).reshape(48, 2)
    w2 = np.arange(2 * 16, dtype=np.float32).reshape(2, 16)
    cax = common.to_cax(w1, None, w2, np.arange(16))
    assert sorted(cax[0][:, 0]) == sorted(w1[:, 0]) and sorted(cax[2][0]) == sorted(w2[0])
    assert list(cax[3][-4:]) == [0, 1, 2, 3]  # RGBA last in CAX
    assert sorted(common.to_ncalab(w1)[:, 0]) == sorted(w1[:, 0])


def test_setup_and_our_child(tmp_path, capsys):
    """run.py's setup (the 72x72 lizard, convca's first layer, a zero last layer) trains
    in our child: one warm-up and one timed iteration of T = 2, a result line."""
    run, ours, common = load("run"), load("ours_grow"), load("_common")
    args = run.arguments().parse_args(["--iterations", "1", "--warmup", "1", "--steps-min", "2",
                                       "--steps-max", "2", "--pool-size", "8"])  # fmt: skip
    setup = run.write_setup(tmp_path, args)
    data = common.load_setup(setup)
    assert data["target"].shape == (4, 72, 72) and not data["w2"].any() and data["w1"].std() > 0
    result = run_our_child(ours, common, setup, data, capsys)
    assert result["system"] == "ours" and result["cell_steps"] == 8 * 72 * 72 * 2
    assert len(result["losses"]) == 2 and result["it_per_s"] > 0


# ------------------------------------------------------------- self-classifying MNIST
def classify_case(seed: int = 0) -> dict:
    """Random weights (an active last layer), labels and a 2 x 20 x 10 x 12 state in the
    toolkit's classify layout whose pixel (channel 0) is a digit-like blob: living cells
    (pixel > 0.1), faint dead ones (0 < pixel <= 0.1) and empty ones, every other channel
    random (dead cells too, so the clearing counts)."""
    rng = np.random.default_rng(seed)
    state = rng.uniform(-1, 1, (2, 20, 10, 12)).astype(np.float32)
    state[:, 0] = 0.0
    state[:, 0, 2:8, 3:9] = rng.uniform(0, 0.5, (2, 6, 6))
    w = lambda *shape: (rng.standard_normal(shape) * 0.1).astype(np.float32)  # noqa: E731
    return {"state": state, "wp": w(80, 20, 3, 3), "bp": w(80), "w1": w(80, 80), "b1": w(80),
            "w2": w(80, 19), "b2": w(19), "filters": w(3, 20, 1, 3, 3), "w2_ncalab": w(80, 20),
            "labels": np.array([3, 7]), "alive_threshold": np.float32(THRESHOLD)}  # fmt: skip


def ours_classify_step(c: dict, depthwise: bool = False) -> tuple[np.ndarray, float]:
    """One step of the rule the classify task resolves (``ours_classify.build_rule``;
    ``depthwise``: ``build_depthwise_rule`` holding NCALab's weights of ``c``), through
    the task's ``GridModel`` at fire rate 1 without noise, and the task's L2 of the
    result."""
    from nca_classify.model import l2_loss

    ours = load("ours_classify")
    setup = {"batch": 16, "pool_size": 160, "fire_rate": 1.0, "update_noise": 0.0,
             "alive_threshold": THRESHOLD, "lr": 1e-3}  # fmt: skip
    task = ours.classify_task(setup, 1)
    if depthwise:
        rule = ours.build_depthwise_rule(task, 0)
        load_ncalab_weights(rule, c)
    else:
        rule = ours.build_rule(task, c)
    model = task.build_model(rule, None)
    with torch.no_grad():
        after = model.run(torch.from_numpy(c["state"]), 1)
        loss = l2_loss(model.output(after), model.alive(after), torch.from_numpy(c["labels"]))
    return after.numpy(), float(loss.mean())


def toolkit_l2(state: np.ndarray, labels: np.ndarray) -> float:
    """The classify task's L2 of a toolkit-layout ``state (B, 20, H, W)``."""
    from nca_classify.model import l2_loss

    grid = torch.from_numpy(state)
    return float(l2_loss(grid[:, 1:11], grid[:, :1] > THRESHOLD, torch.from_numpy(labels)).mean())


def ncalab_reference_step(c: dict) -> np.ndarray:
    """NCALab's classify architecture under the driver's rules, in NumPy: per channel the
    cell and 3 depthwise 3x3 filters (zero padding), ``relu(p w1 + b1) w2`` added to
    every channel but the pixel, then every channel of a cell whose pixel is <= 0.1
    cleared (the pixel too: NCALab's mask). In and out in the toolkit's layout."""
    order = load("_common").ncalab_classify_order()
    x = c["state"][:, order].astype(np.float64)
    _, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))

    def depthwise(kernel):  # (20, 3, 3)
        return sum(kernel[None, :, i, j, None, None] * padded[:, :, i : i + h, j : j + w]
                   for i in range(3) for j in range(3))  # fmt: skip

    perceived = np.concatenate([x] + [depthwise(k[:, 0]) for k in c["filters"]], axis=1)
    hidden = np.maximum(np.einsum("bfhw,fo->bohw", perceived, c["w1"]) + c["b1"][:, None, None], 0)
    update = np.einsum("bohw,oc->bchw", hidden, c["w2_ncalab"])
    update[:, 0] = 0.0  # the image channel is immutable
    new = (x + update) * (x[:, :1] > THRESHOLD)
    return new[:, np.argsort(order)].astype(np.float32)


def load_ncalab_weights(rule, c: dict) -> None:
    """NCALab's classify weights of ``c`` (``filters``, ``w1``, ``b1``, ``w2_ncalab``; its
    channel and feature orders) into convca's ``depthwise`` rule; the last bias zero."""
    order = load("_common").ncalab_classify_order()  # order[n]: toolkit channel of n
    position = np.argsort(order)  # position[t]: NCALab channel of toolkit channel t
    filters = len(c["filters"]) + 1
    # toolkit feature t·F + f is NCALab feature 20·f + n(t)
    rows = (np.arange(filters)[None, :] * 20 + position[:, None]).reshape(-1)
    first, last = rule.update_mlp[0], rule.update_mlp[-1]
    with torch.no_grad():
        for layer, kernel in zip(rule.depthwise, c["filters"], strict=True):
            layer.weight.copy_(torch.from_numpy(kernel[position]))
        first.weight.copy_(torch.from_numpy(c["w1"][rows].T).reshape(first.weight.shape))
        first.bias.copy_(torch.from_numpy(c["b1"]))
        w2 = c["w2_ncalab"][:, position[1:]]  # the updatable toolkit channels 1..19
        last.weight.copy_(torch.from_numpy(w2.T).reshape(last.weight.shape))
        last.bias.zero_()


def test_ours_depthwise_is_ncalabs_classify_architecture():
    """The ``ours-depthwise`` row's rule, holding NCALab's weights, steps as NCALab's
    architecture under the article's rules; only NCALab's clearing of a dead cell's faint
    pixel differs (the article keeps the digit)."""
    c = classify_case()
    ours, _ = ours_classify_step(c, depthwise=True)
    reference = ncalab_reference_step(c)
    dead = ours[:, 0] <= THRESHOLD
    ours[:, 0][dead] = 0.0
    np.testing.assert_allclose(ours, reference, atol=2e-5, rtol=1e-5)
    assert dead.any() and (c["state"][:, 0][dead] > 0).any()  # faint pixels were there


def test_classify_case_has_every_kind_of_cell():
    """Living, faint dead and empty cells; the step clears the dead cells' state, keeps
    every pixel and changes the living cells."""
    c = classify_case()
    pixel = c["state"][:, 0]
    assert (pixel > THRESHOLD).any() and ((pixel > 0) & (pixel <= THRESHOLD)).any()
    after, _ = ours_classify_step(c)
    dead = pixel <= THRESHOLD
    channels = lambda grid: grid[:, 1:].transpose(1, 0, 2, 3)  # noqa: E731  (19, B, H, W)
    assert not channels(after)[:, dead].any()
    np.testing.assert_array_equal(after[:, 0], pixel)
    assert (channels(after) != channels(c["state"]))[:, ~dead].all(axis=0).any()


def test_cax_classify_step_equals_ours(tmp_path):
    c = classify_case()
    out = peer_step("cax-venv", "cax_classify.py", c, tmp_path)
    ours, loss = ours_classify_step(c)
    for variant in ("conv", "dense"):
        np.testing.assert_allclose(out[variant], ours, atol=2e-5, rtol=1e-5, err_msg=variant)
        np.testing.assert_allclose(out[f"{variant}_loss"], loss, rtol=2e-5, err_msg=variant)


def test_ncalab_classify_step_is_its_architecture_under_the_article_rules(tmp_path):
    """NCALab's own architecture (not the toolkit's: it has no full learned convolution)
    with the driver's alive rule, immutable pixel and L2 loss (the toolkit's)."""
    c = classify_case()
    out = peer_step("ncalab-venv", "ncalab_classify.py", {**c, "w2": c["w2_ncalab"]}, tmp_path)
    reference = ncalab_reference_step(c)
    np.testing.assert_allclose(out["ncalab"], reference, atol=2e-5, rtol=1e-5)
    np.testing.assert_allclose(out["loss"], toolkit_l2(reference, c["labels"]), rtol=2e-5)


def test_classify_layouts_are_permutations():
    common = load("_common")
    cax, ncalab = common.cax_classify_order(), common.ncalab_classify_order()
    assert sorted(cax) == sorted(ncalab) == list(range(20))
    assert cax[-1] == 0 and list(cax[:10]) == list(range(1, 11))  # CAX: logits first, pixel last
    assert ncalab[0] == 0 and list(ncalab[-10:]) == list(range(1, 11))  # NCALab: logits last
    c = classify_case()
    kernel, *_, w2, b2 = common.to_cax_classify(*(c[k] for k in ("wp", "bp", "w1", "b1", "w2",
                                                                 "b2")))  # fmt: skip
    np.testing.assert_array_equal(kernel[:, :, -1], c["wp"][:, 0].transpose(1, 2, 0))
    assert w2.shape == (80, 20) and not w2[:, -1].any() and not b2[-1]


def test_classify_setup_and_our_child(tmp_path, capsys):
    """run.py's classify setup (the embedded sample's training digits, convca's learned
    perception, a zero last layer) trains in our child: one warm-up and one timed
    iteration of T = 2, a result line."""
    run, ours, common = load("run"), load("ours_classify"), load("_common")
    args = run.arguments().parse_args(["--task", "classify", "--iterations", "1", "--warmup", "1",
                                       "--steps-min", "2", "--steps-max", "2"])  # fmt: skip
    setup = run.write_setup(tmp_path, args)
    data = common.load_setup(setup)
    assert data["task"] == "classify" and data["digits"].shape[1:] == (28, 28)
    assert len(data["labels"]) == len(data["digits"]) and data["pool_size"] == 160
    assert not data["w2"].any() and data["wp"].shape == (80, 20, 3, 3) and data["wp"].std() > 0
    result = run_our_child(ours, common, setup, data, capsys)
    assert result["system"] == "ours" and result["cell_steps"] == 16 * 28 * 28 * 2
    assert len(result["losses"]) == 2 and result["it_per_s"] > 0
    depthwise = run_our_child(ours, common, setup, data, capsys, "--perception", "depthwise")
    assert depthwise["system"] == "ours-depthwise" and len(depthwise["losses"]) == 2


def test_the_paired_ratio_compares_each_round_with_ours_in_that_round():
    run = load("run")

    def result(speed):
        return {"cell_steps_per_s": speed}

    runs = [
        run.Run("ours", 1, result(100.0), 0, 1, 1, 0, 0),
        run.Run("peer", 1, result(50.0), 0, 1, 1, 0, 0),
        run.Run("ours", 2, result(10.0), 0, 1, 1, 0, 0),  # a loaded round: both slow
        run.Run("peer", 2, result(6.0), 0, 1, 1, 0, 0),
        run.Run("peer", 3, result(9.0), 0, 1, 1, 0, 0),  # ours failed: no pair
    ]
    assert run.paired_ratios(runs, "peer") == [0.5, 0.6]
