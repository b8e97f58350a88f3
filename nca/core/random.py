"""Explicit random generators, so seeded runs are reproducible."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch

#: Seeds derived by :func:`derive_seed` are below this (fits every generator's seed).
_SEED_SPACE = 2**63


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A :class:`torch.Generator` on ``device`` seeded with ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    generator = torch.Generator(device=torch.device(device))
    generator.manual_seed(seed)
    return generator


def derive_seed(*parts: object) -> int:
    """A seed for the stream named by ``parts`` (e.g. ``(run_seed, "mask", rank)``).

    A cryptographic hash of the parts' text, so distinct names never share a stream
    by arithmetic accident (``seed * 1000 + rank * 100`` made seed 0 / rank 10 equal
    seed 1 / rank 0).
    """
    text = "\x1f".join(repr(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") % _SEED_SPACE


class SampleGenerators:
    """One generator per sample of a batch: draws for sample ``i`` come from
    ``generators[i]`` alone, so they do not depend on which other samples share its
    batch (evaluation results then do not depend on the evaluation batch size).

    Args:
        generators: ``B`` generators on one device.
    """

    def __init__(self, generators: Sequence[torch.Generator]) -> None:
        generators = list(generators)
        if not generators or not all(isinstance(g, torch.Generator) for g in generators):
            raise TypeError("SampleGenerators needs a non-empty sequence of torch.Generator")
        devices = {g.device for g in generators}
        if len(devices) != 1:
            raise ValueError(f"per-sample generators must share one device, got {devices}")
        self.generators = generators
        self.device = generators[0].device

    @classmethod
    def from_seeds(cls, seeds: Sequence[int], device: torch.device | str = "cpu"):
        """Generators seeded with ``seeds`` (one per sample)."""
        return cls([make_generator(int(s), device) for s in seeds])

    def __len__(self) -> int:
        return len(self.generators)


def _source_device(
    generator: torch.Generator | SampleGenerators | None, device: torch.device
) -> torch.device:
    if generator is None:
        return device
    if isinstance(generator, SampleGenerators):
        return generator.device
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator (see nca.make_generator), got {generator!r}"
        )
    return generator.device


def _draw(
    sample,
    shape: Sequence[int],
    generator: torch.Generator | SampleGenerators | None,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    source = _source_device(generator, device)
    if isinstance(generator, SampleGenerators):
        if not shape or shape[0] != len(generator):
            raise ValueError(
                f"{len(generator)} per-sample generators cannot draw a batch of shape "
                f"{tuple(shape)}; pass one generator per sample"
            )
        values = torch.cat(
            [
                sample((1, *shape[1:]), generator=g, device=source, dtype=dtype)
                for g in generator.generators
            ]
        )
    else:
        values = sample(tuple(shape), generator=generator, device=source, dtype=dtype)
    return values.to(device)


def uniform(
    shape: Sequence[int],
    *,
    generator: torch.Generator | SampleGenerators | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """U(0, 1) samples on ``device``, drawn on the generator's own device.

    A CPU generator can thus drive a CUDA grid, and the numbers depend only on
    the generator, not on where the grid lives; the price is one host-to-device
    copy per draw. Use a generator on the grid's device to avoid it.
    """
    return _draw(torch.rand, shape, generator, device, dtype)


def normal(
    shape: Sequence[int],
    *,
    generator: torch.Generator | SampleGenerators | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """N(0, 1) samples on ``device``, drawn like :func:`uniform`."""
    return _draw(torch.randn, shape, generator, device, dtype)


def randint(
    high: int, shape: Sequence[int], *, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Integers in ``[0, high)`` on ``device``, drawn on the generator's own device."""
    source = _source_device(generator, device)
    return torch.randint(0, high, tuple(shape), generator=generator, device=source).to(device)
