"""Bootstrap intervals and the paired test of benchmark.evaluation.uncertainty, on simulated scores.

Simulated model: normal scores N(0, 1), anomalous scores N(d, 1), so the true AUC of every machine
ID (and so of their mean) is Phi(d / sqrt(2)). Tests use 200 resamples to stay fast.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from benchmark.evaluation.metrics import summarise
from benchmark.evaluation.uncertainty import (
    Interval,
    ScoredClips,
    bootstrap,
    interval,
    paired_difference,
    resample_counts,
    roc_areas,
)

RESAMPLES = 200
D = 1.0  # anomaly shift in standard deviations
TRUE_AUC = float(norm.cdf(D / np.sqrt(2)))  # 0.760


def clips(types: int = 2, ids: int = 2, normal: int = 30, anomalous: int = 30) -> pd.DataFrame:
    """The test clips (no scores): ``types`` x ``ids`` machine IDs, both labels in each."""
    rows = []
    for t in range(types):
        for i in range(ids):
            for label, n in (("normal", normal), ("anomaly", anomalous)):
                rows += [(f"type{t}/test/{label}_id_{i:02d}_{k:08d}.wav", f"type{t}",
                          f"id_{i:02d}", label) for k in range(n)]
    return pd.DataFrame(rows, columns=["path", "machine_type", "machine_id", "label"])


def simulate(test: pd.DataFrame, rng: np.random.Generator, d: float = D) -> pd.DataFrame:
    """Scores of a model whose true AUC is Phi(d / sqrt(2)) on every machine ID."""
    shift = np.where(test["label"] == "anomaly", d, 0.0)
    return test.assign(score=rng.normal(size=len(test)) + shift)


def test_roc_areas_equal_sklearn_with_weights_and_ties() -> None:
    rng = np.random.default_rng(0)
    for trial in range(100):
        n = int(rng.integers(4, 30))
        scores = rng.integers(0, 5, n).astype(float) if trial % 2 else rng.normal(size=n)
        anomalous = np.zeros(n, bool)
        anomalous[rng.choice(n, int(rng.integers(1, n)), replace=False)] = True
        weights = rng.integers(1, 4, (3, n)).astype(float)
        auc, pauc = roc_areas(scores, anomalous, weights)
        for w, a, p in zip(weights, auc, pauc, strict=True):
            assert a == pytest.approx(roc_auc_score(anomalous, scores, sample_weight=w), abs=1e-12)
            expected = roc_auc_score(anomalous, scores, sample_weight=w, max_fpr=0.1)
            assert p == pytest.approx(expected, abs=1e-12)


def test_point_estimate_is_the_summarise_mean() -> None:
    scores = simulate(clips(types=3, ids=3, normal=7, anomalous=5), np.random.default_rng(1))
    boot = bootstrap(scores, RESAMPLES, seed=0)
    mean = summarise(scores)["mean"]
    assert boot.auc == pytest.approx(mean["auc"], abs=1e-12)
    assert boot.pauc == pytest.approx(mean["pauc"], abs=1e-12)
    assert boot.auc_samples.shape == boot.pauc_samples.shape == (RESAMPLES,)


def test_resamples_keep_both_classes_of_every_id_and_depend_on_clips_and_seed_only() -> None:
    test = clips(types=2, ids=2, normal=5, anomalous=3)
    a = ScoredClips.from_frame(simulate(test, np.random.default_rng(0)))
    b = ScoredClips.from_frame(simulate(test, np.random.default_rng(1)).sample(frac=1.0))
    assert a.key == b.key  # same clips (in any order), other scores
    counts = resample_counts(a, 50, seed=3)
    for stratum, drawn in zip(a.strata, counts, strict=True):
        assert drawn[:, stratum.anomalous].sum(axis=1).tolist() == [3] * 50
        assert drawn[:, ~stratum.anomalous].sum(axis=1).tolist() == [5] * 50
    for x, y in zip(counts, resample_counts(b, 50, seed=3), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(counts[0], resample_counts(a, 50, seed=4)[0])


SMALL = {"types": 6, "ids": 3, "normal": 6, "anomalous": 6}  # the default synthetic test set


def _true_pauc(d: float = D, max_fpr: float = 0.1) -> float:
    """McClish-standardised partial AUC of the binormal ROC tpr(f) = 1 - Phi(Phi^-1(1 - f) - d)."""
    area = quad(lambda f: norm.sf(norm.isf(f) - d), 0.0, max_fpr)[0]
    low, high = max_fpr**2 / 2, max_fpr
    return 0.5 * (1 + (area - low) / (high - low))


def _coverage(
    widen: float = 1.0, level: float = 0.95, sets: int = 100, key: str = "auc", **shape: int
) -> int:
    """In how many of ``sets`` simulated score sets the (scaled) interval holds the true value."""
    rng = np.random.default_rng(0)
    test = clips(**shape)
    truth = TRUE_AUC if key == "auc" else _true_pauc()
    hits = 0
    for k in range(sets):
        boot = bootstrap(simulate(test, rng), RESAMPLES, seed=k)
        ci = interval(getattr(boot, key), getattr(boot, f"{key}_samples"), level)
        half = widen * (ci.high - ci.low) / 2
        centre = (ci.high + ci.low) / 2
        hits += Interval(ci.estimate, centre - half, centre + half).contains(truth)
    return hits


def test_95_percent_interval_covers_the_true_auc() -> None:
    assert _coverage() >= 90  # 4 IDs x (30 normal + 30 anomalous clips)
    assert _coverage(**SMALL) >= 90  # 18 IDs x (6 + 6): the default synthetic test set


def test_pauc_interval_is_unreliable_with_few_normal_clips() -> None:
    """Why reports show no pAUC interval below PAUC_MIN_NORMAL normal clips per ID."""
    assert _coverage(key="pauc", **SMALL) < 50
    assert bootstrap(simulate(clips(**SMALL), np.random.default_rng(0)), 10).min_normal == 6
    assert not bootstrap(simulate(clips(**SMALL), np.random.default_rng(0)), 10).pauc_reliable


def test_coverage_check_fails_for_too_narrow_intervals() -> None:
    """The coverage test can fail: half-width or 50 % intervals miss the true AUC too often."""
    assert _coverage(widen=0.5) < 90
    assert _coverage(level=0.5) < 90


def test_paired_test_finds_a_planted_difference() -> None:
    rng = np.random.default_rng(2)
    test = clips()
    better = bootstrap(simulate(test, rng, d=2.0), RESAMPLES, seed=0)  # true AUC 0.92
    reference = bootstrap(simulate(test, rng, d=0.5), RESAMPLES, seed=0)  # true AUC 0.64
    diff = paired_difference(better, reference)
    assert diff.interval.estimate == pytest.approx(better.auc - reference.auc)
    assert diff.interval.low > 0 and diff.significant
    assert diff.p_value < 0.05
    assert paired_difference(reference, better).interval.high < 0  # the other way round


def test_paired_test_does_not_flag_identical_models() -> None:
    scores = simulate(clips(), np.random.default_rng(3))
    a, b = bootstrap(scores, RESAMPLES, seed=0), bootstrap(scores.iloc[::-1], RESAMPLES, seed=0)
    diff = paired_difference(a, b)
    assert diff.interval.estimate == 0.0 and diff.interval.low == diff.interval.high == 0.0
    assert diff.p_value == 1.0 and not diff.significant


def test_paired_test_false_alarms_are_rare_for_equally_good_models() -> None:
    """Two different models of the same true AUC: p < 0.05 in about 5 % of test sets."""
    rng = np.random.default_rng(4)
    test = clips()
    flagged = 0
    for k in range(40):
        a = bootstrap(simulate(test, rng), RESAMPLES, seed=k)
        b = bootstrap(simulate(test, rng), RESAMPLES, seed=k)
        flagged += paired_difference(a, b).p_value < 0.05
    assert flagged <= 6


def test_paired_test_refuses_other_clips_or_other_resamples() -> None:
    rng = np.random.default_rng(5)
    a = bootstrap(simulate(clips(), rng), RESAMPLES, seed=0)
    other = bootstrap(simulate(clips(normal=29), rng), RESAMPLES, seed=0)
    with pytest.raises(ValueError, match="same test clips"):
        paired_difference(a, other)
    with pytest.raises(ValueError, match="same resamples"):
        paired_difference(a, bootstrap(simulate(clips(), rng), RESAMPLES, seed=1))


def test_an_id_without_anomalies_is_an_error() -> None:
    scores = simulate(clips(anomalous=0), np.random.default_rng(0))
    with pytest.raises(ValueError, match="both normal and anomalous"):
        bootstrap(scores, RESAMPLES)


def test_twelve_models_1000_resamples_take_seconds() -> None:
    """The default report: 12 models x 1000 resamples on 216 clips (18 IDs x 12) in < 5 s."""
    rng = np.random.default_rng(6)
    test = clips(types=6, ids=3, normal=6, anomalous=6)
    models = [simulate(test, rng) for _ in range(12)]
    start = time.perf_counter()
    boots = [bootstrap(scores, 1000, seed=0) for scores in models]
    for boot in boots[1:]:
        paired_difference(boot, boots[0])
    assert time.perf_counter() - start < 5.0
