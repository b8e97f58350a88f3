"""``torch.compile`` for a CA step, with a fallback to eager.

Compilation needs a working backend (on CPU, Inductor needs a C++ compiler). Where it is
unavailable, the first call says why in one line and the step runs eagerly from then on;
the values are the same either way (tested to float tolerance).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any

import torch


class CompileUnavailable(UserWarning):
    """``torch.compile`` failed; the step runs eagerly."""


def _compiler_failures() -> tuple[type[BaseException], ...]:
    """Errors that mean "the compiler cannot do this", not "the step is wrong"
    (a genuine error in the step surfaces as itself or as dynamo's ``TorchRuntimeError``,
    and autograd's control-flow exceptions pass through)."""
    import subprocess

    names = {
        "torch._dynamo.exc": ("BackendCompilerFailed", "InternalTorchDynamoError", "Unsupported"),
        "torch._inductor.exc": ("InductorError", "CppCompileError", "InvalidCxxCompiler",
                                "LoweringException", "TritonMissing", "GPUTooOldForTriton"),
    }  # fmt: skip
    found: list[type[BaseException]] = [subprocess.CalledProcessError, FileNotFoundError]
    for module_name, class_names in names.items():
        try:
            module = __import__(module_name, fromlist=list(class_names))
        except ImportError:  # pragma: no cover - a torch without these modules
            continue
        found += [getattr(module, n) for n in class_names if hasattr(module, n)]
    return tuple(found)


#: Share of the activations a compiled step's backward keeps (see :class:`CompiledStep`).
DEFAULT_MEMORY_BUDGET = 0.3


def _compile_settings(budget: float) -> contextlib.ExitStack:
    """The compiler settings a step is (re)compiled under: the activation memory budget,
    and graphs that keep a data-dependent shape (the firing cells of a sparse update,
    ``nonzero``) symbolic instead of breaking the graph there."""
    stack = contextlib.ExitStack()
    functorch = getattr(getattr(torch, "_functorch", None), "config", None)
    if functorch is not None and hasattr(functorch, "activation_memory_budget"):
        stack.enter_context(functorch.patch(activation_memory_budget=budget))
    dynamo = getattr(getattr(torch, "_dynamo", None), "config", None)
    if dynamo is not None and hasattr(dynamo, "capture_dynamic_output_shape_ops"):
        stack.enter_context(dynamo.patch(capture_dynamic_output_shape_ops=True))
    return stack


def _allow_repeated_backward() -> None:
    """Turn off AOTAutograd's donated buffers (a compiled backward reusing its saved
    activations' memory), process-wide.

    They forbid differentiating a graph twice (``retain_graph=True``), which the implicit
    and phantom fixed-point backwards do: their vector-Jacobian products all go through
    one step's graph. A step graph whose backward first ran as a plain ``backward()``
    (a BPTT rollout in the same process) then fails there with PyTorch's "compiled with
    non-empty donated buffers" error. The flag is read when a backward is compiled,
    lazily, at the first ``backward()``, outside any step call, so it cannot be patched
    around the call like the settings of :func:`_compile_settings`.
    """
    functorch = getattr(getattr(torch, "_functorch", None), "config", None)
    if functorch is not None and hasattr(functorch, "donated_buffer"):
        functorch.donated_buffer = False


class CompiledStep:
    """A step function compiled on first use, eager if compilation fails.

    Args:
        step: ``step(cells, mask[, noise]) -> cells``.
        name: What the message calls it (e.g. the rule's name).
        mode: ``torch.compile`` mode (``None``: its default).
        memory_budget: The share of a step's activations the compiled backward keeps
            (functorch's ``activation_memory_budget``; the rest is recomputed). At its
            default 1.0, tracing through the custom-autograd attention keeps more than
            the eager step does: ViTCA, B = 8, 32x32, T = 16 peaked at 708 MiB compiled
            against 397 MiB eager; at 0.3, 250 MiB at the same speed.

    Attributes:
        failure: The error that made it fall back (``None``: compiled, or not yet run).
    """

    def __init__(
        self,
        step: Callable[..., torch.Tensor],
        name: str,
        mode: str | None = None,
        memory_budget: float = DEFAULT_MEMORY_BUDGET,
    ):
        if not 0 < memory_budget <= 1:
            raise ValueError(f"memory_budget must be in (0, 1], got {memory_budget!r}")
        self.eager = step
        self.name = name
        self.memory_budget = memory_budget
        # static shapes: a recompile per new grid shape (training, validation and
        # evaluation batches), rather than dynamic-shape graphs
        self.compiled = torch.compile(step, mode=mode, dynamic=False)
        _allow_repeated_backward()
        self.failure: BaseException | None = None

    @property
    def active(self) -> bool:
        """Whether calls go to the compiled function."""
        return self.failure is None

    def __call__(self, *args: Any) -> torch.Tensor:
        if self.failure is not None:
            return self.eager(*args)
        try:
            with _compile_settings(self.memory_budget):  # read when a graph is (re)compiled
                return self.compiled(*args)
        except _compiler_failures() as err:
            self.failure = err
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            warnings.warn(
                f"torch.compile is not available for {self.name}'s step ({type(err).__name__}: "
                f"{first}); running it eagerly. On CPU, compilation needs a C++ compiler "
                f"(e.g. apt-get install g++)",
                CompileUnavailable,
                stacklevel=2,
            )
            return self.eager(*args)  # a genuine error in the step raises here, eagerly
