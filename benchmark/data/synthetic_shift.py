"""Synthetic stand-ins for DCASE 2022-2025 Task 2: machine sounds with a domain shift.

The machine types of those years reuse the sound models of the DCASE 2020 generator
(:mod:`benchmark.data.synthetic`), each (type, section) being its own machine, as a 2020 machine
ID is (its own slot of the model's well-separated parameter ranges)::

    fan -> fan        slider -> slider      valve -> valve       ToyCar -> ToyCar
    bearing -> pump (slots 0-2)    gearbox -> pump (slots 3-5)    ToyTrain -> ToyConveyor

Bearing and gearbox share the pump model but not its slots, nor the seed words of their other
parameters, so they sound like different machines.

Domain shift: every section has one operating-condition attribute (:data:`ATTRIBUTES`: ``vel``
velocity, ``volt`` motor voltage, ``spd`` speed, ``pres`` valve supply pressure) with two source
values and one target value (10 and 12; 20). A value ``v`` runs the machine at the speed factor
``(v / 10) ** data.synthetic.domain_shift`` (:func:`speed_factor`): its rates are multiplied by
the factor and its periods divided by it (:func:`shift_parameters`):

- fan: rotation rate (blade-pass tones), both aerodynamic noise humps;
- pump model (bearing, gearbox): motor fundamental (vane-pass tone), fluid noise band, slosh rate;
- slider: motor whine, friction band; stroke period;
- valve: click resonance, flow hiss; open/close cycle period;
- ToyCar: motor (gear mesh, wheel rate), rolling noise band;
- ToyConveyor model (ToyTrain): motor hum, belt noise band; rattle period.

Structural resonances and the background stay. The target machine (factor 2 at
``domain_shift: 1``) thus sounds unlike both source conditions (factors 1 and 1.2);
``domain_shift: 0`` makes every value sound alike (meant for values of about 0 to 2).
Anomalies are those of the 2020 model, on the shifted machine, their severity scaled by
``anomaly_strength``.

Clips per section: ``train_clips_per_id`` source training clips (numbers alternate between the two
source values), ``target_train_per_id`` target training clips, and per domain
``test_normal_per_id`` normal and ``test_anomaly_per_id`` anomalous test clips (source ones
alternating between the source values). Layout of ``data.root`` (the real 2022+ layout)::

    <type>/train/section_XX_<domain>_train_normal_NNNN_<attr>_<value>.wav
    <type>/test/section_XX_<domain>_test_<normal|anomaly>_NNNN_<attr>_<value>.wav
    <type>/attributes_XX.csv      file_name,d1p,d1v rows: <type>/<folder>/<file>,<attr>,<value>
    index.csv

Everything is deterministic: a machine's parameters come from ``(seed, type, section)``, each
clip from its own generator seeded with ``(seed, type, section, domain, split, label, number,
attributes)``, so a larger data set keeps every clip of a smaller one, and the same params give
byte-identical files.
"""

from __future__ import annotations

import csv
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmark.data.datasets import get_dataset
from benchmark.data.layout import year_clip_name
from benchmark.data.params import DataParams
from benchmark.data.synthetic import (
    _MODELS,
    _N_SLOTS,
    _Clip,
    _rms,
    _seed_words,
    machine_parameters,
    mix_clip,
    write_clip,
    write_generated,
)

log = logging.getLogger(__name__)

RENDERERS: dict[str, str] = {
    "bearing": "pump",
    "fan": "fan",
    "gearbox": "pump",
    "slider": "slider",
    "ToyCar": "ToyCar",
    "ToyTrain": "ToyConveyor",
    "valve": "valve",
}
"""The 2020 sound model (key of the 2020 generator's models) each 2022+ machine type uses."""

_SECTION_SLOTS = 3
"""Slots of a renderer each type sharing it gets (the 2022 development set's three sections)."""


@dataclass(frozen=True)
class DomainAttribute:
    """The operating condition that separates a type's domains."""

    name: str
    source: tuple[int, int]
    target: int

    def value(self, domain: str, number: int) -> int:
        """The value of clip ``number`` of ``domain``: source clips alternate between two."""
        return self.target if domain == "target" else self.source[number % 2]


_SPEEDS = ((10, 12), 20)
ATTRIBUTES: dict[str, DomainAttribute] = {
    "bearing": DomainAttribute("vel", *_SPEEDS),
    "fan": DomainAttribute("vel", *_SPEEDS),
    "gearbox": DomainAttribute("volt", *_SPEEDS),
    "slider": DomainAttribute("vel", *_SPEEDS),
    "ToyCar": DomainAttribute("spd", *_SPEEDS),
    "ToyTrain": DomainAttribute("spd", *_SPEEDS),
    "valve": DomainAttribute("pres", *_SPEEDS),
}
"""The attribute of each type's sections: name, source values, target value."""

