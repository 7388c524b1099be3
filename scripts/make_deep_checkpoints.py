"""Train the shipped deep checkpoints (Fig. 5 in the app): a ReLU and an AReLU ResNet-18 on Fashion-MNIST.

    python scripts/make_deep_checkpoints.py --data-dir ../shared/data          # CUDA when there is one
    python scripts/make_deep_checkpoints.py --out /tmp/deep --epochs 1         # elsewhere, a quick look
    python scripts/make_deep_checkpoints.py --repack --data-dir ../shared/data # float32 files -> float16

ResNet-18 at width 0.375 (channels 24/48/96/192, 1.6 M parameters), weights stored in float16: about 3 MB a
file (6 MB in float32; width 1 would be 45 MB). --repack rewrites existing files so, and measures them again. The paper's recipe (SGD lr 0.1, batch 64, weight decay 5e-4,
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
from arelu_core.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from arelu_core.trainer import deep_recipe, train  # noqa: E402

NETWORK, DATASET, WIDTH = "resnet18", "fashion-mnist", 0.375
WEIGHTS_DTYPE = torch.float16   # halves the files; accuracy measured again after the rounding


def file_fields(path: Path) -> dict:
    return {"bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def rounded_accuracy(model, data_dir) -> float:
    """Round the model's weights to WEIGHTS_DTYPE in place (what the file will hold) and return its test
    accuracy (%) on all Fashion-MNIST test images."""
    from arelu_core.data import load_dataset
    from arelu_core.network import accuracy
    test = load_dataset(DATASET, False, data_dir)
    model.to(WEIGHTS_DTYPE).float()
    return round(accuracy(model, test.images, test.labels), 2)


def repack(manifest: dict, out: Path, data_dir) -> None:
    """Store the manifest's files with WEIGHTS_DTYPE weights; test accuracy measured again on all test images."""
    for entry in manifest["models"].values():
        path = out / entry["file"]
        model, meta = load_checkpoint(path)
        before = entry.get("test_accuracy_float32", entry["test_accuracy"])
        scores = {"test_accuracy": rounded_accuracy(model, data_dir), "test_accuracy_float32": before}
        save_checkpoint(path, model, {**{k: v for k, v in meta.items() if k != "weights_dtype"}, **scores}, WEIGHTS_DTYPE)
        entry.update({**scores, "weights_dtype": str(WEIGHTS_DTYPE).removeprefix("torch."), **file_fields(path)})
        print(f"{entry['file']}: {before:.2f}% in float32 -> {entry['test_accuracy']:.2f}% in "
              f"{entry['weights_dtype']}, {entry['bytes'] / 1e6:.1f} MB", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activations", nargs="*", default=["relu", "arelu"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--width", type=float, default=WIDTH)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(ROOT / "models" / "deep"))
    parser.add_argument("--repack", action="store_true", help="rewrite the existing files in float16, no training")
    args = parser.parse_args()
    out = Path(args.out)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}}
    if args.repack:
        repack(manifest, out, args.data_dir)
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
        return
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
        scores = {"test_accuracy": rounded_accuracy(result.model, args.data_dir),
                  "test_accuracy_float32": result.test_accuracy}
        save_checkpoint(path, result.model, {**recipe, **scores, "device": result.device,
                                             "epoch_accuracies": result.epoch_accuracies}, WEIGHTS_DTYPE)
        manifest["models"][f"{NETWORK}-{act}"] = {
            "file": path.name, "title": f"ResNet-18 {activation_info(act).name} (Fashion-MNIST, width {args.width:g})",
            "activation": act, **recipe, **scores,
            "epoch_accuracies": result.epoch_accuracies, "epoch_seconds": [round(s, 2) for s in result.epoch_seconds],
            "amp": result.amp, "parameters": sum(p.numel() for p in result.model.parameters()),
            **file_fields(path), "weights_dtype": str(WEIGHTS_DTYPE).removeprefix("torch."),
            "library_version": __version__, "torch_version": str(torch.__version__), "device": result.device,
            "script": "scripts/make_deep_checkpoints.py"}
        print(f"{act:<6} test accuracy {scores['test_accuracy']:.2f}%  {path.stat().st_size / 1e6:.1f} MB -> {path}", flush=True)
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
