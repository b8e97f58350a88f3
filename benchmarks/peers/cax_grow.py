"""CAX's growing NCA at the article's settings (run with the CAX virtual environment).

Built from CAX's own modules as its growing example (``examples/40_growing_nca.ipynb``)
builds it: a ``ComplexSystem`` whose step is ``ConvPerceive`` (identity and
``grad_kernel`` filters, depthwise) and ``NCAUpdate`` (the MLP as 1x1 convolutions, cell
dropout, alive masking before and after), rolled out with the system's jitted scan,
batched with ``nnx.vmap`` and ``nnx.split_rngs``, a ``cax.nn.pool.Pool`` and optax's
Adam. ``--variant dense`` writes the update MLP as dense layers (``nnx.Linear``)
instead of 1x1 convolutions, everything else the same. ``--rollout unrolled`` calls the
system's ``_step`` ``T`` times inside the jitted step instead of its ``__call__`` (an
``nnx.scan``): the same computation, compiled without the scan (XLA:CPU differentiates a
convolution's kernel slowly inside a scan; see README.md).

Matched to the article (see README.md): the cell dropout rate is 1 - sigma and the step
size sigma (CAX's dropout scales a firing cell's update by 1 / sigma; the article's
update does not scale it); the seed cell
sets alpha and the hidden channels to 1 (CAX's example sets alpha only); the pool is
sampled without replacement (``Pool.sample`` draws with replacement); per-parameter
gradient normalisation is an ``optax.stateless`` transform before Adam (CAX's example
clips the global norm); each iteration rolls out for the shared ``T`` (CAX compiles one
program per distinct ``T``: done on copies before the timed iterations, timed as
warm-up).

Run: python benchmarks/peers/cax_grow.py --setup SETUP.npz [--variant conv|dense]
    [--rollout scan|unrolled]
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import jax
import jax.numpy as jnp
import optax
from _common import (
    CHANNELS,
    GRAD_EPS,
    HIDDEN,
    cax_channel_order,
    child_arguments,
    load_setup,
    report,
    schedule,
    to_cax,
    train,
)
from cax.core import ComplexSystem
from cax.core.perceive import ConvPerceive, grad_kernel, identity_kernel
from cax.core.update import NCAUpdate
from cax.nn.pool import Pool
from flax import nnx

MLP = 128
FILTERS = 3


class GrowingNCA(ComplexSystem):
    """CAX's growing NCA (its example's class), the update MLP dense or 1x1 convs."""

    def __init__(self, fire_rate: float, threshold: float, dense: bool, *, rngs: nnx.Rngs):
        perception = FILTERS * CHANNELS
        self.perceive = ConvPerceive(
            channel_size=CHANNELS,
            perception_size=perception,
            feature_group_count=CHANNELS,
            rngs=rngs,
        )
        self.update = NCAUpdate(
            channel_size=CHANNELS,
            perception_size=perception,
            hidden_layer_sizes=(MLP,),
            cell_dropout_rate=1.0 - fire_rate,
            step_size=fire_rate,
            alive_threshold=threshold,
            zeros_init=True,
            rngs=rngs,
        )
        if dense:
            self.update.layers = nnx.List(
                [
                    nnx.Linear(perception, MLP, rngs=rngs),
                    nnx.Linear(MLP, CHANNELS, kernel_init=nnx.initializers.zeros_init(), rngs=rngs),
                ]
            )
        kernel = jnp.concatenate([identity_kernel(ndim=2), grad_kernel(ndim=2)], axis=-1)
        kernel = jnp.expand_dims(jnp.concatenate([kernel] * CHANNELS, axis=-1), axis=-2)
        self.perceive.conv.kernel[...] = kernel

    def _step(self, state, input=None, *, sow: bool = False):
        return self.update(state, self.perceive(state), input)


def load_weights(cs: GrowingNCA, setup: dict) -> None:
    """The setup's MLP, in CAX's channel and filter order."""
    w1, b1, w2, b2 = to_cax(setup["w1"], setup["b1"], setup["w2"], setup["b2"])
    first, last = cs.update.layers[0], cs.update.layers[-1]
    first.kernel[...] = jnp.asarray(w1).reshape(first.kernel.shape)
    first.bias[...] = jnp.asarray(b1)
    last.kernel[...] = jnp.asarray(w2).reshape(last.kernel.shape)
    last.bias[...] = jnp.asarray(b2)


def seed_state(shape: tuple[int, int]) -> jax.Array:
    """The article's seed in CAX's layout: one cell whose alpha and hidden channels are 1."""
    state = jnp.zeros((*shape, CHANNELS))
    mid = (shape[0] // 2, shape[1] // 2)
    return state.at[mid[0], mid[1], :HIDDEN].set(1.0).at[mid[0], mid[1], -1].set(1.0)


def normalize_each() -> optax.GradientTransformation:
    """Each parameter's gradient divided by its own L2 norm (+ 1e-8)."""

    def scale(updates, params=None):
        return jax.tree.map(lambda g: g / (jnp.sqrt(jnp.sum(g * g)) + GRAD_EPS), updates)

    return optax.stateless(scale)


