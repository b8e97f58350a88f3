"""Frame rate of ``nca play``: how many frames per second a tab gets, per model.

Two models of the issue's target: the grow task's convca (the article's model: 12
hidden channels, identity + Sobel perception, 128-wide MLP) on a 64×64 grid, and the
paper's baseline ViTCA (d = 128, 4 heads, 32 hidden channels) denoising a 32×32 MNIST
digit. Their last layers are randomised (an untrained rule does not move, and a
trained one costs the same). For each it measures, on ``--threads`` threads:

* **in process**: ``PlaySession.advance`` + ``frame`` per second (the simulation and
  its picture, no server), per view (output, hidden channel, attention splat map);
* **served**: frames per second a WebSocket client receives from the real server
  (``ViewerThread``), uncapped (``max_fps`` 1000) and at the default cap of 30 fps,
  which is what the page shows.

A third model, ``grow3d``, is the quick3d preset's convca on a 32^3 grid holding the
whole snowman: the server-side voxel view (nca/play/voxels.py) of a full volume.

Usage:
    python benchmarks/play_fps.py [--seconds 5] [--models grow grow3d vitca]
        [--output benchmarks/results/play_fps_cpu.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from _machine import cpu_model  # benchmarks/ is the script directory


def _randomise_zero_layers(rule: torch.nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in rule.parameters():
            if not param.abs().any():  # the zero-initialised last layer
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)


def grow_target():
    """The grow task's convca (the article's settings) on a 64x64 grid."""
    from nca_grow.play import GrowPlayground

    from nca import RunContext, create_rule, create_task, resolve_task_rule
    from nca.play.loader import PlayTarget

    class Grid64(PlayTarget):
        def playground(self):
            return GrowPlayground(self.model, (64, 64))

    task = create_task("grow", preset="paper")  # the article's rule: 12 hidden, no Laplacian
    resolved = resolve_task_rule(task, "convca")
    rule = create_rule(resolved.name, resolved.config)
    _randomise_zero_layers(rule)
    model = task.build_model(rule, RunContext("/tmp/nca-play-fps", quiet=True)).eval()
    return Grid64(task, model, Path("(untrained)"), "cpu")


def grow3d_target():
    """The quick3d preset's convca on a 32^3 grid, its seed the snowman grown whole (an
    untrained rule keeps it): the voxel view of a full volume."""
    from nca_grow.play import GrowPlayground

    from nca import RunContext, create_rule, create_task, resolve_task_rule
    from nca.play.loader import PlayTarget

    task = create_task("grow", preset="quick3d", target_size=28, target_padding=2)  # 32^3
    resolved = resolve_task_rule(task, "convca")
    rule = create_rule(resolved.name, resolved.config)
    _randomise_zero_layers(rule)
    model = task.build_model(rule, RunContext("/tmp/nca-play-fps", quiet=True)).eval()
    snowman = task.target[0]

    class Snowman(GrowPlayground):
        def seed(self):
            cells = super().seed()
            cells[0, model.layout.slice("output")] = snowman
            return cells

    class Grid32(PlayTarget):
        def playground(self):
            return Snowman(self.model, task.grid_size)

    return Grid32(task, model, Path("(untrained)"), "cpu")


def vitca_target():
    """The paper's baseline ViTCA on the denoise task, 32x32 grayscale."""
    from nca import RunContext, create_rule, create_task, resolve_task_rule
    from nca.play.loader import PlayTarget

    task = create_task("denoise", image_size=32, lpips="off")
    resolved = resolve_task_rule(task, "vitca")  # grayscale, 32x32
    rule = create_rule(resolved.name, resolved.config)
    _randomise_zero_layers(rule)
    model = task.build_model(rule, RunContext("/tmp/nca-play-fps", quiet=True)).eval()
    return PlayTarget(task, model, Path("(untrained)"), "cpu")


def in_process(target, view: str, seconds: float) -> float:
    """Frames per second of advance(1) + frame() in this thread."""
    from nca.play.session import PlaySession

    session = PlaySession(target.playground(), target.model_lock)
    session.set_view(view, 0)
    for _ in range(5):  # warm-up
        session.advance()
        session.frame()
    frames, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.advance()
        session.frame()
        frames += 1
    return frames / (time.perf_counter() - start)


def served(target, max_fps: float, seconds: float) -> tuple[float, tuple[int, int]]:
    """Frames per second a WebSocket client receives from the server."""
    import aiohttp

    from nca.play.protocol import decode_frame
    from nca.play.server import ViewerThread

    async def count(url: str) -> tuple[float, tuple[int, int]]:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}ws") as ws:
            times, shape = [], (0, 0)
            deadline = time.perf_counter() + seconds + 1
            while time.perf_counter() < deadline:
                message = await ws.receive()
                if message.type == aiohttp.WSMsgType.BINARY:
                    _, pixels, _ = decode_frame(message.data)
                    shape = tuple(pixels.shape[:2])
                    times.append(time.perf_counter())
            times = [t for t in times if t >= times[0] + 1.0]  # after a 1 s warm-up
            return (len(times) - 1) / (times[-1] - times[0]), shape

    with ViewerThread(target, max_fps=max_fps) as viewer:
        return asyncio.run(count(viewer.url))


MODELS = {
    "grow": ("grow · convca, 64x64", grow_target),
    "grow3d": ("grow · convca, 32x32x32 voxels", grow3d_target),
    "vitca": ("denoise · vitca, 32x32", vitca_target),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="median of this many")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch intra-op thread counts to compare")  # fmt: skip
    parser.add_argument("--output", type=Path, help="also write the table (markdown) here")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS),
                        help="which models to measure")  # fmt: skip
    args = parser.parse_args()
    rows = []
    for key in args.models:
        name, build = MODELS[key]
        target = build()
        views = ["output", "hidden"]
        if target.model.rule.supports("attention_maps"):
            views.append("attention")
        for threads in args.threads:
            torch.set_num_threads(threads)
            for view in views:
                fps = statistics.median(in_process(target, view, args.seconds)
                                        for _ in range(args.repeats))  # fmt: skip
                rows.append((name, threads, "in process", view, "-", fps))
                print(rows[-1], flush=True)
            for cap in (1000.0, 30.0):
                results = [served(target, cap, args.seconds) for _ in range(args.repeats)]
                fps = statistics.median(r[0] for r in results)
                rows.append((name, threads, "served", "output", f"{cap:g}", fps))
                print(rows[-1], flush=True)

    lines = [
        "# nca play: frames per second",
        "",
        f"Command: `python benchmarks/play_fps.py --seconds {args.seconds:g} --repeats "
        f"{args.repeats} --threads {' '.join(map(str, args.threads))} --models "
        f"{' '.join(args.models)}`  ",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs visible, torch {torch.__version__}, Python "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}",
        "",
        "One CA step per frame (the page's default speed), σ = 0.5. *In process*: "
        "`PlaySession.advance()` + `frame()`. *Served*: frames a WebSocket client received "
        f"from the server (median of {args.repeats} runs of {args.seconds:g} s after a 1 s "
        "warm-up).",
        "",
        "| model | torch threads | where | view | fps cap | frames/s |",
        "| --- | ---: | --- | --- | ---: | ---: |",
    ]
    lines += [f"| {m} | {t} | {w} | {v} | {c} | {f:.1f} |" for m, t, w, v, c, f in rows]
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
