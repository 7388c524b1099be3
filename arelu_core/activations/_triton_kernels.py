"""CUDA kernels for the sign-scaled map behind AReLU and ELSA, in Triton: one launch forward, one
backward (plus a 2-float zero fill).

Why: on CUDA the torch-ops path launches about 12 kernels forward and 25 backward per activation
site (C(alpha), sigmoid, casts, where, two sums ...), each a few microseconds of host time; a
ResNet-18 step has 17 sites, so AReLU was launch-bound (see assets/results/bench). Here C(alpha)
and 1 + sigmoid(beta) are computed inside the kernels from alpha's and beta's memory, and each
block adds its share of eq. 10's and eq. 11's sums, already multiplied by dC/dalpha (formula.py's
window) and sigmoid'(beta), to a float32 pair with atomics. So the backward hands back
(dE/dx, dE/dalpha, dE/dbeta) and nothing else runs.

Numerics against formula.py (tests/test_triton_kernels.py, under Triton's CPU interpreter):
- C(alpha) and its window are compared in float32, as the formula compares in alpha's dtype;
- the scales are rounded to x's dtype before multiplying, as the torch path does;
- sigmoid uses Triton's exp (a few ulp from torch.sigmoid's), and the sums are float32 in an
  arbitrary order (atomics), so dalpha/dbeta agree to float32 summation accuracy, not bit for bit.

Only for float16/bfloat16/float32 x with float32 alpha/beta on CUDA (or anywhere under
TRITON_INTERPRET=1, which the tests use); _kernels.pick_kernel checks `supports` first.
"""
from __future__ import annotations

import triton
import triton.language as tl

import torch

from ._layout import dense
from .formula import ALPHA_MAX, ALPHA_MIN

BLOCK = 1024
DTYPES = (torch.float16, torch.bfloat16, torch.float32)


@triton.jit
def _scales(alpha_ptr, beta_ptr, pos_offset, A_MIN: tl.constexpr, A_MAX: tl.constexpr):
    a = tl.load(alpha_ptr)
    b = tl.load(beta_ptr)
    neg = tl.minimum(tl.maximum(a, A_MIN), A_MAX)
    sig = 1.0 / (1.0 + tl.exp(-b))
    window = (a >= A_MIN) & (a <= A_MAX)
    return neg, sig, pos_offset + sig, window


@triton.jit
def _forward_kernel(x_ptr, y_ptr, alpha_ptr, beta_ptr, n, pos_offset,
                    A_MIN: tl.constexpr, A_MAX: tl.constexpr, BLOCK: tl.constexpr):
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0)
    neg, sig, pos, window = _scales(alpha_ptr, beta_ptr, pos_offset, A_MIN, A_MAX)
    scale = tl.where(x >= 0, pos.to(x.dtype), neg.to(x.dtype))
    y = (x.to(tl.float32) * scale.to(tl.float32)).to(x.dtype)
    tl.store(y_ptr + offsets, y, mask=mask)


@triton.jit
def _backward_kernel(g_ptr, x_ptr, gx_ptr, alpha_ptr, beta_ptr, grads_ptr, n, pos_offset,
                     A_MIN: tl.constexpr, A_MAX: tl.constexpr, BLOCK: tl.constexpr):
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0)
    g = tl.load(g_ptr + offsets, mask=mask, other=0.0)
    neg, sig, pos, window = _scales(alpha_ptr, beta_ptr, pos_offset, A_MIN, A_MAX)
    positive = x >= 0
    scale = tl.where(positive, pos.to(x.dtype), neg.to(x.dtype))
    tl.store(gx_ptr + offsets, (g.to(tl.float32) * scale.to(tl.float32)).to(g.dtype), mask=mask)
    prod = g.to(tl.float32) * x.to(tl.float32)           # masked lanes are 0 * 0
    s_neg = tl.sum(tl.where(positive, 0.0, prod), axis=0)
    s_pos = tl.sum(tl.where(positive, prod, 0.0), axis=0)
    tl.atomic_add(grads_ptr, tl.where(window, s_neg, 0.0))       # dE/dalpha: eq. 10, 0 outside the window
    tl.atomic_add(grads_ptr + 1, sig * (1.0 - sig) * s_pos)      # dE/dbeta: eq. 11


def supports(x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> bool:
    """Whether pick_kernel may hand (x, alpha, beta) to these kernels: CUDA, float16/bfloat16/float32 x in
    a dense layout, one float32 alpha and beta on x's device. (Called with kernel="triton" explicitly,
    as the interpreter tests do, they run on any device.)"""
    return (x.is_cuda and x.dtype in DTYPES and alpha.dtype == beta.dtype == torch.float32
            and alpha.numel() == 1 and beta.numel() == 1 and alpha.device == x.device == beta.device
            and dense(x))


def _grid(n: int):
    return (triton.cdiv(n, BLOCK),)


def forward(x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, pos_offset: float) -> torch.Tensor:
    """y with x's shape, dtype and memory layout (x dense: see supports)."""
    y = torch.empty_like(x)
    if x.numel():
        _forward_kernel[_grid(x.numel())](x, y, alpha, beta, x.numel(), float(pos_offset),
                                          A_MIN=ALPHA_MIN, A_MAX=ALPHA_MAX, BLOCK=BLOCK)
    return y


def backward(g: torch.Tensor, x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, pos_offset: float):
    """(dE/dx, dE/dalpha, dE/dbeta), the last two float32 scalars; g is brought to x's layout if it differs."""
    if g.stride() != x.stride() or g.dtype != x.dtype:
        g = torch.empty_like(x).copy_(g)
    gx = torch.empty_like(x)
    grads = torch.zeros(2, dtype=torch.float32, device=x.device)
    if x.numel():
        _backward_kernel[_grid(x.numel())](g, x, gx, alpha, beta, grads, x.numel(), float(pos_offset),
                                           A_MIN=ALPHA_MIN, A_MAX=ALPHA_MAX, BLOCK=BLOCK)
    return gx, grads[0], grads[1]
