"""Model registry and architectures (importing this package registers every model).

``create_model(name, **overrides)``, ``list_models()``, ``get_spec(name)``; see
:mod:`benchmark.architectures.registry`. Models are registered in the order of
``_MODEL_MODULES`` (the order of ``list_models()`` and of the reports).
"""

import importlib

from benchmark.architectures.registry import (
    ModelSpec,
    create_model,
    get_spec,
    list_models,
    register_model,
)

__all__ = ["ModelSpec", "create_model", "get_spec", "list_models", "register_model"]

_MODEL_MODULES = ("proposed", "stgram", "noisy_arcmix", "sw_wavenet", "mobilenetv2", "autoencoders")
for _module in _MODEL_MODULES:
    importlib.import_module(f"{__name__}.{_module}")
