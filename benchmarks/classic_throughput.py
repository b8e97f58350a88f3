"""Training throughput of each CA rule on the classify and texture tasks, and what the
tasks add.

*task step* is ``nca.Trainer.step`` of the task's quick preset (classify: batch 16 of
28x28 digits, T = 20, living-cell masking, residual noise, the mutating pool; texture:
batch 4 of 48x48 toroidal grids, T fixed at 36, the pool with reseeding, the Gram loss
of VGG16 and the overflow loss). *bare rollout* is the same rule rolled out from the same
kind of seeds by a plain ``nca.CellularAutomaton`` (no masking, no noise, no pool), then
the same loss (classify: the per-cell L2; texture: the same VGG16 Gram loss), backward
and an Adam step. Their ratio is the task's overhead; for texture the VGG16 loss is in
both. Runs alternate, so machine noise hits both alike; the table reports medians.
Cell-steps per second = batch x cells x T / seconds of the task step. The harness is
``_throughput.py``.

Run:
    python benchmarks/classic_throughput.py \\
        --vgg-weights ../shared/weights/lpips_vgg16_features.pth
"""

from __future__ import annotations

from _report import emit  # benchmarks/ is the script directory
from _throughput import Case, arguments, machine_line, measure

CLASSIFY_STEPS = 20  # the quick preset's T
TEXTURE_STEPS = 36
RULES = ("convca", "vitca", "unetca")


def bare_classify(trainer):
    """Fresh digits of the task's batch (drawn once); the article's per-cell L2 loss."""
    import torch
    from nca_classify.data import draw
    from nca_classify.model import l2_loss

    model = trainer.model
    generator = torch.Generator().manual_seed(0)
    images, labels = draw(trainer.data.train, trainer.task.config.batch_size, generator, "cpu")
    return (
        lambda: model.seed_with(images),
        lambda cells: l2_loss(model.output(cells), model.alive(cells), labels).mean(),
    )


def bare_texture(trainer):
    """Empty grids of the task's batch and size; the task's style loss."""
    model, task = trainer.model, trainer.task
    cfg = task.config
    return (
        lambda: model.seed(cfg.batch_size, cfg.grid_size, "cpu"),
        lambda cells: task.style_loss(model.output(cells)).mean(),
    )


def cases(vgg_weights: str) -> list[Case]:
    classify = {"steps": CLASSIFY_STEPS}
    texture = {"steps_min": TEXTURE_STEPS, "steps_max": TEXTURE_STEPS, "vgg_weights": vgg_weights}
    return [Case("classify", rule, CLASSIFY_STEPS, bare_classify, classify) for rule in RULES] + [
        Case("texture", rule, TEXTURE_STEPS, bare_texture, texture) for rule in RULES
    ]


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], iterations=3, repeats=3)
    parser.add_argument("--vgg-weights", default="", help="VGG16 features file (offline)")
    args = parser.parse_args()
    results = measure(cases(args.vgg_weights), iterations=args.iterations,
                      repeats=args.repeats, threads=args.threads)  # fmt: skip
    lines = [
        "# Classify and texture tasks: training throughput per rule, and the tasks' overhead",
        "",
        f"Command: `python benchmarks/classic_throughput.py --iterations {args.iterations} "
        f"--repeats {args.repeats} --vgg-weights ...`  ",
        machine_line(args.threads),
        "Setting: each task's `quick` preset with its rule defaults (classify: 16 digits of "
        f"28x28, T = {CLASSIFY_STEPS}; texture: 4 grids of 48x48, T = {TEXTURE_STEPS}); "
        "medians of alternating repeats.",
        "",
        "| task | rule | parameters | task step (s) | bare rollout + same loss (s) | overhead | "
        "cell-steps / s (task step) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.case.task} | {r.case.rule} | {r.parameters:,} | {r.task_seconds:.3f} | "
            f"{r.bare_seconds:.3f} | {r.overhead:+.0%} | {r.cell_steps_per_second:,.0f} |"
        )
    emit(lines, args.output)


if __name__ == "__main__":
    main()
