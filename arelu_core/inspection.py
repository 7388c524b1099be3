"""What MNIST-Conv sees in one digit: preprocessing, predictions, feature maps and CAMs.

    digit = prepare_digit(uploaded_bytes_or_canvas_array)       -> [1, 1, 28, 28] float in [0, 1]
    result = inspect_digit(model, digit)                        -> probabilities, class, maps per block
    heat = compute_cam(model, digit, block_index=0, method="gradcam")   -> [28, 28] in [0, 1]
    diff = compare_cams(model_a, model_b, digit, 0)              -> both CAMs and their difference

prepare_digit follows MNIST's own recipe (LeCun et al.): ink bright on black, the digit scaled to
fit a 20x20 box keeping its aspect ratio, then placed in 28x28 with its centre of mass at the centre.
Anything that is not a usable picture of a digit is a ConfigError with a one-line message.
"""
from __future__ import annotations

import io
import sys
import threading
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError, DataUnavailableError

MAX_FILE_BYTES = 20 * 1024 * 1024     # an upload larger than this is refused before decoding
MAX_PIXELS = 25_000_000               # ~5000x5000; lower than PIL's own bomb limit on purpose
BOX = 20                              # MNIST fits each digit into 20x20 ...
SIZE = 28                             # ... and centres it in 28x28
FEATURE_SIZES = (12, 4, 1)            # spatial size of each block's maps in MNIST-Conv
GALLERY_PATH = Path(__file__).resolve().parents[1] / "assets" / "mnist_test_sample.npz"
_NOISE_FLOOR = 0.05                   # stretched intensities below this are background, at least
_MIN_CONTRAST = 0.08                  # less difference between ink and background: a blank image
UPLOAD_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "WEBP", "TIFF", "PPM", "ICO", "TGA", "PCX", "QOI")


# --------------------------------------------------------------------------- the offline gallery

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
    if gallery.images.shape[1:] != (SIZE, SIZE) or len(gallery.labels) != len(gallery.images):
        raise DataUnavailableError(f"digit gallery {path} does not hold 28x28 digits with labels")
    return gallery


# --------------------------------------------------------------------------- preprocessing

def prepare_digit(source, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """An image of a digit, in any common form, as a [1, 1, 28, 28] float tensor the MNIST way.

    `source`: encoded image bytes (PNG, JPEG, GIF, BMP, WebP, TIFF, ...; first frame of an
    animation), a binary file object (e.g. a Streamlit upload), a path, a PIL image, or an array
    (H x W grey, H x W x 3 RGB, H x W x 4 RGBA such as a canvas drawing; uint8, uint16, bool or float).
    """
    gray = _to_gray(source, max_pixels)
    ink = _ink_on_black(gray)
    return torch.from_numpy(_mnist_layout(ink)).view(1, 1, SIZE, SIZE)


def _to_gray(source, max_pixels: int) -> np.ndarray:
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
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
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
    the object bright on black, its longest side scaled to 28 pixels, centred. The page inspects grey
    28x28 datasets only: an RGB dataset's checkpoint is refused with one line.
    """
    from .data import dataset_info
    info = dataset_info(dataset)
    if (info.channels, info.size) != (1, SIZE):
        raise ConfigError(f"inspection handles 28×28 grey images (MNIST, Fashion-MNIST, KMNIST); "
                          f"this checkpoint was trained on {info.describe()}")
    if info.key != "fashion-mnist":
        return prepare_digit(source, max_pixels)
    ink = _crop_to_ink(_ink_on_black(_to_gray(source, max_pixels)))
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


def as_digit_tensor(digit) -> torch.Tensor:
    """[1, 1, 28, 28] float32 from a prepared tensor, a 28x28 array or an MNIST uint8 image."""
    t = torch.as_tensor(np.asarray(digit) if not isinstance(digit, torch.Tensor) else digit)
    if t.numel() != SIZE * SIZE:
        raise ConfigError(f"a digit must have 28x28 pixels, got shape {tuple(t.shape)}; use prepare_digit first")
    t = t.detach().to("cpu", torch.float32).reshape(1, 1, SIZE, SIZE)
    return t / 255.0 if t.max() > 1.0 else t


# --------------------------------------------------------------------------- predictions and maps

@dataclass
class DigitInspection:
    probabilities: np.ndarray          # [10], sums to 1
    predicted: int
    features: list[dict]               # per block {"pre": [C, H, W], "post": [C, H, W]} float32 numpy


@torch.no_grad()
def inspect_digit(model: nn.Module, digit) -> DigitInspection:
    """Class probabilities and each block's pre-/post-activation maps for one digit."""
    x = as_digit_tensor(digit).to(_device(model))
    with _one_thread(), _eval_mode(model):
        log_probs, features = model.forward_features(x)
    probs = log_probs[0].exp().cpu().numpy().astype(np.float64)
    maps = [{stage: f[stage][0].cpu().numpy() for stage in ("pre", "post")} for f in features]
    return DigitInspection(probabilities=probs, predicted=int(probs.argmax()), features=maps)


# --------------------------------------------------------------------------- class activation maps

def load_cam_library() -> None:
    """Import pytorch_grad_cam now (it takes seconds) rather than inside the first compute_cam."""
    _cam_classes()


def _cam_classes() -> dict:
    import pytorch_grad_cam as pgc
    return {"gradcam": pgc.GradCAM, "gradcam++": pgc.GradCAMPlusPlus, "xgradcam": pgc.XGradCAM,
            "hirescam": pgc.HiResCAM, "layercam": pgc.LayerCAM, **_patched_cams()}


# key -> display name. Score-CAM runs the network once per channel (batched here), so it is the slowest;
# Eigen-CAM ignores the class (first principal component of the maps).
CAM_METHODS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "xgradcam": "XGrad-CAM",
               "hirescam": "HiRes-CAM", "layercam": "Layer-CAM", "eigencam": "Eigen-CAM", "scorecam": "Score-CAM"}
