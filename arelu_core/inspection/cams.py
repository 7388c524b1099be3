"""Class activation maps of one image through any network that reports its feature layers
(`model.feature_layers()`: per block, the modules behind forward_features' "pre" and "post" maps)
and its class scores (`model.logits`), and two models' maps compared (paper Fig. 5).

The methods are pytorch_grad_cam's; Score-CAM and Eigen-CAM are adjusted in their own files.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ._runtime import device_of, eval_mode, one_thread
from .layout import as_digit_tensor

# key -> display name. Score-CAM runs the network once per channel (batched here), so it is the slowest;
# Eigen-CAM ignores the class (first principal component of the maps).
CAM_METHODS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "xgradcam": "XGrad-CAM",
               "hirescam": "HiRes-CAM", "layercam": "Layer-CAM", "eigencam": "Eigen-CAM", "scorecam": "Score-CAM"}
CAM_STAGES = ("post", "pre")
# pytorch_grad_cam serialises nothing: its hooks sit on the (shared, cached) model, so two
# sessions computing CAMs on one model at once would mix their activations. One lock: CAMs take ms.
_CAM_LOCK = threading.Lock()


def load_cam_library() -> None:
    """Import pytorch_grad_cam now (it takes seconds) rather than inside the first compute_cam or CAM metric."""
    _cam_classes()
    import pytorch_grad_cam.metrics.cam_mult_image  # noqa: F401  (cam_metrics: scipy's sparse solver for ROAD)
    import pytorch_grad_cam.metrics.road  # noqa: F401


def _cam_classes() -> dict:
    import pytorch_grad_cam as pgc
    from .eigen_cam import OrientedEigenCAM
    from .score_cam import BatchedScoreCAM
    return {"gradcam": pgc.GradCAM, "gradcam++": pgc.GradCAMPlusPlus, "xgradcam": pgc.XGradCAM,
            "hirescam": pgc.HiResCAM, "layercam": pgc.LayerCAM, "eigencam": OrientedEigenCAM,
            "scorecam": BatchedScoreCAM}


def _resolve_method(method: str) -> str:
    key = str(method).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    key = {"gradcamplusplus": "gradcam++", "gradcampp": "gradcam++"}.get(key, key)
    if key not in CAM_METHODS:
        raise ConfigError(f"unknown CAM method {method!r}; choose one of: {', '.join(CAM_METHODS)}")
    return key


class _Logits(nn.Module):
    """The model's class scores before softmax, as a module for pytorch_grad_cam.

    Grad-CAM wants the score before softmax: d log p_c / dz = 1 - p_c is exactly 0 in float32 for a
    confident prediction, which would make every gradient-based CAM all zero.
    """
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.logits(x)


def model_name(model: nn.Module) -> str:
    """'ResNet-18 with relu', 'MNIST-Conv with arelu' or the class's name: for error messages."""
    network = getattr(model, "network_name", None) or ("mnist-conv" if hasattr(model, "blocks") else None)
    activation = getattr(model, "activation_name", None)
    return f"{network} with {activation}" if network and activation else type(model).__name__


def no_feature_layers(model: nn.Module) -> ConfigError:
    """The one line for a model whose feature maps a CAM cannot hook."""
    return ConfigError(f"{model_name(model)} has no feature layers: class activation maps and their metrics need an "
                       f"MNIST-Conv or a deep network checkpoint")


def feature_layers(model: nn.Module) -> list[dict[str, nn.Module]]:
    """MNIST-Conv's per-block CAM layers; ConfigError (one line) for a model that has none (a deep network's
    stages are deep_cam's)."""
    if not callable(getattr(model, "feature_layers", None)):
        raise no_feature_layers(model)
    return model.feature_layers()


def compute_cam(model: nn.Module, digit, block_index: int, stage: str = "post", method: str = "gradcam",
                target_class: int | None = None) -> np.ndarray:
    """An [H, W] heat map in [0, 1] (the input's size): where block `block_index` holds evidence for a class.

    stage "post" hooks the block's activation output, "pre" its input (the max-pool output).
    target_class None: the predicted class. Each map is normalised to [0, 1] on its own.
    A block with 1x1 maps (MNIST-Conv's third) cannot localise anything, so its map is uniform:
    ones if the block holds any positive evidence for the class, else zeros.
    """
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    key = _resolve_method(method)
    if stage not in CAM_STAGES:
        raise ConfigError(f"unknown stage {stage!r}; choose 'post' (after the activation) or 'pre' (before it)")
    layers = feature_layers(model)
    if not isinstance(block_index, (int, np.integer)) or not 0 <= block_index < len(layers):
        raise ConfigError(f"block index must be 0..{len(layers) - 1}, got {block_index}")
    x = as_digit_tensor(digit).to(device_of(model))
    with _CAM_LOCK, one_thread(), eval_mode(model):
        with torch.no_grad():
            scores = model.logits(x)
        if target_class is None:
            target_class = int(scores.argmax(1))
        if not 0 <= int(target_class) < scores.shape[1]:
            raise ConfigError(f"target class must be 0..{scores.shape[1] - 1}, got {target_class}")
        cam = _cam_classes()[key](model=_Logits(model), target_layers=[layers[block_index][stage]])
        try:
            heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(target_class))])[0]
            raw_size = tuple(cam.activations_and_grads.activations[0].shape[-2:])
        finally:
            cam.activations_and_grads.release()   # remove the hooks from the shared model
            model.zero_grad(set_to_none=True)     # and the parameter gradients backward() left there
        if raw_size == (1, 1):
            # pytorch_grad_cam min-max normalises each map, which turns any constant map into zeros
            evidence = _positive_evidence(model, x, block_index, stage, int(target_class))
            heat = np.full(x.shape[-2:], 1.0 if evidence else 0.0, dtype=np.float32)
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float32), nan=0.0)
    return np.clip(heat, 0.0, 1.0)


def _positive_evidence(model, x, block_index, stage, target_class) -> bool:
    """For 1x1 maps: is sum_k (d score / d A_k) * A_k > 0, i.e. would Grad-CAM's ReLU keep it?"""
    with torch.enable_grad():
        logits, features = model.logits_and_features(x)
        kept = features[block_index][stage]
        (grad,) = torch.autograd.grad(logits[0, target_class], kept)
    return float((grad * kept.detach()).sum()) > 0


@dataclass
class CamComparison:
    cam_a: np.ndarray          # [H, W] in [0, 1]
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
    ink = as_digit_tensor(digit)[0].amax(0).numpy() > threshold      # any channel inked
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
