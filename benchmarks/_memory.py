"""Peak memory of one block of work, on CPU (resident set size) or CUDA.

On CPU the peak is ``VmHWM`` after resetting it through ``/proc/self/clear_refs``.
Run the measuring process with ``MALLOC_MMAP_THRESHOLD_=65536`` (:data:`CPU_MEMORY_ENV`)
so glibc returns large freed tensors to the OS and RSS tracks live memory (its dynamic
threshold would keep them cached and hide the peak).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

#: Environment for a CPU memory-measuring subprocess.
CPU_MEMORY_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def rss_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_bytes(work: Callable[[], object], device: str) -> int:
    """Peak memory above the current baseline while ``work()`` runs."""
    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        work()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    base = rss_kib("VmRSS") * 1024
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    work()
    return rss_kib("VmHWM") * 1024 - base
