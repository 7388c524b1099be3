"""AReLU/ELSA with `learn` in {both, alpha, beta, none}: which of alpha, beta training changes.

Every path of the op (fused Numba, torch ops, torch.compile'd, the batched group kernel, torch.func) is
checked against the plain formula (activations/formula.py): values and dF/dx unchanged by freezing, a
learned parameter's gradient the formula's, a frozen one's none, and a training step leaves it where it was.
"""
import shutil
from pathlib import Path

import pytest
import torch
from torch.func import functional_call, grad

from arelu_core.activations import activation_info, check_params, create_activation
from arelu_core.activations.arelu import LEARN_CHOICES
from arelu_core.activations.compiled import use_kernel
from arelu_core.activations.formula import sign_scale_formula
from arelu_core.errors import ConfigError
from arelu_core.reproduce.batched import GroupActivation
from arelu_core.trainer import TrainConfig

HAVE_COMPILER = bool(shutil.which("c++") or shutil.which("g++"))
ALPHA, BETA = 0.3, 0.7


def inputs(shape=(4, 3, 5, 5), seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    x.view(-1)[::7] = 0.0                         # exact zeros: the x >= 0 branch (eq. 7)
    return x, torch.randn(shape, generator=gen, dtype=torch.float64)


def formula_grads(x, g, offset):
    """(y, dE/dx, dE/dalpha, dE/dbeta) of the plain formula by autograd: the oracle."""
    xi = x.clone().requires_grad_(True)
    alpha = torch.tensor(ALPHA, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor(BETA, dtype=torch.float64, requires_grad=True)
    y = sign_scale_formula(xi, alpha, beta, offset)
    y.backward(g)
    return y.detach(), xi.grad, alpha.grad, beta.grad


def test_learn_is_a_registry_parameter_of_arelu_and_every_elsa():
    for name in ("arelu", "relu+elsa"):
        spec = activation_info(name).param("learn")
        assert spec.kind == "choice" and spec.choices == LEARN_CHOICES and spec.default == "both"
    assert check_params("arelu", {"learn": "none"}) == {"learn": "none"}
    with pytest.raises(ConfigError, match="learn must be one of 'both', 'alpha', 'beta', 'none', got 'gain'"):
        check_params("arelu", {"learn": "gain"})
    config = TrainConfig(activation="arelu", activation_params={"alpha": 0.01, "beta": -4.6, "learn": "none"}).validate()
    assert config.activation_params["learn"] == "none"
    # what `arelu train --activation arelu --param learn=none` builds
    from arelu_core.cli import _parse_params
    assert _parse_params("arelu", ["learn=none"]) == {"learn": "none"}
    module = create_activation("arelu", learn="alpha")
    assert module.alpha.requires_grad and not module.beta.requires_grad
    assert "learn=alpha" in repr(module)


# Every learn choice on the fused and torch-ops paths; the compiled path (seconds of compiling per case) on AReLU
# with one frozen and one learned parameter each way.
CASES = [(kernel, learn, name, offset) for kernel in ("numba", "torch") for learn in LEARN_CHOICES
         for name, offset in (("arelu", 1.0), ("tanh+elsa", 0.0))]
CASES += [("compiled", learn, "arelu", 1.0) for learn in ("alpha", "beta")] if HAVE_COMPILER else []


@pytest.mark.parametrize("kernel, learn, name, offset", CASES)
def test_every_kernel_respects_frozen_parameters(kernel, learn, name, offset):
    x, g = inputs()
    want_y, want_gx, want_da, want_db = formula_grads(x, g, offset)
    module = create_activation(name, alpha=ALPHA, beta=BETA, learn=learn).double()
    assert use_kernel(module, kernel) == 1
    xi = x.clone().requires_grad_(True)
    y = module(xi)
    y.backward(g)
    base_y, base_gx = (torch.tanh(x), 1 - torch.tanh(x) ** 2) if offset == 0.0 else (0.0, 0.0)
    torch.testing.assert_close(y.detach(), want_y + base_y)               # the curve is unchanged by freezing
    torch.testing.assert_close(xi.grad, want_gx + base_gx * g)            # and so is dF/dx
    for param, want, learned in ((module.alpha, want_da, learn in ("both", "alpha")),
                                 (module.beta, want_db, learn in ("both", "beta"))):
        if learned:
            torch.testing.assert_close(param.grad, want)
        else:
            assert param.grad is None and not param.requires_grad
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    torch.optim.SGD(module.parameters(), lr=0.5, momentum=0.9).step()
    for n, p in module.named_parameters():
        changed = not torch.equal(p.detach(), before[n])
        assert changed == (learn in ("both", n)), (n, learn)


@pytest.mark.parametrize("learn", LEARN_CHOICES)
def test_torch_func_gives_a_frozen_parameter_no_gradient(learn):
    """grad over functional_call (MAML's inner loop) differentiates what it is handed: the module detaches a
    frozen parameter itself, so its gradient is zero and an inner SGD step leaves it alone."""
    x, g = inputs()
    module = create_activation("arelu", alpha=ALPHA, beta=BETA, learn=learn).double()
    params = {n: p.detach() for n, p in module.named_parameters()}
    grads = grad(lambda p: (functional_call(module, p, (x,)) * g).sum())(params)
    _, _, want_da, want_db = formula_grads(x, g, 1.0)
    torch.testing.assert_close(grads["alpha"], want_da if learn in ("both", "alpha") else torch.zeros_like(want_da))
    torch.testing.assert_close(grads["beta"], want_db if learn in ("both", "beta") else torch.zeros_like(want_db))


@pytest.mark.parametrize("learn", LEARN_CHOICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])   # float16: the torch-ops path, not Numba
def test_batched_group_kernel_respects_frozen_parameters(learn, dtype):
    """Three models' activations in one GroupActivation (the batched trainer's layer) against the formula."""
    specs = [TrainConfig(activation="arelu", activation_params={"alpha": a, "beta": b, "learn": learn}, seed=i)
             for i, (a, b) in enumerate(((0.3, 0.7), (0.05, -1.0), (0.9, 2.0)))]
    acts = [create_activation("arelu", **s.activation_params) for s in specs]
    layer = GroupActivation(specs, acts).to(dtype)
    assert len(layer.segments) == 1
    x, g = inputs((2, 3 * 4, 3, 3))
    x, g = x.to(dtype), g.to(dtype)
    xi = x.clone().requires_grad_(True)
    layer(xi).backward(g)
    segment = layer.segments[0]
    for m, (a, b) in enumerate(((0.3, 0.7), (0.05, -1.0), (0.9, 2.0))):
        xm = x.unflatten(1, (3, 4))[:, m].double().requires_grad_(True)
        alpha = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        beta = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        sign_scale_formula(xm, alpha, beta, 1.0).backward(g.unflatten(1, (3, 4))[:, m].double())
        tol = dict(rtol=1e-2, atol=1e-2) if dtype == torch.float16 else {}
        torch.testing.assert_close(xi.grad.unflatten(1, (3, 4))[:, m].double(), xm.grad, **tol)
        for param, want, learned in ((segment.alpha, alpha.grad, learn in ("both", "alpha")),
                                     (segment.beta, beta.grad, learn in ("both", "beta"))):
            if learned:
                torch.testing.assert_close(param.grad[m].double(), want, **tol)
            else:
                assert param.grad is None and not param.requires_grad


def test_train_live_trains_arelu_with_frozen_attention(data_dir, tmp_path, monkeypatch):
    """Train live's 'Learn' choice reaches the training: learn=none keeps every layer's alpha and beta."""
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("ARELU_DATA_DIR", data_dir)
    monkeypatch.setenv("ARELU_RUNS_DIR", str(tmp_path / "runs"))
    app = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=180).run()
    at = app.switch_page("pages/train_live.py").run()
    at.multiselect(key="train_activations").set_value(["arelu"])
    at.selectbox(key="train_subset").set_value(512)
    at.selectbox(key="train_learn").set_value("none")
    next(b for b in at.button if b.label == "Start race").click().run()
    assert not at.exception and not at.error
    from ui.common import get_job_manager
    manager = get_job_manager()
    job = manager.get(at.session_state["arelu_owner_id"], at.session_state["train_job_ids"][0])
    assert job.config.activation_params == {"alpha": 0.9, "beta": 2.0, "learn": "none"}
    assert manager.wait([job], 300) and job.status == "finished", job.message
    model = job.result.model
    for block in model.blocks:
        assert block.act.alpha.item() == torch.tensor(0.9).item() and block.act.beta.item() == 2.0
