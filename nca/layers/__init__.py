"""Layers used by rules: neighbourhoods, localized attention backends, encoder blocks.

**Mixed precision.** Autocast does not reach inside a custom
:class:`torch.autograd.Function`: under bf16 autocast its forward would receive
a mix of bf16 activations and float32 weights. The hand-written functions of
this package — the fused pre-norm attention
(:mod:`nca.layers.localized_attention.prenorm`), the shifted-view attention
(:mod:`nca.layers.localized_attention.shifted`) and the fused LayerNorm +
Linear (:mod:`nca.layers.layernorm_linear`) — therefore declare
``torch.amp.custom_fwd(cast_inputs=torch.float32)`` and ``torch.amp.custom_bwd``:
under autocast their floating inputs are cast to float32, and forward and
backward run in float32 with autocast off (their gradients return to the
callers in the callers' dtypes).

``custom_fwd`` acts for one device type per decorator, so each function stacks
a CPU and a CUDA decorator (ROCm builds are ``cuda`` too). For a tensor on one
device the other decorator is a no-op: it casts only tensors of its own device
type, and only while autocast is on for that type; both leave backward with
autocast off. (The alternative, one ``Function`` subclass per device type
chosen at call time, duplicates classes for the same effect.) Autocast on other
device types (``mps``, ``xpu``) is not handled: there the functions would see
mixed dtypes.

What that means for a ViTCA block under bf16 autocast (the ``shifted`` backend;
``tests/layers/test_precision.py`` checks the dtypes):

* float32: each block's LayerNorm → QKV projection → localized attention, its
  second LayerNorm → first MLP layer (``fc1``) and the GELU after it, and the
  head (LayerNorm + Linear);
* bf16 (autocast's choice for ``nn.Linear``): the cell embedding, the attention
  output projection (``to_out``, absent with one head) and the second MLP layer
  (``fc2``).

With the ``conv`` and ``reference`` backends the QKV projection is a plain
``nn.Linear`` (bf16) and the attention runs as autocast decides.
"""

from nca.layers.localized_attention import BACKENDS, AttentionBackend, attend
from nca.layers.neighbourhood import BORDERS, Border, Neighbourhood

__all__ = [
    "BACKENDS",
    "BORDERS",
    "AttentionBackend",
    "Border",
    "Neighbourhood",
    "attend",
]
