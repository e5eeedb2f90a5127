"""Checkpoints: ``models/<NAME>/last.pt`` (resume) and ``final.pt`` (the trained model).

``final.pt`` is a dict with ``arch``, ``model_kwargs``, ``classes`` ([[type, id], ...]),
``state_dict``, ``objective``, ``input_kind``, ``epoch``, ``scope`` (``per_type``: the state of a
:class:`~benchmark.architectures.per_type.PerTypeModel`, one model per machine type),
``params``, ``train_score_stats`` and ``data`` (``sample_rate``, ``clip_samples``,
``dcase_clip_samples``, ``data_source`` of the training clips);
:func:`load_trained` turns it back into a model in eval mode. Both files are written atomically
(a unique temporary file in the same folder + rename), so an interrupted run never leaves a
truncated checkpoint and two writers never share a temporary file.

Checkpoints hold only tensors and plain Python values and are read with
``torch.load(weights_only=True)``: a crafted file cannot run code (a pickle payload is refused with
an error naming the file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmark.io import atomic_path, ensure_free_space

FINAL = "final.pt"
LAST = "last.pt"
SEED_DIR = "seed-{seed}"
"""One trained run of a model: ``models/<NAME>/seed-<K>/`` (checkpoints, scores, ROC figure)."""


def run_dir(models_dir: str | Path, model: str, seed: int) -> Path:
    """``<models_dir>/<model>/seed-<seed>``: the folder of one training run."""
    return Path(models_dir) / model / SEED_DIR.format(seed=seed)


def run_stem(model: str, seed: int) -> str:
    """``<model>-seed<seed>``: the file stem of a run's reports (metrics, ROC, per-ID)."""
    return f"{model}-seed{seed}"


def trained_seeds(models_dir: str | Path, model: str) -> list[int]:
    """Seeds of ``model`` that have a ``final.pt``, ascending."""
    folder = Path(models_dir) / model
    seeds = []
    for child in folder.glob("seed-*") if folder.is_dir() else []:
        suffix = child.name[len("seed-"):]
        if suffix.isdigit() and (child / FINAL).is_file():
            seeds.append(int(suffix))
    return sorted(seeds)


def find_run_dir(models_dir: str | Path, model: str, seed: int | None = None) -> Path:
    """The run folder of ``model``: its seed ``seed``, or the lowest trained seed.

    A folder written before runs were kept per seed (``final.pt`` directly in
    ``<models_dir>/<model>``) is returned as it is. Errors name what is missing.
    """
    folder = Path(models_dir) / model
    if seed is not None:
        return run_dir(models_dir, model, seed)
    seeds = trained_seeds(models_dir, model)
    if seeds:
        return run_dir(models_dir, model, seeds[0])
    if (folder / FINAL).is_file():
        return folder
    raise FileNotFoundError(f"no trained run of {model!r} in {folder} (no seed-*/{FINAL})")


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a unique temporary file beside ``path``, then rename it into place.

    Free space for the tensors is checked first; a full disk is a :class:`DiskFullError` naming
    ``path``, and no temporary file is left.
    """
    path = Path(path)
    ensure_free_space(path.parent, tensor_bytes(obj) + (1 << 20), f"checkpoint {path}")
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        # Through a handle: torch.save(obj, name) would store the (random) temporary file name
        # inside the archive, and the same checkpoint would hash differently on every run.
        torch.save(obj, handle)
    return path


def tensor_bytes(obj: Any) -> int:
    """Bytes of every tensor inside nested dicts, lists and tuples."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint dict onto the CPU; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means a bad file
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        raise ValueError(
            f"{path}: not a readable checkpoint: it holds something other than tensors and plain "
            f"values, or is damaged ({type(error).__name__}: {first}); refusing to load it"
        ) from error
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
    name: str  # the model's name (models/NAME), not its run folder
    data: dict[str, Any] = field(default_factory=dict)  # sample_rate, clip_samples, data_source
    seed: int | None = None  # K of models/NAME/seed-K
    groups: list[int] | None = None  # each class's (type, section) group, when sections have
    # several classes (DCASE 2023+: attribute classes; see benchmark.evaluation.scores)


def load_trained(model_dir: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Load ``<model_dir>/final.pt`` into its registered architecture (eval mode)."""
    from benchmark.architectures.registry import create_model, get_spec

    path = Path(model_dir) / FINAL
    data = load_checkpoint(path)
    missing = {"arch", "model_kwargs", "classes", "state_dict"} - set(data)
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {sorted(missing)}")
    spec = get_spec(data["arch"])
    classes = [(str(t), str(i)) for t, i in data["classes"]]
    if data.get("scope") == "per_type":  # one model per machine type (the DCASE baseline's way)
        from benchmark.architectures.per_type import PerTypeModel

        types = dict.fromkeys(t for t, _ in classes)
        model = PerTypeModel({t: create_model(data["arch"], **data["model_kwargs"])
                              for t in types}, [t for t, _ in classes])
        model.spec = spec
    else:
        model = create_model(data["arch"], **data["model_kwargs"])
    try:
        model.load_state_dict(data["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as error:  # missing/unexpected keys, shapes
        detail = " ".join(str(error).split())[:400]
        raise ValueError(f"{path}: its state_dict does not fit the {data['arch']} architecture "
                         f"({detail})") from error
    model.to(device).eval()
    class_to_index, groups = _class_lookup(classes, data.get("data", {}).get("class_sections"))
    return TrainedModel(
        model=model,
        spec=spec,
        classes=classes,
        class_to_index=class_to_index,
        groups=groups,
        train_score_stats=data.get("train_score_stats", {}),
        params=data.get("params", {}),
        epoch=int(data.get("epoch", 0)),
        name=model_name(model_dir, str(data["arch"])),
        data=dict(data.get("data", {})),
        seed=run_seed(model_dir),
    )


def _class_lookup(classes: list[tuple[str, str]], sections: list[str] | None
                  ) -> tuple[dict[tuple[str, str], int], list[int] | None]:
    """``(type, key) -> class`` and the classes' section groups. Where a section has several
    classes (attribute classes), ``(type, section)`` also maps to its first class: a clip is
    scored by its section's summed softmax, so which of them it names does not matter."""
    lookup = {pair: k for k, pair in enumerate(classes)}
    if not sections:
        return lookup, None
    pairs = [(t, section) for (t, _), section in zip(classes, sections, strict=True)]
    if len(set(pairs)) == len(pairs):
        return lookup, None
    order = {pair: g for g, pair in enumerate(dict.fromkeys(pairs))}
    for k, pair in enumerate(pairs):
        lookup.setdefault(pair, k)
    return lookup, [order[pair] for pair in pairs]


def run_seed(model_dir: str | Path) -> int | None:
    """K of a ``.../seed-K`` run folder; None for a folder of another name."""
    name = Path(model_dir).name
    suffix = name[len("seed-"):]
    return int(suffix) if name.startswith("seed-") and suffix.isdigit() else None


def model_name(model_dir: str | Path, arch: str) -> str:
    """The model's name: ``NAME`` of ``models/NAME/seed-K`` (or of an older ``models/NAME``)."""
    folder = Path(model_dir).absolute()
    if run_seed(folder) is not None:
        folder = folder.parent
    return folder.name or arch
