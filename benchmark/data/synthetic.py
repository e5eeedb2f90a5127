"""A synthetic stand-in for DCASE 2020 Task 2: parametric machine sounds in the official layout.

Each machine type has its own sound model, loosely after the recordings of MIMII (fan, pump,
slider, valve; Purohit et al. 2019) and ToyADMOS (ToyCar, ToyConveyor; Koizumi et al. 2019):

- fan: blade-pass harmonics of a rotor, broadband aerodynamic noise with resonant humps;
- pump: motor and vane-pass harmonics, structural resonances, sloshing fluid noise;
- slider: a rail going back and forth: friction noise and motor whine while moving,
  end-stop clicks;
- valve: repeated open/close patterns of solenoid clicks with flow hiss, silence between;
- ToyCar: motor whine with a gear-mesh tone, wheel-rate modulation, a start-up ramp;
- ToyConveyor: motor hum, belt noise, a periodic rattle where the belt joint passes a roller.

Every machine ID draws its own parameters (fundamentals, resonances, event rates...) from
well-separated ranges, so that ID classification is learnable; every clip adds random jitter and
factory-like background noise at a random level. Anomalies perturb the sound in type-specific ways
(imbalance modulation, bearing or gear impulses, clogging, leaks, rail damage, missing or extra
valve events, belt rattle...), with a random severity whose range sets the difficulty of each type
(slider obvious, valve and pump subtle).

Everything is deterministic: ID parameters come from ``(seed, type, ID)`` and each clip from its
own generator seeded with ``(seed, type, ID, split, label, number)``, so changing the data-set size
never changes the clips that exist in both sizes.

Layout of ``data.root`` (as the real download, :mod:`benchmark.data.download`)::

    <type>/train/normal_id_XX_NNNNNNNN.wav              (every ID, evaluation IDs included)
    <type>/test/{normal,anomaly}_id_XX_NNNNNNNN.wav     (the first ids_per_type IDs)
    eval/<type>/test/{normal,anomaly}_id_XX_NNNNNNNN.wav  (eval_ids_per_type > 0: split "eval")
    eval_data_list.csv                                  (eval_ids_per_type > 0: the ground truth)
    index.csv

With ``data.synthetic.eval_ids_per_type`` > 0 each type also gets evaluation IDs
(:func:`benchmark.data.params.eval_ids`: additional-training IDs, as the DCASE 2020 evaluation
set): ``train_clips_per_id`` training clips like any other ID, and ``test_normal_per_id`` +
``test_anomaly_per_id`` evaluation clips (split word ``eval`` in their seeds), numbered 0.. with
the labels in an order shuffled from ``(seed, type, ID)``, so a number tells nothing about its
label. They are written under their unlabelled DCASE names ``id_XX_NNNNNNNN.wav``, the ground truth
``eval_data_list.csv`` is written in the format of the real one (Zenodo record 3951620: a line
naming the machine type, then ``id_XX_NNNNNNNN.wav,<label>_id_XX_NNNNNNNN.wav,0|1`` rows, 1 =
anomaly), checked with :func:`~benchmark.data.ground_truth.check_ground_truth`, and the clips are
renamed from it by :func:`~benchmark.data.ground_truth.label_eval_clips`, as the real download does.
"""

from __future__ import annotations

import csv
import errno
import functools
import logging
import os
import shutil
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile as sf
from scipy.signal import oaconvolve
from tqdm import tqdm

from benchmark.data.ground_truth import check_ground_truth, label_eval_clips
from benchmark.data.index import EVAL_DIR, build_index, write_index
from benchmark.data.layout import MACHINE_TYPES, SPLITS, clip_relpath
from benchmark.data.local import check_replaceable, write_marker
from benchmark.data.params import DataParams, available_ids, eval_ids
from benchmark.io import DiskFullError, atomic_path, ensure_free_space

log = logging.getLogger(__name__)

_N_SLOTS = 7  # the most IDs a type has (4 development + 3 additional)
GROUND_TRUTH = "eval_data_list.csv"
"""File name, in ``data.root``, of the ground truth of the evaluation clips."""


@dataclass(frozen=True)
class ClipSpec:
    """One clip of the synthetic data set."""

    machine_type: str
    machine_id: str
    split: str
    label: str
    number: int

    @property
    def relpath(self) -> Path:
        """Path in the finished data set (``eval`` clips: ``eval/<type>/test/<label>_...``)."""
        if self.split == "eval":
            return EVAL_DIR / clip_relpath(
                self.machine_type, "test", self.label, self.machine_id, self.number
            )
        return clip_relpath(self.machine_type, self.split, self.label, self.machine_id, self.number)

    @property
    def unlabelled_name(self) -> str:
        """The DCASE evaluation-set name ``id_XX_NNNNNNNN.wav``, which hides the label."""
        return f"{self.machine_id}_{self.number:08d}.wav"

    @property
    def written_relpath(self) -> Path:
        """Where the generator first writes the clip: ``eval`` clips under unlabelled names."""
        if self.split == "eval":
            return self.relpath.with_name(self.unlabelled_name)
        return self.relpath


