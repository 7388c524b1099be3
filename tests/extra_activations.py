"""Two activations registered from outside arelu_core, as docs/ARCHITECTURE.md ("Adding an activation")
shows: torch's own Softsign, and a Swish with a learnable beta written here. Importing this module
registers them; ARELU_PLUGINS=extra_activations (with tests/ on the path) does it in every process."""
import math

import torch
from torch import nn

from arelu_core.activations import ActivationInfo, Interval, ParamSpec, register

register(ActivationInfo(
    key="softsign", name="Softsign", formula=r"\frac{x}{1+|x|}", in_paper_table1=False,
    reference="Turian, Bergstra & Bengio, Quadratic Features and Deep Architectures for Chunking, NAACL (2009)",
))(nn.Softsign)


@register(ActivationInfo(
    key="swishbeta", name="Swish-β", formula=r"x\,\sigma(\beta x)", in_paper_table1=False,
    reference="Ramachandran, Zoph & Le, Searching for Activation Functions, arXiv:1710.05941 (2017)",
    params=(ParamSpec("beta", "initial sharpness, learned per layer", valid=Interval(0, math.inf, "neither")),),
))
class SwishBeta(nn.Module):
    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = nn.Parameter(torch.tensor(float(beta)))

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)