CAM_STAGES = ("post", "pre")
# pytorch_grad_cam serialises nothing: its hooks sit on the (shared, cached) model, so two
# sessions computing CAMs on one model at once would mix their activations. One lock: CAMs take ms.
_CAM_LOCK = threading.Lock()


def _resolve_method(method: str) -> str:
    key = str(method).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    key = {"gradcamplusplus": "gradcam++", "gradcampp": "gradcam++"}.get(key, key)
    if key not in CAM_METHODS:
        raise ConfigError(f"unknown CAM method {method!r}; choose one of: {', '.join(CAM_METHODS)}")
    return key


class _Logits(nn.Module):
    """MNIST-Conv without its final log-softmax.

    Grad-CAM wants the class score before softmax: d log p_c / dz = 1 - p_c is exactly 0 in
    float32 for a confident prediction, which would make every gradient-based CAM all zero.
    """
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        for block in self.model.blocks:
            x = block(x)
        return self.model.classifier(x.flatten(1))


@lru_cache(maxsize=1)
def _patched_cams() -> dict:
    """Two pytorch_grad_cam methods adjusted for one small digit on a CPU.

    Defined lazily: importing pytorch_grad_cam takes seconds, which pages that never draw a CAM skip.
    - ScoreCAM: every masked input in one batch, and no tqdm progress bar written to stderr.
    - EigenCAM: the same first-principal-component projection, but a thin SVD in torch (numpy's full
      SVD on a busy 2-core CPU took 18 ms per map), and the component's arbitrary sign is chosen so
      that the map follows the activations rather than their complement.
    """
    from pytorch_grad_cam import EigenCAM, ScoreCAM

    class BatchedScoreCAM(ScoreCAM):
        def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
            with torch.no_grad():
                acts = torch.from_numpy(activations).to(self.device)
                up = F.interpolate(acts, size=input_tensor.shape[-2:], mode="bilinear", align_corners=True)
                flat = up.flatten(2)
                lo, hi = flat.min(-1).values[..., None, None], flat.max(-1).values[..., None, None]
                masks = (up - lo) / (hi - lo + 1e-8)
                weights = []
                for target, image, mask in zip(targets, input_tensor, masks):
                    scores = target(self.model(image[None] * mask[:, None]))   # one score per channel
                    weights.append(torch.softmax(scores, dim=-1))
                return torch.stack(weights).cpu().numpy()

    class OrientedEigenCAM(EigenCAM):
        def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):
            maps = []
            for act in torch.from_numpy(np.nan_to_num(activations)):            # [C, H, W]
                flat = act.flatten(1).T                                          # [H*W, C]
                centred = flat - flat.mean(0)
                if centred.abs().max() == 0:                                     # 1x1 maps, constant maps
                    maps.append(torch.zeros(act.shape[1:]))
                    continue
                projection = centred @ torch.linalg.svd(centred, full_matrices=False).Vh[0]
                if torch.dot(projection, flat.sum(1) - flat.sum(1).mean()) < 0:
                    projection = -projection
                maps.append(projection.reshape(act.shape[1:]))
            return torch.stack(maps).numpy().astype(np.float32)

    return {"scorecam": BatchedScoreCAM, "eigencam": OrientedEigenCAM}