@dataclass(frozen=True)
class _TypeModel:
    """How one machine type sounds and fails."""

    id_params: Callable[[np.random.Generator, Callable[..., float]], dict]
    render: Callable[[_Clip, dict, str | None, float], np.ndarray]
    anomalies: tuple[str, ...]
    severity: tuple[float, float]  # range of anomaly severity: sets the difficulty
    snr_db: tuple[float, float]  # machine-to-background ratio range
    level: float  # RMS of a normal machine sound (peaky sounds lower, so that they rarely clip)


# --------------------------------------------------------------------------- signal helpers


class _Clip:
    """Random generator, length and sample rate of the clip being rendered, with helpers."""

    def __init__(self, rng: np.random.Generator, n: int, sr: int) -> None:
        self.rng, self.n, self.sr = rng, n, sr

    def slow(self, period_s: float, depth: float) -> np.ndarray:
        """A smooth random curve around 0 (knots every ``period_s``, std ``depth``)."""
        knots = max(2, int(self.n / (period_s * self.sr)) + 2)
        values = self.rng.standard_normal(knots) * depth
        return np.interp(np.arange(self.n), np.linspace(0, self.n - 1, knots), values)

    def tone(self, freq: float | np.ndarray, amps: np.ndarray, harmonics=None) -> np.ndarray:
        """Sum of harmonics ``amps[k] * sin(h_k * phase)`` of a (possibly varying) frequency."""
        harmonics = np.arange(1, len(amps) + 1) if harmonics is None else np.asarray(harmonics)
        freq = np.broadcast_to(np.asarray(freq, dtype=np.float64), (self.n,))
        cycles = np.cumsum(freq) / self.sr
        frac = (cycles - np.floor(cycles)).astype(np.float32)  # phase in cycles, in [0, 1)
        top = float(freq.max())
        out = np.zeros(self.n, dtype=np.float32)
        for h, a in zip(harmonics, amps, strict=True):
            offset = np.float32(self.rng.uniform(0, 1))
            if h * top < 0.45 * self.sr and a > 0:
                out += np.float32(a) * np.sin(
                    np.float32(2 * np.pi) * (np.float32(h) * frac + offset)
                )
        return out

    def noise(self, peaks=(), tilt_db: float = -3.0, floor: float = 1.0, lo: float = 20.0):
        """Unit-RMS Gaussian noise with a spectral tilt (dB/octave) and resonant peaks.

        ``peaks``: ``(centre Hz, width in octaves, gain)`` added to a ``floor`` level.
        """
        octaves, audible = _octave_grid(self.n, self.sr, lo)
        mag = floor * np.exp(octaves * np.float32(tilt_db / 20 * np.log(10)))
        for centre, width, gain in peaks:
            z = (octaves - np.float32(np.log2(centre / 1000.0))) * np.float32(1 / width)
            mag += np.float32(gain) * np.exp(np.float32(-0.5) * z * z)
        mag *= audible
        spec = np.empty(mag.size, dtype=np.complex64)
        spec.real = self.rng.standard_normal(mag.size, dtype=np.float32)
        spec.imag = self.rng.standard_normal(mag.size, dtype=np.float32)
        out = scipy.fft.irfft(spec * mag, self.n)
        return out / (np.sqrt(np.mean(out**2)) + 1e-12)

    def band(self, centre: float, width: float) -> np.ndarray:
        """Unit-RMS band-pass noise (``width`` in octaves)."""
        return self.noise(peaks=[(centre, width, 1.0)], floor=0.0)

    def click(self, freq: float, decay_s: float, noisy: float = 0.3) -> np.ndarray:
        """A decaying resonance (peak about 1): the sound of one impact."""
        t = np.arange(int(min(6 * decay_s, 0.25) * self.sr) + 1) / self.sr
        freq = min(freq, 0.45 * self.sr)
        ring = np.sin(2 * np.pi * freq * t + self.rng.uniform(0, 2 * np.pi))
        grain = self.rng.standard_normal(t.size) * noisy
        return np.exp(-t / decay_s) * ((1 - noisy) * ring + grain)

    def impulses(self, times_s, amps, kernel: np.ndarray) -> np.ndarray:
        """``kernel`` placed at ``times_s`` (seconds) with amplitudes ``amps``."""
        idx = np.round(np.asarray(times_s, dtype=float) * self.sr).astype(int)
        amps = np.broadcast_to(np.asarray(amps, dtype=np.float32), idx.shape)
        keep = (idx >= 0) & (idx < self.n) & (amps != 0)
        idx, amps = idx[keep], amps[keep]
        kernel = kernel.astype(np.float32)
        if idx.size > 200:  # many events: one FFT convolution
            out = np.zeros(self.n, dtype=np.float32)
            np.add.at(out, idx, amps)
            return oaconvolve(out, kernel)[: self.n]
        out = np.zeros(self.n + kernel.size, dtype=np.float32)
        for i, a in zip(idx, amps, strict=True):
            out[i : i + kernel.size] += a * kernel
        return out[: self.n]

    def envelope(self, starts_s, ends_s, ramp_s: float) -> np.ndarray:
        """1 inside the ``[start, end]`` intervals, 0 outside, with linear ramps."""
        points_t, points_v = [0.0], [0.0]
        for start, end in zip(starts_s, ends_s, strict=True):
            ramp = min(ramp_s, (end - start) / 2)
            points_t += [start, start + ramp, end - ramp, end]
            points_v += [0.0, 1.0, 1.0, 0.0]
        order = np.argsort(points_t, kind="stable")
        t = np.arange(self.n) / self.sr
        return np.interp(t, np.asarray(points_t)[order], np.asarray(points_v)[order])

    def times(self) -> np.ndarray:
        return np.arange(self.n) / self.sr

    @property
    def seconds(self) -> float:
        return self.n / self.sr


