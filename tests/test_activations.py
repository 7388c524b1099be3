"""Registry activations other than AReLU/ELSA (tested elsewhere): names, shapes, parameter counts,
values against the written formulas, gradients, Maxout, the PAU init, evaluate_activation."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from arelu_core.activations import activation_info, create_activation, evaluate_activation, list_activations
from arelu_core.errors import ConfigError

NAMES = [k for k in list_activations() if k != "arelu"]
LEARNABLE = [k for k in NAMES if activation_info(k).learnable]
PAU_MAX_ERR = 0.035  # measured: 0.03358 on a 600k-point grid of [-3, 3], the error at the kink x = 0


def relu(x):
    return np.maximum(x, 0.0)


def params_of(m):
    return {k: v.item() for k, v in m.named_parameters()}


def test_registry_order_and_contents():
    assert NAMES[:13] == ["celu", "elu", "gelu", "lrelu", "maxout", "relu", "relu6", "rrelu", "selu",
                          "sigmoid", "softplus", "swish", "tanh"]
    assert NAMES[13:18] == ["apl", "comb", "pau", "prelu", "slaf"]
    assert NAMES[-1] == "carelu" and not activation_info("carelu").in_paper_table1
    for k in NAMES:
        info = activation_info(k)
        assert info.key == k and info.name and info.formula and info.reference
        assert info.learnable == (info.params_per_layer > 0)


@pytest.mark.parametrize("name", NAMES)
def test_create_shape_and_param_count(name):
    info = activation_info(name)
    for spelling in (name, name.upper(), info.name, info.name.swapcase()):
        assert type(create_activation(spelling)) is type(create_activation(name))
    m = create_activation(name, **info.defaults)  # the documented defaults are accepted keywords
    x = torch.randn(4, 10, 6, 6)
    y = m(x)
    channels = 10 // getattr(m, "channel_multiplier", 1)
    assert y.shape == (4, channels, 6, 6) and y.dtype == x.dtype
    assert sum(p.numel() for p in m.parameters()) == info.params_per_layer
    # one number per parameter: shape () for ours, (1,) for torch's own nn.PReLU (num_parameters=1)
    assert all(p.shape == () or (isinstance(m, torch.nn.PReLU) and p.shape == (1,)) for p in m.parameters())


def test_aliases():
    assert type(create_activation("LeakyReLU")) is type(create_activation("lrelu"))
    assert type(create_activation("leaky_relu")) is type(create_activation("lrelu"))
    assert type(create_activation("SiLU")) is type(create_activation("swish"))


def test_unknown_name_and_bad_keyword():
    with pytest.raises(ConfigError):
        create_activation("nope")
    with pytest.raises(ConfigError):
        create_activation("relu", alpha=2.0)
    with pytest.raises(ConfigError):
        create_activation("pau", degree=3)
    with pytest.raises(ConfigError):
        create_activation("carelu", variant="median")
    with pytest.raises(ConfigError):
        create_activation("prelu", a="abc")
    with pytest.raises(ConfigError):
        create_activation("maxout", pool_size=0)


FIXED_FORMULAS = {
    "celu": lambda x: relu(x) + np.minimum(0, np.expm1(x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "gelu": lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "lrelu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "relu": relu,
    "relu6": lambda x: np.clip(x, 0, 6),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "tanh": np.tanh,
}


@pytest.mark.parametrize("name", list(FIXED_FORMULAS))
def test_fixed_values(name):
    x = torch.randn(500, dtype=torch.float64) * 4
    x[:3] = torch.tensor([7.0, -7.0, 0.0], dtype=torch.float64)
    y = create_activation(name)(x).numpy()
    np.testing.assert_allclose(y, FIXED_FORMULAS[name](x.numpy()), rtol=1e-10, atol=1e-12)


def test_rrelu_random_in_training_mean_slope_in_eval():
    m = create_activation("rrelu")
    x = -torch.rand(10_000, dtype=torch.float64) - 0.1
    slopes = m.train()(x) / x
    assert slopes.min() >= 1 / 8 - 1e-12 and slopes.max() <= 1 / 3 + 1e-12 and slopes.std() > 0.03
    np.testing.assert_allclose((m.eval()(x) / x).numpy(), (1 / 8 + 1 / 3) / 2)
    pos = torch.rand(100, dtype=torch.float64)
    assert torch.equal(m.train()(pos), pos)


def pau_reference(x, a, b, form="safe"):
    num = sum(a[f"a{k}"] * x ** k for k in range(6))
    if form == "safe":      # 1 + |b1 x + .. + b4 x^4|
        den = 1 + np.abs(sum(b[f"b{k}"] * x ** k for k in range(1, 5)))
    else:                   # the official AReLU code's: 1 + |b1| |x| + .. + |b4| |x|^4
        den = 1 + sum(np.abs(b[f"b{k}"]) * np.abs(x) ** k for k in range(1, 5))
    return num / den


def carelu_reference(x, alpha, beta, K=2.0, variant="energy", eps=1e-6):
    out = np.empty_like(x)
    for i, z in enumerate(x):  # one sample at a time, all its elements
        share = {"energy": (relu(z) ** 2).sum() / ((z ** 2).sum() + eps),
                 "l1": relu(z).sum() / (np.abs(z).sum() + eps),
                 "count": (z > 0).mean()}[variant]
        out[i] = relu(K * math.tanh(alpha * share + beta) * z)
    return out


LEARNABLE_FORMULAS = {
    "apl": lambda x, p: relu(x) + p["a"] * relu(-x + p["b"]),
    "comb": lambda x, p: p["p"] * x + (1 - p["p"]) * relu(x),
    "pau": lambda x, p: pau_reference(x, p, p),
    "prelu": lambda x, p: np.where(x > 0, x, p["weight"] * x),
    "slaf": lambda x, p: p["c0"] + p["c1"] * x,
    "carelu": lambda x, p: carelu_reference(x, p["alpha"], p["beta"]),
}


@pytest.mark.parametrize("name", list(LEARNABLE_FORMULAS))
def test_learnable_values(name):
    torch.manual_seed(0)
    m = create_activation(name).double()
    with torch.no_grad():  # move off the init so every coefficient matters
        for p in m.parameters():
            p.add_(0.3 * torch.randn(()))
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64) * 2
    np.testing.assert_allclose(m(x).detach().numpy(), LEARNABLE_FORMULAS[name](x.numpy(), params_of(m)),
                               rtol=1e-9, atol=1e-12)


def test_learnable_inits_as_documented():
    for name in ("apl", "comb", "slaf", "carelu"):     # PReLU: torch's module names its slope `weight`, below
        info = activation_info(name)
        expected = {k: v for k, v in info.defaults.items() if k in params_of(create_activation(name))}
        assert params_of(create_activation(name)) == pytest.approx(expected)
    assert params_of(create_activation("prelu"))["weight"] == 0.25
    assert params_of(create_activation("prelu", a=0.1))["weight"] == pytest.approx(0.1)


def test_prelu_is_torchs_and_puts_zero_on_the_slope_branch():
    m = create_activation("prelu", a=0.3).double()
    assert type(m) is torch.nn.PReLU and activation_info("prelu").params_per_layer == 1
    x = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    (dx,) = torch.autograd.grad(m(x).sum(), x)
    assert dx.tolist() == pytest.approx([0.3, 0.3, 1.0])      # x = 0 on the a-branch (He et al., torch)
    _, dy = evaluate_activation("prelu", np.array([0.0]), a=0.3)
    assert dy[0] == pytest.approx(0.3)


@pytest.mark.parametrize("form", ["safe", "official"])
def test_pau_forms_values_and_gradients_against_the_plain_formula(form):
    torch.manual_seed(3)
    m = create_activation("pau", form=form).double()
    with torch.no_grad():                       # negative b's: the two forms differ only then
        for p in m.parameters():
            p.add_(0.4 * torch.randn(()))
        m.b1.fill_(-0.3)
        m.b3.fill_(-0.2)
    x = torch.randn(200, dtype=torch.float64) * 2
    x = torch.where(x.abs() < 0.05, x + 0.1, x)     # off the kink of |x|
    p = params_of(m)
    np.testing.assert_allclose(m(x).detach().numpy(), pau_reference(x.numpy(), p, p, form), rtol=1e-10, atol=1e-12)
    other = "official" if form == "safe" else "safe"
    assert np.abs(pau_reference(x.numpy(), p, p, other) - m(x).detach().numpy()).max() > 1e-3   # the forms differ

    names = [k for k, _ in m.named_parameters()]

    def f(x, *params):
        return functional_call(m, dict(zip(names, params)), (x,))

    params = tuple(q.detach().clone().requires_grad_(True) for q in m.parameters())
    assert torch.autograd.gradcheck(f, (x[:20].clone().requires_grad_(True), *params))
    # gradients of the module against autograd through the plain formula written out with torch ops
    xt = x.clone().requires_grad_(True)
    coeffs = {k: v.detach().clone().requires_grad_(True) for k, v in m.named_parameters()}
    num = sum(coeffs[f"a{k}"] * xt ** k for k in range(6))
    if form == "safe":
        den = 1 + sum(coeffs[f"b{k}"] * xt ** k for k in range(1, 5)).abs()
    else:
        den = 1 + sum(coeffs[f"b{k}"].abs() * xt.abs() ** k for k in range(1, 5))
    plain = torch.autograd.grad((num / den).sum(), [xt, *coeffs.values()])
    ours = torch.autograd.grad(m(xt).sum(), [xt, *m.parameters()])
    for a, b in zip(plain, ours):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_pau_form_default_and_labels():
    from arelu_core.activations.registry import labelled_params, variant_label
    from arelu_core.reproduce.paper import official_code_params
    assert activation_info("pau").defaults["form"] == "safe" and create_activation("pau").form == "safe"
    assert variant_label("pau", {}) == "form=safe" and variant_label("pau+elsa", {"form": "official"}) == "form=official"
    assert variant_label("relu", {}) == "" and labelled_params("gelu", {}) == {}
    assert official_code_params("pau") == {"form": "official"} and official_code_params("pau+elsa") == {"form": "official"}
    assert official_code_params("arelu") == {}
    with pytest.raises(ConfigError, match="form"):
        create_activation("pau", form="fast")
    x = torch.linspace(-3, 3, 60_001, dtype=torch.float64)     # each form's own fit starts near LeakyReLU
    assert (create_activation("pau", form="official").double()(x) - F.leaky_relu(x, 0.01)).abs().max() < PAU_MAX_ERR


@pytest.mark.parametrize("variant", ["energy", "l1", "count"])
def test_carelu_variants_and_per_sample(variant):
    m = create_activation("carelu", variant=variant, K=1.5, alpha=-2.0, beta=0.5).double()
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    x[0] -= 1  # mostly negative sample: its scale turns negative and negatives pass
    ref = carelu_reference(x.numpy(), -2.0, 0.5, K=1.5, variant=variant)
    np.testing.assert_allclose(m(x).detach().numpy(), ref, rtol=1e-9, atol=1e-12)
    # per sample: a sample's output does not depend on the rest of the batch
    torch.testing.assert_close(m(x[1:2]), m(x)[1:2])


@pytest.mark.parametrize("name", LEARNABLE)
def test_gradcheck_inputs_and_parameters(name):
    torch.manual_seed(1)
    m = create_activation(name).double()
    names = [k for k, _ in m.named_parameters()]
    x = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    x = torch.where(x.abs() < 0.05, x + 0.1, x)  # keep away from kinks (ReLU, |.|, APL's hinge at b)
    if name == "apl":
        x = torch.where((x - 0.5).abs() < 0.05, x + 0.1, x)

    def f(x, *params):
        return functional_call(m, dict(zip(names, params)), (x,))

    params = tuple(p.detach().clone().requires_grad_(True) for p in m.parameters())
    assert torch.autograd.gradcheck(f, (x.requires_grad_(True), *params))


def test_maxout_halves_channels_and_takes_max():
    m = create_activation("maxout")
    assert type(m).channel_multiplier == 2 and not activation_info("maxout").elementwise
    x = torch.randn(4, 10, 6, 6)
    y = m(x)
    assert y.shape == (4, 5, 6, 6)
    torch.testing.assert_close(y, torch.maximum(x[:, 0::2], x[:, 1::2]))
    assert not torch.equal(y, x[:, :5])  # not the identity of a pool of 1
    with pytest.raises(ConfigError):
        m(torch.randn(2, 3, 4))  # odd channel count
    with pytest.raises(ConfigError):
        evaluate_activation("maxout", np.linspace(-1, 1, 5))


def test_pau_init_close_to_leaky_relu_and_deterministic():
    from arelu_core.activations.learnable import leaky_relu_fit
    m = create_activation("pau").double()
    x = torch.linspace(-3, 3, 60_001, dtype=torch.float64)
    err = (m(x) - F.leaky_relu(x, 0.01)).abs().max().item()
    assert err < PAU_MAX_ERR
    assert leaky_relu_fit() is leaky_relu_fit()  # cached once per process
    leaky_relu_fit.cache_clear()
    assert params_of(create_activation("pau")) == params_of(m.float())  # same fit again
    assert create_activation("pau")(torch.randn(3, 4)).dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_learnable_on_cuda():
    for name in ("pau", "carelu", "apl", "maxout"):
        m = create_activation(name).cuda()
        x = torch.randn(4, 10, 6, 6, device="cuda")
        torch.testing.assert_close(m(x).cpu(), m.cpu()(x.cpu()), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["elu", "gelu", "softplus", "swish", "tanh", "apl", "pau", "slaf", "rrelu"])
def test_evaluate_activation_matches_finite_differences(name):
    grid = np.linspace(-3, 3, 61) + 0.013  # stay off the kinks at 0 (and APL's at b=0.5)
    y, dy = evaluate_activation(name, grid)
    assert y.dtype == dy.dtype == np.float64 and y.shape == dy.shape == grid.shape
    m = create_activation(name).double().eval()
    h = 1e-6
    with torch.no_grad():
        f = lambda g: m(torch.as_tensor(g)).numpy()
        np.testing.assert_allclose(y, f(grid), rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(dy, (f(grid + h) - f(grid - h)) / (2 * h), rtol=1e-5, atol=1e-6)
