"""A pool of fixed slots, sampled by index and written back in place (Mordvintsev et
al., 2020).

The *Growing Neural Cellular Automata* pool starts as ``N`` copies of the seed. Each
iteration samples ``b`` distinct slots, the task may replace some of their grids (the
highest-loss one by the seed, the lowest-loss ones damaged), the rule runs on the batch,
and the results are written back to the same slots. The ViTCA paper's
:class:`~nca.core.shuffle_pool.ShufflePool` (append, shuffle, truncate) is the other pool.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from nca.resources import check_fits_in_memory


class SlotPool:
    """``capacity`` slots of grids, sampled by index and written back in place
    (formerly ``SeedPool``), initialised with one seed grid (or with given grids:
    :meth:`from_grids`), each with an optional integer label.

    Args:
        seed: ``(C, *cells)`` grid every entry starts as.
        capacity: Number of entries ``N`` (the article: 1024).
        generator: CPU generator that draws the sampled indices.

    Attributes:
        cells: ``(N, C, *cells)`` the entries (on the CPU).
        labels: ``(N,)`` int64 label of each entry (e.g. the digit a self-classifying
            grid shows), or ``None``.
    """

    labels: torch.Tensor | None = None

    @classmethod
    def from_grids(
        cls,
        grids: torch.Tensor,
        generator: torch.Generator | None = None,
        labels: torch.Tensor | None = None,
    ) -> SlotPool:
        """A pool whose entries start as ``grids (N, C, *cells)``, labelled ``labels (N,)``."""
        if grids.ndim not in (3, 4, 5) or len(grids) < 1:
            raise ValueError(
                f"grids must be (N, C, *cells) with N >= 1 and 1 to 3 spatial dimensions, got "
                f"{tuple(grids.shape)}"
            )
        pool = cls(grids[0], len(grids), generator)
        pool.cells = grids.detach().to("cpu").clone()
        if labels is not None:
            if labels.shape != (len(grids),):
                raise ValueError(
                    f"labels must have shape ({len(grids)},), got {tuple(labels.shape)}"
                )
            pool.labels = labels.detach().to("cpu", torch.int64).clone()
        return pool

    def __init__(
        self, seed: torch.Tensor, capacity: int, generator: torch.Generator | None = None
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"pool capacity must be a positive integer, got {capacity!r}")
        if seed.ndim not in (2, 3, 4):
            raise ValueError(
                f"seed must be one (C, *cells) grid with 1 to 3 spatial dimensions, got "
                f"{tuple(seed.shape)}"
            )
        check_fits_in_memory(  # measured before the copies are allocated
            capacity * seed.numel() * seed.element_size(),
            f"a pool of {capacity} grids of {tuple(seed.shape)}",
            "lower pool_size or the grid size",
        )
        self.capacity = capacity
        self.generator = generator
        self.cells = seed.detach().to("cpu").unsqueeze(0).repeat(capacity, *[1] * seed.ndim)

    def __len__(self) -> int:
        return self.capacity

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` distinct entries: ``(indices (b,), cells (b, C, *cells))`` (copies)."""
        if not 1 <= batch_size <= self.capacity:
            raise ValueError(
                f"cannot sample {batch_size} entries from a pool of {self.capacity}; "
                f"sample between 1 and {self.capacity}"
            )
        indices = torch.randperm(self.capacity, generator=self.generator)[:batch_size]
        return indices, self.cells[indices].clone()

    def commit(
        self, indices: torch.Tensor, cells: torch.Tensor, labels: torch.Tensor | None = None
    ) -> None:
        """Write ``cells (b, C, *cells)`` (and ``labels (b,)``) back to the entries
        ``indices``."""
        if cells.shape[1:] != self.cells.shape[1:] or len(indices) != len(cells):
            raise ValueError(
                f"cannot write {tuple(cells.shape)} grids to {len(indices)} entries of a pool "
                f"of {tuple(self.cells.shape[1:])} grids"
            )
        self.cells[indices.cpu()] = cells.detach().to("cpu", self.cells.dtype)
        if labels is not None:
            if self.labels is None:
                raise ValueError("this pool has no labels; build it with from_grids(labels=...)")
            self.labels[indices.cpu()] = labels.detach().to("cpu", torch.int64)

    def state_dict(self) -> dict:
        """Plain tensors, loadable with ``torch.load(weights_only=True)``."""
        state: dict = {"capacity": self.capacity, "cells": self.cells}
        if self.labels is not None:
            state["labels"] = self.labels
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: Mapping) -> None:
        """Restore what :meth:`state_dict` saved."""
        if "cells" not in state or "capacity" not in state:
            raise ValueError(f"not a SlotPool state (keys: {sorted(state)})")
        self.capacity = int(state["capacity"])
        self.cells = state["cells"].cpu()
        self.labels = state["labels"].cpu() if "labels" in state else None
        if "generator" in state:
            if self.generator is None:
                self.generator = torch.Generator()
            self.generator.set_state(state["generator"].cpu())