@functools.lru_cache(maxsize=8)
def _octave_grid(n: int, sr: int, lo: float) -> tuple[np.ndarray, np.ndarray]:
    """Octaves re 1 kHz of the rfft bins (clamped at ``lo``), and a mask of bins above ``lo``."""
    f = np.fft.rfftfreq(n, 1 / sr)
    octaves = np.log2(np.maximum(f, lo) / 1000.0).astype(np.float32)
    octaves.setflags(write=False)
    return octaves, (f >= lo).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)) + 1e-12)


def _db(x: float) -> float:
    return 10 ** (x / 20)


def _harmonic_amps(rng: np.random.Generator, count: int, slope: tuple[float, float]) -> np.ndarray:
    k = np.arange(1, count + 1)
    return rng.uniform(0.2, 1.0, count) / k ** rng.uniform(*slope)


def _periodic(c: _Clip, period: float, jitter: float) -> np.ndarray:
    """Event times every ``period`` s from a random phase, each shifted by N(0, jitter) s."""
    start = c.rng.uniform(0, period)
    base = np.arange(start - period, c.seconds + period, period)
    return base + c.rng.normal(0, jitter, base.size)


# --------------------------------------------------------------------------- fan


def _fan_ids(r: np.random.Generator, spread: Callable[..., float]) -> dict:
    return {
        "f_rot": spread("f_rot", 11.0, 30.0),
        "blades": int(r.integers(5, 10)),
        "harm": _harmonic_amps(r, 8, (0.4, 1.2)),
        "hump": spread("hump", 280.0, 1800.0),
        "hump_bw": r.uniform(0.4, 0.9),
        "res": np.exp(r.uniform(np.log(600), np.log(6000), 2)),
        "hump2": r.uniform(2500.0, 6000.0),
        "hump2_gain": r.uniform(0.2, 0.7),
        "tilt": r.uniform(-5.0, -2.0),
        "tonal_db": spread("tonal", -9.0, -1.0, log=False),
        "am": r.uniform(0.02, 0.06),
        "bearing": r.uniform(3.1, 5.3),
    }


def _fan(c: _Clip, p: dict, anomaly: str | None, s: float) -> np.ndarray:
    f_rot = p["f_rot"] * (1 + 0.006 * c.rng.standard_normal()) * (1 + c.slow(1.5, 0.002))
    hump, tonal = p["hump"], p["harm"]
    if anomaly == "clogging":  # less airflow: slower, air noise shifts up
        f_rot = f_rot * (1 - 0.05 * s)
        hump = hump * (1 + 0.35 * s)
        tonal = tonal * _db(5 * s)
    blade = c.tone(f_rot * p["blades"], tonal)
    peaks = [(hump, p["hump_bw"], 4.0), (p["hump2"], 0.5, p["hump2_gain"])]
    air = c.noise(peaks + [(f, 0.08, 2.0) for f in p["res"]], p["tilt"])
    x = air + _db(p["tonal_db"]) * blade / _rms(blade)
    rotation = 2 * np.pi * np.cumsum(f_rot) / c.sr
    depth = p["am"] + (0.45 * s if anomaly == "imbalance" else 0.0)
    x = x * (1 + depth * np.sin(rotation))
    if anomaly == "imbalance":
        x = x + 0.5 * s * np.sin(rotation)
    if anomaly == "bearing":  # outer-race defect impulses at a multiple of the rotation rate
        times = _periodic(c, 1 / (float(np.mean(f_rot)) * p["bearing"]), 0.0005)
        kernel = c.click(c.rng.uniform(2500, 5000), 0.002, noisy=0.5)
        x = x + c.impulses(times, 5.0 * s * c.rng.uniform(0.6, 1.0, times.size), kernel)
    return x


# --------------------------------------------------------------------------- pump


def _pump_ids(r: np.random.Generator, spread: Callable[..., float]) -> dict:
    resonances = np.sort(np.exp(r.uniform(np.log(400), np.log(4500), 3)))
    resonances[0] = spread("res", 350.0, 1400.0)
    return {
        "f0": spread("f0", 40.0, 78.0),
        "vanes": int(r.integers(4, 8)),
        "harm": _harmonic_amps(r, 12, (0.5, 1.0)),
        "res": resonances,
        "res_gain": r.uniform(1.5, 4.0, 3),
        "fluid": r.uniform(150.0, 600.0),
        "slosh_rate": spread("slosh", 0.25, 1.5),
        "slosh_depth": r.uniform(0.15, 0.35),
        "tonal_db": r.uniform(-6.0, 0.0),
    }


