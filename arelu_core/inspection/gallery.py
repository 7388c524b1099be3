"""The offline gallery: a shipped sample of real MNIST test digits (scripts/make_digit_sample.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataUnavailableError
from .layout import MNIST_SHAPE

GALLERY_PATH = Path(__file__).resolve().parents[2] / "assets" / "mnist_test_sample.npz"


@dataclass
class Gallery:
    images: np.ndarray     # uint8 [N, 28, 28], MNIST test digits as stored (ink bright on black)
    labels: np.ndarray     # uint8 [N]
    indices: np.ndarray    # int [N], position of each digit in the 10 000-digit MNIST test set

    def __len__(self):
        return len(self.labels)

    def of_class(self, digit_class: int) -> np.ndarray:
        """Gallery positions holding that class, in test-set order."""
        return np.flatnonzero(self.labels == digit_class)


def load_gallery(path: str | Path | None = None) -> Gallery:
    """The shipped sample of real MNIST test digits (scripts/make_digit_sample.py writes it)."""
    path = Path(path) if path else GALLERY_PATH
    try:
        with np.load(path) as data:
            gallery = Gallery(data["images"], data["labels"], data["indices"])
    except FileNotFoundError:
        raise DataUnavailableError(f"digit gallery {path} is missing; run scripts/make_digit_sample.py") from None
    except Exception as exc:
        raise DataUnavailableError(f"digit gallery {path} is unreadable ({type(exc).__name__}); "
                                   f"run scripts/make_digit_sample.py") from None
    if gallery.images.shape[1:] != MNIST_SHAPE[1:] or len(gallery.labels) != len(gallery.images):
        raise DataUnavailableError(f"digit gallery {path} does not hold {MNIST_SHAPE[1]}x{MNIST_SHAPE[2]} digits "
                                   f"with labels")
    return gallery
