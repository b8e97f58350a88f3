"""Explicit random generators, so seeded runs are reproducible."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A :class:`torch.Generator` on ``device`` seeded with ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    generator = torch.Generator(device=torch.device(device))
    generator.manual_seed(seed)
    return generator


def _source_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    if generator is None:
        return device
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator (see nca.make_generator), got {generator!r}"
        )
    return generator.device


def uniform(
    shape: Sequence[int],
    *,
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """U(0, 1) samples on ``device``, drawn on the generator's own device.

    A CPU generator can thus drive a CUDA grid, and the numbers depend only on
    the generator, not on where the grid lives; the price is one host-to-device
    copy per draw. Use a generator on the grid's device to avoid it.
    """
    source = _source_device(generator, device)
    values = torch.rand(tuple(shape), generator=generator, device=source, dtype=dtype)
    return values.to(device)


def randint(
    high: int, shape: Sequence[int], *, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Integers in ``[0, high)`` on ``device``, drawn on the generator's own device."""
    source = _source_device(generator, device)
    return torch.randint(0, high, tuple(shape), generator=generator, device=source).to(device)
