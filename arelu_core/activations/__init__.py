"""Every activation by name. Importing the package fills the registry: the modules below register
themselves on import, in the order of the paper's Table 1 (fixed, then learnable, then AReLU; extras
last). Code outside the package registers its own activations the same way (docs/ARCHITECTURE.md,
"Adding an activation"); $ARELU_PLUGINS names modules to import here so that every process of the
app and the CLI (a training's worker process included) knows them.
"""
import importlib
import os
import warnings

from .registry import (ActivationInfo, Interval, ParamSpec, activation_info, check_params,  # noqa: I001
                       create_activation, evaluate_activation, list_activations, register, resolve_name)
from . import fixed, learnable, arelu, carelu, elsa  # noqa: F401,E402  (they register; Table 1 order)

PLUGINS_ENV = "ARELU_PLUGINS"


def _import_plugins() -> None:
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(module)
        except Exception as exc:  # a bad plugin must not take the CLI and every page down: say so, go on
            warnings.warn(f"{PLUGINS_ENV}: cannot import {module!r} ({type(exc).__name__}: {exc})"[:300],
                          stacklevel=2)


_import_plugins()

__all__ = ["ActivationInfo", "Interval", "ParamSpec", "activation_info", "check_params", "create_activation",
           "evaluate_activation", "list_activations", "register", "resolve_name", "PLUGINS_ENV"]