_RATES: dict[str, tuple[str, ...]] = {
    "fan": ("f_rot", "hump", "hump2"),
    "pump": ("f0", "fluid", "slosh_rate"),
    "slider": ("motor", "friction"),
    "valve": ("click", "hiss"),
    "ToyCar": ("motor", "rolling"),
    "ToyConveyor": ("hum", "belt"),
}
"""Parameters of each sound model that scale with the machine's speed."""

_PERIODS: dict[str, tuple[str, ...]] = {
    "slider": ("period",),
    "valve": ("period",),
    "ToyConveyor": ("rattle_period",),
}
"""Parameters of each sound model that scale with the inverse of the machine's speed."""


@dataclass(frozen=True)
class ShiftClip:
    """One clip of a synthetic 2022+ data set."""

    machine_type: str
    section: str
    domain: str
    split: str
    label: str
    number: int

    @property
    def value(self) -> int:
        """The clip's attribute value (its operating condition)."""
        return ATTRIBUTES[self.machine_type].value(self.domain, self.number)

    @property
    def attributes(self) -> str:
        """The attribute part of the file name, e.g. ``vel_12``."""
        return f"{ATTRIBUTES[self.machine_type].name}_{self.value}"

    @property
    def relpath(self) -> Path:
        """Path in the finished data set: ``<type>/<split>/section_XX_..._<attributes>.wav``."""
        name = year_clip_name(self.section, self.domain, self.split, self.label, self.number,
                              self.attributes)
        return Path(self.machine_type) / self.split / name

    @property
    def words(self) -> tuple[str | int, ...]:
        """The seed words of the clip."""
        return (self.machine_type, self.section, self.domain, self.split, self.label,
                self.number, self.attributes)


@dataclass(frozen=True)
class RenderOptions:
    """What every clip of one data set is rendered with."""

    seed: int
    sample_rate: int
    num_samples: int
    anomaly_strength: float
    domain_shift: float

    @classmethod
    def from_params(cls, params: DataParams) -> RenderOptions:
        syn = params.synthetic
        return cls(syn.seed, params.sample_rate, params.clip_samples, syn.anomaly_strength,
                   syn.domain_shift)


# --------------------------------------------------------------------------- machines


def machine_slot(machine_type: str, section: str) -> int:
    """The renderer slot of a (type, section): types sharing a renderer get disjoint slots."""
    renderer = RENDERERS[machine_type]
    sharing = [t for t in RENDERERS if RENDERERS[t] == renderer]
    number = int(section.removeprefix("section_"))
    if len(sharing) > 1 and number >= _SECTION_SLOTS:
        raise ValueError(f"{machine_type} {section}: only {_SECTION_SLOTS} sections per type "
                         f"of the shared {renderer} model")
    slot = sharing.index(machine_type) * _SECTION_SLOTS + number
    if slot >= _N_SLOTS:
        raise ValueError(f"{machine_type} {section}: the {renderer} model has {_N_SLOTS} slots")
    return slot


def section_parameters(seed: int, machine_type: str, section: str) -> dict:
    """The parameters of a section's machine at its reference speed (factor 1)."""
    renderer = RENDERERS[machine_type]
    return machine_parameters(seed, renderer, machine_slot(machine_type, section),
                              (machine_type, section))


def speed_factor(machine_type: str, value: int, domain_shift: float) -> float:
    """How much faster than at the first source value a machine runs at attribute ``value``."""
    return float((value / ATTRIBUTES[machine_type].source[0]) ** domain_shift)


def shift_parameters(renderer: str, params: dict, factor: float) -> dict:
    """A copy of a machine's parameters running ``factor`` times as fast."""
    out = dict(params)
    for key in _RATES.get(renderer, ()):
        out[key] = params[key] * factor
    for key in _PERIODS.get(renderer, ()):
        out[key] = params[key] / factor
    return out


# --------------------------------------------------------------------------- clips


def anomaly_of(clip: ShiftClip, rng: np.random.Generator,
               strength: float) -> tuple[str | None, float]:
    """The kind and severity of the anomaly drawn first from the clip's generator."""
    if clip.label != "anomaly":
        return None, 0.0
    model = _MODELS[RENDERERS[clip.machine_type]]
    return str(rng.choice(model.anomalies)), float(rng.uniform(*model.severity)) * strength


