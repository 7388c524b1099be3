"""Issue 10: every AReLU / ELSA path against ONE plain-torch oracle, values, first and second derivatives.

Paths: the fused op with its Numba kernels, its Triton kernels (CUDA), its torch fallback, its
torch.compile'd kernels, the batched group kernels of the reproduction (Numba and torch), and
torch.func (grad / vmap / functional_call).
The oracle below is written here, independently of arelu_core: eq. 7 / eq. 5 with C(alpha)'s gradient
convention of formula.py (1 on the closed window [0.01, 0.99] compared in alpha's dtype, 0 outside).
"""
import shutil

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from arelu_core import create_activation, use_compiled
from arelu_core.activations import _kernels
from arelu_core.activations.arelu import SignScaleFunction
from arelu_core.reproduce._group_kernels import group_sign_scale

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
HAVE_COMPILER = bool(shutil.which("c++") or shutil.which("g++")) or torch.cuda.is_available()
BASES = {"relu": F.relu, "tanh": torch.tanh, "selu": F.selu}       # ELSA on three bases
ALPHAS = [0.01, 0.99, 0.3, 1.4, -0.2]                              # both bounds exactly, inside, both sides out


def oracle(x, alpha, beta, offset):
    """pos on x >= 0 (exact zeros included), C(alpha) on x < 0, times x: plain torch ops."""
    window = (alpha.detach() >= 0.01) & (alpha.detach() <= 0.99)
    c = torch.where(window, alpha, alpha.detach().clamp(0.01, 0.99))
    return x * torch.where(x >= 0, offset + torch.sigmoid(beta), c)


def path_op(path):
    """f(x, alpha, beta, offset) for one implementation path."""
    if path in ("numba", "torch", "compiled", "triton"):
        return lambda x, a, b, off: SignScaleFunction.apply(x, a, b, off, path)
    if path == "group":      # one model of a group: [B, G=1, C, H, W], per-model alpha/beta [1]
        return lambda x, a, b, off: group_sign_scale(x.unsqueeze(1), a.reshape(1), b.reshape(1), off).squeeze(1)
    raise ValueError(path)


def paths_for(device, dtype):
    paths = ["torch", "group"]
    if device == "cpu" and _kernels.HAVE_NUMBA:
        paths.append("numba")
    if HAVE_COMPILER:
        paths.append("compiled")
    if device == "cuda" and dtype == torch.float32 and _kernels.checked_triton_kernels(torch.device("cuda")):
        paths.append("triton")          # on this CPU: tests/test_triton_kernels.py, under Triton's interpreter
    return paths


def full(name, op):
    """AReLU (offset 1) or base + ELSA's attention term (offset 0) through op."""
    if name == "arelu":
        return lambda x, a, b: op(x, a, b, 1.0)
    base = BASES[name]
    return lambda x, a, b: base(x) + op(x, a, b, 0.0)


