"""The paper's figures and ROC curves as PNG files (matplotlib, Agg backend: no display needed).

- :func:`plot_features`: the log-Mel spectrogram and the Wavegram of one clip (paper Figure 2);
- :func:`plot_attention`: the attention maps of the same clip (paper Figure 3);
- :func:`plot_attention_stats`: mean and standard deviation of the log-Mel attention map over
  test clips, as maps and per Mel band (paper Figure 4);
- :func:`plot_roc`: ROC curves per machine type of every model with ``reports/roc/NAME.csv``,
  each model in its own colour and line style (:func:`line_style`: unique up to 20 models).

:func:`attention_figures` drives the first three from a trained model and test waveforms. Every
title names the data source, the epochs and the seed(s) of the runs it shows. Attention maps are
drawn on the fixed colour range [0.5, 1]: the map is a sigmoid of a ReLU output (see
:mod:`benchmark.architectures.proposed`), so it can only take values in [0.5, 1), and one fixed
range makes maps of different clips and models comparable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from benchmark.data.layout import MACHINE_TYPES  # noqa: E402
from benchmark.reporting.results import ModelRuns  # noqa: E402

log = logging.getLogger(__name__)

DPI = 120
FEATURE_NAMES = {"logmel": "log-Mel spectrogram $X_{Mel}$", "wavegram": "Wavegram $X_{Wav}$",
                 "tgram": "Tgram"}
DEFAULT_BRANCHES = ("logmel", "wavegram")  # the proposed model's channel order
HOP_SECONDS = 512 / 16000  # one log-Mel / Wavegram frame (hop 512 at 16 kHz)
ATTENTION_RANGE = (0.5, 1.0)  # sigmoid(ReLU(.)) lies in [0.5, 1): one colour scale for all maps
ATTENTION_LABEL = "attention weight (fixed range 0.5-1)"
# 20 distinct colours (tab10, then the light half of tab20) and 4 line styles
LINE_COLOURS = [f"C{k}" for k in range(10)] + [plt.get_cmap("tab20")(2 * k + 1) for k in range(10)]
LINE_STYLES = ("-", "--", "-.", ":")
REFERENCE_LINE = {"color": "black", "alpha": 0.5}  # chance diagonal, FPR 0.1: not a model colour


def mel_band_centres(n_mels: int = 128, sample_rate: int = 16000) -> np.ndarray:
    """Centre frequencies (Hz) of the HTK Mel filters torchaudio's ``MelSpectrogram`` uses."""
    high = 2595.0 * np.log10(1.0 + (sample_rate / 2) / 700.0)
    mels = np.linspace(0.0, high, n_mels + 2)[1:-1]
    return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_placeholder(title: str, reason: str, path: str | Path) -> Path:
    """A small image that says why a figure could not be drawn (DVC still finds the file)."""
    fig, ax = plt.subplots(figsize=(6, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.6, f"{title}: not available", ha="center", va="center", fontsize=12)
    ax.text(0.5, 0.25, reason, ha="center", va="center", fontsize=9, wrap=True)
    return _save(fig, Path(path))


def _image(ax: plt.Axes, data: np.ndarray, title: str, label: str, **kwargs) -> None:
    """One (bands, frames) map, time in seconds on x, band index on y."""
    seconds = data.shape[1] * HOP_SECONDS
    image = ax.imshow(
        data, origin="lower", aspect="auto", extent=(0.0, seconds, 0, data.shape[0]), **kwargs
    )
    ax.set_title(title)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("band")
    ax.figure.colorbar(image, ax=ax, label=label)


def _channel_title(branches: Sequence[str], channel: int) -> str:
    if channel < len(branches):
        return FEATURE_NAMES.get(branches[channel], branches[channel])
    return f"channel {channel}"


def plot_features(
    features: np.ndarray, title: str, path: str | Path,
    branches: Sequence[str] = DEFAULT_BRANCHES,
) -> Path:
    """Figure 2: front-end ``features`` (C, 128, T), channel c from branch ``branches[c]``."""
    fig, axes = plt.subplots(1, len(features), figsize=(6 * len(features), 3.6), squeeze=False)
    for channel, ax in enumerate(axes[0]):
        label = "dB" if channel < len(branches) and branches[channel] == "logmel" else "output"
        _image(ax, features[channel], _channel_title(branches, channel), label, cmap="magma")
    fig.suptitle(title, y=1.05)
    return _save(fig, Path(path))


def plot_attention(
    attention: np.ndarray, title: str, path: str | Path,
    branches: Sequence[str] = DEFAULT_BRANCHES,
) -> Path:
    """Figure 3: attention maps ``(C, 128, T)`` in [0.5, 1) of the clip of Figure 2.

    Every map on the fixed colour range :data:`ATTENTION_RANGE` (values outside are clipped to
    its ends), so two maps are compared by their colours alone.
    """
    fig, axes = plt.subplots(1, len(attention), figsize=(6 * len(attention), 3.6), squeeze=False)
    low, high = ATTENTION_RANGE
    for channel, ax in enumerate(axes[0]):
        name = f"attention on {_channel_title(branches, channel)}"
        _image(ax, attention[channel], name, ATTENTION_LABEL, cmap="viridis", vmin=low, vmax=high)
    fig.suptitle(title, y=1.05)
    return _save(fig, Path(path))


@dataclass
class AttentionStats:
    """Running mean / std of attention maps ``(128, T)`` over clips (float64 sums)."""

    total: np.ndarray | None = None
    squares: np.ndarray | None = None
    count: int = 0

    def update(self, maps: np.ndarray) -> None:
        """Add a batch ``(B, 128, T)``."""
        maps = maps.astype(np.float64)
        if self.total is None:
            self.total = np.zeros(maps.shape[1:])
            self.squares = np.zeros(maps.shape[1:])
        self.total += maps.sum(axis=0)
        self.squares += (maps**2).sum(axis=0)
        self.count += len(maps)

    def mean(self) -> np.ndarray:  # (128, T)
        return self.total / self.count

    def std(self) -> np.ndarray:  # (128, T)
        return np.sqrt(np.maximum(self.squares / self.count - self.mean() ** 2, 0.0))

    def band_mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        """Per Mel band over all clips and frames: ``(128,)``, ``(128,)``."""
        frames = self.total.shape[1]
        mean = self.total.sum(axis=1) / (self.count * frames)
        square = self.squares.sum(axis=1) / (self.count * frames)
        return mean, np.sqrt(np.maximum(square - mean**2, 0.0))


def plot_attention_stats(stats: AttentionStats, title: str, path: str | Path) -> Path:
    """Figure 4: mean and std maps of the log-Mel attention, and both per Mel band.

    The mean map and the per-band plot use the fixed range :data:`ATTENTION_RANGE`; the std map
    its own range from 0 (its colour bar says so).
    """
    fig, axes = plt.subplots(1, 3, figsize=(17, 3.8), gridspec_kw={"width_ratios": [3, 3, 2]})
    low, high = ATTENTION_RANGE
    _image(axes[0], stats.mean(), "mean", ATTENTION_LABEL, cmap="viridis", vmin=low, vmax=high)
    _image(axes[1], stats.std(), "standard deviation", "std of the weight (own range)",
           cmap="viridis", vmin=0.0)
    mean, std = stats.band_mean_std()
    hz = mel_band_centres(len(mean))
    axes[2].plot(hz, mean, color="C0", label="mean")
    axes[2].fill_between(hz, mean - std, mean + std, color="C0", alpha=0.3, label="± std")
    axes[2].set_xscale("log")
    ticks = [t for t in (100, 200, 500, 1000, 2000, 4000, 8000) if hz[0] <= t <= hz[-1] * 1.1]
    axes[2].set_xticks(ticks, [f"{t / 1000:g}" for t in ticks])
    axes[2].set_ylim(low, high)
    axes[2].set_xlabel("Mel band centre (kHz, log scale)")
    axes[2].set_ylabel("attention weight")
    axes[2].set_title("per frequency band")
    axes[2].legend(loc="lower right")
    fig.suptitle(f"{title} ({stats.count} test clips)", y=1.05)
    return _save(fig, Path(path))


def line_style(k: int) -> tuple[Any, str]:
    """Colour and line style of the ``k``-th model: distinct colours for 20 models, and no two
    models of the first 80 share a (colour, style) pair; neighbours also differ in style."""
    colour = LINE_COLOURS[k % len(LINE_COLOURS)]
    style = LINE_STYLES[(k + k // len(LINE_COLOURS)) % len(LINE_STYLES)]
    return colour, style


def roc_label(model: str, runs: Mapping[str, ModelRuns]) -> str:
    """``proposed (synthetic data, 2 epochs, seed 0)``: the legend entry of one model."""
    known = runs.get(model)
    return f"{model} ({known.description})" if known else f"{model} (no metrics: data unknown)"


def roc_figure(
    curves: Mapping[str, pd.DataFrame], runs: Mapping[str, ModelRuns] | None = None
) -> plt.Figure:
    """The figure of :func:`plot_roc` (not saved: tests inspect its lines)."""
    runs = runs or {}
    fig, axes = plt.subplots(2, 3, figsize=(14, 9), sharex=True, sharey=True)
    models = sorted(curves)
    for ax, machine in zip(axes.flat, MACHINE_TYPES, strict=True):
        for k, model in enumerate(models):
            part = curves[model][curves[model]["machine_type"] == machine]
            if not part.empty:
                colour, style = line_style(k)
                ax.plot(part["fpr"], part["tpr"], color=colour, ls=style, lw=1.3,
                        label=roc_label(model, runs))
        ax.plot([0, 1], [0, 1], lw=0.8, ls="--", **REFERENCE_LINE)
        ax.axvline(0.1, lw=0.6, ls=":", **REFERENCE_LINE)  # pAUC range ends here
        ax.set_title(machine)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    for ax in axes[1]:
        ax.set_xlabel("false positive rate")
    for ax in axes[:, 0]:
        ax.set_ylabel("true positive rate")
    handles, labels = [], []
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    rows = -(-len(labels) // 3) if labels else 0
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8)
    sources = sorted({runs[m].data_source for m in models if m in runs}) or ["unknown"]
    fig.suptitle(
        f"ROC curves of our runs per machine type (IDs pooled) on {' + '.join(sources)} data; "
        "epochs and seeds per model in the legend\n(black dashed: chance, dotted: FPR 0.1, "
        "the pAUC limit)"
    )
    fig.tight_layout(rect=(0, 0.025 * rows + 0.02, 1, 0.95))
    return fig


def plot_roc(
    curves: Mapping[str, pd.DataFrame], path: str | Path,
    runs: Mapping[str, ModelRuns] | None = None,
) -> Path:
    """ROC curves, one panel per machine type, one line per model.

    ``curves``: model name -> frame with columns ``machine_type, fpr, tpr``; ``runs``: where each
    model's numbers came from (data source, epochs, seeds: in the legend and the title).
    """
    return _save(roc_figure(curves, runs), Path(path))


def read_roc_dir(roc_dir: str | Path) -> dict[str, pd.DataFrame]:
    """``reports/roc/NAME-seedK.csv`` files as model name -> frame of its lowest seed.

    (A file ``NAME.csv`` without a seed counts as seed 0; empty when the folder is absent.)
    """
    folder = Path(roc_dir)
    chosen: dict[str, tuple[int, Path]] = {}
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        model, seed = _model_and_seed(path.stem)
        if model not in chosen or seed < chosen[model][0]:
            chosen[model] = (seed, path)
    curves = {}
    for model, (_, path) in sorted(chosen.items()):
        frame = pd.read_csv(path)
        missing = {"machine_type", "fpr", "tpr"} - set(frame.columns)
        if missing:
            raise ValueError(f"{path}: ROC file lacks columns {sorted(missing)}")
        curves[model] = frame
    return curves


def _model_and_seed(stem: str) -> tuple[str, int]:
    """``idnn-seed3`` -> ``("idnn", 3)``; a stem without a seed is seed 0."""
    model, _, seed = stem.rpartition("-seed")
    return (model, int(seed)) if model and seed.isdigit() else (stem, 0)


def frontend_branches(model: torch.nn.Module) -> tuple[str, ...]:
    """Names of the front end's channels (``logmel``, ``wavegram``, ...), in channel order."""
    branches = getattr(getattr(model, "frontend", None), "branches", None)
    return tuple(branches.keys()) if isinstance(branches, Mapping | torch.nn.ModuleDict) else (
        DEFAULT_BRANCHES
    )


@torch.inference_mode()
def attention_figures(
    model: torch.nn.Module,
    clip: torch.Tensor,
    clip_title: str,
    batches: Iterable[torch.Tensor],
    out_dir: str | Path,
    model_name: str,
    provenance: str,
) -> list[Path]:
    """Figures 2-4 of ``model`` for one ``clip`` (L,) and test ``batches`` of waveforms (B, L).

    ``clip_title``: ``normal_id_00_00000000.wav: fan id_00, anomaly``; ``provenance``:
    ``synthetic data, 2 epochs, seed 0`` (second line of every title). Figure 2 needs
    ``model.features``; Figures 3-4 need ``model.attention_map`` to return a map (a model
    without attention returns ``None`` and gets Figure 2 only).
    """
    out = Path(out_dir)
    branches = frontend_branches(model)
    wave = clip.unsqueeze(0).float()  # (1, L)
    trained = f"{model_name}: {provenance}"
    written = [
        plot_features(
            model.features(wave)[0].cpu().numpy(),  # (C, 128, T)
            f"Input features of {clip_title}\n{trained}",
            out / "features.png",
            branches,
        )
    ]
    attention = model.attention_map(wave)  # (1, C, 128, T) | None
    if attention is None:
        log.warning("%s has no attention module: attention figures skipped", model_name)
        return written
    title = f"Attention maps of {clip_title}\n{trained}"
    written.append(
        plot_attention(attention[0].cpu().numpy(), title, out / "attention.png", branches)
    )
    if "logmel" not in branches:
        log.warning("%s has no log-Mel input: Figure 4 skipped", model_name)
        return written
    mel = list(branches).index("logmel")
    stats = AttentionStats()
    for batch in batches:
        stats.update(model.attention_map(batch.float())[:, mel].cpu().numpy())  # (B, 128, T)
    if stats.count == 0:
        log.warning("no test clips: attention statistics figure skipped")
        return written
    title = f"Log-Mel attention over the test set\n{trained}"
    written.append(plot_attention_stats(stats, title, out / "attention_stats.png"))
    return written
