"""AReLU's and ELSA's formula, defined once: the clamp C(alpha) of eq. 6, its gradient, and the
sign-scaled map behind eqs. 5 and 7, as plain torch ops. Every other path (fused Numba kernels,
torch fallback, compiled, batched group kernels) is tested against `sign_scale_formula`, and the
first and second derivatives of every path come from the functions here.

C(alpha)'s gradient at its bounds (the one convention, applied on every path):

    dC/dalpha = 1   for ALPHA_MIN <= alpha <= ALPHA_MAX   (the bounds included)
              = 0   outside

compared in alpha's own dtype (`alpha_window`: a float32 alpha against float32(0.01), so float32(0.01)
is on the bound, not below it). Why not alpha.clamp(0.01, 0.99) with autograd's gradient: torch's
clamp backward passes the gradient only strictly inside the bounds. Checked in torch 2.14 with scalar
bounds: dC/dalpha = 0 at alpha = 0.01 and at 0.99, in float32 and in float64 alike (with tensor bounds
a tie gets 0.5). So it is not a matter of precision: an alpha that starts on a bound, as four of Fig. 2's
nine initialisations do, would get no gradient and never move. With the closed window it gets eq. 10's
gradient sum_{x<0} g*x there and can leave the bound in either direction, as eq. 6's subgradient allows
(the paper gives no convention at the bounds; the official code's torch.clamp is the open one).
"""
from __future__ import annotations

import torch

ALPHA_MIN, ALPHA_MAX = 0.01, 0.99   # C(alpha) = clamp(alpha, 0.01, 0.99), eq. 6


def alpha_window(alpha: torch.Tensor) -> torch.Tensor:
    """Where dC/dalpha = 1: ALPHA_MIN <= alpha <= ALPHA_MAX, compared in alpha's dtype (bool tensor)."""
    a = alpha.detach()
    return (a >= ALPHA_MIN) & (a <= ALPHA_MAX)


def clamp_alpha(alpha: torch.Tensor) -> torch.Tensor:
    """C(alpha) with the gradient convention above (differentiable to any order; d2C/dalpha2 = 0)."""
    return torch.where(alpha_window(alpha), alpha, alpha.detach().clamp(ALPHA_MIN, ALPHA_MAX))


def sign_scale_formula(x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, pos_offset: float) -> torch.Tensor:
    """pos_offset + sigmoid(beta) on x >= 0, C(alpha) on x < 0, times x (eq. 7 with offset 1, eq. 5 with 0).

    The oracle: plain torch ops, so autograd gives eqs. 9-11 and their derivatives, and torch.func
    (grad, vmap, functional_call) works through it. alpha/beta broadcast against x (one model: shape ()).
    """
    neg = clamp_alpha(alpha).to(x.dtype)
    pos = (pos_offset + torch.sigmoid(beta)).to(x.dtype)
    return x * torch.where(x >= 0, pos, neg)


def sign_scale_backward(g: torch.Tensor, x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
                        pos_offset: float, reduce_shape=None):
    """(dE/dx, dE/dalpha, dE/dbeta) of the formula for upstream gradient g, as differentiable torch ops.

    What every fused op's backward returns when a graph of the backward is wanted (create_graph=True:
    MAML, gradient penalties, Hessian-vector products); its own derivatives are then exact.
    reduce_shape(t) sums g*x down to alpha's shape (default: the whole volume, alpha a scalar).
    """
    positive = x >= 0
    neg = clamp_alpha(alpha).to(x.dtype)
    sig = torch.sigmoid(beta)
    pos = (pos_offset + sig).to(x.dtype)
    gx = g * torch.where(positive, pos, neg)
    # float64 sums on the CPU, at least float32 on CUDA, as the fast kernels accumulate them
    prod = (g * x).to(torch.float64 if x.device.type == "cpu" else torch.promote_types(x.dtype, torch.float32))
    zero = torch.zeros((), dtype=prod.dtype, device=prod.device)
    reduce = reduce_shape or (lambda t: t.sum())
    s_neg = reduce(torch.where(positive, zero, prod)).to(alpha.dtype)
    s_pos = reduce(torch.where(positive, prod, zero)).to(beta.dtype)
    d_alpha = torch.where(alpha_window(alpha), s_neg, torch.zeros_like(s_neg))
    d_beta = sig * (1 - sig) * s_pos
    return gx, d_alpha, d_beta
