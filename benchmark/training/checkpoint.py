"""Checkpoints: ``models/<NAME>/last.pt`` (resume) and ``final.pt`` (the trained model).

``final.pt`` is a dict with ``arch``, ``model_kwargs``, ``classes`` ([[type, id], ...]),
``state_dict``, ``objective``, ``input_kind``, ``epoch``, ``params`` and ``train_score_stats``;
:func:`load_trained` turns it back into a model in eval mode. Both files are written atomically
(temporary file + rename), so an interrupted run never leaves a truncated checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

FINAL = "final.pt"
LAST = "last.pt"


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint dict onto the CPU; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ValueError(f"{path}: not a readable checkpoint ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: checkpoint must hold a dict, got {type(data).__name__}")
    return data


@dataclass
class TrainedModel:
    """A trained model ready for scoring (see :func:`load_trained`)."""

    model: nn.Module
    spec: Any  # benchmark.architectures.registry.ModelSpec
    classes: list[tuple[str, str]]
    class_to_index: dict[tuple[str, str], int]
    train_score_stats: dict[str, Any]
    params: dict[str, Any]
    epoch: int
    name: str


def load_trained(model_dir: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Load ``<model_dir>/final.pt`` into its registered architecture (eval mode)."""
    from benchmark.architectures.registry import create_model, get_spec

    path = Path(model_dir) / FINAL
    data = load_checkpoint(path)
    missing = {"arch", "model_kwargs", "classes", "state_dict"} - set(data)
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {sorted(missing)}")
    spec = get_spec(data["arch"])
    model = create_model(data["arch"], **data["model_kwargs"])
    model.load_state_dict(data["state_dict"])
    model.to(device).eval()
    classes = [(str(t), str(i)) for t, i in data["classes"]]
    return TrainedModel(
        model=model,
        spec=spec,
        classes=classes,
        class_to_index={pair: k for k, pair in enumerate(classes)},
        train_score_stats=data.get("train_score_stats", {}),
        params=data.get("params", {}),
        epoch=int(data.get("epoch", 0)),
        name=Path(model_dir).name,
    )
