"""Every shipped checkpoint loads (weights_only) and still scores what its manifest says."""
import hashlib
import json

import pytest

from arelu_core import list_activations
from arelu_core.checkpoint import load_checkpoint
from arelu_core.data import load_dataset
from arelu_core.network import accuracy


def manifest(repo):
    return json.loads((repo / "models" / "manifest.json").read_text())


def test_manifest_covers_the_registry(repo):
    models = manifest(repo)["models"]
    mnist = {k for k, e in models.items() if e.get("dataset", "mnist") == "mnist"}
    assert {"relu", "arelu"} <= mnist
    assert set(list_activations()) == mnist, "scripts/make_checkpoints.py makes one per activation"
    # Fashion-MNIST: at least the ReLU / AReLU pair the Inspect page compares on clothes.
    assert {"fashion-mnist/relu", "fashion-mnist/arelu"} <= set(models)
    for key, entry in models.items():
        assert (repo / "models" / entry["file"]).exists(), key
        for field in ("optimizer", "lr", "batch_size", "epochs", "seed", "test_accuracy", "sha256"):
            assert field in entry, (key, field)


def test_every_checkpoint_scores_its_manifest(repo, data_dir):
    for key, entry in manifest(repo)["models"].items():
        path = repo / "models" / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], key
        model, meta = load_checkpoint(path)
        assert meta["activation"] == entry["activation"] and meta["dataset"] == entry.get("dataset", "mnist"), key
        test = load_dataset(meta["dataset"], False, data_dir)
        measured = accuracy(model, test.images, test.labels)
        assert measured == pytest.approx(entry["test_accuracy"], abs=0.1), key


def test_weights_stored_in_float16_load_back_as_float32(tmp_path):
    """The shipped deep networks' storage: half the bytes, the model's float32 parameters hold the rounded values."""
    import torch
    from arelu_core.checkpoint import load_checkpoint, save_checkpoint
    from arelu_core.network import MNISTConv
    torch.manual_seed(0)
    model = MNISTConv("arelu")
    full = save_checkpoint(tmp_path / "full.pt", model)
    half = save_checkpoint(tmp_path / "half.pt", model, weights_dtype=torch.float16)
    assert half.stat().st_size < full.stat().st_size
    loaded, meta = load_checkpoint(half)
    assert meta["weights_dtype"] == "float16"
    for (name, want), got in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert got.dtype == want.dtype == torch.float32, name
        assert torch.equal(got, want.half().float()), name
