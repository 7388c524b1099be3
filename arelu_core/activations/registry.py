"""One registry for every activation, in the spirit of timm's: create any of them by name.

    create_activation("AReLU", alpha=0.9, beta=2.0)  -> nn.Module
    create_activation("relu+elsa")                     -> ELSA wrapped around ReLU
    list_activations()                                 -> registry names, paper order
    activation_info("prelu")                           -> ActivationInfo (metadata, parameters and their ranges)

Each activation's rules live in its registration: the parameters it takes (ParamSpec: valid range,
and the narrower range a training may start from where there is one). Defaults come from the
constructor's signature, parameter counts from a built module. create_activation, TrainConfig,
the CLI and the pages all read them from here.

A leaf: it imports nothing of its own package. The modules that register (fixed, learnable,
arelu, carelu, elsa) are imported by activations/__init__.py, so the registry is full as soon as
the package is imported.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ConfigError

_MISSING = object()


@dataclass(frozen=True)
class Interval:
    """low..high; `closed` says which ends belong to it (pandas' convention: both, left, right, neither)."""
    low: float = -math.inf
    high: float = math.inf
    closed: str = "both"

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.closed in ("both", "left") else value > self.low
        below = value <= self.high if self.closed in ("both", "right") else value < self.high
        return math.isfinite(value) and above and below

    def __str__(self) -> str:
        if self.low == -math.inf and self.high == math.inf:
            return "finite"
        if self.high == math.inf:
            return f"{'>=' if self.closed in ('both', 'left') else '>'} {self.low:g}"
        if self.low == -math.inf:
            return f"{'<=' if self.closed in ('both', 'right') else '<'} {self.high:g}"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        return f"in {left}{self.low:g}, {self.high:g}{right}"


REAL = Interval()


@dataclass(frozen=True)
class ParamSpec:
    """One constructor keyword of an activation and the values it accepts.

    kind: "float", "int", "choice" (one of `choices`) or "floats" (None or `length` numbers).
    valid: what the module accepts. train: the narrower range a training may start from, where the
    module accepts more than is worth training (AReLU's alpha: any number, but outside the clamp it
    gets no gradient). default: filled in from the constructor's signature at registration.
    labelled: a variant that changes results (PAU's denominator form): its value, the default included,
    belongs in every label of a run (`labelled_params`), so runs made before the choice existed read as
    the default they were made with.
    """
    name: str
    description: str = ""
    valid: Interval = REAL
    train: Interval | None = None
    kind: str = "float"
    choices: tuple = ()
    length: int | None = None
    default: Any = _MISSING
    labelled: bool = False

    def check(self, value, owner: str, training: bool = False):
        """The value as the module wants it, or a ConfigError naming the parameter and its range."""
        what = f"{owner}'s {self.name}{' initialisation' if training and self.train else ''}"
        if self.kind == "choice":
            if value not in self.choices:
                raise ConfigError(f"{what} must be one of {', '.join(map(repr, self.choices))}, got {value!r}")
            return value
        if self.kind == "floats":
            if value is None:
                return None
            try:
                values = tuple(float(v) for v in value)
            except (TypeError, ValueError, RuntimeError):
                raise ConfigError(f"{what} must be {self.length} numbers, got {value!r}"[:200]) from None
            if len(values) != self.length or not all(math.isfinite(v) for v in values):
                raise ConfigError(f"{what} must be {self.length} finite numbers, got {len(values)} values")
            return values
        if isinstance(value, bool) or (self.kind == "int" and not isinstance(value, int)):
            raise ConfigError(f"{what} must be {'an integer' if self.kind == 'int' else 'a number'}, got {value!r}")
        try:
            number = int(value) if self.kind == "int" else float(value)
        except (TypeError, ValueError, RuntimeError):   # RuntimeError: a tensor of several numbers
            raise ConfigError(f"{what} must be a number, got {value!r}"[:200]) from None
        interval = self.train if training and self.train else self.valid
        if number not in interval:
            raise ConfigError(f"{what} must be {interval}, got {number:g}")
        return number

    def parse(self, text: str):
        """A value typed on the command line: '0.5', '3', 'energy', '0.1,0.2,...' or 'none' (kind "floats")."""
        text = text.strip()
        if self.kind == "choice":
            return text
        if self.kind == "floats":
            return None if text.lower() == "none" else [v for v in text.split(",") if v.strip()]
        try:
            return int(text) if self.kind == "int" else float(text)
        except ValueError:
            raise ConfigError(f"{self.name} must be {'an integer' if self.kind == 'int' else 'a number'}, "
                              f"got {text!r}"[:200]) from None


@dataclass(frozen=True)
class ActivationInfo:
    key: str                      # registry key, lower case ("arelu")
    name: str                     # display name ("AReLU")
    formula: str                  # LaTeX
    reference: str                # where it comes from
    params: tuple[ParamSpec, ...] = ()   # the keywords it takes; defaults come from the constructor
    elementwise: bool = True      # False: no 1-D curve (Maxout mixes channels)
    in_paper_table1: bool = True
    attention: bool = False       # has ELSA's sign-based attention alpha, beta (AReLU, every '+elsa')
    note: str = ""
    check: Callable[[dict], None] | None = field(default=None, compare=False, repr=False)  # rules across params
    factory: Callable[..., nn.Module] | None = field(default=None, compare=False, repr=False)

    @property
    def defaults(self) -> dict:
        """Constructor keyword defaults of the declared parameters, e.g. {"alpha": 0.9, "beta": 2.0}."""
        return {spec.name: spec.default for spec in self.params}

    def param(self, name: str) -> ParamSpec | None:
        return next((spec for spec in self.params if spec.name == name), None)

    @property
    def params_per_layer(self) -> int:
        """Learnable numbers per activation layer (the paper's bracket), counted on a built module."""
        return _count_parameters(self.key)

    @property
    def learnable(self) -> bool:
        return self.params_per_layer > 0


@dataclass(frozen=True)
class _Wrapper:
    """An add-on that wraps any registered activation (ELSA): '<base><suffix>'."""
    suffix: str
    name_suffix: str
    formula: str
    params: tuple[ParamSpec, ...]
    factory: Callable[..., nn.Module]


_INFO: dict[str, ActivationInfo] = {}
_ALIASES: dict[str, str] = {}
_WRAPPERS: dict[str, _Wrapper] = {}
ELSA_SUFFIX = "+elsa"


def _with_defaults(specs: tuple[ParamSpec, ...], factory, owner: str) -> tuple[ParamSpec, ...]:
    """Each spec's default from the factory's signature; a spec naming no keyword is a registration bug."""
    signature = inspect.signature(factory)
    filled = []
    for spec in specs:
        parameter = signature.parameters.get(spec.name)
        if parameter is None:
            raise TypeError(f"{owner}: {factory!r} takes no keyword {spec.name!r}")
        if spec.default is _MISSING:
            spec = replace(spec, default=None if parameter.default is inspect.Parameter.empty else parameter.default)
        filled.append(spec)
    return tuple(filled)


def register(info: ActivationInfo, aliases: tuple[str, ...] = ()):
    """Decorator (or call on torch's own class): register a module class or factory under info.key.

        register(ActivationInfo(key="relu", name="ReLU", ...))(nn.ReLU)
    """
    def wrap(factory):
        key = info.key.lower()
        _INFO[key] = replace(info, key=key, factory=factory, params=_with_defaults(info.params, factory, info.name))
        for alias in aliases:
            _ALIASES[alias.lower()] = key
        _count_parameters.cache_clear()
        return factory
    return wrap


def register_wrapper(suffix: str, name_suffix: str, formula: str, params: tuple[ParamSpec, ...], factory):
    """Register an add-on such as ELSA: factory(base_module, **params) wraps any registered activation."""
    _WRAPPERS[suffix.lower()] = _Wrapper(suffix.lower(), name_suffix, formula,
                                         _with_defaults(params, factory, name_suffix), factory)


def _canonical(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("activation name must be a non-empty string")
    key = name.strip().lower().replace("_", "").replace(" ", "")
    return _ALIASES.get(key, key)


def _split(name: str) -> tuple[str, _Wrapper | None]:
    """'ReLU+ELSA' -> ('relu', ELSA's wrapper). Raises ConfigError naming the choices for an unknown name."""
    key, wrapper = _canonical(name), None
    for suffix, candidate in _WRAPPERS.items():
        if key.endswith(suffix):
            key, wrapper = _ALIASES.get(key[: -len(suffix)], key[: -len(suffix)]), candidate
            break
    if key not in _INFO:
        raise ConfigError(f"unknown activation {name!r}; choose one of: {', '.join(list_activations())} "
                          f"(append '{ELSA_SUFFIX}' to add ELSA)")
    return key, wrapper


def resolve_name(name: str) -> tuple[str, bool]:
    """'ReLU+ELSA' -> ('relu', True). Raises ConfigError naming the choices for an unknown name."""
    key, wrapper = _split(name)
    return key, wrapper is not None


def check_params(name: str, params: dict | None, training: bool = False) -> dict:
    """The parameters as the activation's constructor wants them, checked against its ParamSpecs.

    training=True also applies the narrower start ranges (ParamSpec.train). An unknown keyword or a
    value out of range is a ConfigError naming the parameter, its range and what the activation takes.
    """
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ConfigError(f"activation parameters must be a mapping of name to value, got {type(params).__name__}")
    info = activation_info(name)
    checked = {}
    for key, value in params.items():
        spec = info.param(key)
        if spec is None:
            takes = ", ".join(spec.name for spec in info.params) or "no parameters"
            raise ConfigError(f"{info.name} takes no parameter {key!r}; it takes: {takes}")
        checked[key] = spec.check(value, info.name, training)
    if info.check is not None:
        info.check({**info.defaults, **checked})
    return checked


def labelled_params(name: str, params: dict | None) -> dict:
    """`params` with the default of each labelled ParamSpec that they leave out ({} -> {"form": "safe"} for
    PAU); an unknown activation's params as they are (a results file may name one this version lacks)."""
    try:
        info = activation_info(name)
    except ConfigError:
        return dict(params or {})
    return {**{spec.name: spec.default for spec in info.params if spec.labelled}, **(params or {})}


def variant_label(name: str, params: dict | None) -> str:
    """The labelled parameters of a run as text ("form=official"; "form=safe" when left at the default),
    "" for an activation without any: what tells two variants of one activation apart in a table."""
    info_params = labelled_params(name, params)
    try:
        labelled = [spec.name for spec in activation_info(name).params if spec.labelled]
    except ConfigError:
        return ""
    return ", ".join(f"{k}={info_params[k]}" for k in labelled)


def unlabelled_params(name: str, params: dict | None) -> dict:
    """`params` without the labelled ones (an initialisation such as Fig. 2's alpha, beta)."""
    try:
        labelled = {spec.name for spec in activation_info(name).params if spec.labelled}
    except ConfigError:
        labelled = set()
    return {k: v for k, v in (params or {}).items() if k not in labelled}


def create_activation(name: str, **params) -> nn.Module:
    """Build an activation module by (case-insensitive) name; '+elsa' wraps it with ELSA.

    For '<base>+elsa', ELSA's parameters (alpha, beta) go to ELSA and the rest to the base activation.
    """
    params = check_params(name, params)
    key, wrapper = _split(name)
    if wrapper is None:
        return _INFO[key].factory(**params)
    own = {spec.name: params.pop(spec.name) for spec in wrapper.params if spec.name in params}
    return wrapper.factory(_INFO[key].factory(**params), **own)


def list_activations(include_extras: bool = True) -> list[str]:
    """Registry keys in the order of the paper's Table 1 (CAReLU and other extras last)."""
    return [k for k, info in _INFO.items() if include_extras or info.in_paper_table1]


def activation_info(name: str) -> ActivationInfo:
    key, wrapper = _split(name)
    info = _INFO[key]
    if wrapper is None:
        return info
    own = {spec.name for spec in wrapper.params}
    base_params = tuple(spec for spec in info.params if spec.name not in own)   # ELSA's alpha, beta win
    return replace(info, key=key + wrapper.suffix, name=info.name + wrapper.name_suffix,
                   formula=info.formula + wrapper.formula, params=base_params + wrapper.params,
                   in_paper_table1=False, attention=True, factory=None)


@lru_cache(maxsize=None)
def _count_parameters(name: str) -> int:
    return sum(p.numel() for p in create_activation(name).parameters())


def evaluate_activation(activation: str | nn.Module, x, **params):
    """Values and derivative of an element-wise activation on a 1-D grid, computed by autograd.

    Returns (y, dy_dx) as float64 numpy arrays. The grid is fed as one sample of len(x) units,
    so layer-wise statistics (CAReLU's energy share) are taken over the grid.
    """
    if isinstance(activation, str) and not activation_info(activation).elementwise:
        raise ConfigError(f"{activation_info(activation).name} is not element-wise: it has no 1-D curve")
    module = create_activation(activation, **params) if isinstance(activation, str) else activation
    module = module.double().eval()
    grid = torch.as_tensor(x, dtype=torch.float64).reshape(1, -1).clone().requires_grad_(True)
    y = module(grid)
    (dy,) = torch.autograd.grad(y.sum(), grid)
    return y.detach().reshape(-1).numpy(), dy.reshape(-1).numpy()
