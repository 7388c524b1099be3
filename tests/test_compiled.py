"""The optional torch.compile path of AReLU/ELSA: the same values and the paper's gradients as the fused op,
used by a training only when asked or where it pays (compile_pays), and reported."""
import shutil

import pytest
import torch

from arelu_core.activations import create_activation
from arelu_core.activations import _kernels
from arelu_core.activations.compiled import COMPILE_MIN_STEPS_CUDA, compile_pays, use_compiled
from arelu_core.errors import ConfigError
from arelu_core.trainer import TrainConfig, train


# torch.compile's CPU backend writes and builds C++: without a compiler there is nothing to test here.
needs_compiler = pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")),
                                    reason="torch.compile on the CPU needs a C++ compiler (apt-get install g++)")


def with_zeros(shape, seed=0):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x.view(-1)[::7] = 0.0        # exact zeros: the x >= 0 branch there (eq. 7)
    return x


@needs_compiler
@pytest.mark.parametrize("alpha", [0.3, 1.7, -0.4])   # inside, above and below the clamp [0.01, 0.99]
@pytest.mark.parametrize("name", ["arelu", "tanh+elsa"])
def test_compiled_path_matches_the_fused_op_and_the_paper(name, alpha):
    fused = create_activation(name, alpha=alpha, beta=0.7).double()
    compiled = create_activation(name, alpha=alpha, beta=0.7).double()
    assert use_compiled(compiled) == 1
    x = with_zeros((4, 3, 6, 6))
    grad_out = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    outputs, grads = [], []
    for module in (fused, compiled):
        xi = x.clone().requires_grad_(True)
        y = module(xi)
        y.backward(grad_out)
        outputs.append(y.detach())
        grads.append((xi.grad, module.alpha.grad, module.beta.grad))
    torch.testing.assert_close(outputs[1], outputs[0])
    for got, want in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, want)
    # and the paper's eq. 10 directly: no alpha gradient outside [0.01, 0.99]
    if not 0.01 <= alpha <= 0.99:
        assert grads[1][1].item() == 0.0


def test_compile_pays_only_for_long_cuda_runs():
    assert not compile_pays("cpu", 10**9)              # the fused Numba kernels are already one pass
    assert not compile_pays("cuda", COMPILE_MIN_STEPS_CUDA - 1)
    # ... and only where the Triton kernels (one pass each way) are not there
    triton_here = torch.cuda.is_available() and _kernels.checked_triton_kernels(torch.device("cuda")) is not None
    assert compile_pays("cuda", COMPILE_MIN_STEPS_CUDA) == (not triton_here)


@needs_compiler
def test_training_compiles_when_asked_and_not_by_default_on_cpu(data_dir):
    quick = dict(activation="arelu", train_subset=256, test_subset=200, batch_size=128, lr=1e-2, device="cpu")
    default = train(TrainConfig(**quick))
    forced = train(TrainConfig(**quick, compile="on"))
    assert not default.compiled and forced.compiled and forced.summary()["compiled"]
    assert forced.losses == pytest.approx(default.losses, rel=1e-3)   # same seed, same training
    assert not train(TrainConfig(**{**quick, "activation": "relu"}, compile="on")).compiled  # nothing to compile
    with pytest.raises(ConfigError, match="compile"):
        TrainConfig(compile="sometimes").validate()
