"""The library end to end on the real MNIST: training (the paper's Table 1 protocol), the trainer's
events, stop and divergence, data loading and download, checkpoints, the CLI's bad-input lines."""
import gzip
import http.server
import json
import os
import pickle
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest
import torch

from arelu_core.checkpoint import load_checkpoint, save_checkpoint
from arelu_core.data import download_mnist, load_mnist, mnist_available, resolve_data_dir
from arelu_core.errors import CheckpointError, ConfigError, DataUnavailableError
from arelu_core.network import MNISTConv
from arelu_core.trainer import TrainConfig, train

REPO = Path(__file__).resolve().parents[1]


# --- the paper's Table 1 protocol: batch 128, one epoch, real MNIST -----------------------------

@pytest.mark.slow
def test_table1_small_learning_rate_claim(data_dir):
    arelu = train(TrainConfig(activation="arelu", optimizer="sgd", lr=1e-3, data_dir=data_dir))
    relu = train(TrainConfig(activation="relu", optimizer="sgd", lr=1e-3, data_dir=data_dir))
    print(f"SGD 1e-3, one epoch: AReLU {arelu.test_accuracy:.2f}%  ReLU {relu.test_accuracy:.2f}% "
          f"(paper 93.13 vs 36.01)")
    assert arelu.test_accuracy >= 88.0
    assert relu.test_accuracy <= 60.0
    assert arelu.epoch_seconds and arelu.samples_per_second > 0


@pytest.mark.slow
def test_table1_adam(data_dir):
    result = train(TrainConfig(activation="arelu", optimizer="adam", lr=1e-2, data_dir=data_dir))
    print(f"Adam 1e-2, one epoch: AReLU {result.test_accuracy:.2f}% (paper 98.00)")
    assert result.test_accuracy >= 97.0


# --- trainer behaviour ----------------------------------------------------------------------------

def quick(**overrides):
    return TrainConfig(**{"activation": "arelu", "optimizer": "adam", "lr": 1e-2, "train_subset": 1024,
                          "test_subset": 500, "batch_size": 64, **overrides})


def test_events_and_determinism(data_dir):
    events = []
    first = train(quick(data_dir=data_dir, live_eval_every=4, params_every=2), callback=events.append)
    second = train(quick(data_dir=data_dir, live_eval_every=4, params_every=2))
    kinds = {e["kind"] for e in events}
    assert kinds == {"ready", "step", "params", "live_eval", "epoch", "end"} and events[0]["kind"] == "ready"
    assert [e["step"] for e in events if e["kind"] == "step"] == list(range(1, 17))
    last_params = [e for e in events if e["kind"] == "params"][-1]
    assert len(last_params["layers"]) == 3 and set(last_params["layers"][0]) == {"alpha", "beta"}
    assert first.losses == second.losses  # same seed, CPU: the same run
    assert first.test_accuracy == second.test_accuracy
    third = train(quick(data_dir=data_dir, seed=1))
    assert third.losses != first.losses


def test_cooperative_stop(data_dir):
    steps = []
    result = train(quick(data_dir=data_dir), callback=lambda e: steps.append(e) if e["kind"] == "step" else None,
                   should_stop=lambda: len(steps) >= 3)
    assert result.status == "stopped" and result.steps == 3 and result.test_accuracy is None


def test_non_finite_loss_stops_cleanly(data_dir):
    result = train(quick(data_dir=data_dir, optimizer="sgd", lr=1e4, activation="relu"))
    assert result.status == "diverged"
    assert "too large" in result.message and "\n" not in result.message


@pytest.mark.parametrize("bad,needle", [
    (dict(activation="nope"), "unknown activation"), (dict(lr=0), "learning rate"), (dict(lr=-1), "learning rate"),
    (dict(batch_size=0), "batch size"), (dict(activation_params={"alpha": 1.5}), "alpha"),
    (dict(activation_params={"alpha": 0.0}), "alpha"), (dict(optimizer="rmsprop"), "optimizer"),
    (dict(device="tpu"), "device"), (dict(epochs=0), "epochs")])
