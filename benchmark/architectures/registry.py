"""Model registry: one name -> one :class:`ModelSpec` and one constructor.

Every model of the benchmark is registered here under the name used in ``params.yaml``
(``models.<name>``), in checkpoints (``arch``) and in the reports::

    @register_model(ModelSpec(name="idnn", family="idnn", ...))
    def idnn(**kwargs) -> nn.Module:
        return IDNN(**kwargs)

    model = create_model("proposed_h64", num_classes=41)

Ablations are registered as keyword overrides of one constructor, never as copies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

__all__ = ["ModelSpec", "register_model", "create_model", "list_models", "get_spec"]

InputKind = Literal["waveform", "logmel_frames"]
Objective = Literal["classification", "reconstruction"]
Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """What the training, scoring and complexity code need to know about a model.

    ``input_shape`` is the shape of one clip's input (without batch): ``(160000,)`` for
    waveform models, ``(309, 640)`` (5-frame context vectors) for frame models.
    ``paper_params`` is the parameter count the paper reports (Tables 2 and 4), or ``None``.
    """

    name: str
    family: str
    input_kind: InputKind
    objective: Objective
    input_shape: tuple[int, ...]
    paper_params: int | None
    description: str

    def __post_init__(self) -> None:
        if self.input_kind not in ("waveform", "logmel_frames"):
            raise ValueError(f"model {self.name!r}: unknown input_kind {self.input_kind!r}")
        if self.objective not in ("classification", "reconstruction"):
            raise ValueError(f"model {self.name!r}: unknown objective {self.objective!r}")


_REGISTRY: dict[str, tuple[ModelSpec, Builder]] = {}


def register_model(spec: ModelSpec) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder(**kwargs) -> nn.Module`` under ``spec.name``."""

    def decorate(builder: Builder) -> Builder:
        if spec.name in _REGISTRY:
            raise ValueError(f"model {spec.name!r} is already registered")
        _REGISTRY[spec.name] = (spec, builder)
        return builder

    return decorate


def _lookup(name: str) -> tuple[ModelSpec, Builder]:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    return _REGISTRY[name]


def list_models() -> list[str]:
    """Registered model names, in registration order."""
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model (``KeyError`` listing valid names)."""
    return _lookup(name)[0]


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model; ``overrides`` are passed to its constructor.

    Classification models take ``num_classes`` (default 41); frame models accept and ignore
    it, so one call builds any model. A keyword the constructor does not accept is a
    ``TypeError`` naming the model.
    """
    spec, builder = _lookup(name)
    try:
        model = builder(**overrides)
    except TypeError as error:
        raise TypeError(
            f"create_model({name!r}): bad override(s) {sorted(overrides)}: {error}"
        ) from error
    model.spec = spec  # type: ignore[assignment]  (plain attribute, not a submodule)
    return model
