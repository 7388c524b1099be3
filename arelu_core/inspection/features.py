"""What a network makes of one image: class probabilities and each block's maps before and after
its activation (paper Fig. 1, right)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._runtime import device_of, eval_mode, one_thread
from .layout import as_digit_tensor


@dataclass
class DigitInspection:
    probabilities: np.ndarray          # [classes], sums to 1
    predicted: int
    features: list[dict]               # per block {"pre": [C, H, W], "post": [C, H, W]} float32 numpy


@torch.no_grad()
def inspect_digit(model: nn.Module, digit) -> DigitInspection:
    """Class probabilities and each block's pre-/post-activation maps for one image."""
    x = as_digit_tensor(digit).to(device_of(model))
    with one_thread(), eval_mode(model):
        log_probs, features = model.forward_features(x)
    probs = log_probs[0].exp().cpu().numpy().astype(np.float64)
    maps = [{stage: f[stage][0].cpu().numpy() for stage in ("pre", "post")} for f in features]
    return DigitInspection(probabilities=probs, predicted=int(probs.argmax()), features=maps)
