"""One model per machine type, as the DCASE 2020 baseline trains its autoencoder.

The DCASE 2020 Task 2 baseline (y-kawagu/dcase2020_task2_baseline) trains ``model_<type>`` on
that machine type's training clips only and scores every clip with the model of its type; IDNN
(Suefusa et al. 2020) follows the same protocol. :class:`PerTypeModel` holds the trained models
of one run and routes each clip to its type's model by the clip's class (machine type, ID).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["PerTypeModel"]


class PerTypeModel(nn.Module):
    """``models[type]`` per machine type; ``class_types[k]`` is the type of class index k."""

    def __init__(self, models: dict[str, nn.Module], class_types: Sequence[str]) -> None:
        super().__init__()
        if not models:
            raise ValueError("PerTypeModel needs at least one machine type")
        missing = sorted(set(class_types) - set(models))
        if missing:
            raise ValueError(f"PerTypeModel: no model for machine type(s) {missing} "
                             f"(models for {sorted(models)})")
        self.models = nn.ModuleDict(models)
        self.class_types = list(class_types)
        first = next(iter(models.values()))
        self.frontend = first.frontend  # the same (parameter-free) front end for every type

    def route(self, class_index: torch.Tensor,
              fn: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``fn(model_of_type, positions)`` for each type present in ``class_index (B,)``,
        gathered back in batch order: ``(B, ...)``."""
        types = [self.class_types[int(k)] for k in class_index.tolist()]
        out: torch.Tensor | None = None
        for machine_type in dict.fromkeys(types):
            where = torch.tensor([i for i, t in enumerate(types) if t == machine_type],
                                 device=class_index.device)
            values = fn(self.models[machine_type], where)
            if out is None:
                out = values.new_empty((len(types), *values.shape[1:]))
            out[where] = values
        assert out is not None
        return out
