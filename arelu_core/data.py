"""Datasets as in-memory tensors on the training device: MNIST, Fashion-MNIST, KMNIST, SVHN, CIFAR-100.

Where the data lives: an explicit directory (the CLI's --data-dir), else $ARELU_DATA_DIR, else a
per-user cache directory, in torchvision's layout:

    <dir>/MNIST/raw/...            <dir>/FashionMNIST/raw/...     <dir>/KMNIST/raw/...   (idx files)
    <dir>/SVHN/{train,test}_32x32.mat                             <dir>/cifar-100-python/{train,test,meta}

Files are read by torchvision's own dataset classes; with the internet they are downloaded from
torchvision's URLs (checksums verified, progress reported); offline with no data, one line says
where we looked and how to fix it. A corrupt file is one line too (DataUnavailableError).

    load_dataset("fashion-mnist", train=True)            -> DatasetTensors [60000, 1, 28, 28]
    load_dataset("svhn", False, channels=3, size=28)     -> the transfer format of Table 2 (centre crop)
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

from .errors import ConfigError, DataUnavailableError

ENV_VAR = "ARELU_DATA_DIR"
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
    "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
    "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm").split()


@dataclass(frozen=True)
class DatasetInfo:
    key: str                   # registry key: "mnist", "fashion-mnist", "kmnist", "svhn", "cifar100"
    name: str                  # display name
    channels: int
    size: int                  # images are size x size
    num_classes: int
    class_names: tuple[str, ...]
    torchvision_class: str     # the torchvision.datasets class that reads (and downloads) it
    folder: str                # where its files go under the data directory
    files: tuple[str, ...]     # what must be in <dir>/<folder> for it to count as present
    train_size: int
    test_size: int
    download_mb: int
    ink_on_black: bool         # grey strokes/objects bright on a dark background (the MNIST family)
    source: str
    aliases: tuple[str, ...] = field(default=())

    @property
    def idx_format(self) -> bool:
        """The MNIST family: four idx files under <folder>, optionally gzipped."""
        return self.files == RAW_FILES

    def describe(self) -> str:
        return f"{self.name}: {self.channels}×{self.size}×{self.size}, {self.num_classes} classes"


def _idx(key, name, tv_class, classes, mb, source, aliases=()):
    return DatasetInfo(key, name, 1, 28, 10, tuple(classes), tv_class, f"{tv_class}/raw", RAW_FILES,
                       60000, 10000, mb, True, source, aliases)


DATASETS: dict[str, DatasetInfo] = {d.key: d for d in (
    _idx("mnist", "MNIST", "MNIST", [str(i) for i in range(10)], 11,
         "LeCun, Cortes & Burges, http://yann.lecun.com/exdb/mnist/"),
    _idx("fashion-mnist", "Fashion-MNIST", "FashionMNIST",
         ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
         30, "Xiao, Rasul & Vollgraf (Zalando), https://github.com/zalandoresearch/fashion-mnist",
         ("fashion", "fashion_mnist", "fashionmnist", "fmnist")),
    _idx("kmnist", "KMNIST", "KMNIST", ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"], 20,
         "Clanuwat et al., Kuzushiji-MNIST, https://github.com/rois-codh/kmnist", ("kuzushiji-mnist",)),
    DatasetInfo("svhn", "SVHN", 3, 32, 10, tuple(str(i) for i in range(10)), "SVHN", "SVHN",
                ("train_32x32.mat", "test_32x32.mat"), 73257, 26032, 246, False,
                "Netzer et al., Street View House Numbers, http://ufldl.stanford.edu/housenumbers/"),
    DatasetInfo("cifar100", "CIFAR-100", 3, 32, 100, tuple(_CIFAR100_CLASSES), "CIFAR100", "cifar-100-python",
                ("train", "test", "meta"), 50000, 10000, 161, False,
                "Krizhevsky, https://www.cs.toronto.edu/~kriz/cifar.html", ("cifar-100", "cifar_100")),
)}


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for a key or alias (case and '-'/'_' insensitive); ConfigError naming the choices."""
    wanted = str(name).strip().lower().replace("_", "-")
    for info in DATASETS.values():
        if wanted == info.key or wanted in {a.replace("_", "-") for a in info.aliases}:
            return info
    raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