def _pump(c: _Clip, p: dict, anomaly: str | None, s: float) -> np.ndarray:
    f0 = p["f0"] * (1 + 0.005 * c.rng.standard_normal()) * (1 + c.slow(2.0, 0.002))
    res, vane_gain = p["res"], 1.0
    if anomaly == "clogging":  # load rises: motor slows, the vane-pass tone grows
        f0 = f0 * (1 - 0.05 * s)
        res = res * (1 - 0.08 * s)
        vane_gain = _db(9 * s)
    motor = c.tone(f0, p["harm"])
    vane = c.tone(f0 * p["vanes"], np.array([1.0, 0.5, 0.25]))
    tonal = motor / _rms(motor) + 0.7 * vane_gain * vane / _rms(vane)
    body = c.noise([(f, 0.12, g) for f, g in zip(res, p["res_gain"], strict=True)], -2.5, 0.3)
    fluid = c.band(p["fluid"], 1.0)
    slosh = 1 + p["slosh_depth"] * np.sin(
        2 * np.pi * p["slosh_rate"] * c.times() + c.rng.uniform(0, 6.3)
    )
    x = _db(p["tonal_db"]) * tonal / 1.3 + 0.6 * body + 0.7 * fluid * slosh
    if anomaly == "leak":  # hiss of a leak
        x = x + 1.0 * s * c.band(c.rng.uniform(3000, 6000), 0.4)
    if anomaly == "cavitation":  # collapsing bubbles: random crackle
        count = int(c.rng.uniform(40, 120) * c.seconds)
        times = c.rng.uniform(0, c.seconds, count)
        kernel = c.click(c.rng.uniform(1500, 5000), 0.0015, noisy=0.8)
        x = x + c.impulses(times, 4.0 * s * c.rng.uniform(0.3, 1.0, count), kernel)
    return x


# --------------------------------------------------------------------------- slider


def _slider_ids(r: np.random.Generator, spread: Callable[..., float]) -> dict:
    return {
        "period": spread("period", 0.55, 1.6),
        "duty": r.uniform(0.45, 0.75),
        "motor": spread("motor", 90.0, 320.0),
        "harm": _harmonic_amps(r, 6, (0.5, 1.2)),
        "friction": r.uniform(700.0, 3000.0),
        "click": spread("click", 1500.0, 5000.0),
        "decay": r.uniform(0.008, 0.025),
        "click_gain": r.uniform(2.0, 4.0),
    }


def _slider(c: _Clip, p: dict, anomaly: str | None, s: float) -> np.ndarray:
    jitter = 0.01 + (0.06 * s if anomaly == "loose_belt" else 0.0)
    starts = _periodic(c, p["period"], jitter * p["period"])
    ends = starts + p["duty"] * p["period"] * (1 + 0.02 * c.rng.standard_normal(starts.size))
    moving = c.envelope(starts, ends, 0.05)
    friction_centre, friction_gain = p["friction"], 1.0
    if anomaly == "no_grease":
        friction_centre *= 1 + 0.6 * s
        friction_gain = _db(10 * s)
    motor = c.tone(p["motor"] * (1 + 0.005 * c.rng.standard_normal()), p["harm"])
    x = moving * (friction_gain * c.band(friction_centre, 0.8) + 0.8 * motor / _rms(motor))
    end_click = c.click(p["click"] * (1 + 0.01 * c.rng.standard_normal()), p["decay"])
    amps = p["click_gain"] * c.rng.uniform(0.85, 1.15, ends.size)
    x = x + c.impulses(ends, amps, end_click) + c.impulses(starts, 0.3 * amps, end_click)
    if anomaly == "no_grease":  # squeal while moving
        squeal = c.tone(c.rng.uniform(2000, 4000) * (1 + c.slow(0.2, 0.01)), np.array([1.0]))
        x = x + 0.8 * s * moving * squeal
    if anomaly in ("rail_damage", "loose_belt"):  # knocks while moving
        count = int(c.rng.integers(1, 4) * starts.size)
        pick = c.rng.integers(0, starts.size, count)
        times = starts[pick] + c.rng.uniform(0.1, 0.9, count) * (ends[pick] - starts[pick])
        knock = c.click(p["click"] * c.rng.uniform(0.5, 1.5), p["decay"] * 0.7)
        x = x + c.impulses(times, 2 * p["click_gain"] * s * c.rng.uniform(0.5, 1.2, count), knock)
    return x


# --------------------------------------------------------------------------- valve


def _valve_ids(r: np.random.Generator, spread: Callable[..., float]) -> dict:
    clicks = int(r.integers(2, 5))
    offsets = np.sort(r.uniform(0.0, 0.75, clicks))
    offsets = offsets[0] + np.cumsum(np.r_[0.0, np.maximum(np.diff(offsets), 0.08)])
    return {
        "period": spread("period", 0.7, 2.0),
        "offsets": offsets,  # fraction of the period
        "click": spread("click", 900.0, 6000.0),
        "decay": r.uniform(0.004, 0.02),
        "hiss": r.uniform(2000.0, 6000.0),
        "hiss_level": r.uniform(0.05, 0.25),
        "gains": r.uniform(0.6, 1.0, clicks),
    }


