"""The ViTCA paper's sample pool: append, shuffle, truncate (paper §3.1, Alg. 1).

Algorithm 1 reads the first ``b`` grids of the pool (line 6), and after the
optimiser step appends the updated grids with their targets, shuffles the pool
and keeps the first ``N_P`` entries (lines 25-26): entries are replaced by chance,
not in place. Per-sample extras (labels, indices, ...) travel with their grid. The
other pool, :class:`~nca.core.slot_pool.SlotPool`, writes grids back to the slots they
were read from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

#: Paper §4 / Alg. 1: N_P = 1024.
PAPER_POOL_CAPACITY = 1024


@dataclass
class PoolBatch:
    """Entries read from a :class:`ShufflePool`.

    Attributes:
        cells: ``(b, C, *cells)`` grids.
        targets: ``(b, ...)`` ground truths.
        extras: Per-sample extras, each ``(b, ...)``.
    """

    cells: torch.Tensor
    targets: torch.Tensor
    extras: dict[str, torch.Tensor]


class ShufflePool:
    """Fixed-capacity pool of cell grids with their targets, refreshed by appending,
    shuffling and truncating (the ViTCA paper's pool; formerly ``SamplePool``).

    Args:
        capacity: Maximum number of entries ``N_P``.
        generator: Random source for shuffling; must be a CPU generator
            (``torch.randperm`` draws the permutation on the CPU).
        replace_sampled: If ``True``, :meth:`sample` removes the entries it
            returns, so the updated grids replace them. The default ``False``
            follows Algorithm 1 literally: read without removing.
    """

    def __init__(
        self,
        capacity: int = PAPER_POOL_CAPACITY,
        *,
        generator: torch.Generator | None = None,
        replace_sampled: bool = False,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"pool capacity must be a positive integer, got {capacity!r}")
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(
                f"the pool's generator must be a CPU generator, got {generator.device}"
            )
        self.capacity = capacity
        self.generator = generator
        self.replace_sampled = replace_sampled
        self._cells: torch.Tensor | None = None
        self._targets: torch.Tensor | None = None
        self._extras: dict[str, torch.Tensor] = {}

    def __len__(self) -> int:
        return 0 if self._cells is None else self._cells.shape[0]

    def sample(self, batch_size: int) -> PoolBatch:
        """Return the first ``batch_size`` entries (copies)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be an integer, got {batch_size!r}")
        if batch_size < 1 or batch_size > len(self):
            raise ValueError(
                f"cannot sample {batch_size} entries from a pool holding {len(self)}; "
                f"sample between 1 and {len(self)}"
            )
        assert self._cells is not None and self._targets is not None
        batch = PoolBatch(
            cells=self._cells[:batch_size].clone(),
            targets=self._targets[:batch_size].clone(),
            extras={k: v[:batch_size].clone() for k, v in self._extras.items()},
        )
        if self.replace_sampled:
            self._cells = self._cells[batch_size:]
            self._targets = self._targets[batch_size:]
            self._extras = {k: v[batch_size:] for k, v in self._extras.items()}
        return batch

    def _check_compatible(self, name: str, new: torch.Tensor, stored: torch.Tensor | None) -> None:
        if stored is not None and new.shape[1:] != stored.shape[1:]:
            raise ValueError(
                f"{name} of per-sample shape {tuple(new.shape[1:])} cannot join a pool holding "
                f"{tuple(stored.shape[1:])}"
            )

    def add(
        self,
        cells: torch.Tensor,
        targets: torch.Tensor,
        extras: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        """Append grids (detached) with their targets, shuffle, keep the first ``capacity``.

        Validates everything before changing the pool, so a failed call leaves it intact.

        Args:
            cells: ``(b, C, *cells)``.
            targets: ``(b, ...)``.
            extras: Optional per-sample tensors, each ``(b, ...)``; the same
                keys on every call.
        """
        extras = dict(extras or {})
        batch = cells.shape[0]
        for name, value in [("targets", targets), *extras.items()]:
            if value.shape[0] != batch:
                raise ValueError(
                    f"{name} has {value.shape[0]} entries but cells has {batch}; "
                    f"every per-sample tensor needs the same first dimension"
                )
        if self._cells is not None and set(extras) != set(self._extras):
            raise ValueError(
                f"pool extras keys changed: pool holds {sorted(self._extras)}, got {sorted(extras)}"
            )
        self._check_compatible("cells", cells, self._cells)
        self._check_compatible("targets", targets, self._targets)
        for key, value in extras.items():
            self._check_compatible(f"extra {key!r}", value, self._extras.get(key))

        def joined(stored: torch.Tensor | None, new: torch.Tensor) -> torch.Tensor:
            new = new.detach()
            if stored is None:
                return new.clone()
            return torch.cat([stored, new.to(device=stored.device, dtype=stored.dtype)])

        all_cells = joined(self._cells, cells)
        all_targets = joined(self._targets, targets)
        all_extras = {k: joined(self._extras.get(k), v) for k, v in extras.items()}
        order = torch.randperm(all_cells.shape[0], generator=self.generator)[: self.capacity]
        self._cells = all_cells[order.to(all_cells.device)]
        self._targets = all_targets[order.to(all_targets.device)]
        self._extras = {k: v[order.to(v.device)] for k, v in all_extras.items()}

    def state_dict(self) -> dict:
        """Plain tensors and numbers, loadable with ``torch.load(weights_only=True)``."""
        state: dict = {"capacity": self.capacity, "replace_sampled": self.replace_sampled}
        if self._cells is not None:
            state.update(cells=self._cells, targets=self._targets, extras=dict(self._extras))
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: Mapping) -> None:
        """Restore what :meth:`state_dict` saved."""
        if "capacity" not in state:
            raise ValueError(
                f"not a ShufflePool state (keys: {sorted(state)}); expected one from state_dict()"
            )
        self.capacity = int(state["capacity"])
        self.replace_sampled = bool(state.get("replace_sampled", False))
        self._cells = state.get("cells")
        self._targets = state.get("targets")
        self._extras = dict(state.get("extras", {}))
        if "generator" in state:
            if self.generator is None:
                self.generator = torch.Generator()
            self.generator.set_state(state["generator"].cpu())  # may arrive via map_location
