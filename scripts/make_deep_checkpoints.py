"""Train the shipped deep checkpoints (Fig. 5 in the app): a ReLU and an AReLU ResNet-18 on Fashion-MNIST.

    python scripts/make_deep_checkpoints.py --data-dir ../shared/data          # CUDA when there is one
    python scripts/make_deep_checkpoints.py --out /tmp/deep --epochs 1         # elsewhere, a quick look

ResNet-18 at width 0.375 (channels 24/48/96/192, 1.6 M parameters, about 6 MB a file: the shipped files
stay under 10 MB; width 1 would be 45 MB). The paper's recipe (SGD lr 0.1, batch 64, weight decay 5e-4,
momentum 0.9, crop + flip), seed 0, the same for both activations. Each manifest entry records how the
file was made and its test accuracy on all 10 000 Fashion-MNIST test images, measured right after training.
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

from arelu_core import __version__, activation_info  # noqa: E402
from arelu_core.checkpoint import save_checkpoint  # noqa: E402
from arelu_core.trainer import deep_recipe, train  # noqa: E402

NETWORK, DATASET, WIDTH = "resnet18", "fashion-mnist", 0.375


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activations", nargs="*", default=["relu", "arelu"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--width", type=float, default=WIDTH)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(ROOT / "models" / "deep"))
    args = parser.parse_args()
    out = Path(args.out)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}}
    for act in args.activations:
        config = deep_recipe(NETWORK, activation=act, dataset=DATASET, width=args.width, epochs=args.epochs, seed=0,
                             device=args.device, data_dir=args.data_dir, params_every=0, compile="off")
        result = train(config)
        if result.status != "finished":
            print(f"{act}: {result.status} ({result.message}); not shipped", file=sys.stderr)
            continue
        path = out / f"{NETWORK}_{act}_{DATASET}.pt"
        recipe = {k: getattr(config, k) for k in ("network", "dataset", "width", "optimizer", "lr", "batch_size",
                                                  "weight_decay", "momentum", "augment", "epochs", "seed")}
        save_checkpoint(path, result.model, {**recipe, "test_accuracy": result.test_accuracy, "device": result.device,
                                             "epoch_accuracies": result.epoch_accuracies})
        manifest["models"][f"{NETWORK}-{act}"] = {
            "file": path.name, "title": f"ResNet-18 {activation_info(act).name} (Fashion-MNIST, width {args.width:g})",
            "activation": act, **recipe, "test_accuracy": result.test_accuracy,
            "epoch_accuracies": result.epoch_accuracies, "epoch_seconds": [round(s, 2) for s in result.epoch_seconds],
            "amp": result.amp, "parameters": sum(p.numel() for p in result.model.parameters()),
            "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "library_version": __version__, "torch_version": str(torch.__version__), "device": result.device,
            "script": "scripts/make_deep_checkpoints.py"}
        print(f"{act:<6} test accuracy {result.test_accuracy:.2f}%  {path.stat().st_size / 1e6:.1f} MB -> {path}", flush=True)
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
