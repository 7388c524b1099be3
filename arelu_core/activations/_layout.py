"""Memory layouts one flat kernel pass may walk: shared by the Numba/torch kernels (_kernels.py) and the
Triton kernels (_triton_kernels.py), which _kernels.py loads lazily, so neither imports the other's module
for it."""
from __future__ import annotations

import torch


def dense(t: torch.Tensor) -> bool:
    """Laid out without gaps in the default or the channels-last order (what one flat pass may walk)."""
    return t.is_contiguous() or t.is_contiguous(memory_format=torch.channels_last)
