"""Numbers behind the Explore page: AReLU's effective slopes, activation curves, learned layer curves."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from torch import nn

from .activations import activation_info, evaluate_activation, resolve_name
from .activations.registry import ELSA_SUFFIX
from .activations.formula import ALPHA_MAX, ALPHA_MIN
from .errors import ConfigError


def clamped_alpha(alpha: float) -> float:
    """C(alpha): the slope AReLU gives negative inputs."""
    return min(max(float(alpha), ALPHA_MIN), ALPHA_MAX)


def sigmoid(beta: float) -> float:
    """sigmoid(beta), stable for any beta: ELSA's slope for non-negative inputs, in (0, 1)."""
    beta = float(beta)
    return 1 / (1 + math.exp(-beta)) if beta >= 0 else math.exp(beta) / (1 + math.exp(beta))


def amplification(beta: float) -> float:
    """1 + sigmoid(beta): the slope AReLU gives non-negative inputs, in (1, 2)."""
    return 1 + sigmoid(beta)


def attention_slopes(activation: str, params: dict[str, float]) -> dict[str, float]:
    """The slopes ELSA's alpha and beta give (AReLU: C(α) and 1 + σ(β); '<base>+elsa': C(α) and σ(β),
    added to the base's). {} for an activation without ELSA's attention (CAReLU's alpha is another thing)."""
    if not activation_info(activation).attention or not {"alpha", "beta"} <= set(params):
        return {}
    with_elsa = resolve_name(activation)[1]
    positive = sigmoid(params["beta"]) if with_elsa else amplification(params["beta"])
    return {"C(α)": clamped_alpha(params["alpha"]), "σ(β)" if with_elsa else "1 + σ(β)": positive}


def grid(x_range: float, points: int = 801) -> np.ndarray:
    """Symmetric grid that contains 0 exactly (where AReLU's two branches meet)."""
    x = np.linspace(-abs(x_range), abs(x_range), points | 1)
    x[len(x) // 2] = 0.0
    return x


@dataclass
class Curve:
    name: str          # registry name, e.g. "relu+elsa"
    label: str         # display name, e.g. "ReLU+ELSA"
    y: np.ndarray
    dy: np.ndarray


def curves(names: list[str], x: np.ndarray, params: dict[str, dict] | None = None) -> tuple[list[Curve], list[str]]:
    """F(x) and dF/dx of each element-wise activation; the second list names those skipped and why."""
    params = params or {}
    drawn, skipped = [], []
    for name in names:
        info = activation_info(name)
        if not info.elementwise:
            skipped.append(f"{info.name}: not element-wise (it mixes channels), so it has no 1-D curve")
            continue
        y, dy = evaluate_activation(name, x, **params.get(name, {}))
        drawn.append(Curve(name, info.name, y, dy))
    return drawn, skipped


def largest_difference(a: Curve, b: Curve) -> float:
    """The largest |F_a(x) - F_b(x)| over the grid. (Not dF/dx: at the kink x = 0 each activation picks its own
    one-sided slope, ReLU's 0 where AReLU takes 1 + σ(β), so the same function may differ there.)"""
    return float(np.max(np.abs(a.y - b.y)))


def same_curve(a: Curve, b: Curve, tolerance: float = 1e-9) -> bool:
    """Is one curve the other on this grid (ReLU + ELSA and AReLU with the same α, β, say)?"""
    return largest_difference(a, b) <= tolerance


def elsa_names(include_non_elementwise: bool = False) -> list[str]:
    """'<base>+elsa' for every registered base activation (AReLU itself is ReLU + ELSA already)."""
    from .activations import list_activations
    return [key + ELSA_SUFFIX for key in list_activations()
            if key != "arelu" and (include_non_elementwise or activation_info(key).elementwise)]


@dataclass
class LayerCurve:
    layer: int                  # 1-based block index
    learned: Curve
    parameters: dict[str, float]


def learned_layer_curves(model: nn.Module, x: np.ndarray) -> list[LayerCurve]:
    """The activation curve of each MNIST-Conv block as trained (paper Fig. 2c). The model is not touched:
    evaluate_activation casts a module to float64, so each activation is evaluated on a copy."""
    if not activation_info(model.activation_name).elementwise:
        raise ConfigError(f"{activation_info(model.activation_name).name} is not element-wise: it has no 1-D curve")
    label = activation_info(model.activation_name).name
    layers = []
    for index, (block, parameters) in enumerate(zip(model.blocks, model.activation_parameters()), start=1):
        y, dy = evaluate_activation(copy.deepcopy(block.act), x)
        layers.append(LayerCurve(index, Curve(model.activation_name, f"{label} layer {index}", y, dy), parameters))
    return layers


def initial_curve(activation: str, init_params: dict, x: np.ndarray) -> Curve:
    """The curve every layer started from: the checkpoint's recorded initialisation, else the defaults."""
    y, dy = evaluate_activation(activation, x, **(init_params or {}))
    return Curve(activation, f"{activation_info(activation).name} at initialisation", y, dy)


def layer_parameters_table(layers: list[LayerCurve]) -> pd.DataFrame:
    """One row per layer with its learned scalars; for ELSA's alpha/beta also the slopes they give."""
    return pd.DataFrame([{"layer": layer.layer, **layer.parameters,
                          **attention_slopes(layer.learned.name, layer.parameters)} for layer in layers])
