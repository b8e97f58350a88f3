"""What a task needs of the rules it trains, declared once and checked once.

A task states its needs (:class:`RuleNeeds`: the channels its cells read and write, the
size of its grids, whether a cell is a pixel). The engine turns them into rule config
values before the rule is built (:meth:`RuleNeeds.settings`) and checks the built rule
against them (:func:`rule_mismatch`), with one message format for every task.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RuleNeeds:
    """What a task needs of a rule's layout; ``None`` or ``False``: no need.

    Attributes:
        input_channels: Channels the task writes into each cell (``C_i``; 0: none, the
            grid grows from a seed).
        output_channels: Channels the task reads out of each cell (``C_o``: 4 for RGBA,
            10 for class logits, the dataset's channels for images).
        image_size: ``(H, W)`` in pixels of the grids the rule is trained on; rules that
            size themselves by it (learned positional embeddings) are given it.
        cell_per_pixel: Every cell must be one pixel (``patch_size`` 1x1), for tasks that
            seed, damage or read cells as pixels.
        dims: Spatial dimensions of the task's grids (1, 2 or 3); rules that serve
            several are given it (their ``dims`` option), the others must serve it.
    """

    input_channels: int | None = None
    output_channels: int | None = None
    image_size: tuple[int, ...] | None = None
    cell_per_pixel: bool = False
    dims: int = 2

    def __post_init__(self) -> None:
        if self.dims not in (1, 2, 3):
            raise ValueError(f"dims must be 1, 2 or 3, got {self.dims!r}")
        if self.image_size is not None and len(self.image_size) != self.dims:
            raise ValueError(
                f"image_size {tuple(self.image_size)} must have one entry per dimension "
                f"({self.dims})"
            )

    def settings(self, fields: Collection[str]) -> dict[str, Any]:
        """The rule config values these needs decide, among the rule's ``fields``.

        ``image_channels`` is the output channels; ``input_channels`` is set only where
        it differs from them (unset, a rule reads as many channels as it writes).
        """
        values: dict[str, Any] = {}
        if self.output_channels is not None and "image_channels" in fields:
            values["image_channels"] = self.output_channels
        if (
            self.input_channels is not None
            and self.input_channels != self.output_channels
            and "input_channels" in fields
        ):
            values["input_channels"] = self.input_channels
        if self.image_size is not None and "image_size" in fields:
            values["image_size"] = tuple(self.image_size)
        if "dims" in fields:
            values["dims"] = self.dims
        return values


def rule_mismatch(rule: Any, needs: RuleNeeds) -> list[str]:
    """How ``rule`` falls short of ``needs``: one phrase per problem (empty: it fits)."""
    layout = getattr(rule, "layout", None)
    if layout is not None:
        given = {"input": layout.input_channels, "output": layout.output_channels}
        patch = tuple(layout.patch_size)
    else:  # a feed-forward image model reads and writes image_channels
        channels = getattr(getattr(rule, "config", None), "image_channels", None)
        given = {"input": channels, "output": channels}
        patch = tuple(getattr(getattr(rule, "config", None), "patch_size", (1, 1)))
    wanted = {"input": needs.input_channels, "output": needs.output_channels}
    verbs = {"input": ("read", "gives"), "output": ("write", "reads")}
    problems = []
    for side, count in wanted.items():
        if count is not None and given[side] is not None and given[side] != count:
            rule_verb, task_verb = verbs[side]
            problems.append(
                f"its cells {rule_verb} {given[side]} {side} channel(s), the task "
                f"{task_verb} {count}"
            )
    dims = layout.dims if layout is not None else getattr(rule, "dims", len(patch))
    if dims != needs.dims:
        serves = ", ".join(f"{d}-D" for d in sorted(getattr(rule, "dimensions", {dims})))
        problems.append(f"it serves {serves} grids, the task's grids are {needs.dims}-D")
    if needs.cell_per_pixel and any(p != 1 for p in patch):
        problems.append(
            f"its cells are {'x'.join(map(str, patch))} pixel patches, the task needs one "
            f"cell per pixel (patch_size 1x1)"
        )
    return problems
