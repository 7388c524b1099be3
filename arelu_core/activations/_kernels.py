"""Fused CPU kernels for the sign-scaled linear map behind AReLU and ELSA.

    y = pos * x  (x >= 0),   neg * x  (x < 0)

Forward is one pass (read x, write y). Backward is one pass that writes the input gradient and
accumulates, in float64, the two sums the scalar gradients need: sum g*x over x<0 and over x>=0.
No full-size temporaries. Numba compiles them on first use (cached on disk). On CUDA the Triton
kernels of _triton_kernels.py do the same in one launch each (`pick_kernel`); elsewhere (no Numba,
half precision on the CPU, Triton missing or failing its first-use check) `torch_*` below does it
with a few torch ops.
"""
from __future__ import annotations

import os
import warnings
from functools import lru_cache

import torch

from ._layout import dense  # noqa: F401  (arelu.py asks _kernels.dense)
from .formula import clamp_alpha

try:
    import numba
    HAVE_NUMBA = True
except Exception:  # pragma: no cover - numba is in requirements, but keep the library importable
    HAVE_NUMBA = False

# Below this many elements a thread pool costs more than it saves (measured: see arelu bench).
PARALLEL_MIN_ELEMENTS = 1 << 16

if HAVE_NUMBA:
    def _forward_loop(x, y, neg, pos):
        for i in numba.prange(x.size):
            v = x[i]
            y[i] = v * (pos if v >= 0 else neg)

    def _backward_loop(g, x, gx, neg, pos):
        s_neg = 0.0
        s_pos = 0.0
        for i in numba.prange(x.size):
            v = x[i]
            gi = g[i]
            positive = v >= 0
            gx[i] = gi * (pos if positive else neg)
            prod = float(gi) * float(v)
            s_pos += prod if positive else 0.0
            s_neg += 0.0 if positive else prod
        return s_neg, s_pos

    # reassoc lets LLVM vectorise the float64 sums; no other fast-math (NaNs must stay NaNs).
    # Only the parallel versions are cached on disk: Numba's cache is keyed by the Python function,
    # so caching both compilations of one loop would let one overwrite the other (seen: the serial
    # kernel came back from the cache as the parallel one, 20000x slower on small tensors).
    _flags = dict(nogil=True, fastmath={"reassoc"})
    _forward_parallel = numba.njit(parallel=True, cache=True, **_flags)(_forward_loop)
    _forward_serial = numba.njit(**_flags)(_forward_loop)
    _backward_parallel = numba.njit(parallel=True, cache=True, **_flags)(_backward_loop)
    _backward_serial = numba.njit(**_flags)(_backward_loop)


