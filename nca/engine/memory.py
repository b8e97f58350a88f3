"""How much memory a rule will take, measured before its weights are allocated.

A rule is built once on PyTorch's ``meta`` device, which records every tensor's shape
and dtype and allocates nothing, so any size setting (``hidden_channels``,
``embed_dim``, MLP widths, heads x head dims, ...) is measured the one way, whatever
the rule. A rule that cannot be built there (a third-party rule that mixes in CPU
tensors) is not measured: it is built as before.
"""

from __future__ import annotations

from typing import Any

import torch

from nca.resources import check_fits_in_memory

#: What a rule whose sizes overflow a tensor's byte count (int64) needs at least.
OVERFLOW_BYTES = 1 << 63
#: Copies of the weights that training keeps: the weights, their gradients, and the
#: optimiser's state per weight (Adam and AdamW: two moments; SGD: a momentum).
TRAINING_COPIES = {"adamw": 4, "adam": 4, "sgd": 3}


def rule_bytes(name: str, config: Any) -> int | None:
    """Bytes of rule ``name``'s parameters and buffers with ``config``, measured on the
    ``meta`` device; ``None`` when the rule cannot be built there."""
    from nca.rules import create_rule

    try:
        with torch.device("meta"):
            rule = create_rule(name, config)
    except Exception as err:  # only the measurement is skipped: the real build reports
        # a tensor of more than 2**63 bytes needs that much at least
        return OVERFLOW_BYTES if "overflow" in str(err) else None
    tensors = [*rule.parameters(), *rule.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def check_rule_fits(name: str, config: Any, *, optimizer: str | None, device: str) -> None:
    """Refuse, in one line, a rule whose weights cannot be held: built on the CPU, then
    trained on ``device`` with ``optimizer``'s copies of them (``None``: not trained).

    Raises:
        nca.resources.NotEnoughMemory: naming the rule's size and the memory there is.
    """
    needed = rule_bytes(name, config)
    if needed is None:
        return
    what = f"rule {name} with these sizes"
    advice = "lower its size settings (e.g. -o rule.hidden_channels=, embed_dim, mlp_dim)"
    check_fits_in_memory(needed, what, advice)  # the weights are built on the CPU first
    if optimizer is not None:
        copies = TRAINING_COPIES.get(optimizer, 4)
        trained = (
            f"training rule {name} with {optimizer} ({copies} copies of its "
            f"{needed / 2**30:,.2f} GiB of weights: weights, gradients, optimiser state)"
        )
        check_fits_in_memory(needed * copies, trained, advice, device=device)
