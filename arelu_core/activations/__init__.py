from .registry import (ActivationInfo, activation_info, create_activation, evaluate_activation,
                       list_activations, resolve_name)

__all__ = ["ActivationInfo", "activation_info", "create_activation", "evaluate_activation",
           "list_activations", "resolve_name"]
