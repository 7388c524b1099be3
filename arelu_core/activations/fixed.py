"""The 13 fixed activations of the paper's Table 1, in its order (thin wrappers over torch).

Maxout is the one that is not element-wise: it takes the max over groups of `pool_size`
consecutive channels, so it halves the channel count and MNISTConv doubles its conv outputs
(class attribute `channel_multiplier`). The official code used a pool of 1, the identity.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .registry import ActivationInfo, register


def _number(name: str, value, low: float | None = None) -> float:
    """A finite float (>= low); a bad value is the user's to fix, so ConfigError, not a crash later."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or (low is not None and value < low):
        raise ConfigError(f"{name} must be a finite number{'' if low is None else f' >= {low}'}, got {value}")
    return value


@register(ActivationInfo(
    key="celu", name="CELU", params_per_layer=0,
    formula=r"\max(0,x)+\min\!\big(0,\ \alpha(e^{x/\alpha}-1)\big),\quad \alpha=1",
    reference="Barron, Continuously Differentiable Exponential Linear Units, arXiv:1704.07483 (2017)",
    defaults={"alpha": 1.0},
))
class CELU(nn.Module):
    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = _number("alpha", alpha)
        if self.alpha == 0:
            raise ConfigError("CELU alpha must be non-zero")

    def forward(self, x):
        return F.celu(x, self.alpha)


@register(ActivationInfo(
    key="elu", name="ELU", params_per_layer=0,
    formula=r"\begin{cases}x & x>0\\ \alpha(e^{x}-1) & x\le 0\end{cases},\quad \alpha=1",
    reference="Clevert, Unterthiner & Hochreiter, Exponential Linear Units, arXiv:1511.07289 (2015)",
    defaults={"alpha": 1.0},
))
class ELU(nn.Module):
    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = _number("alpha", alpha)

    def forward(self, x):
        return F.elu(x, self.alpha)


@register(ActivationInfo(
    key="gelu", name="GELU", params_per_layer=0,
    formula=r"x\,\Phi(x)",
    reference="Hendrycks & Gimpel, Gaussian Error Linear Units, arXiv:1606.08415 (2016)",
    defaults={"approximate": "none"},
    note="Exact erf form by default; approximate='tanh' gives the tanh approximation.",
))
class GELU(nn.Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ConfigError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)


@register(ActivationInfo(
    key="lrelu", name="LReLU", params_per_layer=0,
    formula=r"\max(0,x)+\lambda\min(0,x),\quad \lambda=0.01",
    reference="Maas, Hannun & Ng, Rectifier Nonlinearities Improve Neural Network Acoustic Models, ICML (2013)",
    defaults={"negative_slope": 0.01},
), aliases=("leakyrelu",))
class LReLU(nn.Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = _number("negative_slope", negative_slope)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)