def _valve(c: _Clip, p: dict, anomaly: str | None, s: float) -> np.ndarray:
    period = p["period"] * (1 + 0.005 * c.rng.standard_normal())
    offsets = p["offsets"] * period * (1 + (0.35 * s if anomaly == "timing" else 0.0))
    cycles = _periodic(c, period, 0.002)
    times = (cycles[:, None] + offsets[None, :]).ravel()
    times = times + c.rng.normal(0, 0.003, times.size)
    gains = np.tile(p["gains"], cycles.size) * c.rng.uniform(0.85, 1.15, times.size)
    freq, decay, hiss_level = p["click"], p["decay"], p["hiss_level"]
    if anomaly == "contamination":  # debris: duller, longer clicks, more leakage hiss
        freq, decay, hiss_level = (
            freq * (1 - 0.2 * s),
            decay * (1 + 1.5 * s),
            hiss_level * (1 + 3 * s),
        )
    if anomaly == "missing":  # the valve sometimes fails to switch
        keep = c.rng.random(times.size) > 0.2 + 0.5 * s
        gains = gains * keep
    if anomaly == "extra":  # chattering: extra switching events
        count = max(1, int((0.3 + 0.6 * s) * cycles.size))
        times = np.r_[times, c.rng.uniform(0, c.seconds, count)]
        gains = np.r_[gains, c.rng.uniform(0.6, 1.0, count)]
    kernel = c.click(freq * (1 + 0.01 * c.rng.standard_normal()), decay)
    x = 4.0 * c.impulses(times, gains, kernel)
    open_env = c.envelope(cycles + offsets[0], cycles + offsets[-1], 0.01)
    return x + hiss_level * open_env * c.band(p["hiss"], 0.7)


# --------------------------------------------------------------------------- ToyCar


def _toycar_ids(r: np.random.Generator, spread: Callable[..., float]) -> dict:
    return {
        "motor": spread("motor", 150.0, 450.0),
        "harm": _harmonic_amps(r, 10, (0.5, 1.1)),
        "gear": r.uniform(2.2, 4.5),
        "gear_db": spread("gear", -10.0, 0.0, log=False),
        "wheel_div": r.uniform(15.0, 30.0),
        "wheel_am": r.uniform(0.03, 0.08),
        "rolling": r.uniform(200.0, 800.0),
        "ramp": r.uniform(0.3, 0.8),
    }


def _toycar(c: _Clip, p: dict, anomaly: str | None, s: float) -> np.ndarray:
    speed = 1 + 0.008 * c.rng.standard_normal() + c.slow(1.0, 0.004)
    start = c.rng.uniform(0.0, 0.5)
    ramp = np.clip((c.times() - start) / p["ramp"], 0.0, 1.0)
    speed = speed * (0.6 + 0.4 * ramp)
    if anomaly == "voltage":
        speed = speed * (1 + c.rng.choice([-1.0, 1.0]) * (0.04 + 0.08 * s))
    f_motor = p["motor"] * speed
    f_wheel = f_motor / p["wheel_div"]
    wheel_phase = 2 * np.pi * np.cumsum(f_wheel) / c.sr
    if anomaly == "shaft":  # bent shaft: pitch wobble at the wheel rate
        f_motor = f_motor * (1 + (0.01 + 0.03 * s) * np.sin(wheel_phase))
    motor = c.tone(f_motor, p["harm"])
    gear = c.tone(f_motor * p["gear"], np.array([1.0, 0.4]))
    rolling = c.band(p["rolling"], 1.2)
    x = motor / _rms(motor) + _db(p["gear_db"]) * gear / _rms(gear) + 0.5 * rolling
    x = x * (0.4 + 0.6 * ramp) * (1 + p["wheel_am"] * np.sin(wheel_phase))
    if anomaly == "gear":  # a broken tooth: an impact per gear revolution
        rate = float(np.mean(f_motor)) / c.rng.uniform(4, 8)
        kernel = c.click(c.rng.uniform(1500, 4000), 0.003, noisy=0.4)
        times = _periodic(c, 1 / rate, 0.0003)
        x = x + c.impulses(times, 2.5 * s * c.rng.uniform(0.7, 1.0, times.size), kernel)
    if anomaly == "tire":  # a damaged tyre: a thump per wheel turn
        times = _periodic(c, 1 / float(np.mean(f_wheel)), 0.002)
        kernel = c.click(c.rng.uniform(80, 250), 0.02, noisy=0.2)
        x = x + c.impulses(times, 3.0 * s * c.rng.uniform(0.7, 1.0, times.size), kernel)
    return x


# --------------------------------------------------------------------------- ToyConveyor


def _conveyor_ids(r: np.random.Generator, spread: Callable[..., float]) -> dict:
    return {
        "hum": spread("hum", 45.0, 125.0),
        "harm": _harmonic_amps(r, 8, (0.4, 1.0)),
        "rattle_period": spread("rattle", 0.12, 0.5),
        "rattle": r.uniform(800.0, 3500.0),
        "decay": r.uniform(0.005, 0.02),
        "rattle_gain": r.uniform(1.0, 2.5),
        "belt": r.uniform(300.0, 1500.0),
        "belt_level": r.uniform(0.4, 0.9),
    }


