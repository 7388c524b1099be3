"""AReLU's and ELSA's formula, defined once: the clamp C(alpha) of eq. 6 and the sign-scaled map
behind eqs. 5 and 7, as plain torch ops. Every other path (fused kernels, compiled, batched) is
tested against `sign_scale_formula`.
"""
from __future__ import annotations

import torch

ALPHA_MIN, ALPHA_MAX = 0.01, 0.99   # C(alpha) = clamp(alpha, 0.01, 0.99), eq. 6


def sign_scale_formula(x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, pos_offset: float) -> torch.Tensor:
    """pos_offset + sigmoid(beta) on x >= 0, C(alpha) on x < 0, times x (eq. 7 with offset 1, eq. 5 with 0)."""
    neg = alpha.clamp(ALPHA_MIN, ALPHA_MAX).to(x.dtype)
    pos = (pos_offset + torch.sigmoid(beta)).to(x.dtype)
    return x * torch.where(x >= 0, pos, neg)
