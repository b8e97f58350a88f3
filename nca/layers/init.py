"""Weight initialisation of rules: He (the paper's text) or PyTorch's defaults (the release).

The paper (§4, Alg. 1 line 1) initialises weights with He et al.'s method and
zeroes the last layer of CA models; the authors' released code leaves every
layer at PyTorch's default initialisation, zeroing only ViTCA's last layer.
Rules expose the choice as an ``init`` config field (:data:`Initialisation`)
and apply it with :func:`initialise_`; CA rules zero their last layer with
:func:`zero_layer_` when their ``zero_last_layer`` field is set.

* ``he``: Kaiming-normal weights (fan-in mode, ``std = gain / sqrt(fan_in)``,
  gain ``sqrt(2)`` for ReLU, ``sqrt(2 / (1 + a²))`` for LeakyReLU(a)) for every
  ``nn.Linear`` and convolution, zero biases; normalisation layers keep their
  ones / zeros.
* ``pytorch``: the layers' own ``reset_parameters()`` (``nn.Linear``,
  convolutions, ``nn.LayerNorm``, ``nn.GroupNorm``, ``nn.Embedding``): for linear
  layers and convolutions Kaiming-uniform with ``a = sqrt(5)``, i.e. weights and
  biases uniform in ``±1 / sqrt(fan_in)``; LayerNorm ones / zeros. Parameters
  held outside such layers (e.g. a learned positional embedding) are the rule's
  to initialise.
  Resetting (rather than leaving the layers as built) also undoes
  initialisations that libraries apply in their constructors (timm's ViT).
"""

from __future__ import annotations

from typing import Literal, get_args

from torch import nn

Initialisation = Literal["he", "pytorch"]
#: Valid values of a rule's ``init`` field.
INITIALISATIONS: tuple[str, ...] = get_args(Initialisation)

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: Layers ``pytorch`` resets to their defaults (subclasses included).
_RESETTABLE = (*_WEIGHTED, nn.LayerNorm, nn.GroupNorm, nn.Embedding)


def check_initialisation(value: object, name: str = "init") -> None:
    """Raise :class:`ValueError` unless ``value`` is one of :data:`INITIALISATIONS`."""
    if value not in INITIALISATIONS:
        raise ValueError(f"{name} must be one of {INITIALISATIONS}, got {value!r}")


def check_flag(value: object, name: str) -> None:
    """Raise :class:`ValueError` unless ``value`` is a bool (e.g. ``zero_last_layer``)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")


def initialise_(
    module: nn.Module, init: Initialisation, *, negative_slope: float | None = None
) -> nn.Module:
    """Initialise every layer of ``module`` in place (see the module docstring).

    Args:
        module: The network (all submodules are visited, in ``modules()`` order).
        init: ``he`` or ``pytorch``.
        negative_slope: ``he`` only: the LeakyReLU slope the gain is computed for
            (``None``: ReLU's gain ``sqrt(2)``).

    Returns:
        ``module``.

    Raises:
        ValueError: ``init`` is not a known initialisation.
    """
    check_initialisation(init)
    for layer in module.modules():
        if init == "pytorch":
            if isinstance(layer, _RESETTABLE):
                layer.reset_parameters()
        elif isinstance(layer, _WEIGHTED):
            if negative_slope is None:
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            else:
                nn.init.kaiming_normal_(layer.weight, a=negative_slope, nonlinearity="leaky_relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def zero_layer_(layer: nn.Module) -> nn.Module:
    """Zero a layer's weight and bias: an untrained CA rule then leaves the grid
    unchanged (paper §4, "the last layer of CA models is zero-initialised")."""
    nn.init.zeros_(layer.weight)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return layer


__all__ = [
    "INITIALISATIONS",
    "Initialisation",
    "check_flag",
    "check_initialisation",
    "initialise_",
    "zero_layer_",
]
