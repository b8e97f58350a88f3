"""``nca play RUN``: a live, interactive view of a trained run in the browser."""

from __future__ import annotations

from pathlib import Path

import click

from nca.cli.console import make_console
from nca.cli.errors import user_errors
from nca.cli.options import RUN_SOURCE


@click.command("play")
@click.argument("source", type=RUN_SOURCE)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; 0.0.0.0 shares it on your network (no authentication).",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
    help="Port (0 picks a free one).",
)  # fmt: skip
@click.option(
    "--allow-host", "allow_hosts", multiple=True, metavar="NAME",
    help="Also answer requests for this host name (repeatable): a name that reaches "
         "this machine, e.g. behind a proxy. Others are refused (DNS rebinding guard).",
)  # fmt: skip
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N.")
@click.option(
    "--max-fps", type=click.FloatRange(min=1, max=240), default=30.0, show_default=True,
    help="Frame-rate cap of each tab.",
)  # fmt: skip
@click.option(
    "--threads", type=click.IntRange(min=1, max=1024), default=1, show_default=True,
    help="torch intra-op threads (CPU); one is fastest for small grids.",
)  # fmt: skip
@click.option("--open/--no-open", "open_browser", default=False,
              help="Open the page in the default browser.")  # fmt: skip
def play_command(
    source: Path,
    host: str,
    port: int,
    allow_hosts: tuple[str, ...],
    device: str,
    max_fps: float,
    threads: int,
    open_browser: bool,
) -> None:
    """Play with the model in SOURCE (a run directory, checkpoint or pretrained model's
    name, e.g. `nca play lizard`; `nca pretrained` lists them) in a web page.

    \b
    Damage cells with the mouse (erase or noise), reset to the seed, pause, step,
    change the speed and σ; pick the input image and noise (denoise) or digit
    (classify); for ViTCA, show a hidden channel, the attention splat map, or mask
    heads. Each tab runs its own grid. Ctrl-C stops the server.
    """
    import math

    import torch

    from nca.cli.options import check_device
    from nca.play.loader import load_play_target
    from nca.play.server import serve

    if math.isnan(max_fps):  # click's FloatRange lets nan through
        raise click.BadParameter("nan is not a frame rate; give one in [1, 240]",
                                 param_hint="'--max-fps'")  # fmt: skip
    device = check_device(device)
    torch.set_num_threads(threads)
    console = make_console()
    with user_errors():
        with console.status(f"loading {source}"):
            target = load_play_target(source, device=device)

        def ready(url: str) -> None:
            from nca.pretrained import shipped_name

            facts = target.describe()
            name = shipped_name(target.checkpoint)
            where = f"{name} (pretrained)" if name else target.checkpoint
            title = f"{facts['task']} · {facts['rule']} · {where}"
            console.print(f"[bold]nca play[/bold]: {title}")
            console.print(f"open {url}  (Ctrl-C stops)")
            if host not in ("127.0.0.1", "localhost", "::1"):
                console.print(f"[yellow]listening on {host}: anyone who can reach this "
                              f"machine can use the viewer[/yellow]")  # fmt: skip
            if open_browser:
                import webbrowser

                webbrowser.open(url)

        serve(target, host=host, port=port, max_fps=max_fps, allow_hosts=allow_hosts,
              on_ready=ready)  # fmt: skip
