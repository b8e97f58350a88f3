"""benchmarks/peers/: the toolkit's growing step is the article's, and CAX's and NCALab's
steps, loaded with the same weights through the drivers' layouts, give the same grid.

One deterministic step (fire rate 1) of a small grid: the toolkit's against a NumPy
reference always; against CAX (both update variants) and NCALab in their own virtual
environments (``setup_venvs.sh``; ``NCA_PEERS_DIR``, default ``/work/peers``) when they
are there, else skipped.
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
    for variant in ("conv", "dense"):
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
    child = common.child_arguments("x").parse_args(["--setup", str(setup), "--iterations", "1",
                                                    "--warmup", "1", "--threads", "1"])  # fmt: skip
    threads = torch.get_num_threads()
    try:
        ours.run(child, data)
    finally:
        torch.set_num_threads(threads)  # the child sets its own
    line = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(line.removeprefix(common.RESULT_PREFIX))
    assert result["system"] == "ours" and result["cell_steps"] == 8 * 72 * 72 * 2
    assert len(result["losses"]) == 2 and result["it_per_s"] > 0
