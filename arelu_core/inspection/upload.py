"""Image uploads made safe and grey: any common picture (bytes, file, path, PIL image, array) in,
grey levels in [0, 1] out, or a ConfigError with a one-line message.

The hardening: the file is capped before it is read whole, pixel counts are checked from the header
before any pixel is decoded, and only plain raster formats are opened (PIL would hand an EPS to
Ghostscript, whatever the file is called).
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, one_line

MAX_FILE_BYTES = 20 * 1024 * 1024     # an upload larger than this is refused before decoding
MAX_PIXELS = 25_000_000               # ~5000x5000; lower than PIL's own bomb limit on purpose
UPLOAD_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "WEBP", "TIFF", "PPM", "ICO", "TGA", "PCX", "QOI")


def to_gray(source, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Grey levels in [0, 1], alpha already composited."""
    from PIL import Image
    if isinstance(source, torch.Tensor):
        source = source.detach().cpu().numpy()
    if isinstance(source, np.ndarray):
        return _array_to_gray(source, max_pixels)
    if isinstance(source, Image.Image):
        return _pil_to_gray(source, max_pixels)
    if isinstance(source, (str, Path)):
        try:
            with open(source, "rb") as f:           # capped: a huge file (or /dev/zero) is not read whole
                source = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read image file {source}: {exc.strerror or exc}") from None
    if hasattr(source, "read"):
        try:
            if hasattr(source, "seek"):
                source.seek(0)
            source = source.read(MAX_FILE_BYTES + 1)
        except (OSError, ValueError) as exc:    # a vanished upload, a closed file
            raise ConfigError(f"cannot read the image file ({exc})") from None
    if not isinstance(source, (bytes, bytearray, memoryview)):
        raise ConfigError(f"cannot use a {type(source).__name__} as an image; give image bytes or an array")
    return _bytes_to_gray(bytes(source), max_pixels)


def _bytes_to_gray(data: bytes, max_pixels: int) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError
    if not data:
        raise ConfigError("the image file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"the image file is larger than {MAX_FILE_BYTES // 2**20} MB; use a smaller picture")
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    try:
        with warnings.catch_warnings():
            # We enforce a stricter limit ourselves below; PIL's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # lazy: reads the header, not the pixels. Only plain raster formats: PIL would hand an EPS
            # (whatever its file name says) to Ghostscript, a program with a long record of exploits.
            Image.init()                         # registers every plugin, so that MPO etc. are known
            img = Image.open(io.BytesIO(data), formats=[f for f in UPLOAD_FORMATS if f in Image.OPEN])
        with img:
            _check_pixels(*img.size, limit)      # before any pixel is decoded
            img.seek(0)                          # animations: the first frame
            img.load()
            img = ImageOps.exif_transpose(img)   # phone photos store their rotation in EXIF
            return _pil_to_gray(img, limit)
    except ConfigError:
        raise
    except UnidentifiedImageError:
        raise ConfigError("not an image file (expected PNG, JPEG, GIF, BMP or WebP)") from None
    except Image.DecompressionBombError:
        raise ConfigError(f"the image has too many pixels (limit {limit:,})") from None
    except Exception as exc:  # truncated or corrupt data: PIL raises OSError, SyntaxError, ValueError, ...
        reason = one_line(exc, 120)
        raise ConfigError(f"the image file is damaged or truncated ({reason})") from None


def _check_pixels(width: int, height: int, limit: int) -> None:
    if width < 1 or height < 1:
        raise ConfigError(f"the image has no pixels ({width}x{height})")
    if width * height > limit:
        raise ConfigError(f"the image is too large ({width}x{height} pixels; limit {limit:,}); use a smaller picture")


def _pil_to_gray(img, max_pixels: int) -> np.ndarray:
    _check_pixels(*img.size, max_pixels)
    mode = img.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16/32-bit grey and float: scale by the format's range, not PIL's 8-bit clipping
        arr = np.asarray(img)
        if mode == "F":
            return _array_to_gray(arr.astype(np.float32), max_pixels)
        peak = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        return np.clip(arr.astype(np.float32) / peak, 0, 1)
    has_alpha = "A" in mode or "a" in mode or "transparency" in img.info
    return _array_to_gray(np.asarray(img.convert("RGBA" if has_alpha else "L")), max_pixels)


def _array_to_gray(arr: np.ndarray, max_pixels: int) -> np.ndarray:
    arr = np.asarray(arr)
    while arr.ndim > 2 and arr.shape[0] == 1:          # [1, 1, H, W] tensors, [1, H, W]
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ConfigError(f"an image array must be H x W, H x W x 3 or H x W x 4, got shape {arr.shape}")
    _check_pixels(arr.shape[1], arr.shape[0], max_pixels)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / (65535.0 if arr.dtype.itemsize > 1 and arr.max(initial=0) > 255 else 255.0)
    elif np.issubdtype(arr.dtype, np.floating):
        arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        if arr.max(initial=0) > 1.0:                     # floats holding 0..255
            arr = arr / 255.0
    else:
        raise ConfigError(f"cannot use an array of {arr.dtype} as an image")
    arr = np.clip(arr, 0.0, 1.0)
    if arr.ndim == 2:
        return arr
    gray = arr[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)   # ITU-R 601, as PIL's "L"
    if arr.shape[-1] == 3:
        return gray
    alpha = arr[..., 3]
    if alpha.max(initial=0) <= 0:
        raise ConfigError("the image is blank (fully transparent)")
    # Strokes on a transparent background (a canvas drawing, a sticker): composite on the colour that
    # contrasts with what is drawn, so dark ink lands on white and light ink on black.
    content = float((gray * alpha).sum() / alpha.sum())
    backdrop = 1.0 if content < 0.5 else 0.0
    return gray * alpha + backdrop * (1.0 - alpha)