@register(ActivationInfo(
    key="maxout", name="Maxout", params_per_layer=0, elementwise=False,
    formula=r"y_c=\max_{0\le j<k} z_{kc+j},\quad k=2",
    reference="Goodfellow, Warde-Farley, Mirza, Courville & Bengio, Maxout Networks, arXiv:1302.4389 (2013)",
    defaults={"pool_size": 2},
    note="Real maxout: max over groups of pool_size=2 consecutive channels (dim 1). The network gives "
         "the preceding conv 2x outputs (channel_multiplier = 2), so each output unit is the max of "
         "2 linear pieces, as in Goodfellow et al. (The official AReLU code used a pool of 1: the identity.)",
))
class Maxout(nn.Module):
    channel_multiplier = 2

    def __init__(self, pool_size: int = 2):
        super().__init__()
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ConfigError(f"Maxout pool_size must be a positive integer, got {pool_size!r}")
        self.pool_size = pool_size
        self.channel_multiplier = pool_size  # what the network must multiply its conv outputs by

    def forward(self, x):
        k = self.pool_size
        if x.ndim < 2 or x.shape[1] % k:
            raise ConfigError(f"Maxout with pool_size={k} needs a channel dim (dim 1) divisible by {k}, "
                              f"got shape {tuple(x.shape)}")
        return x.unflatten(1, (x.shape[1] // k, k)).max(dim=2).values

    def extra_repr(self):
        return f"pool_size={self.pool_size}"


@register(ActivationInfo(
    key="relu", name="ReLU", params_per_layer=0,
    formula=r"\max(0,x)",
    reference="Nair & Hinton, Rectified Linear Units Improve Restricted Boltzmann Machines, ICML (2010)",
))
class ReLU(nn.Module):
    def forward(self, x):
        return F.relu(x)


@register(ActivationInfo(
    key="relu6", name="ReLU6", params_per_layer=0,
    formula=r"\min(\max(0,x),\,6)",
    reference="Krizhevsky, Convolutional Deep Belief Networks on CIFAR-10 (2010)",
))
class ReLU6(nn.Module):
    def forward(self, x):
        return F.relu6(x)


@register(ActivationInfo(
    key="rrelu", name="RReLU", params_per_layer=0,
    formula=r"\begin{cases}x & x\ge 0\\ a\,x & x<0\end{cases},\quad a\sim U(l,u)\ \text{(train)},"
            r"\ a=\tfrac{l+u}{2}\ \text{(eval)},\ l=\tfrac18,\ u=\tfrac13",
    reference="Xu, Wang, Chen & Li, Empirical Evaluation of Rectified Activations in Convolutional Network, "
              "arXiv:1505.00853 (2015)",
    defaults={"lower": 1 / 8, "upper": 1 / 3},
    note="Random negative slope per element in training; the mean slope (l+u)/2 in eval (torch's behaviour).",
))
class RReLU(nn.Module):
    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3):
        super().__init__()
        self.lower, self.upper = _number("lower", lower), _number("upper", upper)
        if self.lower > self.upper:
            raise ConfigError(f"RReLU needs lower <= upper, got {self.lower} > {self.upper}")

    def forward(self, x):
        return F.rrelu(x, self.lower, self.upper, training=self.training)


@register(ActivationInfo(
    key="selu", name="SELU", params_per_layer=0,
    formula=r"\lambda\begin{cases}x & x>0\\ \alpha(e^{x}-1) & x\le 0\end{cases},"
            r"\quad \lambda\approx1.0507,\ \alpha\approx1.6733",
    reference="Klambauer, Unterthiner, Mayr & Hochreiter, Self-Normalizing Neural Networks, arXiv:1706.02515 (2017)",
))
class SELU(nn.Module):
    def forward(self, x):
        return F.selu(x)


@register(ActivationInfo(
    key="sigmoid", name="Sigmoid", params_per_layer=0,
    formula=r"\sigma(x)=\frac{1}{1+e^{-x}}",
    reference="Logistic function; Rumelhart, Hinton & Williams, Nature (1986)",
))
class Sigmoid(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x)


@register(ActivationInfo(
    key="softplus", name="Softplus", params_per_layer=0,
    formula=r"\tfrac{1}{\beta}\log\!\left(1+e^{\beta x}\right),\quad \beta=1",
    reference="Dugas, Bengio, Belisle, Nadeau & Garcia, Incorporating Second-Order Functional Knowledge "
              "for Better Option Pricing, NeurIPS (2000)",
    defaults={"beta": 1.0, "threshold": 20.0},
    note="Linear above beta*x > threshold, for numerical stability (torch's behaviour).",
))
class Softplus(nn.Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = _number("beta", beta), _number("threshold", threshold)
        if self.beta <= 0:
            raise ConfigError(f"Softplus beta must be > 0, got {self.beta}")

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)


@register(ActivationInfo(
    key="swish", name="Swish", params_per_layer=0,
    formula=r"x\,\sigma(x)",
    reference="Ramachandran, Zoph & Le, Searching for Activation Functions, arXiv:1710.05941 (2017)",
    note="Swish with beta = 1, i.e. SiLU.",
), aliases=("silu",))
class Swish(nn.Module):
    def forward(self, x):
        return F.silu(x)


@register(ActivationInfo(
    key="tanh", name="Tanh", params_per_layer=0,
    formula=r"\tanh(x)",
    reference="LeCun, Bottou, Orr & Mueller, Efficient BackProp (1998)",
))
class Tanh(nn.Module):
    def forward(self, x):
        return torch.tanh(x)
