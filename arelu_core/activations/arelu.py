"""AReLU: Attention-based Rectified Linear Unit (Chen, Li & Xu, arXiv:2006.13858).

    F(x) = C(alpha) * x          x < 0        C clamps to [0.01, 0.99]
         = (1 + sigmoid(beta)) * x   x >= 0   (eq. 7)

Gradients as the paper's eqs. 9-11: dF/dx is C(alpha) or 1 + sigmoid(beta) (the x >= 0 branch
at exactly x = 0); dE/dalpha = sum_{x<0} g*x, and zero while alpha lies outside [0.01, 0.99];
dE/dbeta = sigmoid'(beta) * sum_{x>=0} g*x, the sums over the whole feature volume.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import _kernels
from .compiled import compiled_sign_scale
from .formula import ALPHA_MAX, ALPHA_MIN
from .registry import ActivationInfo, Interval, ParamSpec, register

# ELSA's sign-based attention parameters, shared by AReLU and every '<base>+elsa'. Any alpha works
# (C clamps it), but a training started outside the clamp would never move it: no gradient there.
SIGN_ATTENTION_PARAMS = (
    ParamSpec("alpha", "C(alpha), alpha clamped to [0.01, 0.99], scales the negative inputs",
              train=Interval(ALPHA_MIN, ALPHA_MAX)),
    ParamSpec("beta", "sigmoid(beta) in (0, 1) amplifies the non-negative inputs"),
)


class SignScaleFunction(torch.autograd.Function):
    """y = pos*x for x >= 0, neg*x for x < 0 with neg = C(alpha), pos = offset + sigmoid(beta).

    offset 1 gives AReLU, offset 0 gives ELSA's attention term L(x) (eq. 5).
    """

    @staticmethod
    def forward(ctx, x, alpha, beta, pos_offset: float):
        neg = alpha.detach().clamp(ALPHA_MIN, ALPHA_MAX)
        sig = torch.sigmoid(beta.detach())
        pos = pos_offset + sig
        ctx.save_for_backward(x, alpha, beta)
        ctx.pos_offset = pos_offset
        if _kernels.numba_supports(x):
            return _kernels.numba_forward(x, float(neg), float(pos))
        return _kernels.torch_forward(x, neg.to(x.dtype), pos.to(x.dtype))

    @staticmethod
    def backward(ctx, g):
        x, alpha, beta = ctx.saved_tensors
        neg = alpha.detach().clamp(ALPHA_MIN, ALPHA_MAX)
        sig = torch.sigmoid(beta.detach())
        pos = ctx.pos_offset + sig
        if _kernels.numba_supports(x):
            gx, s_neg, s_pos = _kernels.numba_backward(g, x, float(neg), float(pos))
            s_neg = torch.tensor(s_neg, dtype=torch.float64)
            s_pos = torch.tensor(s_pos, dtype=torch.float64)
        else:
            gx, s_neg, s_pos = _kernels.torch_backward(g, x, neg.to(x.dtype), pos.to(x.dtype))
        # The clamp stops alpha's gradient outside [0.01, 0.99] (torch.clamp's convention: the
        # bounds themselves still pass it).
        inside = (alpha.detach() >= ALPHA_MIN) & (alpha.detach() <= ALPHA_MAX)
        d_alpha = torch.where(inside, s_neg.to(alpha.dtype), torch.zeros((), dtype=alpha.dtype, device=alpha.device))
        d_beta = (sig * (1 - sig)) * s_pos.to(beta.dtype)
        return gx, d_alpha.reshape(alpha.shape), d_beta.reshape(beta.shape), None


def sign_attention(x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, pos_offset: float = 0.0,
                   compiled: bool = False):
    """The fused op (Numba on CPU, torch ops elsewhere), or with compiled=True the torch.compile path."""
    if compiled:
        return compiled_sign_scale()(x, alpha, beta, pos_offset)
    return SignScaleFunction.apply(x, alpha, beta, pos_offset)


def _scalar_parameter(name: str, value) -> nn.Parameter:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return nn.Parameter(torch.tensor(value))


@register(ActivationInfo(
    key="arelu", name="AReLU", params=SIGN_ATTENTION_PARAMS, attention=True,
    formula=r"F(x)=\begin{cases}C(\alpha)\,x & x<0\\ (1+\sigma(\beta))\,x & x\ge 0\end{cases},"
            r"\quad C(\alpha)=\min(\max(\alpha,0.01),0.99)",
    reference="Chen, Li & Xu, AReLU: Attention-based Rectified Linear Unit, arXiv:2006.13858 (2020)",
    note="ReLU + ELSA: negatives kept but suppressed by C(alpha), positives amplified by 1+sigmoid(beta) in (1, 2).",
))
class AReLU(nn.Module):
    compiled = False   # True: the torch.compile path (compiled.use_compiled sets it)

    def __init__(self, alpha: float = 0.9, beta: float = 2.0):
        super().__init__()
        self.alpha = _scalar_parameter("alpha", alpha)
        self.beta = _scalar_parameter("beta", beta)

    def forward(self, x):
        return sign_attention(x, self.alpha, self.beta, pos_offset=1.0, compiled=self.compiled)

    def extra_repr(self):
        return f"alpha={self.alpha.item():.4g}, beta={self.beta.item():.4g}"