def inputs(dtype, device, alpha, beta=-0.7, shape=(3, 4, 5, 5), seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    x.view(-1)[::6] = 0.0                                     # exact zeros: the x >= 0 branch
    g = torch.randn(shape, generator=gen, dtype=torch.float64)
    w = torch.randn(shape, generator=gen, dtype=torch.float64)
    t = lambda v: v.to(dtype=dtype, device=device)
    a = torch.tensor(alpha, dtype=dtype, device=device, requires_grad=True)
    b = torch.tensor(beta, dtype=dtype, device=device, requires_grad=True)
    return t(x).requires_grad_(True), a, b, t(g).requires_grad_(True), t(w)


def derivatives(f, x, a, b, g, w):
    """y, first derivatives (x, alpha, beta) for upstream g, and the second derivatives of
    <w, dE/dx> + dE/dalpha + dE/dbeta with respect to x, alpha, beta and g (a mixed Hessian product)."""
    y = f(x, a, b)
    gx, ga, gb = torch.autograd.grad(y, (x, a, b), g, create_graph=True)
    second = torch.autograd.grad((gx * w).sum() + ga + gb, (x, a, b, g), allow_unused=True)
    second = [torch.zeros_like(t) if s is None else s for s, t in zip(second, (x, a, b, g))]
    return [y, gx, ga, gb, *second]


NAMES_OUT = ["y", "dx", "dalpha", "dbeta", "d2/dx", "d2/dalpha", "d2/dbeta", "d2/dg"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["arelu", "relu", "tanh", "selu"])
@pytest.mark.parametrize("alpha", ALPHAS)
def test_every_path_matches_the_oracle_to_second_order(device, dtype, name, alpha):
    want = derivatives(full(name, oracle), *inputs(dtype, device, alpha))
    # the sums over the volume: float32 accumulation order differs between paths
    tol = dict(rtol=1e-5, atol=2e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    for path in paths_for(device, dtype):
        got = derivatives(full(name, path_op(path)), *inputs(dtype, device, alpha))
        for label, gv, wv in zip(NAMES_OUT, got, want):
            torch.testing.assert_close(gv, wv, **tol, msg=lambda m: f"{path} {label}: {m}")
        if 0.01 <= alpha <= 0.99:        # both bounds included: alpha's gradient is eq. 10's sum, not 0
            assert got[2].abs().item() > 1e-3, f"{path}: no alpha gradient at alpha={alpha}"
        else:
            assert got[2].item() == 0.0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("alpha", [0.01, 0.99])
def test_alpha_exactly_at_the_bounds_same_gradient_on_every_path(device, dtype, alpha):
    """The issue's defect 2: float32(0.01) gave dalpha -0.273 on the default op and 0 when compiled."""
    grads = {}
    for path in paths_for(device, dtype):
        x, a, b, g, _ = inputs(dtype, device, alpha, beta=-2.0, seed=3)
        full("arelu", path_op(path))(x, a, b).backward(g)
        grads[path] = a.grad.item()
    x, a, b, g, _ = inputs(torch.float64, device, alpha, beta=-2.0, seed=3)
    want = (g * x)[x < 0].sum().item()
    for path, value in grads.items():
        assert value == pytest.approx(want, rel=1e-4), path


@pytest.mark.parametrize("path", ["numba", "torch", "compiled", "group"])
@pytest.mark.parametrize("name", ["arelu", "relu", "tanh", "selu"])
def test_gradgradcheck_x_alpha_beta(path, name):
    if path == "numba" and not _kernels.HAVE_NUMBA or path == "compiled" and not HAVE_COMPILER:
        pytest.skip(f"{path} path unavailable here")
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 4, 4, generator=gen, dtype=torch.float64)
    x = torch.where(x.abs() < 0.05, torch.full_like(x, 0.4), x).requires_grad_(True)   # finite differences: off the kink
    a = torch.tensor(0.35, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-0.6, dtype=torch.float64, requires_grad=True)
    f = full(name, path_op(path))
    assert torch.autograd.gradcheck(f, (x, a, b))
    assert torch.autograd.gradgradcheck(f, (x, a, b))


def test_group_kernel_many_models_to_second_order():
    """G = 3 models with their own alpha (both bounds among them) on channel slices, channels-last too."""
    gen = torch.Generator().manual_seed(2)
    alphas = torch.tensor([0.01, 0.99, 0.4], requires_grad=True)
    betas = torch.tensor([-2.0, 2.0, 0.3], requires_grad=True)
    x = torch.randn(4, 3, 2, 5, 5, generator=gen)
    x.view(-1)[::5] = 0.0
    g, w = torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen)
    view = (1, 3, 1, 1, 1)
    for layout in ("contiguous", "channels_last"):
        xs = x.clone()
        if layout == "channels_last":          # the batched trainer's layout: memory [B, H, W, G, C]
            xs = xs.flatten(1, 2).contiguous(memory_format=torch.channels_last).unflatten(1, (3, 2))
        results = []
        for f in (lambda t, a, b: group_sign_scale(t, a, b, 1.0),
                  lambda t, a, b: oracle(t, a.view(view), b.view(view), 1.0)):
            xi, ai, bi, gi = xs.clone().requires_grad_(True), alphas.clone(), betas.clone(), g.clone().requires_grad_(True)
            ai.retain_grad()
            y = f(xi, ai, bi)
            gx, ga, gb = torch.autograd.grad(y, (xi, ai, bi), gi, create_graph=True)
            second = torch.autograd.grad((gx * w).sum() + ga.sum() + gb.sum(), (xi, ai, bi, gi), allow_unused=True)
            results.append([y, gx, ga, gb] + [torch.zeros(1) if s is None else s for s in second])
        for label, got, want in zip(NAMES_OUT, *results):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-4, msg=lambda m: f"{layout} {label}: {m}")
        assert (results[0][2].abs() > 1e-3).all()        # every model's alpha moves, the bounds too