def list_datasets() -> list[str]:
    return list(DATASETS)


ASSETS = Path(__file__).resolve().parents[1] / "assets"


def gallery_path(name: str) -> Path:
    """The shipped offline sample of a dataset's test images (scripts/make_digit_sample.py --dataset KEY).
    It exists for MNIST and Fashion-MNIST; for the others the Inspect page offers upload only."""
    return ASSETS / f"{dataset_info(name).key}_test_sample.npz"


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


def dataset_folder(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    return resolve_data_dir(data_dir) / dataset_info(name).folder


def dataset_available(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    info, folder = dataset_info(name), dataset_folder(name, data_dir)
    if info.idx_format:   # gzipped files count too (torchvision unpacks them)
        return all((folder / f).exists() or (folder / (f + ".gz")).exists() for f in info.files)
    return all((folder / f).exists() for f in info.files)


def mnist_available(data_dir: str | os.PathLike | None = None) -> bool:
    return dataset_available("mnist", data_dir)


# --------------------------------------------------------------------------- downloading

def download_dataset(name: str, data_dir: str | os.PathLike | None = None,
                     progress: Callable[[str, int, int], None] | None = None,
                     mirrors: list[str] | None = None, verify_md5: bool = True) -> Path:
    """Download a dataset's files from torchvision's URLs into <dir>/<folder>; returns the data directory.

    progress(filename, bytes_done, bytes_total) is called as the bytes arrive (for a progress bar).
    Each file is written to a temporary name and renamed only once complete and verified.
    `mirrors` replaces torchvision's base URLs (the MNIST family; tests serve files locally).
    """
    import torchvision.datasets as tvd
    info = dataset_info(name)
    root = resolve_data_dir(data_dir)
    folder = root / info.folder          # created by _fetch once a server answers (offline leaves no trace)
    tv = getattr(tvd, info.torchvision_class)
    if info.idx_format:
        for gz_name, md5 in tv.resources:
            target = folder / gz_name.removesuffix(".gz")
            if target.exists():
                continue
            _fetch_first([m + gz_name for m in (mirrors or tv.mirrors)], folder / gz_name,
                         md5 if verify_md5 else None, progress)
            with gzip.open(folder / gz_name, "rb") as src, open(str(target) + ".part", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(str(target) + ".part", target)
    elif info.key == "svhn":
        for split in ("train", "test"):
            url, filename, md5 = tv.split_list[split]
            if not (folder / filename).exists():
                _fetch_first([url], folder / filename, md5 if verify_md5 else None, progress)
    else:  # CIFAR-100: one archive holding the folder
        from torchvision.datasets.utils import extract_archive
        archive = root / tv.filename
        _fetch_first([tv.url], archive, tv.tgz_md5 if verify_md5 else None, progress)
        extract_archive(str(archive), str(root))
    return root


def download_mnist(data_dir: str | os.PathLike | None = None,
                   progress: Callable[[str, int, int], None] | None = None,
                   mirrors: list[str] | None = None, verify_md5: bool = True) -> Path:
    """The four MNIST files (kept for the callers and tests written before the other datasets)."""
    return download_dataset("mnist", data_dir, progress, mirrors, verify_md5)


def _fetch_first(urls: list[str], dest: Path, md5: str | None, progress) -> None:
    errors = []
    for url in urls:
        try:
            return _fetch(url, dest, md5, progress)
        except Exception as exc:  # try the next mirror, remember why this one failed
            errors.append(f"{url}: {exc}")
    raise DataUnavailableError(f"could not download {dest.name} ({errors[-1] if errors else 'no mirror'})")


def _fetch(url: str, dest: Path, md5: str | None, progress) -> None:
    part = dest.with_suffix(dest.suffix + ".part")
    digest = hashlib.md5()
    with urllib.request.urlopen(url, timeout=30) as response:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(part, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(dest.name, done, total)
            if md5 and digest.hexdigest() != md5:
                raise OSError("checksum mismatch")
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    os.replace(part, dest)


# --------------------------------------------------------------------------- loading

@dataclass
class DatasetTensors:
    images: torch.Tensor   # float32 [N, C, H, W] in [0, 1] (ToTensor's scaling, no normalisation)
    labels: torch.Tensor   # int64 [N]
    dataset: str = "mnist"

    def __len__(self):
        return len(self.labels)

    def subset(self, n: int | None) -> "DatasetTensors":
        return self if not n or n >= len(self) else DatasetTensors(self.images[:n], self.labels[:n], self.dataset)


MNISTTensors = DatasetTensors      # the name the trainer and the reproductions were written with


def load_dataset(name: str, train: bool, data_dir: str | os.PathLike | None = None,
                 device: str | torch.device = "cpu", download: bool = True, progress=None,
                 channels: int | None = None, size: int | None = None) -> DatasetTensors:
    """The whole split as tensors on `device`; cached per process (several trainings share it).

    channels/size convert to another network's input (Table 2's transfer format): grey repeated to
    3 channels, or RGB averaged to grey; a larger image centre-cropped, a smaller one zero-padded.
    """
    info = dataset_info(name)
    root = resolve_data_dir(data_dir)
    ensure_dataset(info.key, root, download, progress)
    data = _load_cached(info.key, str(root.resolve()), bool(train), str(torch.device(device)))
    return to_format(data, channels, size)


def load_mnist(train: bool, data_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu",
               download: bool = True, progress=None) -> DatasetTensors:
    return load_dataset("mnist", train, data_dir, device, download, progress)


def to_format(data: DatasetTensors, channels: int | None = None, size: int | None = None) -> DatasetTensors:
    """Images with `channels` channels and size x size pixels; views where possible (no copy of the set)."""
    images = data.images
    if channels and channels != images.shape[1]:
        if images.shape[1] == 1:
            images = images.expand(-1, channels, -1, -1)    # "colourised": the grey value in every channel
        elif channels == 1:
            images = images.mean(1, keepdim=True)
        else:
            raise ConfigError(f"cannot turn {images.shape[1]}-channel images into {channels} channels")
    if size and size != images.shape[-1]:
        h, w = images.shape[-2:]
        if size < h:                                        # centre crop (SVHN 32 -> 28)
            top, left = (h - size) // 2, (w - size) // 2
            images = images[..., top:top + size, left:left + size]
        else:                                               # zero padding (MNIST 28 -> 32)
            pad_h, pad_w = size - h, size - w
            images = torch.nn.functional.pad(images, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    return data if images is data.images else DatasetTensors(images, data.labels, data.dataset)


class _NoChecksumOnLoad:
    """torchvision's SVHN and CIFAR classes re-hash every file on each load; we check checksums when
    downloading, and a damaged file still fails to parse (one line). It also lets the tests feed
    small files in the real formats."""

    def _check_integrity(self) -> bool:
        return all(os.path.exists(os.path.join(self.root, getattr(self, "base_folder", ""), f))
                   for f in self._arelu_files)


def _read_torchvision(info: DatasetInfo, root: str, train: bool):
    """(uint8 images [N, C, H, W] tensor, int64 labels) read by torchvision's class for `info`."""
    import numpy as np
    import torchvision.datasets as tvd
    tv = getattr(tvd, info.torchvision_class)
    if info.idx_format:
        dataset = tv(root, train=train, download=False)
        return dataset.data.unsqueeze(1), dataset.targets.long()
    if info.key == "svhn":
        cls = type("SVHN", (_NoChecksumOnLoad, tv), {"_arelu_files": info.files})
        dataset = cls(os.path.join(root, info.folder), split="train" if train else "test", download=False)
        return torch.from_numpy(np.ascontiguousarray(dataset.data)), torch.from_numpy(dataset.labels % 10).long()

    class CIFAR100(_NoChecksumOnLoad, tv):
        _arelu_files = info.files

        def _load_meta(self):   # torchvision checks meta's md5 here too
            self.classes = list(info.class_names)
    dataset = CIFAR100(root, train=train, download=False)
    images = torch.from_numpy(np.ascontiguousarray(dataset.data.transpose(0, 3, 1, 2)))
    return images, torch.tensor(dataset.targets, dtype=torch.long)


def ensure_dataset(name: str, data_dir: str | os.PathLike | None = None, download: bool = True,
                   progress: Callable[[str, int, int], None] | None = None) -> Path:
    """The data directory, once the dataset's files are there (downloaded if need be); else one line."""
    info = dataset_info(name)
    root = str(resolve_data_dir(data_dir))
    if not dataset_available(info.key, root):
        if not download:
            raise DataUnavailableError(_missing_message(info, root, "downloading is off"))
        # MNIST through download_mnist: the app's tests replace that function to simulate the network.
        fetch = download_mnist if info.key == "mnist" else (lambda r, progress: download_dataset(info.key, r, progress))
        try:
            fetch(root, progress=progress)
        except (DataUnavailableError, OSError) as exc:
            raise DataUnavailableError(_missing_message(info, root, f"download failed: {exc}")) from None
    if info.idx_format:
        _gunzip_missing(Path(root) / info.folder)
    return Path(root)


def _gunzip_missing(folder: Path) -> None:
    """torchvision reads the idx files unpacked: unpack any that are there only gzipped (atomically)."""
    for name in RAW_FILES:
        target, packed = folder / name, folder / (name + ".gz")
        if not target.exists() and packed.exists():
            try:
                with gzip.open(packed, "rb") as src, open(str(target) + ".part", "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(str(target) + ".part", target)
            except (OSError, EOFError) as exc:
                Path(str(target) + ".part").unlink(missing_ok=True)
                raise DataUnavailableError(f"cannot unpack {packed} ({exc}); delete it to re-download") from None


@lru_cache(maxsize=8)
def _load_cached(key: str, root: str, train: bool, device: str) -> DatasetTensors:
    info = DATASETS[key]
    try:
        images, labels = _read_torchvision(info, root, train)
    except Exception as exc:  # truncated idx, a .mat that is not one, a foreign pickle: one line
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise DataUnavailableError(f"{info.name} files in {root}/{info.folder} are unreadable "
                                   f"({type(exc).__name__}: {reason}); delete them to re-download") from None
    expected = (info.channels, info.size, info.size)
    if images.ndim != 4 or tuple(images.shape[1:]) != expected or len(images) != len(labels) or not len(labels):
        raise DataUnavailableError(f"{info.name} files in {root}/{info.folder} hold images of shape "
                                   f"{tuple(images.shape)} and {len(labels)} labels, not N×{'×'.join(map(str, expected))} "
                                   f"with one label each; delete them to re-download")
    if int(labels.min()) < 0 or int(labels.max()) >= info.num_classes:
        raise DataUnavailableError(f"{info.name} files in {root}/{info.folder} hold labels outside "
                                   f"0..{info.num_classes - 1}; delete them to re-download")
    images = images.to(device=device).float().div_(255)
    return DatasetTensors(images, labels.to(device), key)


def _missing_message(info: DatasetInfo, root: str, why: str) -> str:
    return (f"{info.name} not found in {root}/{info.folder} and {why}; pass --data-dir or set {ENV_VAR} "
            f"to a folder holding {info.folder} (torchvision's layout), or connect to the internet")


def check_input(dataset: str, images: torch.Tensor) -> torch.Tensor:
    """`images` ([C, H, W] or [N, C, H, W]) as a model trained on `dataset` takes them; else one ConfigError line.

    A grey image for an RGB model is repeated into its channels (as Table 2 colourises MNIST); any
    other mismatch (RGB for a grey model, another size) is refused: resizing would silently change
    what the model sees.
    """
    info = dataset_info(dataset)
    x = images.unsqueeze(0) if images.ndim == 3 else images
    if x.ndim != 4:
        raise ConfigError(f"expected images of shape [N, C, H, W], got {tuple(images.shape)}")
    if x.shape[1] == 1 and info.channels > 1 and x.shape[-2:] == (info.size, info.size):
        x = x.expand(-1, info.channels, -1, -1)
    if tuple(x.shape[1:]) != (info.channels, info.size, info.size):
        shape = "×".join(map(str, x.shape[1:]))
        raise ConfigError(f"this model was trained on {info.describe()}; the image is {shape} "
                          f"(use an image of that dataset, or a checkpoint trained on one like it)")
    return x
