"""Where a ViTCA training rollout's time goes, eager and compiled, and how far it is from
the matmul-limited ceiling.

For one setting (default B = 8, 32x32 grayscale, T = 16, the shifted backend), it:

* counts the FLOPs of one forward + backward (``torch.utils.flop_counter``: the matmuls
  and convolutions; elementwise work is not counted);
* measures this machine's matmul speed on the rollout's own linear-layer shapes
  (``(B·H·W) × d_in @ d_in × d_out``, forward and both backward products);
* times the iteration eagerly and with the CA step compiled, each dense and with the
  automaton's ``sparse_update`` (queries, MLP and head of the firing cells only), and
  reports the share of two ceilings each reaches: the dense linear layers' matmuls
  (one fixed reference for every row) and the variant's own counted matmul FLOPs at
  the same speed;
* lists the operators that take the most self time under ``torch.profiler`` (compiled
  kernels appear as Inductor's fused graphs).

Usage:
    python benchmarks/vitca_step_profile.py [--batch 8] [--output results.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from _machine import cpu_model  # benchmarks/ is the script directory
from _report import emit

#: (row name, sparse_update, compiled)
VARIANTS = [
    ("eager", False, False),
    ("compiled", False, True),
    ("sparse", True, False),
    ("sparse compiled", True, True),
]


def _iteration(ca, images, steps):
    from nca import make_generator, overflow_losses

    def run() -> None:
        ca.rule.zero_grad(set_to_none=True)
        out = ca(ca.seed(images), steps, generator=make_generator(0)).cells
        loss = (ca.output_image(out) - images).abs().mean() + overflow_losses(ca.layout, out).total
        loss.backward()

    return run


def _median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _linear_shapes(rule) -> list[tuple[int, int]]:
    import torch

    linears = [m for m in rule.modules() if isinstance(m, torch.nn.Linear)]
    return [(m.in_features, m.out_features) for m in linears]


def _matmul_seconds(tokens: int, shapes: list[tuple[int, int]], repeats: int) -> float:
    """Seconds of the forward and both backward matmuls of every linear layer, once."""
    import torch

    total = 0.0
    for d_in, d_out in shapes:
        x, w, g = torch.randn(tokens, d_in), torch.randn(d_in, d_out), torch.randn(tokens, d_out)

        def products(x=x, w=w, g=g) -> None:
            x @ w  # forward
            g @ w.T  # input gradient
            x.T @ g  # weight gradient

        products()
        total += _median_seconds(products, repeats)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    from nca import CellularAutomaton, create_rule

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rule = create_rule("vitca", attention_backend="shifted", zero_last_layer=False)
    images = torch.rand(args.batch, 1, args.size, args.size)
    runs, steps = {}, {}
    for name, sparse, compiled in VARIANTS:
        automaton = CellularAutomaton(rule, sparse_update=sparse)
        if compiled:
            steps[name] = automaton.compile_step()
        runs[name] = _iteration(automaton, images, args.steps)
        runs[name]()  # warm-up (and compilation)
    for name, step in steps.items():
        if not step.active:
            raise SystemExit(f"compilation failed ({name}): {step.failure}")
    flops = {}
    for name in runs:
        with FlopCounterMode(display=False) as counter:
            runs[name]()
        flops[name] = counter.get_total_flops()
    tokens = args.batch * args.size * args.size
    shapes = _linear_shapes(rule)
    per_step = _matmul_seconds(tokens, shapes, args.repeats)
    ceiling = per_step * args.steps  # the linear layers' matmuls alone, T steps
    linear_flops = 6 * tokens * sum(i * o for i, o in shapes) * args.steps
    speed = linear_flops / ceiling  # FLOP/s of this machine's matmuls at these shapes
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved: the machine's drift hits every variant alike
        for name, run in runs.items():
            times[name].append(_median_seconds(run, 1))
    seconds = {name: statistics.median(t) for name, t in times.items()}
    lines = [
        "# ViTCA training rollout: profile and matmul ceiling",
        "",
        f"Command: `python benchmarks/vitca_step_profile.py --batch {args.batch} --size "
        f"{args.size} --steps {args.steps}`  ",
        f"Machine: {cpu_model()}, {args.threads} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}",
        "",
        f"One iteration: B = {args.batch}, {args.size}x{args.size} grayscale, T = {args.steps}, "
        f"σ = 0.5, forward + backward of an L1 + overflow loss, shifted backend "
        f"(median of {args.repeats}).",
        "",
        f"- The dense linear layers' matmuls alone ({linear_flops / 1e9:.2f} GFLOP), at their "
        f"shapes on this machine: {ceiling * 1e3:.0f} ms per iteration "
        f"({speed / 1e9:.1f} GFLOP/s). That is the dense ceiling.",
        "- Each variant's own ceiling: the matmul and convolution FLOPs that "
        "`FlopCounterMode` counts in its iteration (recomputation in backward included), "
        "at that speed.",
        "",
        "| step | counted GFLOP | ms per iteration | cell-steps/s | × eager "
        "| share of the dense ceiling | share of its own ceiling |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in seconds.items():
        own = flops[name] / speed
        lines.append(
            f"| {name} | {flops[name] / 1e9:.2f} | {s * 1e3:.0f} | {tokens * args.steps / s:,.0f} "
            f"| {seconds['eager'] / s:.2f} | {100 * ceiling / s:.0f} % | {100 * own / s:.0f} % |"
        )
    lines.append("")
    for name in runs:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            runs[name]()
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events) or 1
        lines += [
            f"### Top operators by self time ({name})",
            "",
            "| operator | calls | self ms | share |",
            "| --- | ---: | ---: | ---: |",
        ]
        for event in events[: args.top]:
            label = event.key if len(event.key) <= 60 else event.key[:57] + "..."
            lines.append(
                f"| `{label}` | {event.count} | {event.self_cpu_time_total / 1e3:.1f} | "
                f"{100 * event.self_cpu_time_total / total:.1f} % |"
            )
        lines.append("")
    emit(lines, args.output)


if __name__ == "__main__":
    main()
