"""The 13 fixed activations of the paper's Table 1, in its order: torch's own modules where torch
has the activation (as timm registers them), Maxout written here.

Maxout is the one that is not element-wise: it takes the max over groups of `pool_size`
consecutive channels, so it halves the channel count and MNISTConv doubles its conv outputs
(class attribute `channel_multiplier`). The official code used a pool of 1, the identity.
"""
from __future__ import annotations

import math

from torch import nn

from ..errors import ConfigError
from .registry import ActivationInfo, Interval, ParamSpec, register

POSITIVE = Interval(0, math.inf, "neither")


def _rrelu_bounds(params: dict) -> None:
    if params["lower"] > params["upper"]:
        raise ConfigError(f"RReLU needs lower <= upper, got {params['lower']:g} > {params['upper']:g}")


register(ActivationInfo(
    key="celu", name="CELU",
    formula=r"\max(0,x)+\min\!\big(0,\ \alpha(e^{x/\alpha}-1)\big),\quad \alpha=1",
    reference="Barron, Continuously Differentiable Exponential Linear Units, arXiv:1704.07483 (2017)",
    params=(ParamSpec("alpha", "scale of the negative side", valid=POSITIVE),),
))(nn.CELU)

register(ActivationInfo(
    key="elu", name="ELU",
    formula=r"\begin{cases}x & x>0\\ \alpha(e^{x}-1) & x\le 0\end{cases},\quad \alpha=1",
    reference="Clevert, Unterthiner & Hochreiter, Exponential Linear Units, arXiv:1511.07289 (2015)",
    params=(ParamSpec("alpha", "saturation value of the negative side"),),
))(nn.ELU)

register(ActivationInfo(
    key="gelu", name="GELU",
    formula=r"x\,\Phi(x)",
    reference="Hendrycks & Gimpel, Gaussian Error Linear Units, arXiv:1606.08415 (2016)",
    params=(ParamSpec("approximate", "'none': exact erf form; 'tanh': the tanh approximation",
                      kind="choice", choices=("none", "tanh")),),
    note="Exact erf form by default; approximate='tanh' gives the tanh approximation.",
))(nn.GELU)

register(ActivationInfo(
    key="lrelu", name="LReLU",
    formula=r"\max(0,x)+\lambda\min(0,x),\quad \lambda=0.01",
    reference="Maas, Hannun & Ng, Rectifier Nonlinearities Improve Neural Network Acoustic Models, ICML (2013)",
    params=(ParamSpec("negative_slope", "slope of the negative side"),),
), aliases=("leakyrelu",))(nn.LeakyReLU)


@register(ActivationInfo(
    key="maxout", name="Maxout", elementwise=False,
    formula=r"y_c=\max_{0\le j<k} z_{kc+j},\quad k=2",
    reference="Goodfellow, Warde-Farley, Mirza, Courville & Bengio, Maxout Networks, arXiv:1302.4389 (2013)",
    params=(ParamSpec("pool_size", "linear pieces per output unit", valid=Interval(1), kind="int"),),
    note="Real maxout: max over groups of pool_size=2 consecutive channels (dim 1). The network gives "
         "the preceding conv 2x outputs (channel_multiplier = 2), so each output unit is the max of "
         "2 linear pieces, as in Goodfellow et al. (The official AReLU code used a pool of 1: the identity.)",
))
class Maxout(nn.Module):
    channel_multiplier = 2

    def __init__(self, pool_size: int = 2):
        super().__init__()
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


register(ActivationInfo(
    key="relu", name="ReLU",
    formula=r"\max(0,x)",
    reference="Nair & Hinton, Rectified Linear Units Improve Restricted Boltzmann Machines, ICML (2010)",
))(nn.ReLU)

register(ActivationInfo(
    key="relu6", name="ReLU6",
    formula=r"\min(\max(0,x),\,6)",
    reference="Krizhevsky, Convolutional Deep Belief Networks on CIFAR-10 (2010)",
))(nn.ReLU6)

register(ActivationInfo(
    key="rrelu", name="RReLU",
    formula=r"\begin{cases}x & x\ge 0\\ a\,x & x<0\end{cases},\quad a\sim U(l,u)\ \text{(train)},"
            r"\ a=\tfrac{l+u}{2}\ \text{(eval)},\ l=\tfrac18,\ u=\tfrac13",
    reference="Xu, Wang, Chen & Li, Empirical Evaluation of Rectified Activations in Convolutional Network, "
              "arXiv:1505.00853 (2015)",
    params=(ParamSpec("lower", "lowest random negative slope"), ParamSpec("upper", "highest random negative slope")),
    check=_rrelu_bounds,
    note="Random negative slope per element in training; the mean slope (l+u)/2 in eval (torch's behaviour).",
))(nn.RReLU)

register(ActivationInfo(
    key="selu", name="SELU",
    formula=r"\lambda\begin{cases}x & x>0\\ \alpha(e^{x}-1) & x\le 0\end{cases},"
            r"\quad \lambda\approx1.0507,\ \alpha\approx1.6733",
    reference="Klambauer, Unterthiner, Mayr & Hochreiter, Self-Normalizing Neural Networks, arXiv:1706.02515 (2017)",
))(nn.SELU)

register(ActivationInfo(
    key="sigmoid", name="Sigmoid",
    formula=r"\sigma(x)=\frac{1}{1+e^{-x}}",
    reference="Logistic function; Rumelhart, Hinton & Williams, Nature (1986)",
))(nn.Sigmoid)

register(ActivationInfo(
    key="softplus", name="Softplus",
    formula=r"\tfrac{1}{\beta}\log\!\left(1+e^{\beta x}\right),\quad \beta=1",
    reference="Dugas, Bengio, Belisle, Nadeau & Garcia, Incorporating Second-Order Functional Knowledge "
              "for Better Option Pricing, NeurIPS (2000)",
    params=(ParamSpec("beta", "sharpness", valid=POSITIVE),
            ParamSpec("threshold", "above beta*x > threshold the function is linear")),
    note="Linear above beta*x > threshold, for numerical stability (torch's behaviour).",
))(nn.Softplus)

register(ActivationInfo(
    key="swish", name="Swish",
    formula=r"x\,\sigma(x)",
    reference="Ramachandran, Zoph & Le, Searching for Activation Functions, arXiv:1710.05941 (2017)",
    note="Swish with beta = 1, i.e. SiLU.",
), aliases=("silu",))(nn.SiLU)

register(ActivationInfo(
    key="tanh", name="Tanh",
    formula=r"\tanh(x)",
    reference="LeCun, Bottou, Orr & Mueller, Efficient BackProp (1998)",
))(nn.Tanh)
