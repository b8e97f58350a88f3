"""NCALab's growing NCA at the article's settings (run with the NCALab virtual environment).

NCALab's ``GrowingNCAModel`` (4 image + 12 hidden channels, fixed Sobel filters:
``num_learned_filters=0``, a 128-wide MLP whose last layer is zeroed, fire rate 0.5, its
alive masking) trained by its ``BasicNCATrainer.train_iteration`` (the step its
``train`` loop runs: forward for ``T`` steps, its MSE loss on RGBA, backward, optimiser
and scheduler step).

Matched to the article (see README.md): the pool is the article's, kept here (1024
seeds; 8 sampled without replacement, sorted by loss, the worst reseeded; written back
after the step), since NCALab's ``Pool`` keeps only the last batch; per-parameter
gradient normalisation happens in the optimiser's ``step`` (an ``Adam`` subclass:
``train_iteration`` calls ``optimizer.step()`` right after ``backward``), since NCALab
offers only global-norm clipping; Adam with betas (0.9, 0.999) (NCALab's default is
(0.9, 0.99)), lr 2e-3, no decay (``lr_gamma=1``), no batch repetition
(``batch_repeat=1``). Not matched: NCALab masks dead cells after the update only (the
article: alive before and after), and its last layer has no bias (the setup's ``b2`` is
zero and stays unused).

Run: python benchmarks/peers/ncalab_grow.py --setup SETUP.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from _common import (
    CHANNELS,
    GRAD_EPS,
    HIDDEN,
    child_arguments,
    load_setup,
    report,
    schedule,
    to_ncalab,
    train,
)


class NormalizedAdam(torch.optim.Adam):
    """Adam whose ``step`` first divides each parameter's gradient by its L2 norm."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.div_(torch.linalg.vector_norm(p.grad) + GRAD_EPS)
        return super().step(closure)


def build_model(setup: dict, fire_rate: float):
    """NCALab's growing model with the setup's weights, on the CPU."""
    from ncalab import GrowingNCAModel

    nca = GrowingNCAModel(
        torch.device("cpu"),
        num_image_channels=4,
        num_hidden_channels=HIDDEN,
        fire_rate=fire_rate,
        hidden_size=128,
        use_alive_mask=True,
        num_learned_filters=0,
    )
    first, last = nca.network[0], nca.network[-1]
    with torch.no_grad():
        w1 = to_ncalab(setup["w1"])
        first.weight.copy_(torch.from_numpy(np.ascontiguousarray(w1.T)).view_as(first.weight))
        first.bias.copy_(torch.from_numpy(setup["b1"]))
        last.weight.copy_(
            torch.from_numpy(np.ascontiguousarray(setup["w2"].T)).view_as(last.weight)
        )
    return nca


class ArticlePool:
    """The article's pool of seeds (NCALab has none of this kind)."""

    def __init__(self, seed: torch.Tensor, size: int, generator: torch.Generator) -> None:
        self.cells = seed.repeat(size, 1, 1, 1)
        self.seed = seed
        self.generator = generator

    def sample(self, batch: int, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch`` distinct entries sorted by loss, the worst replaced by the seed."""
        idx = torch.randperm(len(self.cells), generator=self.generator)[:batch]
        cells = self.cells[idx]
        loss = ((cells[:, :4] - target) ** 2).mean(dim=(1, 2, 3))
        order = loss.argsort(descending=True)
        idx, cells = idx[order], cells[order]
        cells[:1] = self.seed
        return idx, cells

    def commit(self, idx: torch.Tensor, cells: torch.Tensor) -> None:
        self.cells[idx] = cells.detach()


def ncalab_version() -> str:
    """The installed distribution's version, or the source snapshot's (see README.md)."""
    from importlib.metadata import PackageNotFoundError, version

    import ncalab

    marker = Path(ncalab.__file__).resolve().parents[1] / "PEER_SOURCE"
    if marker.is_file():
        return marker.read_text().strip()
    try:
        return version("ncalab")
    except PackageNotFoundError:
        return "unknown"


def run(args, setup: dict) -> None:
    from ncalab import BasicNCATrainer

    torch.set_num_threads(args.threads)
    torch.manual_seed(setup["seed"])
    np.random.seed(setup["seed"])
    nca = build_model(setup, setup["fire_rate"])
    target = torch.from_numpy(setup["target"])[None]
    seed = torch.zeros(1, CHANNELS, *target.shape[2:])
    seed[:, 3:, target.shape[2] // 2, target.shape[3] // 2] = 1.0  # NCALab's growing seed
    pool = ArticlePool(seed, setup["pool_size"], torch.Generator().manual_seed(setup["seed"]))
    trainer = BasicNCATrainer(
        nca,
        None,
        steps_range=(64, 97),
        lr=setup["lr"],
        lr_gamma=1.0,
        adam_betas=(0.9, 0.999),
        batch_repeat=1,
        optimizer_method="adam",
    )
    optimizer = NormalizedAdam(nca.parameters(), lr=setup["lr"], betas=(0.9, 0.999))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, 1.0)
    labels = target.expand(setup["batch"], *target.shape[1:])

    def step(i: int, steps: int) -> float:
        idx, cells = pool.sample(setup["batch"], target)
        prediction, losses = trainer.train_iteration(
            cells, labels, steps, optimizer, scheduler, i, None
        )
        pool.commit(idx, prediction.output_image)
        return losses["total"].item()

    timing = train(step, schedule(setup, args), args.warmup)
    versions = {"ncalab": ncalab_version(), "torch": torch.__version__}
    report("ncalab", versions, setup, args, timing)


def check_step(args) -> None:
    """One step at fire rate 1 of IN.npz's ``state (B, 16, H, W)`` (the toolkit's layout,
    which is NCALab's) with its weights; writes ``ncalab``, the state after the step."""
    with np.load(args.check_step[0]) as data:
        setup = {k: data[k] for k in data.files}
    nca = build_model(setup, 1.0)
    with torch.no_grad():
        after = nca(torch.from_numpy(setup["state"]), steps=1).output_image
    np.savez(args.check_step[1], ncalab=after.numpy())


def main() -> None:
    args = child_arguments(__doc__.splitlines()[0]).parse_args()
    if args.check_step:
        check_step(args)
        return
    run(args, load_setup(args.setup))


if __name__ == "__main__":
    main()
