"""Per-parameter gradient L2 normalisation (Algorithm 1, line 23)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

#: Algorithm 1: ``Q = ∇L / (‖∇L‖_F + 1e-8)``.
GRADIENT_NORM_EPS = 1e-8


@torch.no_grad()
def normalize_gradients_(
    parameters: Iterable[torch.nn.Parameter], eps: float = GRADIENT_NORM_EPS
) -> torch.Tensor:
    """Divide each parameter's gradient by its own Frobenius norm, in place.

    Run it after gradients are final (under DDP: after the all-reduce; with a
    ``GradScaler``: after ``scaler.unscale_(optimizer)``) and before the
    optimiser step.

    Args:
        parameters: Parameters whose ``.grad`` to normalise; those without a
            gradient are skipped.
        eps: Added to the norm, so zero gradients stay zero.

    Returns:
        1-D tensor of the gradient norms before normalisation (for logging;
        kept on device so no host sync happens here).
    """
    norms: list[torch.Tensor] = []
    for param in parameters:
        if param.grad is None:
            continue
        norm = torch.linalg.vector_norm(param.grad)
        param.grad.div_(norm + eps)
        norms.append(norm)
    return torch.stack(norms) if norms else torch.zeros(0)