def test_bad_config(bad, needle):
    with pytest.raises(ConfigError, match=needle):
        TrainConfig(**bad).validate()


def test_every_activation_trains_a_few_steps(data_dir):
    from arelu_core import list_activations
    for key in list_activations() + ["relu+elsa", "maxout+elsa"]:
        result = train(TrainConfig(activation=key, optimizer="adam", lr=1e-3, train_subset=256,
                                   test_subset=100, batch_size=64, data_dir=data_dir))
        assert result.status == "finished", (key, result.message)


def test_network_features_and_maxout_shape():
    x = torch.rand(2, 1, 28, 28)
    model = MNISTConv("maxout")
    log_probs, features = model.forward_features(x)
    assert log_probs.shape == (2, 10)
    assert [f["pre"].shape[1] for f in features] == [20, 40, 80]   # 2 pieces per unit
    assert [f["post"].shape[1] for f in features] == [10, 20, 40]
    assert torch.allclose(model(x), log_probs)
    assert MNISTConv("arelu", alpha=0.25, beta=1.0).activation_parameters()[0] == pytest.approx({"alpha": 0.25, "beta": 1.0})


# --- data -----------------------------------------------------------------------------------------

def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("ARELU_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir("/explicit") == Path("/explicit")
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("ARELU_DATA_DIR")
    assert resolve_data_dir().parts[-2:] == ("arelu-lab", "data")


def test_load_mnist_real(data_dir):
    test = load_mnist(False, data_dir)
    assert test.images.shape == (10000, 1, 28, 28) and test.images.dtype == torch.float32
    assert 0.0 <= test.images.min() and test.images.max() <= 1.0
    assert test.labels.bincount().tolist()[0] == 980  # the real test set's count of zeros


def test_missing_data_offline_is_one_line(tmp_path):
    with pytest.raises(DataUnavailableError) as info:
        load_mnist(True, tmp_path, download=False)
    assert str(tmp_path) in str(info.value) and "ARELU_DATA_DIR" in str(info.value)


def test_download_with_progress_from_a_local_mirror(data_dir, tmp_path):
    """The download path for real, against a mirror served on 127.0.0.1 from the local files."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        raw = Path(data_dir, "MNIST", "raw", name).read_bytes()
        (mirror / (name + ".gz")).write_bytes(gzip.compress(raw, compresslevel=1))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(mirror)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    progress = []
    try:
        target = tmp_path / "data"
        download_mnist(target, progress=lambda name, done, total: progress.append((name, done, total)),
                       mirrors=[f"http://127.0.0.1:{server.server_address[1]}/"], verify_md5=False)
    finally:
        server.shutdown()
    assert mnist_available(target)
    assert {p[0] for p in progress} == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    assert all(done == total for name, done, total in progress if done == max(d for n, d, t in progress if n == name))
    assert len(load_mnist(False, target, download=False)) == 10000


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# --- checkpoints ------------------------------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = MNISTConv("arelu", alpha=0.25, beta=1.0)
    path = save_checkpoint(tmp_path / "m.pt", model, {"test_accuracy": 12.5, "seed": 3})
    loaded, meta = load_checkpoint(path)
    assert meta["activation"] == "arelu" and meta["test_accuracy"] == 12.5 and meta["library_version"]
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model.eval()(x))
    assert not list(tmp_path.glob(".*tmp"))  # no temporary left behind


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", MNISTConv("relu"), {"test_accuracy": 1.0})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(CheckpointError, match="No space left"):
        save_checkpoint(path, MNISTConv("arelu"))
    assert path.read_bytes() == before and not list(tmp_path.glob(".*tmp"))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/arelu_pwned",))


@pytest.mark.parametrize("kind", ["random", "truncated", "foreign", "exploit", "wrong_shapes", "missing", "empty"])
def test_bad_checkpoints_give_clear_errors(tmp_path, kind):
    path = tmp_path / f"{kind}.pt"
    good = save_checkpoint(tmp_path / "good.pt", MNISTConv("relu"))
    if kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[:2000])
    elif kind == "foreign":
        torch.save({"model": torch.nn.Linear(3, 3).state_dict()}, path)
    elif kind == "exploit":
        path.write_bytes(pickle.dumps(_Exploit()))
    elif kind == "wrong_shapes":
        payload = torch.load(good, weights_only=True)
        payload["metadata"]["activation"] = "maxout"
        torch.save(payload, path)
    elif kind == "empty":
        path.write_bytes(b"")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert path.name in message and "\n" not in message
    assert not Path("/tmp/arelu_pwned").exists()


# --- CLI ----------------------------------------------------------------------------------------------

def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "arelu_core", *args], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **(env or {})}, timeout=600)


@pytest.mark.parametrize("args,needle", [
    (["train", "--activation", "nope"], "unknown activation"),
    (["train", "--lr", "0"], "learning rate"),
    (["train", "--lr", "-0.1"], "learning rate"),
    (["train", "--batch-size", "0"], "batch size"),
    (["train", "--alpha", "1.5"], "alpha"),
    (["evaluate", "does-not-exist.pt"], "no such checkpoint"),
])
def test_cli_bad_input_is_one_line(args, needle):
    out = run_cli(*args)
    assert out.returncode == 2
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_cli_missing_data_offline(tmp_path):
    out = run_cli("train", "--data-dir", str(tmp_path / "nothing"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert str(tmp_path / "nothing") in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_cli_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    out = run_cli("evaluate", str(bad))
    assert out.returncode == 2 and "corrupt.pt" in out.stderr and "Traceback" not in out.stderr


def test_cli_train_json_and_evaluate(tmp_path, data_dir):
    ckpt = tmp_path / "cli.pt"
    out = run_cli("train", "--activation", "AReLU", "--optimizer", "adam", "--lr", "0.01", "--train-subset", "2048",
                  "--save", str(ckpt), "--json", "--data-dir", data_dir)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("test_accuracy", "epoch_seconds", "samples_per_second", "device"):
        assert key in summary
    assert isinstance(summary["epoch_seconds"], list) and summary["device"] == "cpu"
    assert "it/s" not in out.stderr  # no progress bar with --json
    out = run_cli("evaluate", str(ckpt), "--json", "--data-dir", data_dir)
    evaluated = json.loads(out.stdout.strip().splitlines()[-1])
    assert abs(evaluated["test_accuracy"] - summary["test_accuracy"]) < 1e-6


def test_cli_activations_json():
    out = run_cli("activations", "--json")
    rows = json.loads(out.stdout.strip().splitlines()[-1])["activations"]
    by_key = {r["key"]: r for r in rows}
    assert len([r for r in rows if r["in_paper_table1"]]) == 19
    assert by_key["arelu"]["params_per_layer"] == 2 and by_key["pau"]["params_per_layer"] == 10


def test_cli_bench_quick_json(data_dir):
    out = run_cli("bench", "--quick", "--only", "op", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["op"]["seconds"]["arelu"] > 0 and "arelu_vs_relu" in result["op"]


def test_cli_bench_maml_quick_json(data_dir):
    """Table 3's MAML timing, vectorised and looped, with its goal: a real (short) meta-training of each."""
    out = run_cli("bench", "--quick", "--only", "maml", "--device", "cpu", "--json")
    assert out.returncode == 0, out.stderr
    maml = json.loads(out.stdout.strip().splitlines()[-1])
    result, goals = maml["maml"], maml["goals"]
    assert result["vectorised"]["iterations"] == 20 and result["looped"]["iterations"] == 4
    assert result["vectorised"]["seconds_per_100"] > 0 and result["looped"]["seconds_per_100"] > 0
    assert list(goals) == ["maml_5way1shot <= 30 s per run"] and goals[list(goals)[0]].endswith(("met", "MISSED"))