def build(setup: dict, dense: bool):
    """The system with the setup's weights, its optimiser (update parameters only), the
    pool of seeds, the target ``(H, W, 4)`` and the parameter filter."""
    cs = GrowingNCA(
        setup["fire_rate"], setup["alive_threshold"], dense, rngs=nnx.Rngs(setup["seed"])
    )
    load_weights(cs, setup)
    params = nnx.All(nnx.Param, nnx.PathContains("update"))
    tx = optax.chain(normalize_each(), optax.adam(setup["lr"]))
    optimizer = nnx.Optimizer(cs, tx, wrt=params)
    target = jnp.asarray(np.moveaxis(setup["target"], 0, -1))
    seed = seed_state(target.shape[:2])
    seeds = jnp.broadcast_to(seed, (setup["pool_size"], *seed.shape))
    return cs, optimizer, Pool.create({"state": seeds}), target, params


def mse(state, target):
    return jnp.mean(jnp.square(state[..., -4:] - target))


def unrolled(cs: GrowingNCA, state: jax.Array, steps: int) -> jax.Array:
    """``steps`` calls of the system's ``_step`` on ``state (H, W, 16)``, unrolled."""
    for _ in range(steps):
        state = cs._step(state)
    return state


def make_train_step(params, batch: int, unroll: bool = False):
    """The example's train step, for a static rollout length ``steps``; the rollout
    CAX's scan, or (``unroll``) the same steps unrolled."""

    def rollout(cs, state, steps):
        return unrolled(cs, state, steps) if unroll else cs(state, num_steps=steps)

    def loss_fn(cs, state, target, steps):
        state_axes = nnx.StateAxes({nnx.RngState: 0, nnx.Intermediate: 0, ...: None})
        state = nnx.split_rngs(splits=batch)(
            nnx.vmap(lambda cs, state: rollout(cs, state, steps), in_axes=(state_axes, 0))
        )(cs, state)
        return mse(state, target), state

    @nnx.jit(static_argnames=("steps",))
    def train_step(cs, optimizer, pool, key, target, steps):
        idx = jax.random.permutation(key, pool.size)[:batch]  # without replacement
        current = pool.data["state"][idx]
        order = jnp.argsort(jax.vmap(lambda s: mse(s, target))(current), descending=True)
        idx, current = idx[order], current[order]
        current = current.at[0].set(seed_state(target.shape[:2]))  # the worst: reseeded
        (loss, current), grad = nnx.value_and_grad(
            loss_fn, has_aux=True, argnums=nnx.DiffState(0, params)
        )(cs, current, target, steps)
        optimizer.update(cs, grad)
        return loss, pool.update(idx, {"state": current})

    return train_step


def run(args, setup: dict) -> None:
    dense, unroll = args.variant == "dense", args.rollout == "unrolled"
    cs, optimizer, pool, target, params = build(setup, dense)
    train_step = make_train_step(params, setup["batch"], unroll)
    key = jax.random.key(setup["seed"])
    keys = jax.random.split(key, args.warmup + args.iterations)
    state = {"pool": pool}

    def step(i: int, steps: int) -> float:
        loss, state["pool"] = train_step(cs, optimizer, state["pool"], keys[i], target, steps)
        return float(loss)

    def prepare(measured: list[int]) -> None:  # compile each new T ahead, without running
        seen = {int(t) for t in setup["steps"][: args.warmup]}
        for t in sorted(set(measured) - seen):
            train_step.lower(cs, optimizer, state["pool"], keys[0], target, t).compile()

    timing = train(step, schedule(setup, args), args.warmup, prepare)
    versions = {name: version(name) for name in ("cax", "jax", "jaxlib", "flax", "optax")}
    distinct = len(set(schedule(setup, args)))
    report(
        "cax" + ("-dense" if dense else "") + ("-unrolled" if unroll else ""),
        versions,
        setup,
        args,
        timing,
        compiled_programs=distinct,
        device=str(jax.devices()[0]),
    )


def check_step(args) -> None:
    """One step at fire rate 1 (no dropout) of IN.npz's ``state (B, 16, H, W)`` in the
    toolkit's layout with its weights (``w1``.. ``b2``, ``alive_threshold``); writes the
    state after the step of each variant (``conv``, ``dense``, each also ``-unrolled``)
    in the same layout."""
    with np.load(args.check_step[0]) as data:
        setup = {k: data[k] for k in data.files}
    order = cax_channel_order()
    state = jnp.asarray(np.moveaxis(setup["state"], 1, -1)[..., order])
    out = {}
    for variant in ("conv", "dense"):
        threshold = float(setup["alive_threshold"])
        cs = GrowingNCA(1.0, threshold, variant == "dense", rngs=nnx.Rngs(0))
        load_weights(cs, setup)
        after = nnx.vmap(lambda cs, s: cs(s, num_steps=1), in_axes=(None, 0))(cs, state)
        out[variant] = np.moveaxis(np.asarray(after)[..., np.argsort(order)], -1, 1)
        after = nnx.vmap(lambda cs, s: unrolled(cs, s, 1), in_axes=(None, 0))(cs, state)
        out[f"{variant}-unrolled"] = np.moveaxis(np.asarray(after)[..., np.argsort(order)], -1, 1)
    np.savez(args.check_step[1], **out)


def main() -> None:
    parser = child_arguments(__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("conv", "dense"), default="conv")
    parser.add_argument("--rollout", choices=("scan", "unrolled"), default="scan")
    args = parser.parse_args()
    if args.check_step:
        check_step(args)
        return
    run(args, load_setup(args.setup))


if __name__ == "__main__":
    main()
