"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def override_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--override/-o KEY=VALUE`` (repeatable), collected into ``overrides``."""
    return click.option(
        "--override",
        "-o",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help=help_text,
    )


#: A run source argument: a run directory, a checkpoint file, or the name of a shipped
#: pretrained model. Not checked here: :func:`nca.checkpoint.find_checkpoint` resolves it
#: and says in one line what it is not (a bare name lists the pretrained models).
RUN_SOURCE = click.Path(path_type=Path)

#: ``--checkpoint last|best`` (into ``which``): which checkpoint of a run directory to read.
checkpoint_option = click.option(
    "--checkpoint",
    "which",
    type=click.Choice(["last", "best"]),
    default="last",
    show_default=True,
    help="For a run directory: its last checkpoint, or best.pt (the best validation).",
)


def check_device(device: str, param_hint: str = "'--device'") -> str:
    """``device`` if this machine can run on it; a one-line ``BadParameter`` saying why
    not otherwise (not a device name, no CUDA, no such GPU, a backend not built in)."""
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        raise click.BadParameter(
            f"{device!r} is not a torch device; valid: cpu, cuda, cuda:N", param_hint=param_hint
        ) from err
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise click.BadParameter(
                f"{device!r}: this machine has no CUDA device; use cpu", param_hint=param_hint
            )
        if parsed.index is not None and parsed.index >= count:
            raise click.BadParameter(
                f"{device!r}: no such GPU; valid: cuda:0 to cuda:{count - 1}",
                param_hint=param_hint,
            )
    elif parsed.type != "cpu":
        try:  # mps, xpu...: the only portable test is to make a tensor there
            torch.empty(0, device=parsed)
        except Exception as err:  # torch's reason is a page long: name the device only
            raise click.BadParameter(
                f"{device!r}: this machine or PyTorch build has no {parsed.type} device; use cpu",
                param_hint=param_hint,
            ) from err
    return device