def _conveyor(c: _Clip, p: dict, anomaly: str | None, s: float) -> np.ndarray:
    hum_f = p["hum"] * (1 + 0.005 * c.rng.standard_normal()) * (1 + c.slow(1.5, 0.002))
    belt_level = p["belt_level"]
    if anomaly == "load":  # overload: the motor slows, the belt grinds
        hum_f = hum_f * (1 - 0.06 * s)
        belt_level *= _db(6 * s)
    hum = c.tone(hum_f, p["harm"])
    x = hum / _rms(hum) + belt_level * c.band(p["belt"], 1.0)
    times = _periodic(c, p["rattle_period"], 0.002)
    amps = p["rattle_gain"] * c.rng.uniform(0.8, 1.2, times.size)
    if anomaly == "belt_damage":  # a torn belt joint: irregular, louder rattle
        amps = amps * (1 + 1.5 * s * (c.rng.random(times.size) < 0.5))
        times = times + c.rng.normal(0, 0.02 * s, times.size)
    x = x + c.impulses(times, amps, c.click(p["rattle"], p["decay"]))
    if anomaly == "roller":  # a dry roller: squeaks
        squeak = c.tone(c.rng.uniform(1500, 4000) * (1 + c.slow(0.3, 0.01)), np.array([1.0]))
        starts = np.sort(c.rng.uniform(0, c.seconds, int(c.rng.integers(3, 8))))
        x = x + 0.8 * s * c.envelope(starts, starts + c.rng.uniform(0.1, 0.4), 0.03) * squeak
    if anomaly == "foreign_object":  # something dragged along: scraping bursts
        starts = np.sort(c.rng.uniform(0, c.seconds, int(c.rng.integers(4, 12))))
        scrape = c.envelope(starts, starts + c.rng.uniform(0.05, 0.2), 0.01)
        x = x + 1.5 * s * scrape * c.band(c.rng.uniform(1000, 4000), 0.6)
    return x


_MODELS: dict[str, _TypeModel] = {
    "fan": _TypeModel(
        _fan_ids,
        _fan,
        ("imbalance", "clogging", "bearing"),
        severity=(0.5, 1.0),
        snr_db=(-2, 4),
        level=0.06,
    ),
    "pump": _TypeModel(
        _pump_ids,
        _pump,
        ("leak", "clogging", "cavitation"),
        severity=(0.3, 0.7),
        snr_db=(2, 8),
        level=0.06,
    ),
    "slider": _TypeModel(
        _slider_ids,
        _slider,
        ("rail_damage", "no_grease", "loose_belt"),
        severity=(0.7, 1.2),
        snr_db=(2, 8),
        level=0.04,
    ),
    "valve": _TypeModel(
        _valve_ids,
        _valve,
        ("missing", "extra", "contamination", "timing"),
        severity=(0.4, 0.9),
        snr_db=(0, 6),
        level=0.015,
    ),
    "ToyCar": _TypeModel(
        _toycar_ids,
        _toycar,
        ("gear", "tire", "shaft", "voltage"),
        severity=(0.5, 1.0),
        snr_db=(4, 10),
        level=0.06,
    ),
    "ToyConveyor": _TypeModel(
        _conveyor_ids,
        _conveyor,
        ("belt_damage", "roller", "foreign_object", "load"),
        severity=(0.5, 1.0),
        snr_db=(2, 8),
        level=0.06,
    ),
}


# --------------------------------------------------------------------------- clips


def _background(c: _Clip) -> np.ndarray:
    """Factory-like background: tilted noise with a random hum, rumble and distant impacts."""
    hump = (c.rng.uniform(100, 3000), c.rng.uniform(0.5, 1.5), c.rng.uniform(0.0, 0.8))
    x = c.noise([hump], c.rng.uniform(-4.5, -2.5))
    mains = c.rng.choice([50.0, 60.0])
    x = x + c.rng.uniform(0.0, 0.3) * c.tone(mains, c.rng.uniform(0, 1, 4))
    count = int(c.rng.poisson(c.rng.uniform(0.0, 1.0) * c.seconds))
    if count:
        kernel = c.click(c.rng.uniform(150, 1200), 0.03, noisy=0.6)
        x = x + c.impulses(
            c.rng.uniform(0, c.seconds, count), c.rng.uniform(0.5, 2.0, count), kernel
        )
    return x / _rms(x)


def _seed_words(seed: int, *words: str | int) -> list[int]:
    return [seed] + [w if isinstance(w, int) else zlib.crc32(w.encode()) for w in words]


def id_parameters(seed: int, machine_type: str, machine_id: str) -> dict:
    """The parameters of one machine: deterministic from ``(seed, type, ID)``."""
    slot = available_ids(machine_type).index(machine_id)
    return machine_parameters(seed, machine_type, slot, (machine_type, machine_id))


def machine_parameters(seed: int, renderer: str, slot: int, words: tuple[str, ...]) -> dict:
    """The parameters of one machine of the sound model ``renderer`` (a key of ``_MODELS``).

    ``slot`` (0 .. 6) picks the machine's own part of every well-separated range (machines of
    one renderer in different slots never share one); ``words`` name the machine and seed the
    rest of its parameters (2020: ``(type, ID)``)."""
    rng = np.random.default_rng(_seed_words(seed, *words, "id"))

    def spread(key: str, lo: float, hi: float, log: bool = True) -> float:
        """A value in its own slot of ``[lo, hi]``: IDs of one type never share a slot."""
        order = np.random.default_rng(_seed_words(seed, renderer, key)).permutation(_N_SLOTS)
        u = (order[slot] + rng.uniform(0.15, 0.85)) / _N_SLOTS
        return float(np.exp(np.log(lo) + u * np.log(hi / lo)) if log else lo + u * (hi - lo))

    return _MODELS[renderer].id_params(rng, spread)


