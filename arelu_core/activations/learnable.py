"""The 5 learnable activations of the paper's Table 1: APL, Comb, PAU, PReLU (torch's own), SLAF.

Every learnable coefficient is its own nn.Parameter of shape (), named as in the formula, so
per-layer parameter readouts are plain {name: float}. Inits follow the official AReLU code
(github.com/densechen/AReLU) where it has one, so our Table 1 rows start where the paper's did.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .registry import ActivationInfo, ParamSpec, register


def _scalar(value: float) -> nn.Parameter:
    """One learnable number of shape () (the registry has checked it)."""
    return nn.Parameter(torch.tensor(float(value)))


@register(ActivationInfo(
    key="apl", name="APL",
    formula=r"\max(0,x)+a\,\max(0,\,-x+b)",
    reference="Agostinelli, Hoffman, Sadowski & Baldi, Learning Activation Functions to Improve Deep "
              "Neural Networks, arXiv:1412.6830 (2015)",
    params=(ParamSpec("a", "initial hinge slope"), ParamSpec("b", "initial hinge position")),
    note="Adaptive piecewise linear with one hinge (S=1). Init a=0.2, b=0.5 as in the official AReLU code.",
))
class APL(nn.Module):
    def __init__(self, a: float = 0.2, b: float = 0.5):
        super().__init__()
        self.a, self.b = _scalar(a), _scalar(b)

    def forward(self, x):
        return F.relu(x) + self.a * F.relu(self.b - x)


@register(ActivationInfo(
    key="comb", name="Comb",
    formula=r"p\,x+(1-p)\max(0,x)",
    reference="Manessi & Rozza, Learning Combinations of Activation Functions, arXiv:1801.09403 (2018)",
    params=(ParamSpec("p", "initial weight of the identity"),),
    note="A learned mix of identity and ReLU. Init p=0 (starts as ReLU), as in the official AReLU code.",
))
class Comb(nn.Module):
    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = _scalar(p)

    def forward(self, x):
        return self.p * x + (1 - self.p) * F.relu(x)


PAU_FORMS = ("safe", "official")


@functools.lru_cache(maxsize=None)
def leaky_relu_fit(slope: float = 0.01, bound: float = 3.0, form: str = "safe") -> tuple[tuple[float, ...], tuple[float, ...]]:
    """PAU coefficients (a0..a5, b1..b4) fitting LeakyReLU(slope) on [-bound, bound] with the given denominator form.

    Linearised least squares P(x) - y*(b1 x + .. + b4 x^4) = y gives a start; LBFGS in float64
    then minimises the true mean squared error of `pau(x, a, b, form)`. Deterministic (fixed grid,
    fixed start, CPU float64) and computed once per process and form.
    """
    x = np.linspace(-bound, bound, 1001)
    y = np.where(x >= 0, x, slope * x)
    A = np.concatenate([x[:, None] ** np.arange(6), -y[:, None] * x[:, None] ** np.arange(1, 5)], axis=1)
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    a = torch.tensor(coef[:6], requires_grad=True)
    b = torch.tensor(coef[6:], requires_grad=True)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.LBFGS([a, b], max_iter=200, history_size=50, tolerance_grad=1e-12,
                            tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (pau(xt, a.unbind(), b.unbind(), form) - yt).square().mean()
        loss.backward()
        return loss

    opt.step(closure)
    return tuple(a.tolist()), tuple(b.tolist())


def _horner(coefficients, x):
    out = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        out = out * x + c
    return out


def pau(x, a, b, form: str = "safe"):
    """Padé unit P(x) / (1 + D(x)), P = sum a_k x^k (k <= 5), Horner; the denominator by `form`:

    "safe"      D = |b1 x + .. + b4 x^4|            (Molina et al.'s safe PAU)
    "official"  D = |b1| |x| + .. + |b4| |x|^4      (the official AReLU code's PAU, PADEACTIVATION_F_abs)
    """
    if form == "safe":
        return _horner(a, x) / (1 + (_horner(b, x) * x).abs())
    ax = x.abs()
    return _horner(a, x) / (1 + _horner([c.abs() for c in b], ax) * ax)


@register(ActivationInfo(
    key="pau", name="PAU",
    formula=r"\frac{a_0+a_1x+a_2x^2+a_3x^3+a_4x^4+a_5x^5}{1+\left|b_1x+b_2x^2+b_3x^3+b_4x^4\right|}"
            r"\ \text{(safe; official: }1+\textstyle\sum_k|b_k||x|^k\text{)}",
    reference="Molina, Schramowski & Kersting, Padé Activation Units, arXiv:1907.06732 (2020)",
    params=(ParamSpec("numerator", "a0..a5 (None: the LeakyReLU fit)", kind="floats", length=6),
            ParamSpec("denominator", "b1..b4 (None: the LeakyReLU fit)", kind="floats", length=4),
            ParamSpec("form", "denominator: 'safe' 1 + |sum b_k x^k| (default) or 'official' 1 + sum |b_k| |x|^k "
                              "(the official AReLU code; used for the paper's tables)", kind="choice",
                      choices=PAU_FORMS, labelled=True)),
    note="PAU (5/4), pure PyTorch. numerator=(a0..a5), denominator=(b1..b4); None = least-squares fit to "
         "LeakyReLU(0.01) on [-3, 3] for the chosen form (max abs error about 0.034, at the kink x=0). "
         "form='safe' (default) divides by 1 + |b1 x + .. + b4 x^4|, Molina et al.'s safe PAU, the form every "
         "checkpoint and run made before the choice existed used (so they keep loading as they were trained); "
         "form='official' divides by 1 + |b1||x| + .. + |b4||x|^4, as the official AReLU code (the PAU authors' "
         "extension) did when it made the paper's PAU numbers: the reproductions of the paper's tables use it.",
))
class PAU(nn.Module):
    def __init__(self, numerator=None, denominator=None, form: str = "safe"):
        super().__init__()
        fit_a, fit_b = leaky_relu_fit(form=form)
        a = fit_a if numerator is None else tuple(numerator)
        b = fit_b if denominator is None else tuple(denominator)
        self.form = form
        for k, v in enumerate(a):
            setattr(self, f"a{k}", _scalar(v))
        for k, v in enumerate(b, start=1):
            setattr(self, f"b{k}", _scalar(v))

    def forward(self, x):
        a = [getattr(self, f"a{k}") for k in range(6)]
        b = [getattr(self, f"b{k}") for k in range(1, 5)]
        return pau(x, a, b, self.form)

    def extra_repr(self):
        return f"form={self.form}"


def prelu(a: float = 0.25) -> nn.PReLU:
    """torch's own nn.PReLU with one slope for the whole layer (the paper's bracket: 1 parameter)."""
    return nn.PReLU(num_parameters=1, init=a)


register(ActivationInfo(
    key="prelu", name="PReLU",
    formula=r"\begin{cases}x & x>0\\ a\,x & x\le 0\end{cases}",
    reference="He, Zhang, Ren & Sun, Delving Deep into Rectifiers, arXiv:1502.01852 (2015)",
    params=(ParamSpec("a", "initial negative slope"),),
    note="torch's nn.PReLU with one slope a shared by the whole layer (torch names it `weight`), init a=0.25 "
         "(He et al.). x = 0 is on the a-branch, as in He et al. and torch: the derivative there is a.",
))(prelu)


@register(ActivationInfo(
    key="slaf", name="SLAF",
    formula=r"\sum_{k=0}^{1} c_k\,x^k = c_0 + c_1 x",
    reference="Goyal, Goyal & Leskovec, Learning Activation Functions: A New Paradigm for Understanding "
              "Neural Networks, arXiv:1906.09529 (2019)",
    params=(ParamSpec("c0", "initial constant term"), ParamSpec("c1", "initial linear term")),
    note="Self-learnable polynomial with the paper's 2 coefficients (affine). Init c0=c1=1, as in the "
         "official AReLU code; the network's max-pooling supplies the non-linearity.",
))
class SLAF(nn.Module):
    def __init__(self, c0: float = 1.0, c1: float = 1.0):
        super().__init__()
        self.c0, self.c1 = _scalar(c0), _scalar(c1)

    def forward(self, x):
        return self.c1 * x + self.c0  # Horner for degree 1
