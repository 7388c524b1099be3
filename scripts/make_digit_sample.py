"""Write assets/mnist_test_sample.npz: a fixed sample of real MNIST test digits for the offline gallery.

The app ships this file so that the "Feature maps & Grad-CAM" page works without MNIST on disk.
The pick is deterministic: the first N digits of each class in test-set order (no RNG, so the
same MNIST files always give the same bytes).

    python scripts/make_digit_sample.py [--data-dir DIR] [--per-class 20] [--out assets/mnist_test_sample.npz]
    python scripts/make_digit_sample.py --dataset fashion-mnist     # -> assets/fashion-mnist_test_sample.npz

--data-dir defaults to $ARELU_DATA_DIR (torchvision layout: DIR/MNIST/raw/t10k-*-ubyte[.gz], or
DIR/FashionMNIST/raw/... and DIR/KMNIST/raw/... for the other idx datasets).
"""
from __future__ import annotations

import argparse
import gzip
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def read_idx(raw: Path, name: str) -> np.ndarray:
    """An IDX file (plain or .gz) as a numpy array; reading it ourselves keeps the script torch-free."""
    path = raw / name if (raw / name).exists() else raw / (name + ".gz")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}   # torchvision's folder names


def make_sample(data_dir: Path, per_class: int, dataset: str = "mnist") -> dict[str, np.ndarray]:
    raw = data_dir / FOLDERS[dataset] / "raw"
    images = read_idx(raw, "t10k-images-idx3-ubyte")
    labels = read_idx(raw, "t10k-labels-idx1-ubyte")
    if images.shape != (10000, 28, 28) or labels.shape != (10000,):
        raise SystemExit(f"unexpected {dataset} test set shapes {images.shape}, {labels.shape} in {raw}")
    # Class-major order: gallery index k is class k // per_class, easy to pick "a 7" in the UI.
    indices = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)])
    return {"images": images[indices].copy(), "labels": labels[indices].astype(np.uint8),
            "indices": indices.astype(np.int32)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("ARELU_DATA_DIR"),
                        help="folder holding MNIST/raw (default: $ARELU_DATA_DIR)")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--dataset", choices=sorted(FOLDERS), default="mnist")
    parser.add_argument("--out", type=Path, help="default: assets/<dataset>_test_sample.npz")
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("no data folder: pass --data-dir or set ARELU_DATA_DIR")
    args.out = args.out or ROOT / "assets" / f"{args.dataset}_test_sample.npz"
    sample = make_sample(Path(args.data_dir).expanduser(), args.per_class, args.dataset)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **sample)
    print(f"wrote {args.out} ({len(sample['labels'])} images, {args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
