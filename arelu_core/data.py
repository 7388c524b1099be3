"""MNIST as in-memory tensors on the training device.

Where the data lives: an explicit directory (the CLI's --data-dir), else $ARELU_DATA_DIR, else a
per-user cache directory. The directory uses torchvision's layout (<dir>/MNIST/raw/...). With the
internet the digits are downloaded there; offline with no data, one line says where we looked.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

from .errors import DataUnavailableError

ENV_VAR = "ARELU_DATA_DIR"
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def default_data_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "arelu-lab" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $ARELU_DATA_DIR, else the per-user cache directory."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return default_data_dir()


def mnist_available(data_dir: str | os.PathLike | None = None) -> bool:
    raw = resolve_data_dir(data_dir) / "MNIST" / "raw"
    return all((raw / name).exists() or (raw / (name + ".gz")).exists() for name in RAW_FILES)


def download_mnist(data_dir: str | os.PathLike | None = None,
                   progress: Callable[[str, int, int], None] | None = None,
                   mirrors: list[str] | None = None, verify_md5: bool = True) -> Path:
    """Download the four MNIST files (torchvision's mirrors) into <dir>/MNIST/raw.

    progress(filename, bytes_done, bytes_total) is called as the bytes arrive (for a progress bar).
    Each file is written to a temporary name and renamed only once complete and verified.
    """
    from torchvision.datasets import MNIST
    raw = resolve_data_dir(data_dir) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    mirrors = mirrors or MNIST.mirrors
    for gz_name, md5 in MNIST.resources:
        target = raw / gz_name.removesuffix(".gz")
        if target.exists():
            continue
        errors = []
        for mirror in mirrors:
            try:
                _fetch(mirror + gz_name, raw / gz_name, md5 if verify_md5 else None, progress)
                break
            except Exception as exc:  # try the next mirror, remember why this one failed
                errors.append(f"{mirror}: {exc}")
        else:
            raise DataUnavailableError(f"could not download {gz_name} ({errors[-1] if errors else 'no mirror'})")
        with gzip.open(raw / gz_name, "rb") as src, open(str(target) + ".part", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(str(target) + ".part", target)
    return raw.parent.parent


def _fetch(url: str, dest: Path, md5: str | None, progress) -> None:
    part = dest.with_suffix(dest.suffix + ".part")
    digest = hashlib.md5()
    with urllib.request.urlopen(url, timeout=30) as response, open(part, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        while chunk := response.read(1 << 16):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(dest.name, done, total)
    if md5 and digest.hexdigest() != md5:
        part.unlink(missing_ok=True)
        raise OSError("checksum mismatch")
    os.replace(part, dest)


@dataclass
class MNISTTensors:
    images: torch.Tensor   # float32 [N, 1, 28, 28] in [0, 1] (ToTensor's scaling, no normalisation)
    labels: torch.Tensor   # int64 [N]

    def __len__(self):
        return len(self.labels)

    def subset(self, n: int | None) -> "MNISTTensors":
        return self if not n or n >= len(self) else MNISTTensors(self.images[:n], self.labels[:n])


def load_mnist(train: bool, data_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu",
               download: bool = True, progress=None) -> MNISTTensors:
    """The whole split as tensors on `device`; cached per process (several trainings share it)."""
    root = resolve_data_dir(data_dir)
    return _load_cached(str(root.resolve()), bool(train), str(torch.device(device)), download, progress)


@lru_cache(maxsize=8)
def _load_cached(root: str, train: bool, device: str, download: bool, progress) -> MNISTTensors:
    from torchvision.datasets import MNIST
    if not mnist_available(root):
        if not download:
            raise DataUnavailableError(_missing_message(root, "downloading is off"))
        try:
            download_mnist(root, progress=progress)
        except (DataUnavailableError, OSError) as exc:
            raise DataUnavailableError(_missing_message(root, f"download failed: {exc}")) from None
    try:
        dataset = MNIST(root, train=train, download=False)
    except Exception as exc:
        raise DataUnavailableError(f"MNIST files in {root}/MNIST/raw are unreadable ({exc}); delete them to re-download") from None
    images = dataset.data.to(device=device).unsqueeze(1).float().div_(255)
    return MNISTTensors(images, dataset.targets.to(device))


def _missing_message(root: str, why: str) -> str:
    return (f"MNIST not found in {root}/MNIST/raw and {why}; pass --data-dir or set {ENV_VAR} "
            f"to a folder holding MNIST/raw (torchvision's layout), or connect to the internet")


# ---- helper E stopgap: the dataset API helper D is adding (load_dataset, dataset_info). ----
# Only what the deep networks need (MNIST, Fashion-MNIST, CIFAR-100); D's version replaces this block.
@dataclass(frozen=True)
class DatasetInfo:
    key: str
    name: str
    channels: int
    size: int
    num_classes: int
    folder: str


DATASETS = {d.key: d for d in (DatasetInfo("mnist", "MNIST", 1, 28, 10, "MNIST/raw"),
                               DatasetInfo("fashion-mnist", "Fashion-MNIST", 1, 28, 10, "FashionMNIST/raw"),
                               DatasetInfo("cifar100", "CIFAR-100", 3, 32, 100, "cifar-100-python"))}


def dataset_info(name: str) -> DatasetInfo:
    from .errors import ConfigError
    key = str(name).strip().lower().replace("_", "-")
    key = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-100": "cifar100"}.get(key, key)
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[key]


def load_dataset(name: str, train: bool, data_dir=None, device="cpu", download: bool = True) -> MNISTTensors:
    info = dataset_info(name)
    if info.key == "mnist":
        return load_mnist(train, data_dir, device, download)
    return _load_other(info.key, str(resolve_data_dir(data_dir).resolve()), bool(train), str(torch.device(device)), download)


@lru_cache(maxsize=8)
def _load_other(key: str, root: str, train: bool, device: str, download: bool) -> MNISTTensors:
    import numpy as np
    import torchvision.datasets as tvd
    info = DATASETS[key]
    try:
        if key == "cifar100":
            class CIFAR100(tvd.CIFAR100):      # torchvision re-hashes the files on every load; a bad file fails to parse
                def _check_integrity(self):
                    return all(os.path.exists(os.path.join(self.root, self.base_folder, f)) for f in ("train", "test", "meta"))

                def _load_meta(self):              # (checks meta's md5 too); class names are not needed here
                    self.classes = []
            ds = CIFAR100(root, train=train, download=download)
            images = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
            labels = torch.tensor(ds.targets, dtype=torch.long)
        else:
            ds = tvd.FashionMNIST(root, train=train, download=download)
            images, labels = ds.data.unsqueeze(1), ds.targets.long()
    except Exception as exc:
        raise DataUnavailableError(f"{info.name} not found or unreadable in {root}/{info.folder} "
                                   f"({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}); "
                                   f"pass --data-dir or set {ENV_VAR}, or connect to the internet") from None
    return MNISTTensors(images.to(device).float().div_(255), labels.to(device))
# ---- end of helper E stopgap ----