def render_clip(
    spec: ClipSpec, *, seed: int, sample_rate: int, num_samples: int, anomaly_strength: float
) -> np.ndarray:
    """The float waveform of one clip (before the level of its ID is applied)."""
    model = _MODELS[spec.machine_type]
    params = id_parameters(seed, spec.machine_type, spec.machine_id)
    words = (spec.machine_type, spec.machine_id, spec.split, spec.label, spec.number)
    c = _Clip(np.random.default_rng(_seed_words(seed, *words)), num_samples, sample_rate)
    anomaly, severity = _draw_anomaly(c.rng, spec, anomaly_strength)
    return model.render(c, params, anomaly, severity)


def _draw_anomaly(
    rng: np.random.Generator, spec: ClipSpec, strength: float
) -> tuple[str | None, float]:
    if spec.label != "anomaly":
        return None, 0.0
    model = _MODELS[spec.machine_type]
    return str(rng.choice(model.anomalies)), float(rng.uniform(*model.severity)) * strength


def anomaly_of(spec: ClipSpec, *, seed: int, anomaly_strength: float) -> tuple[str | None, float]:
    """The kind and severity of the anomaly in a clip (``(None, 0.0)`` for a normal clip)."""
    words = (spec.machine_type, spec.machine_id, spec.split, spec.label, spec.number)
    return _draw_anomaly(np.random.default_rng(_seed_words(seed, *words)), spec, anomaly_strength)


def _reference_level(seed: int, machine_type: str, machine_id: str, sr: int, n: int) -> float:
    """RMS of a reference normal clip of the ID, so that every ID's normal sound has one level."""
    spec = ClipSpec(machine_type, machine_id, "reference", "normal", 0)
    return _rms(render_clip(spec, seed=seed, sample_rate=sr, num_samples=n, anomaly_strength=1.0))


def synthesize(
    spec: ClipSpec,
    *,
    seed: int,
    sample_rate: int,
    num_samples: int,
    anomaly_strength: float,
    reference: float | None = None,
) -> np.ndarray:
    """One finished clip as int16 PCM, shape ``(num_samples,)``."""
    if reference is None:
        reference = _reference_level(
            seed, spec.machine_type, spec.machine_id, sample_rate, num_samples
        )
    machine = render_clip(
        spec,
        seed=seed,
        sample_rate=sample_rate,
        num_samples=num_samples,
        anomaly_strength=anomaly_strength,
    )
    words = (spec.machine_type, spec.machine_id, spec.split, spec.label, spec.number, "bg")
    c = _Clip(np.random.default_rng(_seed_words(seed, *words)), num_samples, sample_rate)
    return mix_clip(machine, reference, spec.machine_type, c)


