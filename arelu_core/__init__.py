"""AReLU Lab's library: activations, MNIST-Conv, data, training, inspection, benchmarks, CLI."""
__version__ = "0.1.0"

from .activations import (ActivationInfo, activation_info, create_activation,  # noqa: E402
                          evaluate_activation, list_activations)
from .activations.compiled import use_compiled  # noqa: E402  (a checker switches a module's path)
from .errors import AReLULabError, CheckpointError, ConfigError, DataUnavailableError  # noqa: E402

__all__ = ["__version__", "ActivationInfo", "activation_info", "create_activation",
           "evaluate_activation", "list_activations", "AReLULabError", "CheckpointError",
           "ConfigError", "DataUnavailableError", "use_compiled"]
