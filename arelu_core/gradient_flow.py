"""Gradient flow through a deep, freshly initialised stack: does the signal vanish or grow with depth?

The stack is `depth` x [Linear -> activation] followed by a Linear(width, 10) head and a
cross-entropy loss on one batch. Every activation gets the same weights (same seed, Linear
layers built before any activation) so that only the activation differs. Per layer we report

    weight_grad_norm   ||dL/dW_l||   (what the optimizer sees; it vanishes with depth under ReLU)
    output_grad_norm   ||dL/dh_l||   (the back-propagated signal at the layer's output)
    mean, std, frac_zero, frac_negative   of the layer's outputs h_l

Computed in float64 so that deep stacks overflow or underflow as late as possible; any value
that still is not finite is reported as NaN (the page says so).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .activations import activation_info, create_activation
from .errors import ConfigError

INPUTS = {"gaussian": "Gaussian noise", "mnist": "MNIST digits"}       # N(0, 1) of width `width`; test digits, pixels in [0, 1]
INITS = {"pytorch": "PyTorch default", "kaiming": "Kaiming (He)"}      # uniform ±1/√fan_in; normal, std √(2/fan_in)
MAX_DEPTH = 50
CLASSES = 10


@dataclass
class FlowConfig:
    depth: int = 20
    width: int = 128
    batch_size: int = 256
    inputs: str = "gaussian"
    init: str = "pytorch"
    seed: int = 0
    data_dir: str | None = None

    def validate(self) -> "FlowConfig":
        for name, low, high in (("depth", 1, MAX_DEPTH), ("width", 2, 4096), ("batch_size", 2, 8192)):
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{name.replace('_', ' ')} must be an integer in [{low}, {high}], got {value}")
        if self.inputs not in INPUTS:
            raise ConfigError(f"inputs must be one of {', '.join(INPUTS)}, got {self.inputs!r}")
        if self.init not in INITS:
            raise ConfigError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        return self


def make_batch(config: FlowConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (float64, flattened) and labels: noise with random labels, or real digits (no download)."""
    generator = torch.Generator().manual_seed(config.seed)
    if config.inputs == "mnist":
        from .data import load_mnist
        digits = load_mnist(False, config.data_dir, download=False).subset(config.batch_size)
        return digits.images.flatten(1).double(), digits.labels.clone()
    x = torch.randn(config.batch_size, config.width, generator=generator, dtype=torch.float64)
    return x, torch.randint(0, CLASSES, (config.batch_size,), generator=generator)


def build_stack(activation: str, in_features: int, config: FlowConfig, **params) -> tuple[list[nn.Linear], list[nn.Module], nn.Linear]:
    """(linears, activations, head). Linear layers first, from the seed, so every activation gets the same
    weights; an activation that pools channels (Maxout, channel_multiplier k) gets k-times wider linears."""
    multiplier = getattr(create_activation(activation, **params), "channel_multiplier", 1)
    torch.manual_seed(config.seed)
    linears = []
    for layer in range(config.depth):
        linear = nn.Linear(in_features if layer == 0 else config.width, config.width * multiplier)
        if config.init == "kaiming":
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
        linears.append(linear.double())
    head = nn.Linear(config.width, CLASSES).double()
    activations = [create_activation(activation, **params).double() for _ in range(config.depth)]
    return linears, activations, head


def gradient_flow(activation: str, config: FlowConfig, batch: tuple[torch.Tensor, torch.Tensor] | None = None,
                  **params) -> pd.DataFrame:
    """One row per layer (1 = nearest the input) for one activation; see the module docstring."""
    config.validate()
    x, labels = batch if batch is not None else make_batch(config)
    linears, activations, head = build_stack(activation, x.shape[1], config, **params)
    outputs, h = [], x
    for linear, act in zip(linears, activations):
        h = act(linear(h))
        h.retain_grad()
        outputs.append(h)
    loss = F.cross_entropy(head(h), labels)
    loss.backward()
    rows = []
    for layer, (linear, out) in enumerate(zip(linears, outputs), start=1):
        values = out.detach()
        rows.append({"activation": activation, "label": activation_info(activation).name, "layer": layer,
                     "weight_grad_norm": _finite(linear.weight.grad.norm()),
                     "output_grad_norm": _finite(out.grad.norm()) if out.grad is not None else 0.0,
                     "mean": _finite(values.mean()), "std": _finite(values.std()),
                     "frac_zero": (values == 0).double().mean().item(),
                     "frac_negative": (values < 0).double().mean().item()})
    return pd.DataFrame(rows)


def compare(activations: list[str], config: FlowConfig, params: dict[str, dict] | None = None) -> pd.DataFrame:
    """gradient_flow for several activations on one shared batch, stacked into one table."""
    params = params or {}
    batch = make_batch(config.validate())
    return pd.concat([gradient_flow(name, config, batch, **params.get(name, {})) for name in activations],
                     ignore_index=True)


def _finite(value: torch.Tensor) -> float:
    value = float(value)
    return value if math.isfinite(value) else math.nan


@dataclass
class Growth:
    """An activation whose signal grows through the stack: its outputs' std per layer, measured."""
    activation: str
    label: str
    first_std: float          # std of layer 1's outputs
    last_std: float           # std of the last layer's outputs (NaN: overflowed)
    per_layer: float          # geometric mean growth of the std from one layer to the next
    slopes: dict[str, float]  # ELSA's slopes when it has them ({"C(α)": .., "1 + σ(β)": ..}), else {}
    expected_per_layer: float | None   # Kaiming init: √(positive slope² + negative slope²), else None


def kaiming_gain(positive_slope: float, negative_slope: float) -> float:
    """Kaiming's weights (variance 2/fan_in) double a layer's input second moment; an activation with these slopes
    keeps (s₊² + s₋²)/2 of a symmetric input's, so the std changes by √(s₊² + s₋²) per layer: 1 for ReLU."""
    return math.sqrt(positive_slope ** 2 + negative_slope ** 2)


def growing(table: pd.DataFrame, config: FlowConfig, factor: float = 1e3,
            params: dict[str, dict] | None = None) -> list[Growth]:
    """The activations of `table` (compare's) whose outputs' std grows by more than `factor` from the first
    layer to the last, or overflows; each with its measured per-layer growth and, for ELSA's attention under
    Kaiming's init, the growth its slopes predict."""
    from .explore import attention_slopes
    found = []
    for activation, rows in table.groupby("activation", sort=False):
        rows = rows.sort_values("layer")
        first, last = float(rows["std"].iloc[0]), float(rows["std"].iloc[-1])
        finite = rows["std"].dropna()
        if not first > 0 or (math.isfinite(last) and last <= factor * first):
            continue
        top = float(finite.iloc[-1]) if len(finite) else first
        steps = max(int(rows.loc[finite.index[-1], "layer"]) - 1 if len(finite) else 0, 1)
        per_layer = (top / first) ** (1 / steps)
        info = activation_info(activation)
        slopes = attention_slopes(activation, {**info.defaults, **(params or {}).get(activation, {})})
        expected = None
        if slopes and config.init == "kaiming" and not resolve_elsa(activation):
            negative, positive = slopes.values()
            expected = kaiming_gain(positive, negative)
        found.append(Growth(activation, str(rows["label"].iloc[0]), first, last, per_layer, slopes, expected))
    return found


def resolve_elsa(activation: str) -> bool:
    """'<base>+elsa' (its slopes add to the base's, so the simple formula does not apply)."""
    from .activations import resolve_name
    return resolve_name(activation)[1]