def test_issue_snippet_elsa_second_derivative():
    """The issue's defect 1: dgx/dv must be the attention slope, alpha and beta connected."""
    act = create_activation("relu+elsa", alpha=0.37, beta=-0.8).double()
    x = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    v = torch.randn(6, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(act(x), x, v, create_graph=True)
    dv, da, db = torch.autograd.grad(gx.sum(), [v, act.alpha, act.beta], allow_unused=True)
    sig = torch.sigmoid(torch.tensor(-0.8, dtype=torch.float64))
    torch.testing.assert_close(dv, (x > 0).double() + torch.where(x >= 0, sig, torch.tensor(0.37, dtype=torch.float64)))
    torch.testing.assert_close(da, v[x < 0].sum())
    torch.testing.assert_close(db, sig * (1 - sig) * v[x >= 0].sum())
    assert create_activation("arelu")(x.float()).requires_grad


def test_modules_switch_paths_with_use_compiled():
    if not HAVE_COMPILER:
        pytest.skip("no C++ compiler for torch.compile")
    for name in ("arelu", "tanh+elsa"):
        default, compiled = (create_activation(name, alpha=0.01, beta=-2.0) for _ in range(2))
        assert use_compiled(compiled) == 1
        x = torch.randn(50, generator=torch.Generator().manual_seed(4))
        for m in (default, compiled):
            m(x).sum().backward()
        assert default.alpha.grad.item() == pytest.approx(compiled.alpha.grad.item(), rel=1e-5)
        assert default.alpha.grad.item() != 0.0


@pytest.mark.parametrize("name", ["arelu", "relu+elsa", "tanh+elsa", "selu+elsa"])
def test_torch_func_grad_vmap_functional_call(name):
    """torch.func through the modules: gradients (and gradients of gradients) of a functional call,
    vmapped over a batch of (alpha, beta), equal the oracle's."""
    torch.manual_seed(0)
    module = create_activation(name).double()
    base = name.split("+")[0]
    ref = full(base, oracle)
    x = torch.randn(7, 3, dtype=torch.float64)
    x[0, 0] = 0.0
    alphas = torch.tensor([0.01, 0.99, 0.5, 1.3], dtype=torch.float64)
    betas = torch.tensor([-1.0, 2.0, 0.0, 0.4], dtype=torch.float64)

    def loss(a, b, xs):
        return functional_call(module, {"alpha": a, "beta": b}, (xs,)).pow(2).sum()

    def loss_ref(a, b, xs):
        return ref(xs, a, b).pow(2).sum()

    got = vmap(grad(loss, argnums=(0, 1)), in_dims=(0, 0, None))(alphas, betas, x)
    want = vmap(grad(loss_ref, argnums=(0, 1)), in_dims=(0, 0, None))(alphas, betas, x)
    torch.testing.assert_close(got, want)
    # second order: d/dalpha of the input gradient's norm
    inner = lambda a, b, xs: grad(loss, argnums=2)(a, b, xs).sum()
    inner_ref = lambda a, b, xs: grad(loss_ref, argnums=2)(a, b, xs).sum()
    torch.testing.assert_close(vmap(grad(inner, argnums=(0, 1)), in_dims=(0, 0, None))(alphas, betas, x),
                               vmap(grad(inner_ref, argnums=(0, 1)), in_dims=(0, 0, None))(alphas, betas, x))
