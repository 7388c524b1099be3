"""AReLU and ELSA against the paper's formulas (eqs. 5, 7, 9-11), on CPU (and CUDA when present)."""
import pytest
import torch

from arelu_core import create_activation
from arelu_core.activations import _kernels
from arelu_core.activations.arelu import SignScaleFunction

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def paper_values_and_grads(x, g, alpha_param, beta, offset=1.0):
    """Eqs. 7-11 written out directly in float64. The clamp window is tested in the parameter's
    own precision, bounds included (formula.py's convention: float32(0.01) is below the float64 0.01)."""
    inside = bool((alpha_param >= 0.01) & (alpha_param <= 0.99))
    alpha = alpha_param.item()
    x, g = x.double(), g.double()
    c_alpha = min(max(alpha, 0.01), 0.99)
    sig = torch.sigmoid(torch.tensor(beta, dtype=torch.float64))
    pos = offset + sig
    negative = x < 0
    y = torch.where(negative, c_alpha * x, pos * x)
    dx = g * torch.where(negative, torch.full_like(x, c_alpha), pos.expand_as(x))
    d_alpha = (g * x)[negative].sum() if inside else torch.tensor(0.0, dtype=torch.float64)
    d_beta = sig * (1 - sig) * (g * x)[~negative].sum()
    return y, dx, d_alpha, d_beta


def random_input_with_zeros(shape, dtype, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    x.view(-1)[::7] = 0.0  # exact zeros: the paper's x >= 0 branch
    return x.to(dtype=dtype, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("alpha,beta", [(0.9, 2.0), (0.25, -1.0), (1.7, 0.5), (-0.4, 3.0), (0.01, -2.0), (0.99, 2.0)])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1000,), (64, 16, 12, 12)])  # last one takes the parallel kernel
def test_arelu_matches_paper(device, dtype, alpha, beta, shape):
    act = create_activation("AReLU", alpha=alpha, beta=beta).to(device=device, dtype=dtype)
    x = random_input_with_zeros(shape, dtype, device).requires_grad_(True)
    g = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=dtype).to(device)
    y = act(x)
    y.backward(g)
    # the module holds alpha, beta as float32 parameters: compare against the values it holds
    y_ref, dx_ref, da_ref, db_ref = paper_values_and_grads(x.detach().cpu(), g.cpu(), act.alpha.detach().cpu(), act.beta.item())
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(y.detach().cpu().double(), y_ref, **tol)
    torch.testing.assert_close(x.grad.cpu().double(), dx_ref, **tol)
    # The sums run over the whole volume: allow for float32 accumulation of the reference terms.
    scale = (g.double().abs() * x.detach().double().abs()).sum().item() + 1
    assert abs(act.alpha.grad.item() - da_ref.item()) <= tol["rtol"] * scale
    assert abs(act.beta.grad.item() - db_ref.item()) <= tol["rtol"] * scale


def test_gradient_at_zero_is_positive_branch():
    act = create_activation("arelu", alpha=0.3, beta=0.0)
    x = torch.zeros(5, requires_grad=True)
    act(x).sum().backward()
    assert torch.allclose(x.grad, torch.full((5,), 1.5))  # 1 + sigmoid(0)


@pytest.mark.parametrize("alpha", [1.2, -0.1, 5.0])
def test_no_alpha_gradient_outside_clamp(alpha):
    act = create_activation("arelu", alpha=alpha)
    x = -torch.rand(100) - 0.1
    act(x).sum().backward()
    assert act.alpha.grad.item() == 0.0
    assert act(x).detach().div(x).sub(min(max(alpha, 0.01), 0.99)).abs().max() < 1e-6


@pytest.mark.parametrize("alpha,beta", [(0.9, 2.0), (0.3, -1.5), (0.5, 0.0)])
def test_arelu_gradcheck_float64(alpha, beta):
    act = create_activation("arelu", alpha=alpha, beta=beta).double()
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    x = torch.where(x.abs() < 1e-3, torch.full_like(x, 0.5), x).requires_grad_(True)  # away from the kink
    assert torch.autograd.gradcheck(lambda t: act(t), (x,))
    assert torch.autograd.gradcheck(lambda a, b: SignScaleFunction.apply(x.detach(), a, b, 1.0),
                                    (act.alpha.detach().clone().requires_grad_(True),
                                     act.beta.detach().clone().requires_grad_(True)))


@pytest.mark.parametrize("base", ["relu", "tanh", "prelu", "selu", "pau", "maxout", "arelu"])
def test_elsa_gradcheck_and_formula(base):
    torch.manual_seed(0)
    elsa = create_activation(f"{base}+elsa", alpha=0.4, beta=-0.7).double()
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64)
    x = torch.where(x.abs() < 1e-2, torch.full_like(x, 0.3), x).requires_grad_(True)
    assert torch.autograd.gradcheck(elsa, (x,))
    # F'(x) = R(x) + L(x), with the clamped alpha and sigmoid(beta) actually used (the official bug).
    r = elsa.base(x)
    attend = r if r.shape != x.shape else x
    expected = r + torch.where(attend < 0, 0.4 * attend, torch.sigmoid(torch.tensor(-0.7, dtype=torch.float64)) * attend)
    torch.testing.assert_close(elsa(x), expected)


def test_elsa_uses_clamp_and_sigmoid():
    elsa = create_activation("relu+elsa", alpha=3.0, beta=10.0)
    x = torch.tensor([-2.0, 2.0])
    # Official module would give relu(x) + 3*x / 10*x; the paper's gives 0.99*x / sigmoid(10)*x.
    torch.testing.assert_close(elsa(x), torch.tensor([-1.98, 2.0 + 2.0 * torch.sigmoid(torch.tensor(10.0)).item()]))


def test_torch_fallback_matches_numba_kernel():
    if not _kernels.HAVE_NUMBA:
        pytest.skip("numba not installed")
    x = random_input_with_zeros((8, 8, 10, 10), torch.float32, "cpu")
    g = torch.randn_like(x)
    neg, pos = torch.tensor(0.3), torch.tensor(1.8)
    torch.testing.assert_close(_kernels.numba_forward(x, 0.3, 1.8), _kernels.torch_forward(x, neg, pos))
    gx_n, sn_n, sp_n = _kernels.numba_backward(g, x, 0.3, 1.8)
    gx_t, sn_t, sp_t = _kernels.torch_backward(g, x, neg, pos)
    torch.testing.assert_close(gx_n, gx_t)
    assert abs(sn_n - sn_t.item()) < 1e-3 and abs(sp_n - sp_t.item()) < 1e-3


def test_non_contiguous_and_empty_inputs():
    act = create_activation("arelu")
    x = torch.randn(6, 8).t().requires_grad_(True)  # non-contiguous
    act(x).sum().backward()
    assert x.grad.shape == x.shape
    assert act(torch.empty(0, 3)).shape == (0, 3)
