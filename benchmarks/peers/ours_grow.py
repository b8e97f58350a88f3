"""The toolkit's growing NCA at the article's settings, as a user trains it.

The grow task (its ``paper`` preset, the ``persistent`` experiment: a pool of 1024
seeds, the highest-loss sample of each batch reseeded, no damage) with the convca rule
that ``nca.resolve_task_rule`` gives it (identity + Sobel perception, 12 hidden
channels, a 128-wide MLP with a zeroed last layer), trained by ``nca.Trainer.step``:
alive masking before and after each step, sigma = 0.5, L2 loss on RGBA, Adam 2e-3,
per-parameter gradient normalisation. The rule's weights and the target come from the
setup file; the target is the setup's 40x40 picture (``lizard40.png`` beside it),
padded by 16. Each iteration's ``T`` is the setup's (``steps_min = steps_max = T``
before the step).

Run with the toolkit's Python: python benchmarks/peers/ours_grow.py --setup SETUP.npz
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import child_arguments, load_setup, report, schedule, train

#: Keeps logging, validation and checkpoints out of the timed steps.
QUIET = {"log_every": 10**6, "validate_every": 10**6, "checkpoint_every": 10**6}
#: The setup's target picture, written by run.py beside the setup file.
PICTURE = "lizard40.png"


def grow_task(setup: dict, picture: Path, iterations: int, gradient: str = "bptt",
              compiled: bool = False):  # fmt: skip
    """The grow task at the article's settings, growing ``picture``, its rollouts
    differentiated by ``gradient`` (``bptt``, ``checkpoint``, ``fixed-point``), the step
    compiled or not."""
    from nca import create_task

    return create_task(
        "grow",
        preset="paper",
        experiment="persistent",
        target=str(picture),
        target_size=40,
        target_padding=16,
        batch_size=setup["batch"],
        pool_size=setup["pool_size"],
        update_rate=setup["fire_rate"],
        alive_threshold=setup["alive_threshold"],
        lr=setup["lr"],
        optimizer="adam",
        gradient_normalization=True,
        iterations=iterations,
        gradient=gradient,
        compile=compiled,
        **QUIET,
    )


def build_rule(task, setup: dict):
    """The convca rule the task resolves, holding the setup's weights."""
    import torch

    from nca import create_rule, resolve_task_rule

    resolved = resolve_task_rule(task, "convca")
    rule = create_rule(resolved.name, resolved.config)
    first, last = rule.update_mlp[0], rule.update_mlp[-1]
    with torch.no_grad():
        first.weight.copy_(torch.from_numpy(setup["w1"].T).reshape(first.weight.shape))
        first.bias.copy_(torch.from_numpy(setup["b1"]))
        last.weight.copy_(torch.from_numpy(setup["w2"].T).reshape(last.weight.shape))
        last.bias.copy_(torch.from_numpy(setup["b2"]))
    return rule


def run(args, setup: dict) -> None:
    import torch

    from nca import RunContext, Trainer, __version__

    torch.set_num_threads(args.threads)
    steps = schedule(setup, args)
    gradient, compiled = getattr(args, "gradient", "bptt"), getattr(args, "compile", False)
    task = grow_task(setup, args.setup.with_name(PICTURE), len(steps), gradient, compiled)
    if not np.allclose(task.target[0].numpy(), setup["target"], atol=1e-6):
        raise SystemExit("the grow task's target is not the setup's (lizard40.png changed?)")
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(
            task, build_rule(task, setup), RunContext(folder, seed=setup["seed"], quiet=True)
        )

        def step(i: int, t: int) -> float:
            task.config.steps_min = task.config.steps_max = t
            return float(trainer.step()["loss"])

        timing = train(step, steps, args.warmup)
    versions = {"nca-toolkit": __version__, "torch": torch.__version__}
    label = "ours" + ("" if gradient == "bptt" else f"-{gradient}")
    report(label + ("-compiled" if compiled else ""), versions, setup, args, timing)


def arguments():
    """This child's options: every child's, ``--gradient`` and ``--compile``."""
    parser = child_arguments(__doc__.splitlines()[0])
    parser.add_argument("--gradient", default="bptt", choices=("bptt", "checkpoint", "fixed-point"))
    parser.add_argument("--compile", action="store_true", help="the compiled step (--compile)")
    return parser


def main() -> None:
    args = arguments().parse_args()
    run(args, load_setup(args.setup))


if __name__ == "__main__":
    main()
