"""MNIST's own layout for a digit (LeCun et al.): ink bright on black, the digit scaled to fit a
20x20 box keeping its aspect ratio, then placed in 28x28 with its centre of mass at the centre.

The one place that knows the input shape of an MNIST image (MNIST_SHAPE); the rest of inspection
reads shapes from the tensors and the model.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError
from .upload import MAX_PIXELS, to_gray

MNIST_SHAPE = (1, 28, 28)             # channels, height, width
BOX = 20                              # MNIST fits each digit into 20x20 ...
SIZE = MNIST_SHAPE[-1]                # ... and centres it in 28x28
_NOISE_FLOOR = 0.05                   # stretched intensities below this are background, at least
_MIN_CONTRAST = 0.08                  # less difference between ink and background: a blank image


def prepare_digit(source, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """An image of a digit, in any common form, as a [1, 1, 28, 28] float tensor the MNIST way.

    `source`: encoded image bytes (PNG, JPEG, GIF, BMP, WebP, TIFF, ...; first frame of an
    animation), a binary file object (e.g. a Streamlit upload), a path, a PIL image, or an array
    (H x W grey, H x W x 3 RGB, H x W x 4 RGBA such as a canvas drawing; uint8, uint16, bool or float).
    """
    ink = _ink_on_black(to_gray(source, max_pixels))
    return torch.from_numpy(_mnist_layout(ink)).view(1, *MNIST_SHAPE)


def _ink_on_black(gray: np.ndarray) -> np.ndarray:
    """Bright ink on a black background, contrast stretched to [0, 1], background noise zeroed."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:                     # dark ink on light paper: MNIST wants the opposite
        gray, border, background = 1.0 - gray, 1.0 - border, 1.0 - background
    # Paper texture, sensor and JPEG noise on the border: a robust sigma (MAD), so strokes that
    # touch the edge do not count as noise
    noise = 1.4826 * float(np.median(np.abs(border - background)))
    contrast = float(gray.max()) - background
    if contrast < max(_MIN_CONTRAST, 4 * noise):
        raise ConfigError("the image is blank: no digit strokes stand out from the background")
    ink = np.clip((gray - background) / contrast, 0.0, 1.0)
    # Zero what is no brighter than the noise, or it would stretch the crop to the whole picture
    ink[ink < min(max(_NOISE_FLOOR, 3 * noise / contrast), 0.35)] = 0.0
    return ink


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """The strokes' bounding box: found on the strong pixels (so a stray speck far away does not
    count), then grown by a small margin to take back the faint anti-aliased edge."""
    strong = ink >= 0.5
    rows, cols = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
    margin = 2 + max(ink.shape) // 50
    top, bottom = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, ink.shape[0])
    left, right = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, ink.shape[1])
    ink = ink[top:bottom, left:right]
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _mnist_layout(ink: np.ndarray) -> np.ndarray:
    """Crop to the ink, fit into 20x20 keeping the aspect ratio, centre by mass in 28x28."""
    from PIL import Image
    ink = _crop_to_ink(ink)
    h, w = ink.shape
    if max(h, w) != BOX:
        scale = BOX / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        # BOX (area averaging) when shrinking keeps thin strokes as grey instead of dropping them
        resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
        ink = np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(size, resample))
        ink = np.clip(ink / max(float(ink.max()), 1e-6), 0.0, 1.0)   # thin strokes fade: restore the peak
        h, w = ink.shape
    total = ink.sum()
    cy = float((ink.sum(axis=1) * np.arange(h)).sum() / total)
    cx = float((ink.sum(axis=0) * np.arange(w)).sum() / total)
    # MNIST puts the centre of mass at pixel (14, 14) (measured on the test set: 14.0 +- 0.3)
    top = int(np.clip(round(SIZE / 2 - cy), 0, SIZE - h))
    left = int(np.clip(round(SIZE / 2 - cx), 0, SIZE - w))
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top:top + h, left:left + w] = ink
    return out


def prepare_image(source, dataset: str = "mnist", max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """An uploaded or drawn image prepared the way `dataset`'s own images were: [1, 1, 28, 28] in [0, 1].

    MNIST and KMNIST: prepare_digit (20x20 box, centre of mass). Fashion-MNIST (Xiao et al. 2017):
    the object bright on black, its longest side scaled to 28 pixels, centred. The Inspect page
    handles grey 28x28 datasets only: an RGB dataset is refused with one line.
    """
    from ..data import dataset_info
    info = dataset_info(dataset)
    if (info.channels, info.size, info.size) != MNIST_SHAPE:
        raise ConfigError(f"inspection handles 28×28 grey images (MNIST, Fashion-MNIST, KMNIST); "
                          f"this checkpoint was trained on {info.describe()}")
    if info.key != "fashion-mnist":
        return prepare_digit(source, max_pixels)
    ink = _crop_to_ink(_ink_on_black(to_gray(source, max_pixels)))
    h, w = ink.shape
    scale = SIZE / max(h, w)
    if scale != 1:
        from PIL import Image
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
        ink = np.clip(np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(size, resample)), 0, 1)
        h, w = ink.shape
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    top, left = (SIZE - h) // 2, (SIZE - w) // 2
    out[top:top + h, left:left + w] = ink
    return torch.from_numpy(out).view(1, 1, SIZE, SIZE)


def as_digit_tensor(digit, shape: tuple[int, int, int] = MNIST_SHAPE) -> torch.Tensor:
    """[1, C, H, W] float32 in [0, 1] from a prepared tensor or an image array of `shape` (C, H, W)
    (an MNIST uint8 image, say). A [1, C, H, W] tensor is taken as it is, whatever its shape."""
    t = torch.as_tensor(np.asarray(digit) if not isinstance(digit, torch.Tensor) else digit)
    if t.ndim == 4 and len(t) == 1:
        shape = tuple(t.shape[1:])
    if t.numel() != int(np.prod(shape)):
        raise ConfigError(f"a digit must have {shape[1]}x{shape[2]} pixels, got shape {tuple(t.shape)}; "
                          f"use prepare_digit first")
    t = t.detach().to("cpu", torch.float32).reshape(1, *shape)
    return t / 255.0 if t.max() > 1.0 else t
