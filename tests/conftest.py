"""Shared fixtures. Tests use the real MNIST: $ARELU_DATA_DIR, else ../shared/data beside the repo."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"
# Absolute: several tests change the working directory (and a relative path would then point nowhere).
os.environ["ARELU_DATA_DIR"] = str(Path(os.environ.get("ARELU_DATA_DIR") or DEFAULT_DATA_DIR).absolute())


@pytest.fixture(scope="session")
def data_dir() -> str:
    path = os.environ["ARELU_DATA_DIR"]
    from arelu_core.data import mnist_available
    if not mnist_available(path):
        pytest.fail(f"the real MNIST is needed for this test; set ARELU_DATA_DIR (looked in {path})")
    return path


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def one_thread():
    """One torch thread: on a small shared CPU, spinning idle threads slowed small trainings many times over."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
