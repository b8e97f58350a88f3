"""Base classes of update rules.

Two kinds share one registry:

* ``"ca"`` — a :class:`CARule` maps a cell grid ``(B, C, H', W')`` to an update
  ``(B, C_o·P_H·P_W + C_h, H', W')`` of its output and hidden channels; the
  core (:class:`nca.core.CellularAutomaton`) seeds, injects and steps it.
* ``"feedforward"`` — a :class:`FeedForwardRule` maps masked images
  ``(B, C, H, W)`` to output images ``(B, C, H, W)`` in one pass (the U-Net
  and ViT baselines).

Every rule has a typed config dataclass whose fields are exactly the rule's
constructor arguments, and may define named presets (partial configs).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from nca.config import config_kwargs
from nca.core.layout import CellLayout
from nca.core.seed import CellInit

RuleKind = Literal["ca", "feedforward"]
RULE_KINDS: tuple[str, ...] = ("ca", "feedforward")


class Rule(nn.Module):
    """Base of all rules. Subclasses set ``kind``, ``config_class`` and ``presets``.

    A subclass's ``__init__`` takes the config fields as keyword arguments and
    calls :meth:`_capture_config` with ``locals()`` after ``super().__init__()``,
    so ``rule.config`` always describes how to rebuild it.
    """

    kind: ClassVar[RuleKind]
    config_class: ClassVar[type]
    #: Named partial configs, e.g. ``{"32": {"hidden_channels": 32}}``.
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    config: Any
    #: Registered name the rule was created under (set by ``create_rule``).
    rule_name: str | None = None

    def _capture_config(self, init_locals: Mapping[str, Any]) -> None:
        names = [f.name for f in dataclasses.fields(self.config_class)]
        self.config = self.config_class(**{n: init_locals[n] for n in names})

    @classmethod
    def from_config(cls, config: Any) -> Rule:
        """Build the rule from an instance of its ``config_class``."""
        if not isinstance(config, cls.config_class):
            raise TypeError(
                f"{cls.__name__} needs a {cls.config_class.__name__}, got {type(config).__name__}"
            )
        return cls(**config_kwargs(config))

    @classmethod
    def summary(cls) -> str:
        """First line of the class docstring."""
        doc = inspect.getdoc(cls) or ""
        return doc.splitlines()[0] if doc else ""


class CARule(Rule):
    """A cellular-automaton update rule: cell grid -> update of the updatable channels."""

    kind: ClassVar[RuleKind] = "ca"
    layout: CellLayout
    #: How the automaton seeds grids for this rule (paper: ``"constant"``).
    cell_init: CellInit = "constant"

    def positional_encoding(
        self, height: int, width: int, *, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor | None:
        """Positional channels per pixel ``(C_γ, H, W)``, if the layout has any."""
        return None

    def forward(self, cells: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """``(B, C, H', W') -> (B, C_o·P_H·P_W + C_h, H', W')``."""
        raise NotImplementedError


class FeedForwardRule(Rule):
    """A feed-forward model: masked images -> output images, one pass."""

    kind: ClassVar[RuleKind] = "feedforward"
    #: Image channels in and out.
    image_channels: int

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """``(B, C, H, W) -> (B, C, H, W)``."""
        raise NotImplementedError


def parameter_count(module: nn.Module) -> int:
    """Number of trainable parameters (what the paper's tables report)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def check_rule_class(obj: Any) -> None:
    """Raise :class:`TypeError` unless ``obj`` is a valid rule class."""
    if not (isinstance(obj, type) and issubclass(obj, Rule)):
        raise TypeError(f"expected a subclass of nca.rules.Rule, got {obj!r}")
    if getattr(obj, "kind", None) not in RULE_KINDS:
        raise TypeError(
            f"{obj.__name__}.kind must be one of {RULE_KINDS}; subclass CARule or FeedForwardRule"
        )
    config_class = getattr(obj, "config_class", None)
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
        raise TypeError(f"{obj.__name__}.config_class must be a dataclass, got {config_class!r}")
    fields = {f.name for f in dataclasses.fields(config_class) if f.init}
    if "image_channels" not in fields:
        raise TypeError(
            f"{config_class.__name__} needs an `image_channels` field (tasks set it per dataset)"
        )
    signature = inspect.signature(obj.__init__).parameters
    params = {
        name
        for name, p in signature.items()
        if name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    if fields != params:
        raise TypeError(
            f"{config_class.__name__} fields must match {obj.__name__}.__init__ arguments; "
            f"only in config: {sorted(fields - params)}, "
            f"only in __init__: {sorted(params - fields)}"
        )
    defaults = config_class()
    for name in sorted(fields):
        default = signature[name].default
        if default is not inspect.Parameter.empty and default != getattr(defaults, name):
            raise TypeError(
                f"default of {name!r} differs: {obj.__name__}.__init__ has {default!r}, "
                f"{config_class.__name__} has {getattr(defaults, name)!r}"
            )
    for preset, values in obj.presets.items():
        unknown = set(values) - fields
        if unknown:
            raise TypeError(f"preset {preset!r} of {obj.__name__} sets unknown fields {unknown}")
