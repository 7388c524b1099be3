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
- CUDA: the default there is torch ops (three or four passes), so a long run gains. From
  COMPILE_MIN_STEPS_CUDA steps on: an estimate, not a measurement (no GPU was available to measure it);
  `arelu bench --device cuda --compiled` measures a machine's own figures.
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
    return torch.device(device).type == "cuda" and steps >= COMPILE_MIN_STEPS_CUDA


def use_compiled(model: torch.nn.Module, enabled: bool = True) -> int:
    """Switch every AReLU/ELSA attention in `model` to the compiled path (or back). Returns how many."""
    switched = 0
    for module in model.modules():
        if hasattr(module, "compiled"):
            module.compiled = enabled
            switched += 1
    return switched
