"""The CUDA path's Triton kernels (activations/_triton_kernels.py) against the formula, run on this
CPU by Triton's interpreter, and compiled for A100/H100 GPUs (PTX and cubin) without one.
TRITON_INTERPRET=1 must be set before the kernels are defined, so the interpreter checks run in a
subprocess; on a GPU the same checks run compiled (test_triton_kernels_match_the_formula_on_cuda, run by
scripts/gpu_check.sh), and test_second_order.py's CUDA cases run the kernels through autograd."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from arelu_core.activations import _kernels

ROOT = Path(__file__).resolve().parents[1]

CHECKS = r"""
import json, os, torch
from arelu_core.activations import _kernels, _triton_kernels as tk
from arelu_core.activations.arelu import SignScaleFunction
from arelu_core.activations.formula import sign_scale_formula

def oracle(x, a, b, off, g):
    # the formula in float64 from the very (rounded) values the kernel reads; alpha and beta stay
    # float32, since C(alpha)'s window is compared in alpha's dtype (float32(0.01) is inside)
    x64 = x.detach().double().requires_grad_(True)
    a64 = a.detach().clone().requires_grad_(True)
    b64 = b.detach().clone().requires_grad_(True)
    y = sign_scale_formula(x64, a64, b64, off)
    gx, ga, gb = torch.autograd.grad(y, (x64, a64, b64), g.double())
    return y, gx, ga, gb

# One ulp of x's dtype (sigmoid's last bit). bfloat16 two: Triton's interpreter (numpy has no bfloat16)
# truncates conversions to it where a GPU rounds to nearest even, as torch does.
TOL = {torch.float32: 2e-6, torch.bfloat16: 2e-2, torch.float16: 1e-3}
DEVICE = torch.device(os.environ.get("ARELU_CHECK_DEVICE", "cpu"))   # cpu: under the interpreter; cuda: for real
worst = {}
gen = torch.Generator().manual_seed(0)
cases = 0
for dtype in (torch.float32, torch.bfloat16, torch.float16):
    for shape, layout in (((3, 4, 5, 7), "contiguous"), ((3, 4, 5, 7), "channels_last"), ((2501,), "contiguous"),
                          ((0, 3), "contiguous")):
        for alpha in (0.01, 0.99, 0.3, 1.4, -0.2):
            for off in (1.0, 0.0):
                x = torch.randn(shape, generator=gen)
                x.view(-1)[::5] = 0.0                          # exact zeros: the x >= 0 branch
                g = torch.randn(shape, generator=gen)
                x, g = x.to(DEVICE, dtype), g.to(DEVICE, dtype)
                if layout == "channels_last":
                    x = x.contiguous(memory_format=torch.channels_last)     # g stays contiguous: a layout mismatch
                a, b = torch.tensor(alpha, device=DEVICE), torch.tensor(-0.7, device=DEVICE)
                y = tk.forward(x, a, b, off)
                gx, da, db = tk.backward(g, x, a, b, off)
                wy, wgx, wa, wb = oracle(x, a, b, off, g)
                assert y.dtype == dtype and y.stride() == x.stride(), (y.dtype, y.stride(), x.stride())
                assert gx.dtype == dtype and gx.shape == x.shape
                # y and dx: the torch path in x's dtype (scales rounded to it, then one product); the
                # sums: the float64 formula
                neg, pos = a.clamp(0.01, 0.99).to(dtype), (off + torch.sigmoid(b)).to(dtype)
                ty, (tgx, _, _) = _kernels.torch_forward(x, neg, pos), _kernels.torch_backward(g, x, neg, pos)
                tol = TOL[dtype]
                torch.testing.assert_close(y.double(), ty.double(), rtol=tol, atol=1e-6)
                torch.testing.assert_close(gx.double(), tgx.double(), rtol=tol, atol=1e-6)
                if dtype == torch.float32:
                    torch.testing.assert_close(y.double(), wy, rtol=tol, atol=1e-6)
                    torch.testing.assert_close(gx.double(), wgx, rtol=tol, atol=1e-6)
                torch.testing.assert_close(da.double(), wa.double(), rtol=1e-4, atol=1e-4)
                torch.testing.assert_close(db.double(), wb.double(), rtol=1e-4, atol=1e-4)
                if x.numel():
                    assert (da.item() != 0.0) == (0.01 <= alpha <= 0.99), (alpha, da.item())   # the closed window
                cases += 1

# Through the autograd op, module-sized: first derivatives, and create_graph's second order (formula path).
x = torch.randn(4, 8, 6, 6, generator=gen).to(DEVICE).requires_grad_(True)
a = torch.tensor(0.01, device=DEVICE, requires_grad=True)          # float32(0.01): the bound, gradient passes
b = torch.tensor(-2.0, device=DEVICE, requires_grad=True)
g = torch.randn(x.shape, generator=gen).to(DEVICE)
y = SignScaleFunction.apply(x, a, b, 1.0, "triton")
gx, ga, gb = torch.autograd.grad(y, (x, a, b), g, create_graph=True)
wy, wgx, wa, wb = oracle(x, a, b, 1.0, g)
torch.testing.assert_close(y.double(), wy, rtol=2e-6, atol=1e-6)
torch.testing.assert_close(ga.double(), wa.double(), rtol=1e-4, atol=1e-4)
second = torch.autograd.grad(gx.sum() + ga + gb, (a, b))
assert all(s is not None for s in second)
y = SignScaleFunction.apply(x, a, b, 1.0, "triton")
y.backward(g)
torch.testing.assert_close(a.grad.double(), wa.double(), rtol=1e-4, atol=1e-4)
torch.testing.assert_close(b.grad.double(), wb.double(), rtol=1e-4, atol=1e-4)