def numba_supports(x: torch.Tensor) -> bool:
    return HAVE_NUMBA and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def pick_kernel(x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> str:
    """The one-pass implementation for these tensors: "numba" (CPU), "triton" (CUDA), else "torch"."""
    if numba_supports(x):
        return "numba"
    if x.is_cuda:
        triton_kernels = checked_triton_kernels(x.device)
        if triton_kernels is not None and triton_kernels.supports(x, alpha, beta):
            return "triton"
    return "torch"


@lru_cache(maxsize=None)
def checked_triton_kernels(device: torch.device):
    """_triton_kernels, once it has matched the torch ops on this device (a small tensor with exact
    zeros, forward and backward); None, with one warning, where Triton is missing, fails to compile
    for this GPU, or disagrees. ARELU_TRITON=0 turns the kernels off."""
    if os.environ.get("ARELU_TRITON", "1") == "0":
        return None
    try:
        from . import _triton_kernels
        self_check(_triton_kernels, device)
    except Exception as exc:   # a missing or broken Triton must not break AReLU: the torch ops still work
        message = " ".join(str(exc).split())[:200]
        warnings.warn(f"AReLU: Triton kernels unavailable on {device} ({type(exc).__name__}: {message}); "
                      "using torch ops", RuntimeWarning, stacklevel=3)
        return None
    return _triton_kernels


def self_check(triton_kernels, device) -> None:
    """Raise unless the Triton kernels give torch_forward/torch_backward's values on `device`."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3 * 1031, generator=gen)
    x[::7] = 0.0
    g = torch.randn(x.shape, generator=gen)
    # float32, and bfloat16 as autocast hands it over (to 2 of its ulps: one for sigmoid's last bit)
    for dtype, tol, alpha_value, offset in ((torch.float32, 1e-4, 0.3, 1.0), (torch.float32, 1e-4, 0.01, 0.0),
                                            (torch.bfloat16, 2e-2, 0.3, 1.0)):
        xd, gd = x.to(device, dtype), g.to(device, dtype)
        alpha = torch.tensor(alpha_value, device=device)
        beta = torch.tensor(-0.7, device=device)
        neg, sig = clamp_alpha(alpha), torch.sigmoid(beta)
        pos = offset + sig
        want_y = torch_forward(xd, neg.to(dtype), pos.to(dtype))
        want_gx, s_neg, s_pos = torch_backward(gd, xd, neg.to(dtype), pos.to(dtype))
        gx, d_alpha, d_beta = triton_kernels.backward(gd, xd, alpha, beta, offset)
        checks = [(triton_kernels.forward(xd, alpha, beta, offset), want_y, "forward"), (gx, want_gx, "dx"),
                  (d_alpha, s_neg.float(), "dalpha"), (d_beta, (sig * (1 - sig) * s_pos).float(), "dbeta")]
        for got, want, label in checks:
            if not torch.allclose(got.float(), want.float(), rtol=tol, atol=tol):
                raise RuntimeError(f"{label} ({dtype}) differs from the torch ops by "
                                   f"{(got.float() - want.float()).abs().max().item():.3g}")


def _flat_numpy(t: torch.Tensor):
    return t.detach().contiguous().view(-1).numpy()


def _pick(parallel, serial, elements: int):
    """The parallel kernel only for large tensors and only with as many threads as torch may use here.
    A training given one thread (the app's workers on a small CPU) must stay on one: a parallel loop whose
    second thread waits for a busy core spins at every barrier (measured: a worker sharing 2 cores with the
    web server fell from 12 000 to 2 100 samples/s)."""
    threads = torch.get_num_threads()
    if elements < PARALLEL_MIN_ELEMENTS or threads < 2:
        return serial
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))   # per calling thread, cheap
    return parallel


def numba_forward(x: torch.Tensor, neg: float, pos: float) -> torch.Tensor:
    x = x.contiguous()
    y = torch.empty_like(x)
    loop = _pick(_forward_parallel, _forward_serial, x.numel())
    loop(_flat_numpy(x), y.view(-1).numpy(), neg, pos)
    return y


def numba_backward(g: torch.Tensor, x: torch.Tensor, neg: float, pos: float):
    """Returns (grad_x, sum_{x<0} g*x, sum_{x>=0} g*x)."""
    g = g.contiguous()
    gx = torch.empty_like(x, memory_format=torch.contiguous_format)
    loop = _pick(_backward_parallel, _backward_serial, x.numel())
    s_neg, s_pos = loop(_flat_numpy(g), _flat_numpy(x), gx.view(-1).numpy(), neg, pos)
    return gx, s_neg, s_pos


def sum_dtype(x: torch.Tensor) -> torch.dtype:
    """Accumulator of the scalar gradients' sums: float64 on the CPU (as the Numba kernels), at least
    float32 on CUDA (half sums in float32; a float64 input keeps float64)."""
    return torch.float64 if x.device.type == "cpu" else torch.promote_types(x.dtype, torch.float32)


def torch_forward(x: torch.Tensor, neg: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    return x * torch.where(x >= 0, pos, neg)


def torch_backward(g: torch.Tensor, x: torch.Tensor, neg: torch.Tensor, pos: torch.Tensor):
    positive = x >= 0
    gx = g * torch.where(positive, pos, neg)
    prod = (g * x).to(sum_dtype(x))
    s_pos = torch.where(positive, prod, 0).sum()
    return gx, prod.sum() - s_pos, s_pos
