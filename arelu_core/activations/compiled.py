"""The optional compiled path for AReLU and ELSA's attention: the one-pass forward and backward
kernels of _kernels.py (torch ops) handed to torch.compile (C++/OpenMP on the CPU, Triton on CUDA),
run inside the same autograd op as the Numba kernels (arelu.SignScaleFunction). So the gradients,
C(alpha)'s at its bounds included (formula.py), and the double backward (create_graph=True: the
formula's differentiable torch ops) are the fused op's; the compiler only fuses each pass.
(Compiling the formula itself with autograd inside would give clamp's bound convention and no double
backward: AOTAutograd does not support create_graph through a compiled graph.)

When it pays (`compile_pays`): compiling costs seconds to minutes once per process and shape, and gains
only where the default path makes several passes over memory.
- CPU: never. The Numba kernels are already one pass. Measured with `arelu bench --only op --compiled`
  (256x64x56x56 float32, forward+backward, this project's 2-core CPU): ReLU 157 ms, fused 163 ms,
  compiled 157 ms: no gain to pay for 17 s of compiling (3.5 s once inductor's disk cache is warm).
- CUDA: the default there is the Triton kernels of _triton_kernels.py, one launch each way, so
  compiling gains nothing either. Where Triton is missing or failed its first-use check, the default
  is torch ops (three or four passes), and a long run compiles, from COMPILE_MIN_STEPS_CUDA steps on:
  an estimate, not a measurement; `arelu bench --device cuda --compiled` measures a machine's figures.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from . import _kernels

COMPILE_MIN_STEPS_CUDA = 2000   # about 4 MNIST epochs at batch 128
COMPILE_CHOICES = ("auto", "on", "off")


@lru_cache(maxsize=1)
def compiled_kernels():
    """(forward, backward): torch.compile of _kernels.torch_forward / torch_backward, made on first use
    (compiling happens at the first call of each, per shape)."""
    return torch.compile(_kernels.torch_forward), torch.compile(_kernels.torch_backward)


def compile_pays(device: torch.device | str, steps: int) -> bool:
    """Whether `compile="auto"` compiles AReLU/ELSA for a training of `steps` steps on `device`."""
    device = torch.device(device)
    if device.type != "cuda" or steps < COMPILE_MIN_STEPS_CUDA:
        return False
    return not (torch.cuda.is_available() and _kernels.checked_triton_kernels(device) is not None)


KERNELS = ("auto", "numba", "triton", "torch", "compiled")


def use_kernel(model: torch.nn.Module, kernel: str) -> int:
    """Pin every AReLU/ELSA attention in `model` to one implementation of the fused op ("auto": per
    tensor, the default; the others for comparisons, e.g. `arelu bench` on CUDA). Returns how many."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    switched = 0
    for module in model.modules():
        if hasattr(module, "kernel") and hasattr(module, "alpha"):
            module.kernel = kernel
            switched += 1
    return switched


def use_compiled(model: torch.nn.Module, enabled: bool = True) -> int:
    """Switch every AReLU/ELSA attention in `model` to the compiled path (or back to "auto"). Returns how many."""
    return use_kernel(model, "compiled" if enabled else "auto")
