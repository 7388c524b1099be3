"""Every shipped checkpoint loads (weights_only) and still scores what its manifest says."""
import hashlib
import json

import pytest

from arelu_core import list_activations
from arelu_core.checkpoint import load_checkpoint
from arelu_core.data import load_mnist
from arelu_core.network import accuracy


def manifest(repo):
    return json.loads((repo / "models" / "manifest.json").read_text())


def test_manifest_covers_the_registry(repo):
    models = manifest(repo)["models"]
    assert {"relu", "arelu"} <= set(models)
    assert set(list_activations()) == set(models), "scripts/make_checkpoints.py makes one per activation"
    for key, entry in models.items():
        assert (repo / "models" / entry["file"]).exists(), key
        for field in ("optimizer", "lr", "batch_size", "epochs", "seed", "test_accuracy", "sha256"):
            assert field in entry, (key, field)


def test_every_checkpoint_scores_its_manifest(repo, data_dir):
    test = load_mnist(False, data_dir)
    for key, entry in manifest(repo)["models"].items():
        path = repo / "models" / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], key
        model, meta = load_checkpoint(path)
        assert meta["activation"] == key
        measured = accuracy(model, test.images, test.labels)
        assert measured == pytest.approx(entry["test_accuracy"], abs=0.1), key