def compute_cam(model: nn.Module, digit, block_index: int, stage: str = "post", method: str = "gradcam",
                target_class: int | None = None) -> np.ndarray:
    """A [28, 28] heat map in [0, 1]: where block `block_index`'s maps hold evidence for a class.

    stage "post" hooks the block's activation output, "pre" its input (the max-pool output).
    target_class None: the predicted class. Each map is normalised to [0, 1] on its own.
    Block 3 of MNIST-Conv has 1x1 maps: no localisation is possible there, so its map is uniform
    (ones if the block holds any positive evidence, else zeros); see FEATURE_SIZES.
    """
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    key = _resolve_method(method)
    if stage not in CAM_STAGES:
        raise ConfigError(f"unknown stage {stage!r}; choose 'post' (after the activation) or 'pre' (before it)")
    blocks = model.blocks
    if not isinstance(block_index, (int, np.integer)) or not 0 <= block_index < len(blocks):
        raise ConfigError(f"block index must be 0..{len(blocks) - 1}, got {block_index}")
    x = as_digit_tensor(digit).to(_device(model))
    layer = blocks[block_index].act if stage == "post" else blocks[block_index].pool
    with _CAM_LOCK, _one_thread(), _eval_mode(model):
        wrapper = _Logits(model)
        if target_class is None:
            with torch.no_grad():
                target_class = int(wrapper(x).argmax(1))
        if not 0 <= int(target_class) < 10:
            raise ConfigError(f"target class must be 0..9, got {target_class}")
        cam = _cam_classes()[key](model=wrapper, target_layers=[layer])
        try:
            heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(target_class))])[0]
            raw_size = tuple(cam.activations_and_grads.activations[0].shape[-2:])
        finally:
            cam.activations_and_grads.release()   # remove the hooks from the shared model
            model.zero_grad(set_to_none=True)     # and the parameter gradients backward() left there
        if raw_size == (1, 1):
            # pytorch_grad_cam min-max normalises each map, which turns any constant map into zeros
            evidence = _positive_evidence(model, x, block_index, stage, int(target_class))
            heat = np.full((SIZE, SIZE), 1.0 if evidence else 0.0, dtype=np.float32)
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float32), nan=0.0)
    return np.clip(heat, 0.0, 1.0)


def _positive_evidence(model, x, block_index, stage, target_class) -> bool:
    """For 1x1 maps: is sum_k (d score / d A_k) * A_k > 0, i.e. would Grad-CAM's ReLU keep it?"""
    with torch.enable_grad(), _eval_mode(model):
        h = x
        for i, block in enumerate(model.blocks):
            pre = block.pool(block.conv(h))
            if i == block_index and stage == "pre":
                pre.retain_grad()
                kept = pre
            h = block.act(pre)
            if i == block_index and stage == "post":
                h.retain_grad()
                kept = h
        model.classifier(h.flatten(1))[0, target_class].backward()
        value = float((kept.grad * kept).sum().detach())
        model.zero_grad(set_to_none=True)
    return value > 0


@dataclass
class CamComparison:
    cam_a: np.ndarray          # [28, 28] in [0, 1]
    cam_b: np.ndarray
    difference: np.ndarray     # cam_a - cam_b, in [-1, 1]
    on_ink_a: float            # share of each CAM's mass that lies on the digit's strokes
    on_ink_b: float
    correlation: float         # Pearson correlation of the two maps (nan when one is constant)


def cam_difference(cam_a: np.ndarray, cam_b: np.ndarray) -> np.ndarray:
    """Pixel-wise a - b in [-1, 1]: positive where model A looks more than model B."""
    a, b = np.asarray(cam_a, dtype=np.float32), np.asarray(cam_b, dtype=np.float32)
    if a.shape != b.shape:
        raise ConfigError(f"cannot compare CAMs of shapes {a.shape} and {b.shape}")
    return np.clip(a - b, -1.0, 1.0)


def cam_on_ink(cam: np.ndarray, digit, threshold: float = 0.2) -> float:
    """Fraction of the CAM's mass on ink pixels: the paper's "more focused" claim, as a number."""
    ink = as_digit_tensor(digit)[0, 0].numpy() > threshold
    total = float(np.sum(cam))
    return float(np.sum(cam[ink]) / total) if total > 0 else float("nan")


def compare_cams(model_a: nn.Module, model_b: nn.Module, digit, block_index: int, stage: str = "post",
                 method: str = "gradcam", target_class: int | None = None) -> CamComparison:
    """Both models' CAMs for the same digit, block, stage, method and class, and how they differ.

    With target_class None each model explains its own prediction.
    """
    a = compute_cam(model_a, digit, block_index, stage, method, target_class)
    b = compute_cam(model_b, digit, block_index, stage, method, target_class)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    return CamComparison(a, b, cam_difference(a, b), cam_on_ink(a, digit), cam_on_ink(b, digit), corr)


# --------------------------------------------------------------------------- helpers

def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


class _one_thread:
    """One thread for torch's and Numba's parallel regions for the duration.

    For a single 28x28 digit every op takes microseconds, and waking thread pools costs far more:
    on a busy 2-core CPU a conv took 15 ms with 2 OpenMP threads against 0.07 ms with one, and a
    Numba-parallel AReLU kernel 11 ms against 0.002 ms. Both settings are per calling thread (torch's
    OpenMP backend, Numba's thread masking), so a training in another thread keeps its threads.
    """
    def __enter__(self):
        self.torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        self.numba = sys.modules.get("numba")          # only when the AReLU kernels loaded it
        if self.numba is not None:
            self.numba_threads = self.numba.get_num_threads()
            self.numba.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.torch_threads)
        if self.numba is not None:
            self.numba.set_num_threads(self.numba_threads)


class _eval_mode:
    """Eval mode for the duration (RReLU's mean slope, no dropout), then the caller's mode back."""
    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)
