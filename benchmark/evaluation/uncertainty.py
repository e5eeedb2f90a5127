"""How sure a mean AUC is: a stratified bootstrap over test clips and a paired bootstrap test.

The statistic is the one of :func:`benchmark.evaluation.metrics.summarise`: AUC and pAUC (max FPR
0.1, McClish-standardised as sklearn's ``roc_auc_score(max_fpr=0.1)``) per machine ID, the
arithmetic mean per machine type, then the mean over types.

Resampling. Each resample draws, within every machine ID, the normal clips and the anomalous clips
separately with replacement (as many of each as there are), so every resample keeps the class
sizes of every ID and always has both classes. A resample is held as *counts*: how often each
clip was drawn. The ROC of a resample is the ROC of the original clips weighted by those counts,
so all resamples of one ID are evaluated at once with cumulative sums over the clips sorted by
score (:func:`roc_areas`): no Python loop over resamples.

- :func:`bootstrap`: the resampled mean AUC / pAUC of one model; :func:`interval` turns them into
  a percentile interval (95 % by default).
- :func:`paired_difference`: model minus reference on the same resampled clips (the two models
  must have scored the same test clips); difference, percentile interval and a two-sided p-value
  (twice the share of resampled differences on the far side of 0). An interval that contains 0
  is "not significant".
- :func:`bootstrap_cells`: the same resamples of one run, for every cell of the tables: the mean
  over types and each machine type (:func:`cell_metrics`); :func:`pooled_intervals` pools the
  runs of several seeds in a two-level bootstrap (clips, then seeds drawn with replacement), so
  an interval reflects both the test clips and the training seeds; :func:`pool_runs` keeps the
  pooled resamples, so two poolings of as many runs are compared with :func:`paired_difference`.
- ``column``: every function reading a scores table takes the name of its score column
  (``score`` by default), so each scoring backend's column of one table is resampled alike.

Counts depend on the test clips (their IDs, labels and paths) and ``seed`` only, never on the
scores: two models evaluated with the same seed see the very same resamples.

pAUC with few normal clips. With ``n`` normal clips per ID the ROC moves in FPR steps of
``1 / n``; below ``n = 10`` the first step already passes FPR 0.1 and the pAUC is a linear
interpolation of it. The empirical pAUC is then biased upward, and its bootstrap more so
(resamples hold fewer distinct normal clips). Simulated binormal scores (d = 1, 200 resamples,
100 sets): the 95 % pAUC interval held the true pAUC in 0 sets at 6 normal clips per ID, 75 at
30 and 90 at 100, while the AUC interval held the true AUC in 94-96 sets at all three sizes.
Reports should show a pAUC interval only from :data:`PAUC_MIN_NORMAL` normal clips per ID.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.evaluation.metrics import _binary

LEVEL = 0.95  # confidence level of the intervals
MAX_FPR = 0.1  # pAUC range, as in metrics.auc_pauc
PAUC_MIN_NORMAL = 100  # normal clips per machine ID below which a pAUC interval is not reliable
MEAN_CELL = "mean"  # the cell of the mean over machine types (the others are machine types)
SCORE_COLUMN = "score"  # the score column of a scores table (another one can be named)
CLIP_COLUMNS = ("path", "machine_type", "machine_id", "label")  # what identifies a scored clip


@dataclass(frozen=True)
class Stratum:
    """The test clips of one machine ID: positions in the sorted table, anomaly flags."""

    machine_type: str
    machine_id: str
    rows: np.ndarray  # (n,) positions into ScoredClips.frame
    anomalous: np.ndarray  # (n,) bool


@dataclass(frozen=True)
class ScoredClips:
    """A scores table in a canonical order (type, ID, label, path), grouped by machine ID."""

    frame: pd.DataFrame
    strata: tuple[Stratum, ...]
    key: str  # identifies the clips (not the scores): equal keys -> the same resamples

    @classmethod
    def from_frame(cls, scores: pd.DataFrame, column: str = SCORE_COLUMN) -> ScoredClips:
        """Columns ``machine_type, machine_id, label`` and ``column`` (and ``path`` when known).

        ``column``: the score column (``score`` in a train-stage scores file; a scoring
        backend's name in a score-stage file), held as ``score`` in :attr:`frame`.
        """
        missing = {"machine_type", "machine_id", "label", column} - set(scores.columns)
        if missing:
            raise ValueError(f"scores table lacks columns {sorted(missing)}")
        if column != SCORE_COLUMN:
            clip_columns = [c for c in CLIP_COLUMNS if c in scores]
            scores = scores[clip_columns + [column]].rename(columns={column: SCORE_COLUMN})
        order = [c for c in ("machine_type", "machine_id", "label", "path") if c in scores]
        frame = scores.sort_values(order, kind="stable").reset_index(drop=True)
        anomalous = _binary(frame["label"]).astype(bool)
        strata = []
        for (machine_type, machine_id), rows in frame.groupby(
            ["machine_type", "machine_id"], sort=True
        ).indices.items():
            flags = anomalous[rows]
            if flags.all() or not flags.any():
                raise ValueError(
                    f"{machine_type} {machine_id}: AUC needs both normal and anomalous clips"
                )
            strata.append(Stratum(str(machine_type), str(machine_id), rows, flags))
        if not strata:
            raise ValueError("no scores to resample")
        identity = frame[order].astype(str)
        key = hashlib.sha1(pd.util.hash_pandas_object(identity, index=False).values).hexdigest()
        return cls(frame, tuple(strata), key)

    @property
    def min_normal(self) -> int:
        """The fewest normal clips of any machine ID (see :data:`PAUC_MIN_NORMAL`)."""
        return int(min((~s.anomalous).sum() for s in self.strata))

    @property
    def scores(self) -> np.ndarray:
        values = self.frame["score"].to_numpy(float)
        if not np.isfinite(values).all():
            raise ValueError("scores hold NaN or infinite values")
        return values


def resample_counts(clips: ScoredClips, resamples: int, seed: int) -> list[np.ndarray]:
    """Per stratum ``(resamples, n)`` draw counts: normals and anomalies resampled separately."""
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    counts = []
    for stratum in clips.strata:
        drawn = np.zeros((resamples, len(stratum.rows)))
        for flag in (False, True):
            members = np.flatnonzero(stratum.anomalous == flag)
            n = len(members)
            drawn[:, members] = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)
        counts.append(drawn)
    return counts


def roc_areas(
    scores: np.ndarray, anomalous: np.ndarray, weights: np.ndarray, max_fpr: float = MAX_FPR
) -> tuple[np.ndarray, np.ndarray]:
    """AUC and standardised pAUC ``(R,)`` of ``scores`` (n,) under ``R`` clip weightings (R, n).

    Equal to ``roc_auc_score(anomalous, scores, sample_weight=w)`` (with ``max_fpr`` for the
    pAUC) for every row ``w`` of ``weights``; ties count one half, as there.
    """
    order = np.argsort(-scores, kind="stable")
    ranked, positive, w = scores[order], anomalous[order], weights[:, order]
    tp = np.cumsum(w * positive, axis=1)  # (R, n)
    fp = np.cumsum(w * ~positive, axis=1)
    ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # last clip of each threshold
    zero = np.zeros((len(w), 1))
    tpr = np.hstack([zero, tp[:, ends] / tp[:, -1:]])  # (R, thresholds + 1)
    fpr = np.hstack([zero, fp[:, ends] / fp[:, -1:]])
    x0, x1, y0, y1 = fpr[:, :-1], fpr[:, 1:], tpr[:, :-1], tpr[:, 1:]
    auc = ((x1 - x0) * (y0 + y1) / 2).sum(axis=1)
    # the same trapezoids cut at FPR = max_fpr (tpr interpolated linearly at the cut)
    cut0, cut1 = np.minimum(x0, max_fpr), np.minimum(x1, max_fpr)
    run = np.where(x1 > x0, x1 - x0, 1.0)
    y_cut = y0 + (y1 - y0) * (cut1 - x0) / run
    partial = ((cut1 - cut0) * (y0 + y_cut) / 2).sum(axis=1)
    low, high = max_fpr**2 / 2, max_fpr  # McClish: chance diagonal -> 0.5, perfect -> 1
    pauc = 0.5 * (1 + (partial - low) / (high - low))
    return auc, pauc


def type_metrics(
    clips: ScoredClips, counts: list[np.ndarray] | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per machine type (in the clips' order): the mean over its IDs of AUC and pAUC, ``(R,)`` each.

    ``counts``: :func:`resample_counts` (``None``: the clips as they are, ``R = 1``).
    """
    scores = clips.scores
    per_type: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for k, stratum in enumerate(clips.strata):
        weights = np.ones((1, len(stratum.rows))) if counts is None else counts[k]
        areas = roc_areas(scores[stratum.rows], stratum.anomalous, weights)
        per_type.setdefault(stratum.machine_type, []).append(areas)
    return {
        machine_type: (np.mean([a for a, _ in ids], axis=0), np.mean([p for _, p in ids], axis=0))
        for machine_type, ids in per_type.items()
    }


def mean_metrics(
    clips: ScoredClips, counts: list[np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean over types of the per-type mean over IDs of AUC and pAUC: ``(R,)`` each.

    ``counts``: :func:`resample_counts` (``None``: the clips as they are, ``R = 1``).
    """
    return _over_types(type_metrics(clips, counts))


def _over_types(
    per_type: dict[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """The arithmetic mean over machine types of :func:`type_metrics`' AUC and pAUC."""
    auc = np.mean([a for a, _ in per_type.values()], axis=0)
    pauc = np.mean([p for _, p in per_type.values()], axis=0)
    return auc, pauc


def cell_metrics(
    clips: ScoredClips, counts: list[np.ndarray] | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """AUC and pAUC ``(R,)`` of every cell: :data:`MEAN_CELL` (as :func:`mean_metrics`) and each
    machine type (as :func:`type_metrics`): ``{cell: {"auc": ..., "pauc": ...}}``."""
    per_type = type_metrics(clips, counts)
    auc, pauc = _over_types(per_type)
    cells = {MEAN_CELL: {"auc": auc, "pauc": pauc}}
    cells |= {t: {"auc": a, "pauc": p} for t, (a, p) in per_type.items()}
    return cells


@dataclass(frozen=True)
class Bootstrap:
    """One model's mean AUC / pAUC on the test clips and under every resample (fractions)."""

    auc: float
    pauc: float
    auc_samples: np.ndarray  # (resamples,)
    pauc_samples: np.ndarray  # (resamples,)
    clips_key: str  # ScoredClips.key: which clips were resampled
    seed: int
    min_normal: int  # the fewest normal clips of a machine ID

    @property
    def pauc_reliable(self) -> bool:
        """Enough normal clips per ID for the pAUC interval (:data:`PAUC_MIN_NORMAL`)."""
        return self.min_normal >= PAUC_MIN_NORMAL

    @property
    def resamples(self) -> int:
        return len(self.auc_samples)


def bootstrap(
    scores: pd.DataFrame, resamples: int = 1000, seed: int = 0, column: str = SCORE_COLUMN
) -> Bootstrap:
    """Stratified bootstrap of one model's mean AUC and pAUC over its test clips (the scores of
    ``column``)."""
    clips = ScoredClips.from_frame(scores, column)
    auc, pauc = mean_metrics(clips)
    auc_samples, pauc_samples = mean_metrics(clips, resample_counts(clips, resamples, seed))
    return Bootstrap(float(auc[0]), float(pauc[0]), auc_samples, pauc_samples, clips.key, seed,
                     clips.min_normal)


@dataclass(frozen=True)
class CellBootstrap:
    """One run's AUC / pAUC of every cell (:func:`cell_metrics`) on its clips and under every
    resample (fractions): ``estimates[cell][metric]`` and ``samples[cell][metric]`` ``(R,)``."""

    estimates: dict[str, dict[str, float]]
    samples: dict[str, dict[str, np.ndarray]]
    clips_key: str  # ScoredClips.key: which clips were resampled
    seed: int
    min_normal: int  # the fewest normal clips of a machine ID
    clips: int  # the scored clips

    @property
    def resamples(self) -> int:
        return len(self.samples[MEAN_CELL]["auc"])

    def mean_bootstrap(self) -> Bootstrap:
        """The mean cell as a :class:`Bootstrap`: what :func:`bootstrap` of the same scores and
        seed returns (the same resamples), without resampling again."""
        estimate, samples = self.estimates[MEAN_CELL], self.samples[MEAN_CELL]
        return Bootstrap(estimate["auc"], estimate["pauc"], samples["auc"], samples["pauc"],
                         self.clips_key, self.seed, self.min_normal)


def bootstrap_cells(
    scores: pd.DataFrame, resamples: int = 1000, seed: int = 0, column: str = SCORE_COLUMN
) -> CellBootstrap:
    """Stratified bootstrap of one run's mean and per-type AUC / pAUC over its test clips (the
    scores of ``column``).

    The resamples are those of :func:`bootstrap` with the same ``seed`` (so its ``mean`` cell
    equals :func:`bootstrap`'s ``auc_samples`` / ``pauc_samples`` exactly); they depend on the
    clips only, so every score column of one table is resampled alike (a paired test).
    """
    clips = ScoredClips.from_frame(scores, column)
    estimates = {
        cell: {metric: float(values[0]) for metric, values in metrics.items()}
        for cell, metrics in cell_metrics(clips).items()
    }
    samples = cell_metrics(clips, resample_counts(clips, resamples, seed))
    return CellBootstrap(estimates, samples, clips.key, seed, clips.min_normal, len(clips.frame))


def seed_draws(seeds: int, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, seeds)`` indices: for each resample, ``seeds`` runs drawn with replacement
    from the ``seeds`` runs (numpy's default generator seeded with ``seed``)."""
    if seeds < 1:
        raise ValueError(f"seed_draws needs at least one run, got {seeds}")
    return np.random.default_rng(seed).integers(0, seeds, size=(resamples, seeds))


def pool_runs(runs: Sequence[CellBootstrap], seed: int) -> CellBootstrap:
    """Two-level bootstrap of the mean over runs (seeds) of every cell, as one
    :class:`CellBootstrap`: ``estimates`` the mean over runs of the unresampled values,
    ``samples[cell][metric][r]`` the mean of the values at resample ``r`` of as many runs as there
    are, drawn with replacement (:func:`seed_draws` with ``seed``).

    All ``runs`` must be :func:`bootstrap_cells` of the same clips with the same resamples and
    seed (so resample ``r`` is the same clips for every run). Two poolings of as many runs with
    the same ``seed`` draw the same runs at every resample: the difference of their ``mean``
    cells (:meth:`CellBootstrap.mean_bootstrap`) is a paired two-level test
    (:func:`paired_difference`). One run: its own samples.
    """
    if not runs:
        raise ValueError("pooled intervals need at least one run")
    first = runs[0]
    for other in runs[1:]:
        if other.clips_key != first.clips_key:
            raise ValueError("pooled intervals need every run scored on the same clips")
        if (other.resamples, other.seed) != (first.resamples, first.seed):
            raise ValueError("pooled intervals need the same resamples (count and seed) for all")
    draws = seed_draws(len(runs), first.resamples, seed)  # (R, S)
    columns = np.arange(first.resamples)[:, None]
    estimates: dict[str, dict[str, float]] = {}
    samples: dict[str, dict[str, np.ndarray]] = {}
    for cell, metrics in first.samples.items():
        if not all(cell in run.samples for run in runs):
            continue
        estimates[cell], samples[cell] = {}, {}
        for metric in metrics:
            stacked = np.stack([run.samples[cell][metric] for run in runs])  # (S, R)
            samples[cell][metric] = stacked[draws, columns].mean(axis=1)  # (R,)
            estimates[cell][metric] = float(np.mean([run.estimates[cell][metric] for run in runs]))
    return CellBootstrap(estimates, samples, first.clips_key, first.seed,
                         min(run.min_normal for run in runs), first.clips)


def pooled_intervals(
    runs: Sequence[CellBootstrap], seed: int, level: float = LEVEL
) -> dict[str, dict[str, Interval]]:
    """Two-level bootstrap of the mean over runs (seeds) of every cell: ``{cell: {metric: CI}}``.

    The percentile intervals of :func:`pool_runs` (the estimate: the mean over runs of the
    unresampled values). One run: the plain clip bootstrap (the same interval as
    :func:`interval` of its samples).
    """
    pooled = pool_runs(runs, seed)
    return {
        cell: {metric: interval(pooled.estimates[cell][metric], values, level)
               for metric, values in metrics.items()}
        for cell, metrics in pooled.samples.items()
    }


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile interval."""

    estimate: float
    low: float
    high: float
    level: float = LEVEL

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def interval(estimate: float, samples: np.ndarray, level: float = LEVEL) -> Interval:
    """Percentile bootstrap interval: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles."""
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high), level)


@dataclass(frozen=True)
class Difference:
    """Mean AUC of a model minus the reference's on the same resampled clips (fractions)."""

    interval: Interval
    p_value: float  # two-sided
    resamples: int

    @property
    def significant(self) -> bool:
        """False ("n.s.") when the interval contains 0."""
        return not self.interval.contains(0.0)


def paired_difference(model: Bootstrap, reference: Bootstrap, level: float = LEVEL) -> Difference:
    """Paired bootstrap test of ``model.auc - reference.auc``.

    Both must come from :func:`bootstrap` on the same test clips with the same resamples and
    seed (else ``ValueError``). p-value: ``2 * (1 + #resamples on the far side of 0) /
    (1 + resamples)``, capped at 1 (identical models: every difference is 0 and p = 1).
    """
    if model.clips_key != reference.clips_key:
        raise ValueError("paired test needs both models scored on the same test clips")
    if (model.resamples, model.seed) != (reference.resamples, reference.seed):
        raise ValueError("paired test needs the same resamples (count and seed) for both models")
    samples = model.auc_samples - reference.auc_samples
    far = min(np.sum(samples <= 0), np.sum(samples >= 0))
    p_value = min(1.0, 2 * (1 + far) / (1 + len(samples)))
    return Difference(
        interval(model.auc - reference.auc, samples, level), float(p_value), len(samples)
    )
