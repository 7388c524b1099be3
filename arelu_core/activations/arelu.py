"""AReLU: Attention-based Rectified Linear Unit (Chen, Li & Xu, arXiv:2006.13858).

    F(x) = C(alpha) * x          x < 0        C clamps to [0.01, 0.99]
         = (1 + sigmoid(beta)) * x   x >= 0   (eq. 7)

Gradients as the paper's eqs. 9-11: dF/dx is C(alpha) or 1 + sigmoid(beta) (the x >= 0 branch
at exactly x = 0); dE/dalpha = sum_{x<0} g*x, and zero while alpha lies outside [0.01, 0.99] (the bounds pass it:
formula.py defines C's gradient once for every path);
dE/dbeta = sigmoid'(beta) * sum_{x>=0} g*x, the sums over the whole feature volume.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import _kernels
from .compiled import compiled_kernels
from .formula import ALPHA_MAX, ALPHA_MIN, alpha_window, clamp_alpha, sign_scale_backward, sign_scale_formula
from .registry import ActivationInfo, Interval, ParamSpec, register

# Which of alpha, beta a training changes. "none" keeps the initial curve (AReLU at its defaults: a fixed
# two-slope leaky ReLU, 0.9 below zero, 1 + sigmoid(2) ~ 1.88 above), the ablation's "gain without attention".
LEARN_CHOICES = ("both", "alpha", "beta", "none")
LEARN_LABELS = {"both": "α and β (the paper)", "alpha": "α only", "beta": "β only", "none": "neither (frozen)"}

# ELSA's sign-based attention parameters, shared by AReLU and every '<base>+elsa'. Any alpha works
# (C clamps it), but a training started outside the clamp would never move it: no gradient there.
SIGN_ATTENTION_PARAMS = (
    ParamSpec("alpha", "C(alpha), alpha clamped to [0.01, 0.99], scales the negative inputs",
              train=Interval(ALPHA_MIN, ALPHA_MAX)),
    ParamSpec("beta", "sigmoid(beta) in (0, 1) amplifies the non-negative inputs"),
    ParamSpec("learn", "which of alpha, beta training changes: both (the paper), alpha, beta, or none "
                       "(frozen at their initial values)", kind="choice", choices=LEARN_CHOICES),
)


def in_functorch_transform() -> bool:
    """True inside torch.func.grad / vmap / jacrev ...: there the fused op cannot run (its kernels
    read raw memory) and the formula's torch ops, which every transform supports, are used instead."""
    return torch._C._functorch.peek_interpreter_stack() is not None


class SignScaleFunction(torch.autograd.Function):
    """y = pos*x for x >= 0, neg*x for x < 0 with neg = C(alpha), pos = offset + sigmoid(beta).

    offset 1 gives AReLU, offset 0 gives ELSA's attention term L(x) (eq. 5). `kernel` picks the
    one-pass implementation: "numba" (CPU float32/64), "triton" (CUDA float16/bfloat16/float32),
    "torch" (anything else), "compiled" (torch.compile'd kernels). Backward: the fast kernel when no
    graph of it is wanted; with create_graph=True (grad mode on inside backward)
    formula.sign_scale_backward's differentiable torch ops, so second and higher derivatives are
    exact on every path.
    """

    @staticmethod
    def forward(ctx, x, alpha, beta, pos_offset: float, kernel: str = "auto"):
        if kernel == "auto":
            kernel = _kernels.pick_kernel(x, alpha, beta)
        if kernel == "triton" and not _kernels.dense(x):
            x = x.contiguous()                   # the Triton kernels walk raw memory: any dense layout
        ctx.save_for_backward(x, alpha, beta)
        ctx.pos_offset, ctx.kernel = pos_offset, kernel
        if kernel == "triton":
            from . import _triton_kernels
            return _triton_kernels.forward(x, alpha.detach(), beta.detach(), pos_offset)
        neg = clamp_alpha(alpha.detach())
        pos = pos_offset + torch.sigmoid(beta.detach())
        if kernel == "numba":
            return _kernels.numba_forward(x, float(neg), float(pos))
        forward = compiled_kernels()[0] if kernel == "compiled" else _kernels.torch_forward
        return forward(x, neg.to(x.dtype), pos.to(x.dtype))

    @staticmethod
    def backward(ctx, g):
        x, alpha, beta = ctx.saved_tensors
        if torch.is_grad_enabled():          # create_graph=True: a backward that is itself differentiable
            gx, d_alpha, d_beta = sign_scale_backward(g, x, alpha, beta, ctx.pos_offset)
            return gx, d_alpha.reshape(alpha.shape), d_beta.reshape(beta.shape), None, None
        if ctx.kernel == "triton":      # dC/dalpha and sigmoid'(beta) are applied inside the kernel
            from . import _triton_kernels
            gx, d_alpha, d_beta = _triton_kernels.backward(g, x, alpha.detach(), beta.detach(), ctx.pos_offset)
            return gx, d_alpha.to(alpha.dtype).reshape(alpha.shape), d_beta.to(beta.dtype).reshape(beta.shape), None, None
        neg = clamp_alpha(alpha).to(x.dtype)
        sig = torch.sigmoid(beta)
        pos = (ctx.pos_offset + sig).to(x.dtype)
        if ctx.kernel == "numba":
            gx, s_neg, s_pos = _kernels.numba_backward(g, x, float(neg), float(pos))
            s_neg = torch.tensor(s_neg, dtype=torch.float64)
            s_pos = torch.tensor(s_pos, dtype=torch.float64)
        else:
            backward = compiled_kernels()[1] if ctx.kernel == "compiled" else _kernels.torch_backward
            gx, s_neg, s_pos = backward(g, x, neg, pos)
        s_neg = s_neg.to(alpha.dtype)
        d_alpha = torch.where(alpha_window(alpha), s_neg, torch.zeros_like(s_neg))   # formula.py's convention
        d_beta = (sig * (1 - sig)) * s_pos.to(beta.dtype)
        return gx, d_alpha.reshape(alpha.shape), d_beta.reshape(beta.shape), None, None