def mix_clip(machine: np.ndarray, reference: float, renderer: str, c: _Clip) -> np.ndarray:
    """int16 PCM of a machine sound at its machine's level (``reference``: the RMS of its
    reference clip), with a random gain and background noise drawn from ``c``."""
    model = _MODELS[renderer]
    snr = c.rng.uniform(*model.snr_db)
    mix = machine / reference * _db(c.rng.normal(0, 0.7)) + _db(-snr) * _background(c)
    return np.round(np.clip(mix * model.level, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def clip_specs(params: DataParams) -> list[ClipSpec]:
    """Every clip of the data set the params describe (evaluation clips included)."""
    syn = params.synthetic
    counts = {
        ("train", "normal"): syn.train_clips_per_id,
        ("test", "normal"): syn.test_normal_per_id,
        ("test", "anomaly"): syn.test_anomaly_per_id,
    }
    specs = []
    for machine_type in params.selected_types():
        for machine_id in available_ids(machine_type)[: syn.ids_per_type]:
            for (split, label), count in counts.items():
                specs += [ClipSpec(machine_type, machine_id, split, label, n) for n in range(count)]
        for machine_id in eval_ids(machine_type, syn.ids_per_type, syn.eval_ids_per_type):
            specs += _eval_id_specs(params, machine_type, machine_id)
    return specs


def _eval_id_specs(params: DataParams, machine_type: str, machine_id: str) -> list[ClipSpec]:
    """The training clips and the (shuffled-label) evaluation clips of one evaluation ID."""
    syn = params.synthetic
    specs = [ClipSpec(machine_type, machine_id, "train", "normal", n)
             for n in range(syn.train_clips_per_id)]
    labels = eval_labels(syn.seed, machine_type, machine_id,
                         syn.test_normal_per_id, syn.test_anomaly_per_id)
    return specs + [ClipSpec(machine_type, machine_id, "eval", label, n)
                    for n, label in enumerate(labels)]


def eval_labels(
    seed: int, machine_type: str, machine_id: str, normal: int, anomaly: int
) -> list[str]:
    """Labels of an evaluation ID's clips numbered 0..: ``normal`` and ``anomaly`` of each, in an
    order shuffled deterministically from ``(seed, type, ID)``."""
    rng = np.random.default_rng(_seed_words(seed, machine_type, machine_id, "eval", "order"))
    labels = ["normal"] * normal + ["anomaly"] * anomaly
    return [labels[i] for i in rng.permutation(len(labels))]


def write_ground_truth(path: Path, specs: list[ClipSpec]) -> None:
    """Write the labels of the ``eval`` clips among ``specs`` as the real ``eval_data_list.csv``.

    Per machine type (``MACHINE_TYPES`` order): a line naming it, then one row per clip (ID and
    number order) ``id_XX_NNNNNNNN.wav,<label>_id_XX_NNNNNNNN.wav,0|1`` (1 = anomaly).
    """
    clips = sorted((s for s in specs if s.split == "eval"),
                   key=lambda s: (MACHINE_TYPES.index(s.machine_type), s.machine_id, s.number))
    rows: list[list[str]] = []
    current = None
    for spec in clips:
        if spec.machine_type != current:
            current = spec.machine_type
            rows.append([current])
        flag = "1" if spec.label == "anomaly" else "0"
        rows.append([spec.unlabelled_name, spec.relpath.name, flag])
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def label_eval_split(out_dir: Path, specs: list[ClipSpec]) -> None:
    """Write ``<out_dir>/eval_data_list.csv`` for the ``eval`` clips among ``specs``, check it and
    rename the clips written under ``<out_dir>/eval/<type>/test`` from it; nothing without any."""
    types = [t for t in MACHINE_TYPES if any(s.split == "eval" and s.machine_type == t
                                             for s in specs)]
    if not types:
        return
    path = out_dir / GROUND_TRUTH
    write_ground_truth(path, specs)
    labels = check_ground_truth(path, types)
    for machine_type in types:
        folder = out_dir / EVAL_DIR / machine_type
        label_eval_clips(folder, machine_type, labels, source=str(folder), ground_truth=str(path))


# --------------------------------------------------------------------------- data set


def generate(params: DataParams, out_dir: str | Path) -> list[Path]:
    """Write every clip under ``out_dir`` in the DCASE layout; returns the written paths."""
    out_dir = Path(out_dir)
    syn, sr, n = params.synthetic, params.sample_rate, params.clip_samples
    specs = clip_specs(params)
    ids = sorted({(s.machine_type, s.machine_id) for s in specs})
    references = {k: _reference_level(syn.seed, *k, sr, n) for k in ids}
    for split in SPLITS:
        for machine_type in params.selected_types():
            (out_dir / machine_type / split).mkdir(parents=True, exist_ok=True)
    for folder in {(out_dir / spec.written_relpath).parent for spec in specs}:
        folder.mkdir(parents=True, exist_ok=True)

    def work(spec: ClipSpec) -> Path:
        pcm = synthesize(
            spec,
            seed=syn.seed,
            sample_rate=sr,
            num_samples=n,
            anomaly_strength=syn.anomaly_strength,
            reference=references[(spec.machine_type, spec.machine_id)],
        )
        path = out_dir / spec.written_relpath
        write_clip(path, pcm, sr)
        return path

    workers = syn.workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = pool.map(work, specs)
        list(tqdm(jobs, total=len(specs), desc="synthetic clips", unit="clip"))
    label_eval_split(out_dir, specs)
    return [out_dir / spec.relpath for spec in specs]


WAV_HEADER_BYTES = 44


def write_clip(path: Path, pcm: np.ndarray, sample_rate: int) -> None:
    """One 16-bit WAV file; a failed write (libsndfile says only "System error.") is an
    ``OSError`` naming the file, a :class:`DiskFullError` when the disk is full."""
    try:
        sf.write(path, pcm, sample_rate, subtype="PCM_16")
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        if shutil.disk_usage(path.parent).free < pcm.size * 2 + WAV_HEADER_BYTES + (1 << 20):
            raise DiskFullError(errno.ENOSPC, f"disk full while writing {path}") from error
        raise OSError(f"{path}: cannot write the clip ({error})") from error


def prepare_synthetic(params: DataParams) -> Path:
    """Generate the data set into ``data.root`` atomically; returns the path of ``index.csv``.

    The free space for every clip is checked first: a full disk is an error naming the folder
    and the bytes needed, before any clip is written."""
    return write_generated(params, len(clip_specs(params)), generate)


def write_generated(params: DataParams, clips: int,
                    generate_into: Callable[[DataParams, Path], list[Path]]) -> Path:
    """Check the free space for ``clips`` clips, then write ``data.root`` atomically with
    ``generate_into(params, folder)``, its index (the layout of ``data.dataset``) and marker;
    returns the path of ``index.csv``. Serves the 2020 and the 2022+ generators."""
    root = Path(params.root).absolute()
    check_replaceable(root, "synthetic")
    ensure_free_space(root.parent, clips * (2 * params.clip_samples + WAV_HEADER_BYTES)
                      + (8 << 20), f"{clips} synthetic clips")
    with atomic_path(root, directory=True) as tmp:
        written = generate_into(params, tmp)
        write_index(build_index(tmp, params.selected_types(), params.dataset), tmp / "index.csv")
        write_marker(tmp, params, "synthetic")
    log.info("wrote %d synthetic %s clips to %s", len(written), params.dataset, root)
    return root / "index.csv"
