"""Does a trained denoising CA's stochastic rollout reach the expected map's fixed point?

Fixed-point training solves ``z* = z + σ·u(z)``. The CA that is evaluated fires cells at
random instead. This script solves for ``z*`` on 16 test digits (1x1 noise at 50 %) and
prints, for T-step stochastic rollouts from the seed, the relative distance to ``z*``;
then the relative size of one stochastic step and of the full update after T = 256; and
the distance after 64 stochastic steps started from ``z*`` (plus noise), which says
whether ``z*`` is stable under the stochastic updates.

Usage:
    python benchmarks/stochastic_convergence.py RUN_DIR
"""

from __future__ import annotations

import argparse

import torch


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a trained denoise run directory")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from nca_denoise.masking import mask_images

    from nca import (
        FixedPointConfig,
        draw_update_mask,
        fixed_point_rollout,
        load_images,
        load_run,
        make_generator,
    )

    torch.set_num_threads(args.threads)
    try:
        stored = load_run(args.run)
        task, model = stored.task, stored.model
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"stochastic_convergence: {error}") from None
    cfg = task.config
    if not hasattr(cfg, "dataset") or model.automaton is None:
        raise SystemExit(
            f"stochastic_convergence: {args.run} is not a denoising CA run "
            f"(task {type(task).__name__}, rule {model.name}); give a denoise run directory"
        )
    model.eval()
    images = load_images(cfg.dataset, "test", image_size=cfg.image_size).batch(torch.arange(16))
    ca = model.automaton
    cells = ca.seed(mask_images(images, (1, 0.5), make_generator(3)))
    fixed = ca.layout.fixed_slice.stop
    generator = make_generator(1)

    def stochastic(c: torch.Tensor, steps: int) -> torch.Tensor:
        for _ in range(steps):
            c = ca.step(c, draw_update_mask(c, 0.5, generator))
        return c

    with torch.no_grad():
        config = FixedPointConfig(tol=1e-6, max_steps=2000)
        star, stats = fixed_point_rollout(ca.step, ca.layout, cells, config, rate=0.5)
        z_star = star[:, fixed:]
        print(f"# Stochastic rollout against the expected map's fixed point: `{args.run}`\n")
        print(f"z*: {stats.forward_steps} Picard steps, residual {stats.forward_residual:.1e}\n")
        print("| T | distance to z* (relative, worst sample) |")
        print("| ---: | ---: |")
        for steps in (16, 32, 64, 128, 256):
            out = ca(cells, steps, generator=make_generator(0)).cells
            print(f"| {steps} | {_relative(out[:, fixed:], z_star):.1e} |")
        step = stochastic(out, 1)
        update = ca.step(out, torch.ones_like(out[:, :1]))
        print(f"\nAt T = 256: one stochastic step moves the state by "
              f"{_relative(step[:, fixed:], out[:, fixed:]):.1e}, the full update by "
              f"{_relative(update[:, fixed:], out[:, fixed:]):.1e} (relative).\n")  # fmt: skip
        for noise in (0.0, 1e-3, 1e-2):
            start = star.clone()
            start[:, fixed:] += noise * torch.randn(start[:, fixed:].shape, generator=generator)
            end = stochastic(start, 64)
            print(f"- from z* + {noise:g} noise, 64 stochastic steps: "
                  f"distance {_relative(end[:, fixed:], z_star):.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
