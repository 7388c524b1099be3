"""One registry for every activation, in the spirit of timm's: create any of them by name.

    create_activation("AReLU", alpha=0.9, beta=2.0)  -> nn.Module
    create_activation("relu+elsa")                     -> ELSA wrapped around ReLU
    list_activations()                                 -> registry names, paper order
    activation_info("prelu")                           -> ActivationInfo (display metadata)
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..errors import ConfigError


@dataclass(frozen=True)
class ActivationInfo:
    key: str                      # registry key, lower case ("arelu")
    name: str                     # display name ("AReLU")
    params_per_layer: int         # learnable parameters per activation layer (the paper's bracket)
    formula: str                  # LaTeX
    reference: str                # where it comes from
    learnable: bool = False
    elementwise: bool = True      # False: no 1-D curve (Maxout mixes channels)
    in_paper_table1: bool = True
    defaults: dict = field(default_factory=dict)   # constructor keyword defaults (alpha, beta, ...)
    note: str = ""


_FACTORIES: dict[str, Callable[..., nn.Module]] = {}
_INFO: dict[str, ActivationInfo] = {}
_ALIASES: dict[str, str] = {}
ELSA_SUFFIX = "+elsa"


def register(info: ActivationInfo, aliases: tuple[str, ...] = ()):
    """Decorator: register a module class (or factory) under info.key."""
    def wrap(factory):
        _FACTORIES[info.key] = factory
        _INFO[info.key] = info
        for alias in aliases:
            _ALIASES[alias.lower()] = info.key
        return factory
    return wrap


def _canonical(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("activation name must be a non-empty string")
    key = name.strip().lower().replace("_", "").replace(" ", "")
    return _ALIASES.get(key, key)


def resolve_name(name: str) -> tuple[str, bool]:
    """'ReLU+ELSA' -> ('relu', True). Raises ConfigError naming the choices for an unknown name."""
    _ensure_loaded()
    key = _canonical(name)
    with_elsa = key.endswith(ELSA_SUFFIX)
    if with_elsa:
        key = _ALIASES.get(key[: -len(ELSA_SUFFIX)], key[: -len(ELSA_SUFFIX)])
    if key not in _FACTORIES:
        raise ConfigError(f"unknown activation {name!r}; choose one of: {', '.join(list_activations())} "
                          f"(append '+elsa' to add ELSA)")
    return key, with_elsa


def create_activation(name: str, **params) -> nn.Module:
    """Build an activation module by (case-insensitive) name; '+elsa' wraps it with ELSA.

    For '<base>+elsa', alpha/beta go to ELSA and the rest to the base activation.
    """
    key, with_elsa = resolve_name(name)
    if with_elsa:
        from .elsa import ELSA
        elsa_params = {k: params.pop(k) for k in ("alpha", "beta") if k in params}
        base = _build(key, params)
        return ELSA(base, **elsa_params)
    return _build(key, params)


def _build(key: str, params: dict) -> nn.Module:
    try:
        return _FACTORIES[key](**params)
    except TypeError as exc:  # unexpected keyword: say which ones the activation takes
        allowed = ", ".join(_INFO[key].defaults) or "none"
        raise ConfigError(f"bad parameters for {_INFO[key].name}: {exc}; it takes: {allowed}") from None


def list_activations(include_extras: bool = True) -> list[str]:
    """Registry keys in the order of the paper's Table 1 (CAReLU and other extras last)."""
    _ensure_loaded()
    keys = list(_FACTORIES)
    if not include_extras:
        keys = [k for k in keys if _INFO[k].in_paper_table1]
    return keys


def activation_info(name: str) -> ActivationInfo:
    key, with_elsa = resolve_name(name)
    info = _INFO[key]
    if not with_elsa:
        return info
    from dataclasses import replace
    return replace(info, key=key + ELSA_SUFFIX, name=info.name + "+ELSA", learnable=True,
                   params_per_layer=info.params_per_layer + 2,
                   formula=info.formula + r" \;+\; \mathrm{ELSA}(x)",
                   defaults={**info.defaults, "alpha": 0.9, "beta": 2.0}, in_paper_table1=False)


def evaluate_activation(activation: str | nn.Module, x, **params):
    """Values and derivative of an element-wise activation on a 1-D grid, computed by autograd.

    Returns (y, dy_dx) as float64 numpy arrays. The grid is fed as one sample of len(x) units,
    so layer-wise statistics (CAReLU's energy share) are taken over the grid.
    """
    module = create_activation(activation, **params) if isinstance(activation, str) else activation
    if isinstance(activation, str) and not activation_info(activation).elementwise:
        raise ConfigError(f"{activation_info(activation).name} is not element-wise: it has no 1-D curve")
    module = module.double().eval()
    grid = torch.as_tensor(x, dtype=torch.float64).reshape(1, -1).clone().requires_grad_(True)
    y = module(grid)
    (dy,) = torch.autograd.grad(y.sum(), grid)
    return y.detach().reshape(-1).numpy(), dy.reshape(-1).numpy()


_LOADED = False
_LOAD_LOCK = threading.Lock()
_LOADING_THREAD: int | None = None


def _ensure_loaded():
    """Import the modules that register themselves (kept lazy to avoid import cycles).

    Thread-safe: the app's sessions first call this at the same moment, and a thread must not see the
    registry half filled (it used to: 'relu' missing from the Train live choices on a fresh server).
    Within the importing thread itself (a module that asks the registry while it registers) it returns
    at once, as before."""
    global _LOADED, _LOADING_THREAD
    if _LOADED or _LOADING_THREAD == threading.get_ident():
        return
    with _LOAD_LOCK:
        if _LOADED:
            return
        _LOADING_THREAD = threading.get_ident()
        try:
            from . import fixed, learnable, arelu, carelu  # noqa: F401  (Table 1 order)
            _LOADED = True
        finally:
            _LOADING_THREAD = None
