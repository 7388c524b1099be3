"""How good is a class activation map? pytorch-grad-cam's own CAM metrics, and the share of the map on the object.

    cam = fig5_cam(model, image, target)                 # Grad-CAM of the first feature layer (paper Fig. 5)
    scores = cam_scores(model, image, cam, target)       # {"on_object": 0.41, "confidence_change": ..., ...}

The class score every metric reads is the softmax probability of `target` (ClassifierOutputSoftmaxTarget
on the network's logits), in eval mode. The metrics (METRICS) are pytorch_grad_cam.metrics' classes, called
as that library's tutorial calls them, plus one a student can check by eye:

- on_object: the share of the map's weight on the object's pixels. MNIST and Fashion-MNIST have a black
  background, so the object is every pixel whose grey level is above OBJECT_THRESHOLD (0.1 of full white).
- ROAD (Rong et al. 2022, ROADCombined): remove the most / least relevant pixels (by the map, at the
  percentiles 10..90), fill them in by noisy linear imputation, and average (LeRF - MoRF) / 2 of the class
  probability. The imputer draws its noise from torch's global generator: cam_scores seeds it per call
  (torch.manual_seed(seed) inside torch.random.fork_rng, numpy's legacy global state seeded and restored),
  so a score does not depend on what ran before, and the caller's generators are left as they were.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ._runtime import eval_mode, one_thread
from .cams import _Logits, cam_on_ink, compute_cam, model_name, no_feature_layers

OBJECT_THRESHOLD = 0.1          # grey level above which a pixel belongs to the digit / garment
ROAD_PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)   # ROADCombined's own default
ROAD_SEED = 0


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    help: str
    slow: bool = False           # ROAD: 18 imputations, about 0.3-1 s per image on a CPU


METRICS = {
    "on_object": Metric("Share on the object", True,
                        f"share of the map's weight on the object's pixels (grey level > {OBJECT_THRESHOLD})"),
    "confidence_change": Metric("Confidence change", True,
                                "CamMultImageConfidenceChange: p(class | image × map) − p(class | image)"),
    "drop_in_confidence": Metric("Drop in confidence", False, "DropInConfidence: max(0, −confidence change)"),
    "increase_in_confidence": Metric("Increase in confidence", True,
                                     "IncreaseInConfidence: 1 when p(class) rises on image × map, else 0"),
    "road": Metric("ROAD (combined)", True, "ROADCombined, percentiles 10–90: (LeRF − MoRF) / 2 of p(class)",
                   slow=True),
}


def fig5_cam(model: nn.Module, image, target: int, layer: int = 0) -> np.ndarray:
    """[H, W] Grad-CAM in [0, 1] of `target` at feature layer `layer` (0: the first, as in the paper's Fig. 5).

    MNIST-Conv: block `layer`'s activation output (inspection.cams); a deep network: its stage `layer`
    (0: the first layer's activation, deep_cam). Anything else has no feature layers: ConfigError."""
    if require_feature_layers(model) == "blocks":
        return compute_cam(model, image, layer, "post", "gradcam", int(target))
    from ..deep_cam import deep_cams
    stages = deep_cams(model, _batch(image)[0], int(target))[0]
    if not 0 <= layer < len(stages):
        raise ConfigError(f"layer must be 0..{len(stages) - 1} for {model_name(model)}, got {layer}")
    return stages[layer].heat


def layer_size(model: nn.Module, image, layer: int = 0) -> tuple[int, int]:
    """(H, W) of feature layer `layer`'s maps before the CAM is upsampled to the image: what it can resolve."""
    if require_feature_layers(model) == "blocks":
        with torch.no_grad(), eval_mode(model):
            return tuple(model.logits_and_features(_batch(image))[1][layer]["post"].shape[-2:])
    from ..deep_cam import deep_cams
    return tuple(deep_cams(model, _batch(image)[0], 0)[0][layer].raw_size)


def require_feature_layers(model: nn.Module) -> str:
    """"blocks" (MNIST-Conv's feature_layers()) or "stages" (a deep network's); ConfigError for neither."""
    for kind, method in (("blocks", "feature_layers"), ("stages", "stages")):
        if callable(getattr(model, method, None)):
            return kind
    raise no_feature_layers(model)


def mass_on_object(cam: np.ndarray, image, threshold: float = OBJECT_THRESHOLD) -> float:
    """Share of the map's weight on pixels brighter than `threshold` (nan for an all-zero map)."""
    return cam_on_ink(np.asarray(cam, dtype=np.float32), _batch(image), threshold)


def object_share(image, threshold: float = OBJECT_THRESHOLD) -> float:
    """The share of the image's pixels on the object: what a map spread evenly over the image scores."""
    return float((_batch(image)[0].amax(0) > threshold).float().mean())


@contextlib.contextmanager
def seeded(seed: int):
    """torch's and numpy's global generators seeded for the duration, then restored."""
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)


def cam_scores(model: nn.Module, image, cam: np.ndarray, target: int, road: bool = True,
               seed: int = ROAD_SEED) -> dict[str, float]:
    """Every metric of METRICS (ROAD only when `road`) for one image, its map and the class it explains."""
    scores = score_batch(model, _batch(image), np.asarray(cam)[None], [int(target)], road, seed)
    return {key: float(values[0]) for key, values in scores.items()}


def score_batch(model: nn.Module, images, cams: np.ndarray, targets, road: bool = True,
                seed: int = ROAD_SEED) -> dict[str, np.ndarray]:
    """cam_scores for B images at once ([B, C, H, W], maps [B, H, W], B classes): the network runs on the
    batch (ROAD's imputation is per image anyway). ROAD's noise then depends on the batch: seed is set
    once for the whole call."""
    from pytorch_grad_cam.metrics.cam_mult_image import (CamMultImageConfidenceChange, DropInConfidence,
                                                         IncreaseInConfidence)
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
    if not callable(getattr(model, "logits", None)):
        raise ConfigError(f"{model_name(model)} has no class scores (model.logits) to score a CAM with")
    x = torch.as_tensor(images).detach().float().cpu()
    cams = np.asarray(cams, dtype=np.float32)
    if x.ndim != 4 or cams.shape != (len(x), *x.shape[-2:]) or len(targets) != len(x):
        raise ConfigError(f"need one map of the image's size and one class per image: images {tuple(x.shape)}, "
                          f"maps {cams.shape}, {len(targets)} classes")
    scorer, classes = _Logits(model), [ClassifierOutputSoftmaxTarget(int(t)) for t in targets]
    scores = {"on_object": np.array([mass_on_object(c, i) for c, i in zip(cams, x)], dtype=np.float64)}
    x = x.to(next(model.parameters()).device)
    with one_thread(), eval_mode(model):
        for key, metric in (("confidence_change", CamMultImageConfidenceChange()),
                            ("drop_in_confidence", DropInConfidence()),
                            ("increase_in_confidence", IncreaseInConfidence())):
            scores[key] = np.asarray(metric(x, cams, classes, scorer), dtype=np.float64).reshape(-1)
        if road:
            with seeded(seed):
                road_scores = ROADCombined(percentiles=list(ROAD_PERCENTILES))(x, cams, classes, scorer)
            scores["road"] = np.asarray(road_scores, dtype=np.float64).reshape(-1)
    return scores


def _batch(image) -> torch.Tensor:
    """[1, C, H, W] float32 from [H, W], [C, H, W] or [1, C, H, W] (a tensor or an array)."""
    t = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image).detach().float()
    t = t.reshape(1, 1, *t.shape) if t.ndim == 2 else t.unsqueeze(0) if t.ndim == 3 else t
    if t.ndim != 4 or len(t) != 1:
        raise ConfigError(f"one image of shape [C, H, W] is needed, got {tuple(t.shape)}")
    return t.cpu()