_kernels.self_check(tk, DEVICE)      # the check run on a GPU's first use
print(json.dumps({"cases": cases}))
"""


def _run_checks(env: dict):
    done = subprocess.run([sys.executable, "-c", CHECKS], env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"cases": 3 * 4 * 5 * 2}


def test_triton_kernels_match_the_formula_under_the_interpreter():
    pytest.importorskip("triton")
    _run_checks({"TRITON_INTERPRET": "1", "ARELU_CHECK_DEVICE": "cpu"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (scripts/gpu_check.sh runs it on one)")
def test_triton_kernels_match_the_formula_on_cuda():
    """The same checks compiled and run on the GPU: float32, bfloat16 and float16, both layouts."""
    pytest.importorskip("triton")
    _run_checks({"TRITON_INTERPRET": "0", "ARELU_CHECK_DEVICE": "cuda"})


def test_kernel_choice_on_this_cpu_and_the_off_switch(monkeypatch):
    x = torch.randn(4)
    a, b = torch.tensor(0.5), torch.tensor(1.0)
    assert _kernels.pick_kernel(x, a, b) == ("numba" if _kernels.HAVE_NUMBA else "torch")
    assert _kernels.pick_kernel(x.half(), a, b) == "torch"          # the CPU never takes Triton's kernels
    monkeypatch.setenv("ARELU_TRITON", "0")
    _kernels.checked_triton_kernels.cache_clear()
    try:
        assert _kernels.checked_triton_kernels(torch.device("cuda", 0)) is None
    finally:
        _kernels.checked_triton_kernels.cache_clear()


def test_a_kernel_that_disagrees_is_refused_with_one_warning(monkeypatch):
    """A GPU where the kernels compile but compute wrongly falls back to torch ops instead of training wrongly."""
    class Wrong:
        @staticmethod
        def forward(x, alpha, beta, offset):
            return x * 1.5

        @staticmethod
        def backward(g, x, alpha, beta, offset):
            return g, torch.tensor(0.0), torch.tensor(0.0)

    with pytest.raises(RuntimeError, match="differs from the torch ops"):
        _kernels.self_check(Wrong, torch.device("cpu"))
    pytest.importorskip("triton")
    def refuse(module, device):
        raise RuntimeError("dx differs from the torch ops by 0.5")
    monkeypatch.setattr(_kernels, "self_check", refuse)
    _kernels.checked_triton_kernels.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="Triton kernels unavailable on cuda:0.*using torch ops"):
            assert _kernels.checked_triton_kernels(torch.device("cuda", 0)) is None
    finally:
        _kernels.checked_triton_kernels.cache_clear()


@pytest.mark.parametrize("dtype", ["fp32", "bf16", "fp16"])
def test_triton_kernels_compile_for_the_gpus_and_add_each_blocks_sums_once(dtype):
    """No GPU here, but Triton compiles for one all the same (to PTX and, with its bundled ptxas, to a
    cubin): the lowering the interpreter skips. The interpreter runs a block as one vector; on a GPU
    it is 128 threads, and the backward's two atomic adds must be made by one of them, not each."""
    triton = pytest.importorskip("triton")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from arelu_core.activations import _triton_kernels as tk
    from arelu_core.activations.formula import ALPHA_MAX, ALPHA_MIN
    constants = {"A_MIN": ALPHA_MIN, "A_MAX": ALPHA_MAX, "BLOCK": tk.BLOCK}
    scalars = {"alpha_ptr": "*fp32", "beta_ptr": "*fp32", "n": "i32", "pos_offset": "fp32"}
    kernels = {"forward": (tk._forward_kernel, {"x_ptr": f"*{dtype}", "y_ptr": f"*{dtype}"}),
               "backward": (tk._backward_kernel, {"g_ptr": f"*{dtype}", "x_ptr": f"*{dtype}", "gx_ptr": f"*{dtype}",
                                                  "grads_ptr": "*fp32"})}
    for capability in (80, 90):                       # A100, H100
        for name, (kernel, tensors) in kernels.items():
            types = {**tensors, **scalars, **{key: "constexpr" for key in constants}}
            signature = {arg: types[arg] for arg in kernel.arg_names}
            compiled = triton.compile(ASTSource(fn=kernel, signature=signature, constexprs=constants),
                                      target=GPUTarget("cuda", capability, 32))
            assert compiled.asm["cubin"], (name, capability)
            ptx = compiled.asm["ptx"]
            atomics = re.findall(r"^\s*(@%p\d+ )?atom\.", ptx, re.MULTILINE)
            if name == "backward":
                assert len(atomics) == 2, atomics                                  # dE/dalpha, dE/dbeta
                for guard in atomics:                                              # each made by thread 0 alone
                    predicate = guard.strip()[1:]
                    tested = re.search(rf"setp\.eq\.[bsu]32\s+{predicate}, (%r\d+), 0;", ptx)
                    assert tested and re.search(rf"mov\.u32\s+{tested.group(1)}, %tid\.x;", ptx), (guard, ptx[-3000:])
            else:
                assert not atomics, atomics