def sign_attention(x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, pos_offset: float = 0.0,
                   kernel: str = "auto"):
    """The fused op: `kernel` "auto" picks per tensor (Numba on the CPU, Triton on CUDA, torch ops
    elsewhere); "compiled", "torch", "triton" or "numba" pin one (compiled.use_kernel). Inside
    torch.func transforms the plain formula (same values and derivatives)."""
    if in_functorch_transform():
        return sign_scale_formula(x, alpha, beta, pos_offset)
    return SignScaleFunction.apply(x, alpha, beta, pos_offset, kernel)


def _scalar_parameter(name: str, value, learn: str = "both") -> nn.Parameter:
    """alpha or beta as a parameter of shape (); frozen (requires_grad False) unless `learn` names it."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if learn not in LEARN_CHOICES:
        raise ValueError(f"learn must be one of {', '.join(LEARN_CHOICES)}, got {learn!r}")
    return nn.Parameter(torch.tensor(value), requires_grad=learn in ("both", name))


def attention_inputs(alpha: torch.Tensor, beta: torch.Tensor, learn: str) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha, beta as the op should see them: a frozen one detached. requires_grad=False alone keeps
    autograd and the optimizers off it; detaching (decided by `learn`, not by the tensor, which torch.func
    swaps in) also keeps torch.func (grad over functional_call, as MAML does) from differentiating it, so a
    frozen parameter gets no gradient on any path."""
    if learn == "both":
        return alpha, beta
    return (alpha if learn == "alpha" else alpha.detach()), (beta if learn == "beta" else beta.detach())


@register(ActivationInfo(
    key="arelu", name="AReLU", params=SIGN_ATTENTION_PARAMS, attention=True,
    formula=r"F(x)=\begin{cases}C(\alpha)\,x & x<0\\ (1+\sigma(\beta))\,x & x\ge 0\end{cases},"
            r"\quad C(\alpha)=\min(\max(\alpha,0.01),0.99)",
    reference="Chen, Li & Xu, AReLU: Attention-based Rectified Linear Unit, arXiv:2006.13858 (2020)",
    note="ReLU + ELSA: negatives kept but suppressed by C(alpha), positives amplified by 1+sigmoid(beta) in (1, 2).",
))
class AReLU(nn.Module):
    kernel = "auto"   # the fused op's implementation: compiled.use_kernel / use_compiled pin one

    def __init__(self, alpha: float = 0.9, beta: float = 2.0, learn: str = "both"):
        super().__init__()
        self.learn = learn
        self.alpha = _scalar_parameter("alpha", alpha, learn)
        self.beta = _scalar_parameter("beta", beta, learn)

    def forward(self, x):
        return sign_attention(x, *attention_inputs(self.alpha, self.beta, self.learn), pos_offset=1.0, kernel=self.kernel)

    def extra_repr(self):
        return f"alpha={self.alpha.item():.4g}, beta={self.beta.item():.4g}" + \
            (f", learn={self.learn}" if self.learn != "both" else "")
