"""Fig. 5: Grad-CAM of deep networks (ResNet-18 and the others of deep_networks.py), one image, two models.

    cams = deep_cams(model, image)                 -> [StageCam("first layer", heat HxW, raw size), ...]
    pair = compare_deep(relu_model, arelu_model, image)   -> per stage: both maps and their difference

The paper's Fig. 5 shows Grad-CAM on the first layer's feature maps of ResNet-18; we give that and
each stage's output. Grad-CAM (Selvaraju et al.): the stage's maps weighted by the spatial mean of the
gradient of the target class's logit, summed over channels, ReLU'd, upsampled (bilinear) to the
image and scaled to [0, 1]. The gradient is taken on the logits (the timm network's own output),
not on the log-probabilities, which saturate for a confident prediction. Target: the class given,
else model A's prediction, so both maps explain the same class.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .deep_networks import DeepNetwork
from .errors import ConfigError


# The hooks sit on the model, which the app shares between sessions (cached): one Grad-CAM at a time.
_HOOKS = threading.Lock()


@dataclass
class StageCam:
    label: str                 # "first layer", "stage 1", ...
    heat: np.ndarray           # [H, W] of the image, in [0, 1]
    raw_size: tuple[int, int]  # the stage's map size before upsampling


@dataclass
class DeepCamComparison:
    label: str
    cam_a: np.ndarray
    cam_b: np.ndarray
    difference: np.ndarray     # cam_a - cam_b, in [-1, 1]
    raw_size: tuple[int, int]


def check_input(model, image: torch.Tensor) -> torch.Tensor:
    """[C, H, W] or [1, C, H, W] float image for `model`; ConfigError when it cannot be the model's input."""
    if not isinstance(model, DeepNetwork):
        raise ConfigError("Grad-CAM per stage needs a deep network checkpoint (ResNet-18, ...)")
    x = torch.as_tensor(image, dtype=torch.float32)
    x = x.unsqueeze(0) if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != model.in_channels:
        raise ConfigError(f"this {model.network_name} takes {model.in_channels}-channel images, "
                          f"got an image of shape {tuple(image.shape)}")
    return x


def deep_cams(model: DeepNetwork, image, target: int | None = None) -> tuple[list[StageCam], int, np.ndarray]:
    """(Grad-CAM of every stage, the class explained, the class probabilities) for one image."""
    x = check_input(model, image).to(next(model.parameters()).device)
    stages = model.stages()
    with _HOOKS:
        return _deep_cams(model, x, stages, target)


def _deep_cams(model, x, stages, target):
    maps: dict[str, torch.Tensor] = {}
    hooks = [module.register_forward_hook(lambda m, i, o, label=label: maps.__setitem__(label, o))
             for label, module in stages]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            logits = model.net(x)
            probs = logits.softmax(1)[0].detach().cpu().numpy()
            cls = int(logits.argmax(1)) if target is None else int(target)
            if not 0 <= cls < logits.shape[1]:
                raise ConfigError(f"class {cls} is outside 0..{logits.shape[1] - 1}")
            feats = [maps[label] for label, _ in stages]
            grads = torch.autograd.grad(logits[0, cls], feats)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    cams = []
    for (label, _), a, g in zip(stages, feats, grads):
        weights = g.mean(dim=(2, 3), keepdim=True)                    # alpha_k^c: pooled gradients
        cam = F.relu((weights * a).sum(1, keepdim=True)).detach()
        up = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
        top = float(up.max())
        heat = (up / top if top > 0 else up).cpu().numpy().astype(np.float32)
        cams.append(StageCam(label, heat, tuple(a.shape[-2:])))
    return cams, cls, probs


def compare_deep(model_a: DeepNetwork, model_b: DeepNetwork, image, target: int | None = None):
    """Both models' Grad-CAMs per stage, for the same class (A's prediction unless given), and A - B."""
    if model_a.network_name != model_b.network_name:
        raise ConfigError(f"compare two checkpoints of one network: got {model_a.network_name} and {model_b.network_name}")
    cams_a, cls, probs_a = deep_cams(model_a, image, target)
    cams_b, _, probs_b = deep_cams(model_b, image, cls)
    pairs = [DeepCamComparison(a.label, a.heat, b.heat, a.heat - b.heat, a.raw_size) for a, b in zip(cams_a, cams_b)]
    return pairs, cls, probs_a, probs_b
