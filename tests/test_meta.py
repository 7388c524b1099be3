"""Table 3 (MAML): the vectorised meta-step equals the task-by-task one, the meta-gradient is second order
(finite differences of the meta-loss), the CLI's JSON and resuming, and the claims from data."""
import json
import subprocess
import sys

import pytest
import torch

from arelu_core.data import load_mnist
from arelu_core.network import MNISTConv
from arelu_core.reproduce.claims import NOT_SUPPORTED, SUPPORTED, evaluate_claims
from arelu_core.reproduce.meta import META_STEPS, MetaConfig, TaskSampler, _task_outcome
from arelu_core.errors import ConfigError


@pytest.fixture(scope="module")
def small_batch(data_dir):
    test = load_mnist(False, data_dir)
    sampler = TaskSampler(test.images.double(), test.labels, ways=3, shots=1)
    tasks = sampler.draw(4, torch.Generator().manual_seed(0))
    return sampler.batch(tasks)


def model_and_params(name):
    torch.manual_seed(0)
    model = MNISTConv(name, num_classes=3).double()
    return model, dict(model.named_parameters())


@pytest.mark.parametrize("name", ["arelu", "relu+elsa", "pau", "prelu"])
def test_looped_and_vectorised_meta_gradients_agree(small_batch, name):
    model, params = model_and_params(name)
    outs = {mode: META_STEPS[mode](model, params, *small_batch, 2, 0.05) for mode in ("looped", "vectorised")}
    (lv, av, gv), (ll, al, gl) = outs["vectorised"], outs["looped"]
    torch.testing.assert_close(lv.double(), ll.double(), rtol=1e-9, atol=1e-12)
    assert av == pytest.approx(al)
    assert set(gv) == set(gl) == set(params)
    for k in params:
        torch.testing.assert_close(gv[k], gl[k], rtol=1e-7, atol=1e-10, msg=lambda m: f"{name} {k}: {m}")


def test_meta_gradient_is_the_second_order_one(small_batch):
    """d(meta-loss)/d(alpha, beta of block 0) against central differences of the meta-loss itself."""
    model, params = model_and_params("arelu")
    xs, ys, xq, yq = small_batch
    _, _, grads = META_STEPS["vectorised"](model, params, *small_batch, 3, 0.05)

    def meta_loss(p):
        return sum(_task_outcome(model, p, xs[t], ys[t], xq[t], yq[t], 3, 0.05)[0] for t in range(len(xs))) / len(xs)

    base = {k: v.detach().clone() for k, v in params.items()}
    for name in ("blocks.0.act.alpha", "blocks.0.act.beta", "blocks.2.act.alpha"):
        eps = 1e-5
        plus, minus = dict(base), dict(base)
        plus[name], minus[name] = base[name] + eps, base[name] - eps
        with torch.no_grad():
            numeric = (meta_loss(plus) - meta_loss(minus)) / (2 * eps)
        assert grads[name].item() == pytest.approx(numeric.item(), rel=1e-4, abs=1e-9), name


def test_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="ways"):
        MetaConfig("relu", ways=11).validate()
    with pytest.raises(ConfigError, match="mode"):
        MetaConfig("relu", mode="fast").validate()


def test_table3_cli_json_and_resume(data_dir, tmp_path):
    cmd = [sys.executable, "-m", "arelu_core", "reproduce", "table3", "--activations", "relu", "arelu",
           "--seeds", "0", "--ways", "5", "--shots", "1", "--iterations", "2", "--test-tasks", "20",
           "--threads", "1", "--out", str(tmp_path), "--data-dir", data_dir, "--json"]
    first = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    assert first["trained_now"] == 2
    for cell in first["cells"]:
        assert {"activation", "ways", "shots", "mean", "test_mean", "paper"} <= set(cell)
        assert (cell["ways"], cell["shots"]) == (5, 1) and 0 <= cell["test_mean"] <= 100
    assert {c["activation"]: c["paper"] for c in first["cells"]} == {"relu": 70.0, "arelu": 92.5}
    again = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    assert again["trained_now"] == 0 and again["cells"] == first["cells"]
    records = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [r["tf32"] for r in records] == [False, False] and {r["inner_lr"] for r in records} == {0.005}
    assert all("inner=5x0.005" in r["key"] for r in records)        # the official script's inner lr by default
    # an inner learning rate <= 0: one line, exit 2, the finished runs kept
    kept = (tmp_path / "runs.jsonl").read_bytes()
    for bad in ("0", "-0.01"):
        refused = subprocess.run(cmd[:-1] + ["--inner-lr", bad], capture_output=True, text=True)
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.strip() == f"error: inner lr must be a positive number, got {float(bad)}"
    assert (tmp_path / "runs.jsonl").read_bytes() == kept


def cell(activation, shots, mean, test_mean):
    return {"activation": activation, "ways": 5, "shots": shots, "mean": mean, "test_mean": test_mean}


def test_table3_claims_follow_the_data():
    cells = [cell("arelu", 1, 90, 80), cell("relu", 1, 70, 81), cell("arelu", 5, 95, 90), cell("relu", 5, 96, 85)]
    official, held = evaluate_claims("table3", cells)
    assert official["verdict"] == NOT_SUPPORTED and "ReLU 96.00" in official["detail"]
    assert held["verdict"] == NOT_SUPPORTED
    assert official["paper_verdict"] == SUPPORTED       # the published table: AReLU first (tied with ELU at 5-shot)
    cells[3]["mean"] = 94
    cells[1]["test_mean"] = 79
    assert [c["verdict"] for c in evaluate_claims("table3", cells)] == [SUPPORTED, SUPPORTED]
