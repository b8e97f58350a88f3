"""The named random streams of a training run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch

from nca.core.random import derive_seed, make_generator

#: Where a stream's generator lives: on the CPU, or on the run's device (e.g. the
#: CA update masks, drawn where the grid is).
Placement = Literal["cpu", "device"]


class RandomStreams:
    """One generator per purpose (data order, noise, update masks, pool shuffles...).

    Each stream is seeded from ``(seed, name, rank)`` through
    :func:`nca.core.random.derive_seed`, so streams of different names, seeds or
    ranks never coincide, and adding a stream does not shift the others. Access a
    stream as ``streams["data"]`` or ``streams.data``.

    Args:
        seed: The run's seed.
        rank: This process's rank (every rank draws its own data and masks).
        device: The run's device (for ``"device"`` streams).
        placements: ``{name: "cpu" | "device"}``.
    """

    def __init__(
        self,
        seed: int,
        rank: int,
        device: torch.device | str,
        placements: Mapping[str, Placement],
    ) -> None:
        self._generators: dict[str, torch.Generator] = {}
        self._seed, self._rank = seed, rank
        for name, where in placements.items():
            if where not in ("cpu", "device"):
                raise ValueError(f"stream {name!r}: placement must be 'cpu' or 'device'")
            place = torch.device(device) if where == "device" else torch.device("cpu")
            self._generators[name] = make_generator(derive_seed(seed, name, rank), place)

    def __getitem__(self, name: str) -> torch.Generator:
        try:
            return self._generators[name]
        except KeyError:
            raise KeyError(
                f"no random stream {name!r}; this run has {', '.join(self._generators)} "
                f"(a task declares its streams in Task.streams)"
            ) from None

    def __getattr__(self, name: str) -> torch.Generator:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(str(err)) from None

    def __contains__(self, name: str) -> bool:
        return name in self._generators

    def names(self) -> list[str]:
        return list(self._generators)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Each generator's state (CPU byte tensors)."""
        return {name: g.get_state() for name, g in self._generators.items()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> list[str]:
        """Restore :meth:`state_dict`; the stream names must match.

        A stream saved on another kind of device (a CUDA generator's state is not a CPU
        generator's, e.g. a run checkpointed on a GPU and resumed on a CPU) cannot be
        restored: it restarts from a seed derived from ``(seed, name, rank, device
        type)``, so the resumed run is reproducible but not the continuation it would
        have been on the original device.

        Returns:
            The names of the streams that restarted.
        """
        if set(state) != set(self._generators):
            raise ValueError(
                f"checkpoint has random streams {sorted(state)}, this run {sorted(self.names())}"
            )
        restarted = []
        for name, value in state.items():
            generator = self._generators[name]
            value = value.cpu()  # generator states are CPU byte tensors whatever map_location did
            if value.numel() != generator.get_state().numel():
                kind = generator.device.type
                generator.manual_seed(derive_seed(self._seed, name, self._rank, "resumed", kind))
                restarted.append(name)
                continue
            generator.set_state(value)
        return restarted
