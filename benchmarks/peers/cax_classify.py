"""CAX's self-classifying MNIST at the article's settings (in the CAX virtual environment).

Built from CAX's own modules as its example (``examples/44_self_classifying_mnist.ipynb``)
builds it: a ``ComplexSystem`` whose step is ``ConvPerceive`` (a full learned 3x3
convolution to 80 features, with bias and ReLU) and ``NCAUpdate`` (an 80-wide MLP as 1x1
convolutions, cell dropout, alive masking before and after, the last layer zero), the
pixel (CAX's last channel) restored after each step, rolled out with the system's jitted
scan, batched with ``nnx.vmap`` and ``nnx.split_rngs``, a ``cax.nn.pool.Pool`` and
optax's Adam on every parameter. The weights are the setup's (the toolkit's learned
perception maps onto ``ConvPerceive`` directly). ``--variant dense`` writes the update
MLP as dense layers (``nnx.Linear``) instead of 1x1 convolutions, everything else the
same. ``--rollout unrolled`` runs the system's ``_step`` ``T`` times in Python inside the
jitted step instead of its ``__call__`` (an ``nnx.scan``): the same computation, which
XLA:CPU differentiates an order of magnitude faster (the convolution's kernel gradient
inside a scan is slow; see README.md).

Matched to the article (see README.md): the cell dropout rate is 1 - sigma and the step
size sigma (CAX's dropout scales a firing cell's update by 1 / sigma); residual noise
N(0, 0.02) is added to the MLP's output before the dropout (CAX has none); a cell lives
where its own pixel exceeds 0.1 (``NCAUpdate`` takes the 3x3 max); the pool is the
article's mutating one, 160 digits, sampled without replacement, a quarter of each batch
fresh digits, a quarter given new digits under their old states (the example: 1024
digits sampled with replacement, a quarter fresh, no mutation); the L2 loss's targets
live where the pixel is > 0.1 (the example: >= 0.1); per-parameter gradient
normalisation before ``optax.adam`` at a constant rate (the example clips the global norm
and decays the rate).

Run: python benchmarks/peers/cax_classify.py --setup SETUP.npz [--variant conv|dense]
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
    CLASSES,
    CLASSIFY_CHANNELS,
    cax_classify_order,
    child_arguments,
    digit_images,
    load_setup,
    report,
    schedule,
    to_cax_classify,
    train,
)
from cax.core import ComplexSystem
from cax.core.perceive import ConvPerceive
from cax.core.update import NCAUpdate
from cax.core.update.mlp_update import MLPUpdate
from cax.nn.pool import Pool
from cax_grow import normalize_each
from flax import nnx

PERCEPTION = 80
MLP = 80
#: The setup's weights, in ``to_cax_classify``'s argument order.
WEIGHTS = ("wp", "bp", "w1", "b1", "w2", "b2")


class NoisyMLP(MLPUpdate):
    """CAX's MLP update with the article's residual noise added to its output.

    ``ArticleUpdate`` puts this class between ``ResidualUpdate`` and ``MLPUpdate`` in its
    method order, so ``ResidualUpdate`` drops out (and adds) the noisy update, as the
    article masks ``update + noise``.
    """

    def __call__(self, state, perception, input=None):
        """``(H, W, 20)`` state and ``(H, W, 80)`` perception -> ``(H, W, 20)`` update,
        N(0, noise) on every channel but the pixel (the last)."""
        update = super().__call__(state, perception, input)
        if not self.noise_std:
            return update
        noise = self.noise_std * jax.random.normal(self.noise_rngs(), update.shape)
        return update + noise.at[..., -1].set(0.0)


class ArticleUpdate(NCAUpdate, NoisyMLP):
    """``NCAUpdate`` with residual noise before its cell dropout, and the classify alive
    rule: a cell lives where its own pixel exceeds the threshold."""

    def __init__(self, *, noise: float, rngs: nnx.Rngs, **kwargs):
        super().__init__(rngs=rngs, **kwargs)
        self.noise_std = noise
        self.noise_rngs = rngs["noise"].fork()  # split per digit by nnx.split_rngs
        # NCAUpdate's alive mask is max_pool(pixel) > threshold; the identity in place
        # of its 3x3 max pool gives the article's rule (pixel > threshold)
        self.pool = _own_value


def _own_value(alive: jax.Array) -> jax.Array:
    return alive


class SelfClassifyingNCA(ComplexSystem):
    """CAX's self-classifying NCA (its example's class), the MLP dense or 1x1 convs."""

    def __init__(self, fire_rate: float, threshold: float, noise: float, dense: bool, *,
                 rngs: nnx.Rngs):  # fmt: skip
        self.perceive = ConvPerceive(
            channel_size=CLASSIFY_CHANNELS,
            perception_size=PERCEPTION,
            use_bias=True,
            activation_fn=nnx.relu,
            rngs=rngs,
        )
        self.update = ArticleUpdate(
            channel_size=CLASSIFY_CHANNELS,
            perception_size=PERCEPTION,
            hidden_layer_sizes=(MLP,),
            cell_dropout_rate=1.0 - fire_rate,
            step_size=fire_rate,
            alive_threshold=threshold,
            zeros_init=True,
            noise=noise,
            rngs=rngs,
        )
        if dense:
            zeros = nnx.initializers.zeros_init()
            self.update.layers = nnx.List(
                [
                    nnx.Linear(PERCEPTION, MLP, rngs=rngs),
                    nnx.Linear(MLP, CLASSIFY_CHANNELS, kernel_init=zeros, rngs=rngs),
                ]
            )

    def _step(self, state, input=None, *, sow: bool = False):
        """One step of ``(H, W, 20)``; the pixel is restored afterwards (the example's)."""
        pixel = state[..., -1:]
        next_state = self.update(state, self.perceive(state), input)
        return next_state.at[..., -1:].set(pixel)


def load_weights(cs: SelfClassifyingNCA, weights: dict) -> None:
    """The toolkit's weights (the setup's layout) in CAX's channel order."""
    kernel, bp, w1, b1, w2, b2 = to_cax_classify(*(weights[k] for k in WEIGHTS))
    conv, first, last = cs.perceive.conv, cs.update.layers[0], cs.update.layers[-1]
    conv.kernel[...] = jnp.asarray(kernel)
    conv.bias[...] = jnp.asarray(bp)
    first.kernel[...] = jnp.asarray(w1).reshape(first.kernel.shape)
    first.bias[...] = jnp.asarray(b1)
    last.kernel[...] = jnp.asarray(w2).reshape(last.kernel.shape)
    last.bias[...] = jnp.asarray(b2)


def seed_grids(images: jax.Array) -> jax.Array:
    """Fresh grids ``(n, H, W, 20)`` of digits ``(n, H, W)``: zeros, the pixel last."""
    return jnp.zeros((*images.shape, CLASSIFY_CHANNELS)).at[..., -1].set(images)


def mutate(states: jax.Array, images: jax.Array, threshold: float) -> jax.Array:
    """Grids ``(n, H, W, 20)`` given new digits ``(n, H, W)`` under their states; the
    cells the new digit leaves dead lose their state (the toolkit's ``inject``)."""
    alive = (images > threshold)[..., None]
    return jnp.concatenate([states[..., :-1] * alive, images[..., None]], axis=-1)


def l2(states: jax.Array, labels: jax.Array, threshold: float) -> jax.Array:
    """The article's loss: per digit half the squared error of the logits ``(B, H, W,
    10)`` against the one-hot label on living cells (0 elsewhere), summed over cells;
    the batch mean."""
    alive = (states[..., -1] > threshold)[..., None]
    target = jax.nn.one_hot(labels, CLASSES)[:, None, None, :] * alive
    return jnp.mean(jnp.sum(jnp.square(states[..., :CLASSES] - target), axis=(1, 2, 3)) / 2)


def sample_batch(pool: Pool, key, images, labels, batch: int, threshold: float):
    """The mutating pool's batch: ``batch`` distinct entries, the first quarter replaced
    by fresh digits, the last given new digits. Returns (indices, states, labels)."""
    pick, fresh, new = jax.random.split(key, 3)
    idx = jax.random.permutation(pick, pool.size)[:batch]  # without replacement
    states, ys = pool.data["state"][idx], pool.data["label"][idx]
    quarter = batch // 4
    drawn = jax.random.randint(fresh, (quarter,), 0, images.shape[0])
    states = states.at[:quarter].set(seed_grids(images[drawn]))
    ys = ys.at[:quarter].set(labels[drawn])
    drawn = jax.random.randint(new, (quarter,), 0, images.shape[0])
    states = states.at[-quarter:].set(mutate(states[-quarter:], images[drawn], threshold))
    ys = ys.at[-quarter:].set(labels[drawn])
    return idx, states, ys


def build(setup: dict, dense: bool):
    """The system with the setup's weights, its optimiser (every parameter), the pool
    of ``pool_size`` random training digits, and the digits ``(N, H, W)`` and labels."""
    rngs = nnx.Rngs(setup["seed"])
    cs = SelfClassifyingNCA(
        setup["fire_rate"], setup["alive_threshold"], setup["update_noise"], dense, rngs=rngs
    )
    load_weights(cs, setup)
    tx = optax.chain(normalize_each(), optax.adam(setup["lr"]))
    optimizer = nnx.Optimizer(cs, tx, wrt=nnx.Param)
    images, labels = jnp.asarray(digit_images(setup)), jnp.asarray(setup["labels"], jnp.int32)
    key = jax.random.key(setup["seed"] + 1)
    drawn = jax.random.randint(key, (setup["pool_size"],), 0, images.shape[0])
    pool = Pool.create({"state": seed_grids(images[drawn]), "label": labels[drawn]})
    return cs, optimizer, pool, images, labels


def unrolled(cs: SelfClassifyingNCA, state: jax.Array, steps: int) -> jax.Array:
    """``steps`` calls of the system's ``_step`` on ``state (H, W, 20)``, unrolled."""
    for _ in range(steps):
        state = cs._step(state)
    return state


def make_train_step(batch: int, threshold: float, unroll: bool = False):
    """The example's train step with the mutating pool, for a static rollout length;
    the rollout CAX's scan, or (``unroll``) the same steps unrolled."""

    def rollout(cs, state, steps):
        return unrolled(cs, state, steps) if unroll else cs(state, num_steps=steps)

    def loss_fn(cs, states, labels, steps):
        state_axes = nnx.StateAxes({nnx.RngState: 0, nnx.Intermediate: 0, ...: None})
        states = nnx.split_rngs(splits=batch)(
            nnx.vmap(lambda cs, state: rollout(cs, state, steps), in_axes=(state_axes, 0))
        )(cs, states)
        return l2(states, labels, threshold), states

    @nnx.jit(static_argnames=("steps",))
    def train_step(cs, optimizer, pool, key, images, labels, steps):
        idx, states, ys = sample_batch(pool, key, images, labels, batch, threshold)
        (loss, states), grad = nnx.value_and_grad(loss_fn, has_aux=True)(cs, states, ys, steps)
        optimizer.update(cs, grad)
        return loss, pool.update(idx, {"state": states, "label": ys})

    return train_step


def run(args, setup: dict) -> None:
    dense, unroll = args.variant == "dense", args.rollout == "unrolled"
    cs, optimizer, pool, images, labels = build(setup, dense)
    train_step = make_train_step(setup["batch"], setup["alive_threshold"], unroll)
    keys = jax.random.split(jax.random.key(setup["seed"]), args.warmup + args.iterations)
    state = {"pool": pool}

    def step(i: int, steps: int) -> float:
        loss, state["pool"] = train_step(
            cs, optimizer, state["pool"], keys[i], images, labels, steps
        )
        return float(loss)

    def prepare(measured: list[int]) -> None:  # compile each new T ahead, without running
        seen = {int(t) for t in setup["steps"][: args.warmup]}
        for t in sorted(set(measured) - seen):
            train_step.lower(cs, optimizer, state["pool"], keys[0], images, labels, t).compile()

    timing = train(step, schedule(setup, args), args.warmup, prepare)
    versions = {name: version(name) for name in ("cax", "jax", "jaxlib", "flax", "optax")}
    report(
        "cax" + ("-dense" if dense else "") + ("-unrolled" if unroll else ""),
        versions,
        setup,
        args,
        timing,
        compiled_programs=len(set(schedule(setup, args))),
        device=str(jax.devices()[0]),
    )


def check_step(args) -> None:
    """One step at fire rate 1, without noise, of IN.npz's ``state (B, 20, H, W)`` in the
    toolkit's layout with its weights (``wp`` .. ``b2``, ``alive_threshold``); writes, for
    each variant (``conv``, ``dense``), the state after the step in the same layout and
    (``VARIANT_loss``) its L2 loss against ``labels (B,)``."""
    with np.load(args.check_step[0]) as data:
        case = {k: data[k] for k in data.files}
    order = cax_classify_order()
    state = jnp.asarray(np.moveaxis(case["state"], 1, -1)[..., order])
    threshold = float(case["alive_threshold"])
    out = {}
    for variant in ("conv", "dense"):
        cs = SelfClassifyingNCA(1.0, threshold, 0.0, variant == "dense", rngs=nnx.Rngs(0))
        load_weights(cs, case)
        after = nnx.vmap(lambda cs, s: cs(s, num_steps=1), in_axes=(None, 0))(cs, state)
        out[variant] = np.moveaxis(np.asarray(after)[..., np.argsort(order)], -1, 1)
        out[f"{variant}_loss"] = np.asarray(l2(after, jnp.asarray(case["labels"]), threshold))
    np.savez(args.check_step[1], **out)


def main() -> None:
    parser = child_arguments(__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("conv", "dense"), default="conv")
    parser.add_argument(
        "--rollout",
        choices=("scan", "unrolled"),
        default="scan",
        help="scan: the system's __call__ (CAX's nnx.scan); unrolled: _step T times",
    )
    args = parser.parse_args()
    if args.check_step:
        check_step(args)
        return
    run(args, load_setup(args.setup))


if __name__ == "__main__":
    main()
