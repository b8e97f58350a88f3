"""Base classes of update rules.

Two kinds share one registry:

* ``"ca"`` — a :class:`CARule` maps a cell grid ``(B, C, H', W')`` to an update
  ``(B, C_o·P_H·P_W + C_h, H', W')`` of its output and hidden channels; the
  core (:class:`nca.core.CellularAutomaton`) seeds, injects and steps it.
* ``"feedforward"`` — a :class:`FeedForwardRule` maps masked images
  ``(B, C, H, W)`` to output images ``(B, C, H, W)`` in one pass (the U-Net
  and ViT baselines).

The rule contract: every rule has a typed config dataclass (``config_class``)
and its ``__init__(self, config)`` receives an instance of it, passing it on to
``super().__init__(config)``, which type-checks and stores it as
``rule.config`` (checkpoints store it, so it describes how to rebuild the
rule). A rule may define named presets (partial configs) and declare optional
:data:`CAPABILITIES` that analysis and probing rely on.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Mapping, Set
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from nca.core.layout import CellLayout
from nca.core.seed import CellInit

RuleKind = Literal["ca", "feedforward"]
RULE_KINDS: tuple[str, ...] = ("ca", "feedforward")

#: Optional capabilities a rule may declare in :attr:`Rule.capabilities`, each with
#: the methods it requires (checked when the rule is registered):
#:
#: * ``features`` — ``features(images (B, C, H, W)) -> (B, F, h, w)``: channels-first
#:   feature maps for linear probing (paper §4.2; U-Net and ViT).
#: * ``head_masking`` — ``mask_heads(heads)``: zero these attention heads (paper Fig. 7);
#:   ``head_count()``: how many there are.
#: * ``attention_maps`` — ``record_attention(enabled=True)`` then ``attention_maps()``:
#:   each block's last attention weights ``(B, H', W', heads, M)`` (paper Fig. 2;
#:   ``(B, *cells, heads, M)`` on grids of other dimensions), over
#:   the members of ``attention_neighbourhood()`` (an ``nca.layers.Neighbourhood``).
#: * ``sparse_update`` — ``forward(cells, firing=mask)`` with the step's ``(B, 1, *cells)``
#:   firing mask computes the update of the firing cells only (zero elsewhere); the
#:   automaton passes it when built with ``sparse_update=True``.
CAPABILITIES: dict[str, tuple[str, ...]] = {
    "features": ("features",),
    "head_masking": ("mask_heads", "head_count"),
    "attention_maps": ("record_attention", "attention_maps", "attention_neighbourhood"),
    "sparse_update": ("forward",),
}


class Rule(nn.Module):
    """Base of all rules. Subclasses set ``kind``, ``config_class`` and ``presets``.

    A subclass's ``__init__(self, config)`` takes an instance of its
    ``config_class`` and first calls ``super().__init__(config)``; it then
    builds its layers from ``config`` (also available as ``self.config``).
    Optional features used by analysis and probing are declared in
    :attr:`capabilities` and queried with :meth:`supports`.

    Args:
        config: Instance of the subclass's ``config_class``; stored (a shallow
            copy) as :attr:`config`.

    Raises:
        TypeError: ``config`` is not an instance of ``config_class``.
    """

    kind: ClassVar[RuleKind]
    config_class: ClassVar[type]
    #: Named partial configs, e.g. ``{"32": {"hidden_channels": 32}}``.
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: Optional capabilities (keys of :data:`CAPABILITIES`) this rule implements.
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: Spatial dimensions of the grids (images) the rule serves. A rule that serves more
    #: than one has a ``dims`` config field, which tasks set.
    dimensions: ClassVar[frozenset[int]] = frozenset({2})

    #: The config the rule was built from (rebuilds it: ``type(rule)(rule.config)``).
    config: Any
    #: Registered name the rule was created under (set by ``create_rule``).
    rule_name: str | None = None

    def __init__(self, config: Any) -> None:
        super().__init__()
        cls = type(self)
        config_class = getattr(cls, "config_class", None)
        if not isinstance(config_class, type):
            raise TypeError(f"{cls.__name__} sets no config_class (a dataclass type)")
        if not isinstance(config, config_class):
            raise TypeError(
                f"{cls.__name__} needs a {config_class.__name__} config, "
                f"got {type(config).__name__}: {config!r}"
            )
        dims = getattr(config, "dims", 2)
        if dims not in cls.dimensions:
            serves = ", ".join(f"{d}-D" for d in sorted(cls.dimensions))
            raise ValueError(f"{cls.__name__} serves {serves} grids, not {dims}-D ones")
        self.config = copy.copy(config)

    @property
    def dims(self) -> int:
        """Spatial dimensions of the grids this rule was built for."""
        return int(getattr(self.config, "dims", 2))

    @classmethod
    def from_config(cls, config: Any) -> Rule:
        """Build the rule from an instance of its ``config_class`` (``cls(config)``)."""
        return cls(config)

    @classmethod
    def supports(cls, capability: str) -> bool:
        """Whether the rule declares ``capability`` (a key of :data:`CAPABILITIES`).

        Raises:
            ValueError: ``capability`` is not a known capability.
        """
        if capability not in CAPABILITIES:
            raise ValueError(
                f"unknown rule capability {capability!r}; valid: {', '.join(CAPABILITIES)}"
            )
        return capability in cls.capabilities

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
        self, *size: int, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor | None:
        """Positional channels per pixel ``(C_γ, *size)``, if the layout has any."""
        return None

    def forward(self, cells: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """``(B, C, *cells) -> (B, C_o·P + C_h, *cells)``."""
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
    """Raise :class:`TypeError` unless ``obj`` is a valid rule class.

    Checks, when a rule is registered: ``obj`` subclasses :class:`CARule` or
    :class:`FeedForwardRule`; ``config_class`` is a dataclass with an
    ``image_channels`` field; ``__init__`` takes one argument, the config;
    :attr:`Rule.capabilities` names known capabilities whose methods the class
    defines; presets set only config fields.
    """
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
    _check_init(obj, config_class, fields)
    _check_capabilities(obj)
    _check_dimensions(obj, fields)
    for preset, values in obj.presets.items():
        unknown = set(values) - fields
        if unknown:
            raise TypeError(f"preset {preset!r} of {obj.__name__} sets unknown fields {unknown}")


def _check_init(obj: type, config_class: type, fields: set[str]) -> None:
    """``__init__`` takes the config instance, not the config fields."""
    signature = inspect.signature(obj.__init__)
    params = list(signature.parameters.values())[1:]  # without self
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    named = [p for p in params if p.kind not in variadic]
    takes_one = bool(named) and named[0].kind != inspect.Parameter.KEYWORD_ONLY
    takes_one = takes_one or any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params)
    extra_required = [p.name for p in named[1:] if p.default is inspect.Parameter.empty]
    field_args = sorted(fields & {p.name for p in named})
    if not takes_one or extra_required or field_args:
        problem = (
            f"takes config fields {field_args} as arguments"
            if field_args
            else f"has the signature {signature}"
        )
        raise TypeError(
            f"{obj.__name__}.__init__ must take one argument, its config: "
            f"`def __init__(self, config: {config_class.__name__})` calling "
            f"`super().__init__(config)`; it {problem}"
        )


def _check_capabilities(obj: type) -> None:
    """Declared capabilities are known and their methods exist on the class."""
    declared = getattr(obj, "capabilities", frozenset())
    if isinstance(declared, str) or not isinstance(declared, Set):
        raise TypeError(
            f"{obj.__name__}.capabilities must be a frozenset of capability names, "
            f"got {declared!r}; valid names: {', '.join(CAPABILITIES)}"
        )
    unknown = sorted(str(c) for c in declared if c not in CAPABILITIES)
    if unknown:
        raise TypeError(
            f"{obj.__name__}.capabilities has unknown capabilities {unknown}; "
            f"valid: {', '.join(CAPABILITIES)}"
        )
    for capability in sorted(declared):
        missing = [m for m in CAPABILITIES[capability] if not callable(getattr(obj, m, None))]
        if missing:
            raise TypeError(
                f"{obj.__name__} declares capability {capability!r} but does not define "
                f"the method(s) {missing} it requires ({', '.join(CAPABILITIES[capability])})"
            )


def _check_dimensions(obj: type, fields: set[str]) -> None:
    """``dimensions`` is a non-empty set of 1, 2, 3; serving several needs a ``dims`` field."""
    dims = getattr(obj, "dimensions", None)
    if not isinstance(dims, Set) or not dims or not set(dims) <= {1, 2, 3}:
        raise TypeError(
            f"{obj.__name__}.dimensions must be a non-empty frozenset of 1, 2 and 3 (the "
            f"grid dimensions the rule serves), got {dims!r}"
        )
    if (len(dims) > 1 or 2 not in dims) and "dims" not in fields:
        raise TypeError(
            f"{obj.__name__} serves {sorted(dims)}-D grids but {obj.config_class.__name__} "
            f"has no `dims` field (tasks set it to their grids' dimension)"
        )
