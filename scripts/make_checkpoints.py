"""Train the shipped MNIST-Conv checkpoints (models/*.pt) on the real MNIST and write models/manifest.json.

    python scripts/make_checkpoints.py --data-dir ../shared/data          # every registry activation
    python scripts/make_checkpoints.py --activations relu arelu            # a few (manifest is merged)
    python scripts/make_checkpoints.py --dataset fashion-mnist --activations relu arelu
        # -> models/fashion-mnist/<activation>.pt, manifest keys "fashion-mnist/<activation>"

Each entry records how the file was made (config, seed, versions, command) and the test accuracy
measured right after training; tests/test_checkpoints.py checks every file still scores within 0.1.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from arelu_core import __version__, list_activations  # noqa: E402
from arelu_core.checkpoint import save_checkpoint  # noqa: E402
from arelu_core.data import dataset_info  # noqa: E402
from arelu_core.trainer import TrainConfig, train  # noqa: E402

MODELS = ROOT / "models"
MANIFEST = MODELS / "manifest.json"
RECIPE = dict(optimizer="adam", lr=1e-3, batch_size=128, epochs=2, seed=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activations", nargs="*", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--dataset", default="mnist", help="a dataset key (default mnist); others go to models/<key>/")
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    args = parser.parse_args()
    info = dataset_info(args.dataset)
    recipe = {**RECIPE, "epochs": args.epochs}
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"models": {}}
    if info.key == "mnist":
        manifest["recipe"] = {**recipe, "data": "MNIST train (60 000), test accuracy on all 10 000 test digits",
                              "script": "scripts/make_checkpoints.py"}
    for key in args.activations or list_activations():
        result = train(TrainConfig(activation=key, device="cpu", data_dir=args.data_dir, dataset=info.key, **recipe))
        if result.status != "finished":
            print(f"{key}: {result.status} ({result.message}); not shipped", file=sys.stderr)
            continue
        stem = key.replace('+', '_')
        path = MODELS / (f"{stem}.pt" if info.key == "mnist" else f"{info.key}/{stem}.pt")
        meta = {**recipe, "dataset": info.key, "test_accuracy": result.test_accuracy, "device": result.device,
                "epoch_accuracies": result.epoch_accuracies}
        save_checkpoint(path, result.model, meta)
        entry_key = key if info.key == "mnist" else f"{info.key}/{key}"
        command = " ".join(["python scripts/make_checkpoints.py", *(["--dataset", info.key] if info.key != "mnist" else []),
                            *(["--epochs", str(args.epochs)] if args.epochs != RECIPE["epochs"] else []),
                            "--activations", key])
        manifest["models"][entry_key] = {
            "file": str(path.relative_to(MODELS)), "activation": key, "dataset": info.key, "command": command,
            "data": f"{info.name} train ({info.train_size:,}), test accuracy on all {info.test_size:,} test images",
            **recipe, "test_accuracy": result.test_accuracy,
            "epoch_accuracies": result.epoch_accuracies, "epoch_seconds": [round(s, 2) for s in result.epoch_seconds],
            "learned_parameters": result.model.activation_parameters() if key != "pau" else None,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "library_version": __version__,
            "torch_version": str(torch.__version__), "device": result.device}
        print(f"{key:<9} test accuracy {result.test_accuracy:.2f}%  -> {path.relative_to(ROOT)}", flush=True)
        MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
