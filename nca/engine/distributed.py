"""The process group of a data-parallel run (torchrun): up, down, and what ranks share."""

from __future__ import annotations

import os

import torch


def distributed_env() -> dict[str, int]:
    """``rank``, ``world_size`` and ``local_rank`` from torchrun's environment variables."""
    values = {}
    for key, var, default in (
        ("rank", "RANK", 0),
        ("world_size", "WORLD_SIZE", 1),
        ("local_rank", "LOCAL_RANK", 0),
    ):
        raw = os.environ.get(var, str(default))
        try:
            values[key] = int(raw)
        except ValueError as err:
            raise ValueError(f"environment variable {var}={raw!r} is not an integer") from err
    return values


def is_distributed() -> bool:
    """Whether this process is one of several in an initialised process group."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init_distributed(device: str, local_rank: int) -> str:
    """Join the process group torchrun set up (NCCL on CUDA, gloo on CPU); returns the
    device this rank uses (``cuda:LOCAL_RANK`` on GPUs)."""
    import torch.distributed as dist

    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return device


def barrier() -> None:
    """Wait for every rank (no-op without torch.distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shutdown_distributed() -> None:
    """Leave the process group, if this process joined one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """``values`` averaged over ranks (unchanged without a process group)."""
    if not is_distributed():
        return values
    import torch.distributed as dist

    values = values.clone()
    dist.all_reduce(values)
    return values / dist.get_world_size()
