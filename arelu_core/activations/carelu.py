"""CAReLU: Competition-based Adaptive ReLU (Chen & Pan, arXiv:2407.19441).

Positives and negatives of each sample compete: p is the positives' share (of energy, L1 mass
or count) over all of a sample's non-batch elements, and the whole sample is scaled by
K*tanh(alpha*p + beta) before a ReLU. A negative scale lets the negative side through instead.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .learnable import _scalar
from .registry import ActivationInfo, Interval, ParamSpec, register

VARIANTS = ("energy", "l1", "count")


def positive_share(z: torch.Tensor, variant: str = "energy", eps: float = 1e-6) -> torch.Tensor:
    """Share of the positives per row of z (N, M): energy, L1 mass or count."""
    pos = z.clamp_min(0)
    if variant == "energy":
        return pos.square().sum(1) / (z.square().sum(1) + eps)
    if variant == "l1":
        return pos.sum(1) / (z.abs().sum(1) + eps)
    return (z > 0).to(z.dtype).mean(1)  # count: no gradient through p, by nature


@register(ActivationInfo(
    key="carelu", name="CAReLU", in_paper_table1=False,
    formula=r"\max\!\big(0,\ K\tanh(\alpha\,p_E(z)+\beta)\,z\big),\quad "
            r"p_E(z)=\frac{\sum_j \max(z_j,0)^2}{\lVert z\rVert^2+\epsilon},\ K=2",
    reference="Chen & Pan, Competition-based Adaptive ReLU for Deep Neural Networks, arXiv:2407.19441 (2024)",
    params=(ParamSpec("alpha", "initial slope of tanh in the positive share p"),
            ParamSpec("beta", "initial offset inside tanh"),
            ParamSpec("K", "scale of the tanh"),
            ParamSpec("variant", "how p is measured", kind="choice", choices=VARIANTS),
            ParamSpec("eps", "keeps p finite for an all-zero sample", valid=Interval(0, float("inf"), "neither"))),
    note="Our choices (not in our sources): K=2, alpha=1, beta=0, so the scale 2*tanh(p) lies in "
         "[0, 1.52] and is about 0.92 for a balanced input (p=0.5): it starts close to ReLU with the "
         "competition already active. p is taken per sample over all non-batch dims (a 1-D input is one "
         "sample). variant: 'energy' (default, CAReLU_E), 'l1' or 'count'.",
))
class CAReLU(nn.Module):
    def __init__(self, alpha: float = 1.0, beta: float = 0.0, K: float = 2.0, variant: str = "energy",
                 eps: float = 1e-6):
        super().__init__()
        self.alpha, self.beta = _scalar(alpha), _scalar(beta)
        self.K, self.variant, self.eps = float(K), variant, float(eps)

    def forward(self, x):
        if x.ndim <= 1:  # one sample: a scalar scale
            p, shape = positive_share(x.reshape(1, -1), self.variant, self.eps), ()
        else:
            p, shape = positive_share(x.flatten(1), self.variant, self.eps), (-1,) + (1,) * (x.ndim - 1)
        scale = self.K * torch.tanh(self.alpha * p + self.beta)
        return F.relu(scale.reshape(shape) * x)

    def extra_repr(self):
        return f"K={self.K:g}, variant={self.variant!r}, eps={self.eps:g}"
