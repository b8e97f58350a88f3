"""The toolkit's self-classifying MNIST at the article's settings, as a user trains it.

The classify task (its ``paper`` preset: the mutating pool of 160, batch 16, T = 20,
sigma = 0.5, residual noise 0.02, the L2 loss on the class channels of living cells,
Adam 1e-3 with per-parameter gradient normalisation) on the embedded MNIST sample (the
preset's ``mnist`` needs a download), with the convca rule that
``nca.resolve_task_rule`` gives it (a learned 3x3 perception to 80 features with a
ReLU, an 80-wide MLP, 9 hidden channels, 10 class channels), trained by
``nca.Trainer.step``. The rule's weights come from the setup file, and the task's
training digits must be the setup's. Each iteration's ``T`` is the setup's
(``steps = T`` before the step).

``--perception depthwise`` (the ``ours-depthwise`` row) runs NCALab's architecture
instead, for an equal-work comparison with it: convca's ``depthwise`` perception (the cell
and 3 learned depthwise 3x3 filters, no bias, no ReLU: 20 x 4 = 80 features) and the same
80-wide MLP, from convca's own initialisation after ``torch.manual_seed(seed)`` (as
NCALab's row, not the setup's weights). Its last layer keeps its bias (NCALab's has none):
19 additions per cell-step against about 8,500 multiply-adds.

Run with the toolkit's Python: python benchmarks/peers/ours_classify.py --setup SETUP.npz
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import child_arguments, load_setup, report, schedule, train
from ours_grow import QUIET

#: The classify task's shipped data source: no download.
DATASET = "embedded-mnist"
#: ``--perception depthwise``: learned depthwise filters per channel, NCALab's row's.
DEPTHWISE_FILTERS = 3


def classify_task(setup: dict, iterations: int, **overrides):
    """The classify task at the article's settings with the setup's scalars
    (``overrides`` win: the equivalence test sets ``update_rate=1``, no noise)."""
    from nca import create_task

    settings = {
        "dataset": DATASET,
        "experiment": "mutating",
        "loss": "l2",
        "batch_size": setup["batch"],
        "pool_size": setup["pool_size"],
        "update_rate": setup["fire_rate"],
        "update_noise": setup["update_noise"],
        "alive_threshold": setup["alive_threshold"],
        "lr": setup["lr"],
        "optimizer": "adam",
        "gradient_normalization": True,
        "iterations": iterations,
        **QUIET,
    }
    return create_task("classify", preset="paper", **{**settings, **overrides})


def rule_layers(rule) -> tuple:
    """The convca rule's trained layers: the perception and the MLP's first and last."""
    return rule.perception, rule.update_mlp[0], rule.update_mlp[-1]


def rule_weights(rule) -> dict[str, np.ndarray]:
    """The rule's weights in the setup's layout (see ``_common``): ``wp (80, 20, 3, 3)``,
    ``bp``, ``w1 (80, 80)``, ``b1``, ``w2 (80, 19)``, ``b2``."""
    perception, first, last = rule_layers(rule)

    def array(tensor):
        return tensor.detach().numpy().copy()

    return {
        "wp": array(perception.weight),
        "bp": array(perception.bias),
        "w1": array(first.weight.reshape(first.out_channels, -1).T),
        "b1": array(first.bias),
        "w2": array(last.weight.reshape(last.out_channels, -1).T),
        "b2": array(last.bias),
    }


def build_rule(task, weights: dict):
    """The convca rule the task resolves, holding ``weights`` (the setup's layout)."""
    import torch

    from nca import create_rule, resolve_task_rule

    resolved = resolve_task_rule(task, "convca")
    rule = create_rule(resolved.name, resolved.config)
    perception, first, last = rule_layers(rule)

    def load(param, array):
        param.copy_(torch.from_numpy(np.ascontiguousarray(array)).reshape(param.shape))

    with torch.no_grad():
        load(perception.weight, weights["wp"])
        load(perception.bias, weights["bp"])
        load(first.weight, weights["w1"].T)
        load(first.bias, weights["b1"])
        load(last.weight, weights["w2"].T)
        load(last.bias, weights["b2"])
    return rule


def build_depthwise_rule(task, seed: int):
    """The convca rule the task resolves with NCALab's perception (the cell and
    :data:`DEPTHWISE_FILTERS` learned depthwise filters), initialised by convca after
    ``torch.manual_seed(seed)``."""
    import dataclasses

    import torch

    from nca import create_rule, resolve_task_rule

    resolved = resolve_task_rule(task, "convca")
    config = dataclasses.replace(
        resolved.config, perception="depthwise", depthwise_filters=DEPTHWISE_FILTERS
    )
    torch.manual_seed(seed)
    return create_rule(resolved.name, config)


def check_digits(task, setup: dict) -> None:
    """Refuse to run when the task's training digits are not the setup's."""
    from nca_classify.data import load_digits

    digits = load_digits(task.config, "train")
    same = np.array_equal(digits.images[:, 0].numpy(), setup["digits"])
    if not (same and np.array_equal(digits.labels.numpy(), setup["labels"])):
        raise SystemExit(f"the classify task's {DATASET} training digits are not the setup's")


def run(args, setup: dict) -> None:
    import torch

    from nca import RunContext, Trainer, __version__

    torch.set_num_threads(args.threads)
    steps = schedule(setup, args)
    task = classify_task(setup, len(steps))
    check_digits(task, setup)
    depthwise = getattr(args, "perception", "setup") == "depthwise"
    rule = build_depthwise_rule(task, setup["seed"]) if depthwise else build_rule(task, setup)
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(task, rule, RunContext(folder, seed=setup["seed"], quiet=True))

        def step(i: int, t: int) -> float:
            task.config.steps = t
            return float(trainer.step()["loss"])

        timing = train(step, steps, args.warmup)
    versions = {"nca-toolkit": __version__, "torch": torch.__version__}
    report("ours-depthwise" if depthwise else "ours", versions, setup, args, timing)


def arguments():
    """This child's options: every child's and ``--perception``."""
    parser = child_arguments(__doc__.splitlines()[0])
    parser.add_argument(
        "--perception",
        choices=("setup", "depthwise"),
        default="setup",
        help="setup: the article's model with the setup's weights; depthwise: NCALab's "
        "architecture (convca's depthwise perception, its own initialisation)",
    )
    return parser


def main() -> None:
    args = arguments().parse_args()
    run(args, load_setup(args.setup))


if __name__ == "__main__":
    main()