def render(clip: ShiftClip, options: RenderOptions) -> np.ndarray:
    """The float machine sound of a clip (before its section's level is applied)."""
    renderer = RENDERERS[clip.machine_type]
    factor = speed_factor(clip.machine_type, clip.value, options.domain_shift)
    machine = shift_parameters(
        renderer, section_parameters(options.seed, clip.machine_type, clip.section), factor)
    rng = np.random.default_rng(_seed_words(options.seed, *clip.words))
    anomaly, severity = anomaly_of(clip, rng, options.anomaly_strength)
    c = _Clip(rng, options.num_samples, options.sample_rate)
    return _MODELS[renderer].render(c, machine, anomaly, severity)


def reference_level(machine_type: str, section: str, options: RenderOptions) -> float:
    """RMS of the section's reference clip (normal, first source value): its machine's level."""
    clip = ShiftClip(machine_type, section, "source", "reference", "normal", 0)
    return _rms(render(clip, options))


def synthesize(clip: ShiftClip, options: RenderOptions,
               reference: float | None = None) -> np.ndarray:
    """One finished clip as int16 PCM, shape ``(num_samples,)``."""
    if reference is None:
        reference = reference_level(clip.machine_type, clip.section, options)
    rng = np.random.default_rng(_seed_words(options.seed, *clip.words, "bg"))
    c = _Clip(rng, options.num_samples, options.sample_rate)
    return mix_clip(render(clip, options), reference, RENDERERS[clip.machine_type], c)


def clip_specs(params: DataParams) -> list[ShiftClip]:
    """Every clip of the data set the params describe, section by section."""
    syn = params.synthetic
    spec = get_dataset(params.dataset)
    counts = {
        ("source", "train", "normal"): syn.train_clips_per_id,
        ("target", "train", "normal"): syn.target_train_per_id,
    }
    for domain in ("source", "target"):
        counts[(domain, "test", "normal")] = syn.test_normal_per_id
        counts[(domain, "test", "anomaly")] = syn.test_anomaly_per_id
    clips = []
    for machine_type in params.selected_types():
        for section in spec.dev_sections[machine_type][: syn.ids_per_type]:
            for (domain, split, label), count in counts.items():
                clips += [ShiftClip(machine_type, section, domain, split, label, n)
                          for n in range(count)]
    return clips


# --------------------------------------------------------------------------- data set


def write_attributes(out_dir: Path, clips: list[ShiftClip]) -> list[Path]:
    """Write ``<type>/attributes_XX.csv`` of every section among ``clips`` in the real format."""
    sections = sorted({(c.machine_type, c.section) for c in clips})
    written = []
    for machine_type, section in sections:
        mine = sorted((c for c in clips if (c.machine_type, c.section) == (machine_type, section)),
                      key=lambda c: (c.split != "train", c.relpath.name))
        name = ATTRIBUTES[machine_type].name
        path = out_dir / machine_type / f"attributes_{section.removeprefix('section_')}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["file_name", "d1p", "d1v"])
            writer.writerows([c.relpath.as_posix(), name, c.value] for c in mine)
        written.append(path)
    return written


def generate(params: DataParams, out_dir: str | Path) -> list[Path]:
    """Write every clip and ``attributes_XX.csv`` under ``out_dir``; returns the clip paths."""
    out_dir = Path(out_dir)
    options = RenderOptions.from_params(params)
    clips = clip_specs(params)
    machines = sorted({(c.machine_type, c.section) for c in clips})
    references = {m: reference_level(*m, options) for m in machines}
    for folder in sorted({(out_dir / c.relpath).parent for c in clips}):
        folder.mkdir(parents=True, exist_ok=True)

    def work(clip: ShiftClip) -> Path:
        pcm = synthesize(clip, options, references[(clip.machine_type, clip.section)])
        path = out_dir / clip.relpath
        write_clip(path, pcm, options.sample_rate)
        return path

    workers = params.synthetic.workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = pool.map(work, clips)
        written = list(tqdm(jobs, total=len(clips), desc="synthetic clips", unit="clip"))
    write_attributes(out_dir, clips)
    return written


def prepare_synthetic_year(params: DataParams) -> Path:
    """Generate the 2022+ data set ``data.dataset`` into ``data.root`` atomically; returns the
    path of ``index.csv``. The free space for every clip is checked before any is written."""
    return write_generated(params, len(clip_specs(params)), generate)
