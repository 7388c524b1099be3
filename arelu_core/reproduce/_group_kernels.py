"""AReLU / ELSA's sign-scaled map for G models at once, each with its own (alpha, beta).

    y = pos[g] * x  (x >= 0),   neg[g] * x  (x < 0),    g = (i // inner) % G for flat index i

(inner: elements of one model's slice in one sample: C*H*W for NCHW, C for channels-last.)
Like activations/_kernels.py: forward is one pass; backward is one pass writing the input
gradient and, in float64, the per-model sums of g*x over x<0 and x>=0 that alpha's and beta's
gradients need. Without Numba (or on CUDA, or inside torch.func transforms) the formula runs as
torch ops; a backward with create_graph=True uses the formula's differentiable backward, so second
derivatives are exact here too. C(alpha)'s gradient at its bounds: formula.py's one convention.
"""
from __future__ import annotations

import numpy as np
import torch

from ..activations.arelu import in_functorch_transform
from ..activations.formula import alpha_window, clamp_alpha, sign_scale_backward, sign_scale_formula

try:
    import numba
    HAVE_NUMBA = True
except Exception:  # pragma: no cover - numba is a requirement; keep the library importable anyway
    HAVE_NUMBA = False

if HAVE_NUMBA:
    # Serial on purpose: Numba's parallel threading layer spin-waits between calls, and on a small shared
    # CPU those spinning threads took 3-4x the CPU time of a whole training step (measured). torch
    # already spreads the convolutions over the cores.
    _flags = dict(cache=True, nogil=True, fastmath={"reassoc"})

    @numba.njit(**_flags)
    def _forward(x, y, neg, pos, inner, G):
        for blk in range(x.size // inner):
            g = blk % G
            n, p = neg[g], pos[g]
            for i in range(blk * inner, (blk + 1) * inner):
                v = x[i]
                y[i] = v * (p if v >= 0 else n)

    @numba.njit(**_flags)
    def _backward(g_out, x, gx, neg, pos, inner, G, partial):
        # partial[blk] = (sum g*x over x<0, over x>=0) of one block; summed per model afterwards
        # (kept per block so a parallel version could fill it).
        for blk in range(x.size // inner):
            g = blk % G
            n, p = neg[g], pos[g]
            s_neg = 0.0
            s_pos = 0.0
            for i in range(blk * inner, (blk + 1) * inner):
                v = x[i]
                gi = g_out[i]
                if v >= 0:
                    gx[i] = gi * p
                    s_pos += float(gi) * float(v)
                else:
                    gx[i] = gi * n
                    s_neg += float(gi) * float(v)
            partial[blk, 0] = s_neg
            partial[blk, 1] = s_pos


def _scales(alpha, beta, offset):
    neg = clamp_alpha(alpha.detach())
    sig = torch.sigmoid(beta.detach())
    return neg, sig, offset + sig


class GroupSignScale(torch.autograd.Function):
    """x: contiguous, model of flat index i = (i // inner) % G; alpha/beta: [G]. Gradients as AReLU's op."""

    @staticmethod
    def forward(ctx, x, alpha, beta, offset: float, inner: int):
        G = alpha.numel()
        neg, sig, pos = _scales(alpha, beta, offset)
        y = torch.empty_like(x)
        _forward(x.view(-1).numpy(), y.view(-1).numpy(), neg.double().numpy(), pos.double().numpy(), inner, G)
        ctx.save_for_backward(x, alpha, beta)
        ctx.offset, ctx.inner = offset, inner
        return y

    @staticmethod
    def backward(ctx, g_out):
        x, alpha, beta = ctx.saved_tensors
        G, inner = alpha.numel(), ctx.inner
        if torch.is_grad_enabled():      # create_graph=True: differentiable torch ops over [blocks, G, inner]
            per_model = (1, G, 1)
            gx, d_alpha, d_beta = sign_scale_backward(
                g_out.reshape(-1, G, inner), x.view(-1, G, inner), alpha.view(per_model), beta.view(per_model),
                ctx.offset, reduce_shape=lambda t: t.sum((0, 2), keepdim=True))
            return gx.view(x.shape), d_alpha.view(G), d_beta.view(G), None, None
        neg, sig, pos = _scales(alpha, beta, ctx.offset)
        g_out = g_out.contiguous()
        gx = torch.empty_like(x)
        partial = np.zeros((x.numel() // inner, 2))
        _backward(g_out.view(-1).numpy(), x.view(-1).numpy(), gx.view(-1).numpy(),
                  neg.double().numpy(), pos.double().numpy(), inner, G, partial)
        sums = torch.from_numpy(partial.reshape(-1, G, 2).sum(0)).to(alpha.dtype)   # [G, 2]
        d_alpha = torch.where(alpha_window(alpha), sums[:, 0], torch.zeros_like(sums[:, 0]))   # formula.py's convention
        d_beta = sig * (1 - sig) * sums[:, 1]
        return gx, d_alpha, d_beta, None, None


def _torch_sign_scale(x, alpha, beta, offset: float):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return sign_scale_formula(x, alpha.view(shape), beta.view(shape), offset)


def group_sign_scale(x, alpha, beta, offset: float):
    """AReLU (offset 1) or ELSA's attention term (offset 0) of G models; x: [B, G, C, H, W]."""
    if not (HAVE_NUMBA and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)) \
            or in_functorch_transform():
        return _torch_sign_scale(x, alpha, beta, offset)
    if x.ndim == 5:
        # Channels-last memory is [B, H, W, G, C]: run the kernel on that view, no copy.
        # (permute(0, 3, 4, 1, 2) is its own inverse on 5 dims.)
        xl = x.permute(0, 3, 4, 1, 2)
        if xl.is_contiguous():
            return GroupSignScale.apply(xl, alpha, beta, offset, x.shape[2]).permute(0, 3, 4, 1, 2)
    x = x.contiguous()
    return GroupSignScale.apply(x, alpha, beta, offset, x[0, 0].numel())
