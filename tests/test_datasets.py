"""Datasets beyond MNIST: the registry, real Fashion-MNIST, SVHN / KMNIST / CIFAR-100 from small files
the tests write in the real formats, the transfer format, and one clear line for every bad input."""
import gzip
import http.server
import json
import pickle
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from arelu_core.checkpoint import load_checkpoint, save_checkpoint
from arelu_core.cli import main
from arelu_core.data import (DATASETS, check_input, dataset_available, dataset_info, download_dataset, load_dataset,
                             load_mnist, to_format)
from arelu_core.errors import CheckpointError, ConfigError, DataUnavailableError
from arelu_core.network import MNISTConv
from arelu_core.trainer import TrainConfig, train


# --- small files in the real formats ---------------------------------------------------------------

def write_svhn(root: Path, n_train=40, n_test=30, seed=0) -> dict:
    """train_32x32.mat / test_32x32.mat as SVHN ships them: X uint8 [32, 32, 3, N], y [N, 1], zero labelled 10."""
    from scipy.io import savemat
    rng = np.random.default_rng(seed)
    folder = root / "SVHN"
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        X = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        digits = np.arange(n) % 10
        y = np.where(digits == 0, 10, digits).reshape(n, 1).astype(np.uint8)
        savemat(folder / f"{split}_32x32.mat", {"X": X, "y": y})
        arrays[split] = (X, digits)
    return arrays


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx format (LeCun): magic 0x0000 08 <ndim>, big-endian int32 sizes, then the uint8 data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_dataset(root: Path, folder: str, n_train=50, n_test=20, seed=0, gz=False) -> dict:
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) * 7) % 10
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (raw / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
        arrays[prefix] = (images, labels)
    return arrays


def write_cifar100(root: Path, n_train=30, n_test=20, seed=0) -> dict:
    """cifar-100-python/{train,test,meta}: pickled dicts, data uint8 [N, 3072] (R, G, B planes), fine_labels."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [(i * 37) % 100 for i in range(n)]
        with open(folder / split, "wb") as f:
            pickle.dump({"data": data, "fine_labels": labels, "coarse_labels": [0] * n}, f)
        arrays[split] = (data, labels)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": list(dataset_info("cifar100").class_names)}, f)
    return arrays


# --- the registry ------------------------------------------------------------------------------------

def test_registry_keys_aliases_and_unknown_names():
    assert list(DATASETS) == ["mnist", "fashion-mnist", "kmnist", "svhn", "cifar100"]
    assert dataset_info("Fashion_MNIST").key == dataset_info("fashion").key == "fashion-mnist"
    assert (dataset_info("svhn").channels, dataset_info("svhn").size) == (3, 32)
    cifar = dataset_info("CIFAR-100")
    assert (cifar.num_classes, len(cifar.class_names), len(set(cifar.class_names))) == (100, 100, 100)
    assert dataset_info("fashion-mnist").class_names[9] == "Ankle boot"
    with pytest.raises(ConfigError) as info:
        dataset_info("imagenet")
    assert "unknown dataset 'imagenet'" in str(info.value) and "svhn" in str(info.value)
    with pytest.raises(ConfigError):
        TrainConfig(dataset="imagenet").validate()


def test_fashion_mnist_is_real(data_dir):
    test = load_dataset("fashion-mnist", False, data_dir)
    assert test.images.shape == (10000, 1, 28, 28) and test.labels.bincount().tolist() == [1000] * 10
    assert test.dataset == "fashion-mnist"
    # Not MNIST under another name: the first test images differ (and the official counts are 1000 per class).
    assert not torch.equal(test.images[:10], load_mnist(False, data_dir).images[:10])


# --- SVHN, KMNIST, CIFAR-100 from files in their real formats ------------------------------------------

def test_svhn_from_mat_files(tmp_path):
    arrays = write_svhn(tmp_path)
    assert dataset_available("svhn", tmp_path)
    train_set = load_dataset("svhn", True, tmp_path, download=False)
    X, digits = arrays["train"]
    assert train_set.images.shape == (40, 3, 32, 32) and train_set.images.dtype == torch.float32
    # Oracle: sample i is X[:, :, :, i] channels-first, /255; the label 10 means the digit 0.
    torch.testing.assert_close(train_set.images[7], torch.from_numpy(X[:, :, :, 7].transpose(2, 0, 1) / 255.0).float())
    assert train_set.labels.tolist() == digits.tolist() and train_set.labels.max() == 9
    test_set = load_dataset("svhn", False, tmp_path, download=False)
    assert len(test_set) == 30


def test_transfer_format_crops_svhn_and_colourises_grey(tmp_path, data_dir):
    write_svhn(tmp_path)
    full = load_dataset("svhn", False, tmp_path, download=False)
    cropped = load_dataset("svhn", False, tmp_path, download=False, channels=3, size=28)
    assert cropped.images.shape == (30, 3, 28, 28)
    torch.testing.assert_close(cropped.images, full.images[:, :, 2:30, 2:30])     # the centre 28x28
    grey = load_mnist(False, data_dir).subset(5)
    colour = to_format(grey, channels=3, size=28)
    assert colour.images.shape == (5, 3, 28, 28)
    assert all(torch.equal(colour.images[:, c], grey.images[:, 0]) for c in range(3))
    padded = to_format(grey, size=32)
    assert padded.images.shape == (5, 1, 32, 32) and torch.equal(padded.images[:, :, 2:30, 2:30], grey.images)


@pytest.mark.parametrize("gz", [False, True])
def test_kmnist_from_idx_files(tmp_path, gz):
    arrays = write_idx_dataset(tmp_path, "KMNIST", gz=gz)
    data = load_dataset("kmnist", True, tmp_path, download=False)
    images, labels = arrays["train"]
    assert data.images.shape == (50, 1, 28, 28)
    torch.testing.assert_close(data.images[:, 0], torch.from_numpy(images / 255.0).float())
    assert data.labels.tolist() == labels.tolist()


def test_cifar100_from_pickles(tmp_path):
    arrays = write_cifar100(tmp_path)
    data = load_dataset("cifar100", False, tmp_path, download=False)
    raw, labels = arrays["test"]
    assert data.images.shape == (20, 3, 32, 32) and data.labels.tolist() == labels
    torch.testing.assert_close(data.images[3], torch.from_numpy(raw[3].reshape(3, 32, 32) / 255.0).float())


def test_kmnist_download_with_progress_from_a_local_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    arrays = write_idx_dataset(mirror, "src", gz=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(mirror / "src" / "raw")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    progress = []
    try:
        download_dataset("kmnist", tmp_path / "data", progress=lambda *p: progress.append(p),
                         mirrors=[f"http://127.0.0.1:{server.server_address[1]}/"], verify_md5=False)
    finally:
        server.shutdown()
    assert {p[0] for p in progress} == {f"{s}-{k}-ubyte.gz" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1")}
    data = load_dataset("kmnist", False, tmp_path / "data", download=False)
    assert data.labels.tolist() == arrays["t10k"][1].tolist()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# --- bad input: one line each, nothing else lost -------------------------------------------------------

def _one_line(exc) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_missing_dataset_offline_is_one_line_and_leaves_no_folder(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("no internet")
    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DataUnavailableError) as info:
        load_dataset("svhn", True, tmp_path)
    message = _one_line(info)
    assert f"{tmp_path}/SVHN" in message and "--data-dir" in message and "ARELU_DATA_DIR" in message
    assert not (tmp_path / "SVHN").exists()      # a failed download leaves nothing half-made
    with pytest.raises(DataUnavailableError) as info:
        load_dataset("kmnist", False, tmp_path, download=False)
    assert "KMNIST not found" in _one_line(info) and "downloading is off" in str(info.value)


def test_corrupt_mat_is_one_line_and_the_file_is_kept(tmp_path):
    write_svhn(tmp_path)
    bad = tmp_path / "SVHN" / "test_32x32.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file, but then nothing useful" + bytes(64))
    with pytest.raises(DataUnavailableError) as info:
        load_dataset("svhn", False, tmp_path, download=False)
    assert "SVHN files in" in _one_line(info) and "unreadable" in str(info.value)
    assert bad.exists()
    assert len(load_dataset("svhn", True, tmp_path, download=False)) == 40   # the other split still loads


def test_mat_with_wrong_layout_is_one_line(tmp_path):
    from scipy.io import savemat
    (tmp_path / "SVHN").mkdir()
    for split in ("train", "test"):   # 28x28 grey digits stored as if they were SVHN
        savemat(tmp_path / "SVHN" / f"{split}_32x32.mat",
                {"X": np.zeros((28, 28, 1, 4), np.uint8), "y": np.ones((4, 1), np.uint8)})
    with pytest.raises(DataUnavailableError) as info:
        load_dataset("svhn", True, tmp_path, download=False)
    assert "not N×3×32×32" in _one_line(info)


def test_truncated_idx_is_one_line(tmp_path):
    write_idx_dataset(tmp_path, "KMNIST")
    path = tmp_path / "KMNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataUnavailableError) as info:
        load_dataset("kmnist", False, tmp_path, download=False)
    assert "KMNIST files in" in _one_line(info)


def test_checkpoint_records_its_dataset_and_refuses_other_shapes(tmp_path):
    torch.manual_seed(0)
    model = MNISTConv("arelu", in_channels=3, num_classes=10)
    path = save_checkpoint(tmp_path / "svhn.pt", model, {"dataset": "svhn"})
    loaded, meta = load_checkpoint(path)
    assert meta["dataset"] == "svhn" and loaded.in_channels == 3
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x), model.eval()(x))
    assert check_input("svhn", torch.rand(1, 32, 32)).shape == (1, 3, 32, 32)   # grey -> 3 channels
    with pytest.raises(ConfigError) as info:
        check_input("svhn", torch.rand(1, 1, 28, 28))          # an MNIST digit for an SVHN model
    assert "trained on SVHN: 3×32×32" in _one_line(info) and "1×28×28" in str(info.value)
    with pytest.raises(ConfigError):
        check_input("mnist", torch.rand(1, 3, 28, 28))
    # Older checkpoints have no "dataset": they are MNIST's.
    old = save_checkpoint(tmp_path / "old.pt", MNISTConv("relu"), {})
    assert load_checkpoint(old)[1]["dataset"] == "mnist"
    odd = save_checkpoint(tmp_path / "odd.pt", MNISTConv("relu"), {"dataset": "imagenet"})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(odd)
    assert "unknown dataset 'imagenet'" in _one_line(info) and "odd.pt" in str(info.value)


# --- training and the CLI --------------------------------------------------------------------------------

def test_training_on_fashion_mnist_learns(data_dir):
    result = train(TrainConfig(activation="arelu", dataset="fashion", optimizer="adam", lr=3e-3, train_subset=3000,
                               test_subset=2000, device="cpu", compile="off"))
    assert result.config.dataset == "fashion-mnist" and result.status == "finished"
    assert result.test_accuracy > 50      # chance is 10 %; measured ~65 % after these 24 steps


def test_training_on_synthetic_svhn_builds_an_rgb_network(tmp_path):
    write_svhn(tmp_path, n_train=64, n_test=20)
    result = train(TrainConfig(activation="relu", dataset="svhn", data_dir=str(tmp_path), batch_size=32,
                               device="cpu", compile="off"))
    assert result.status == "finished" and result.steps == 2
    assert result.model.blocks[0].conv.in_channels == 3 and result.model.classifier.out_features == 10


def test_cli_dataset_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError("no internet")))
    assert main(["train", "--dataset", "imagenet", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown dataset" in err[0]
    assert main(["train", "--dataset", "svhn", "--data-dir", str(tmp_path), "--json"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "SVHN not found" in err[0] and str(tmp_path) in err[0]
    assert "error" in json.loads(captured.out.strip().splitlines()[-1])
    path = save_checkpoint(tmp_path / "svhn.pt", MNISTConv("relu", in_channels=3), {"dataset": "svhn"})
    assert main(["evaluate", str(path), "--dataset", "mnist"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on SVHN" in err[0] and "cannot classify MNIST" in err[0]


def test_cli_trains_on_synthetic_svhn_and_evaluates_the_checkpoint(tmp_path, capsys):
    write_svhn(tmp_path, n_train=64, n_test=20)
    ckpt = tmp_path / "m.pt"
    assert main(["train", "--dataset", "svhn", "--data-dir", str(tmp_path), "--batch-size", "32",
                 "--device", "cpu", "--save", str(ckpt), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["config"]["dataset"] == "svhn"
    assert main(["evaluate", str(ckpt), "--data-dir", str(tmp_path), "--device", "cpu", "--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["dataset"] == "svhn" and again["test_accuracy"] == pytest.approx(out["test_accuracy"])


def test_fashion_gallery_sample_is_the_real_test_set(repo, data_dir):
    """assets/fashion-mnist_test_sample.npz: the first 20 test images of each class, exactly as stored."""
    test = load_dataset("fashion-mnist", False, data_dir)
    with np.load(repo / "assets" / "fashion-mnist_test_sample.npz") as sample:
        images, labels, indices = sample["images"], sample["labels"], sample["indices"]
    assert images.shape == (200, 28, 28) and labels.tolist() == [c for c in range(10) for _ in range(20)]
    for c in range(10):
        assert indices[20 * c: 20 * (c + 1)].tolist() == (test.labels == c).nonzero().flatten()[:20].tolist()
    np.testing.assert_array_equal(images, (test.images[indices, 0] * 255).round().byte().numpy())


def test_upload_preprocessing_follows_the_dataset():
    """A dark trouser-like bar on white paper: Fashion-MNIST's recipe fills the height (28 px), MNIST's the 20 px box."""
    from PIL import Image
    from arelu_core import inspection
    paper = np.full((300, 200), 255, np.uint8)
    paper[30:270, 80:120] = 20                               # a tall dark object, 240 x 40
    buffer = __import__("io").BytesIO()
    Image.fromarray(paper).save(buffer, "PNG")
    clothes = inspection.prepare_image(buffer.getvalue(), "fashion-mnist")[0, 0]
    digit = inspection.prepare_image(buffer.getvalue(), "mnist")[0, 0]
    assert clothes.shape == digit.shape == (28, 28)
    rows = lambda img: (img > 0.5).any(1).nonzero().flatten()            # noqa: E731
    assert rows(clothes)[-1] - rows(clothes)[0] + 1 == 28 and rows(digit)[-1] - rows(digit)[0] + 1 == 20
    assert clothes[14, 14] > 0.9 and clothes[0, 0] == 0                  # bright object on black, centred
    with pytest.raises(ConfigError) as info:
        inspection.prepare_image(buffer.getvalue(), "svhn")
    assert "trained on SVHN" in _one_line(info)
