"""The DCASE 2021-2025 official metrics against values computed by hand, and their bootstrap
intervals (issue 21 groundwork)."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd
import pytest

from benchmark.evaluation.domain_metrics import (
    DOMAINS,
    OFFICIAL_KEYS,
    OFFICIAL_KEYS_2021,
    _clips,
    _section_values,
    official_interval,
    official_metrics,
    official_score,
    official_score_2021,
    section_metrics,
    section_metrics_2021,
)
from benchmark.evaluation.uncertainty import resample_counts


def clips(machine_type: str, section: str, rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"machine_type": machine_type, "section": section, "domain": d,
                          "label": label, "score": s} for d, label, s in rows])


# fan 00: source normals 0.1 0.2 0.3, target normal 0.5, anomalies 0.4 (source), 0.6 (target)
FAN = clips("fan", "00", [("source", "normal", 0.1), ("source", "normal", 0.2),
                          ("source", "normal", 0.3), ("target", "normal", 0.5),
                          ("source", "anomaly", 0.4), ("target", "anomaly", 0.6)])
PUMP = clips("pump", "01", [("source", "normal", 0.1), ("target", "normal", 0.2),
                            ("source", "anomaly", 0.8), ("target", "anomaly", 0.9)])
# pAUC of fan 00: the top clip is an anomaly, then a normal at FPR 1/4 > 0.1, so the partial
# area to FPR 0.1 is 0.1 x 1/2 = 0.05; McClish: (1 + (0.05 - 0.005) / (0.1 - 0.005)) / 2
FAN_PAUC = (1 + (0.05 - 0.005) / 0.095) / 2


def test_section_metrics_by_hand():
    table = section_metrics(pd.concat([FAN, PUMP], ignore_index=True))
    assert table[["machine_type", "section"]].values.tolist() == [["fan", "00"], ["pump", "01"]]
    fan = table.iloc[0]
    assert fan["auc_source"] == 1.0  # 3 source normals below both anomalies: 6 of 6 pairs
    assert fan["auc_target"] == 0.5  # the target normal 0.5 is above 0.4, below 0.6
    assert fan["pauc"] == pytest.approx(FAN_PAUC, abs=1e-12)
    assert fan["auc_all"] == pytest.approx(7 / 8)  # 8 pairs, only (0.5, 0.4) wrong
    assert table.iloc[1][["auc_source", "auc_target", "pauc", "auc_all"]].tolist() == [1.0] * 4


def test_official_score_is_the_harmonic_mean_of_every_section_and_domain():
    one = official_score(section_metrics(FAN))
    assert one == pytest.approx(3 / (1 / 1.0 + 1 / 0.5 + 1 / FAN_PAUC), abs=1e-12)
    both = official_score(section_metrics(pd.concat([FAN, PUMP], ignore_index=True)))
    assert both == pytest.approx(6 / (3 + 1 / 1.0 + 1 / 0.5 + 1 / FAN_PAUC), abs=1e-12)


def test_a_zero_auc_is_floored_at_epsilon_as_the_evaluator_does():
    inverted = clips("valve", "00", [("source", "normal", 0.9), ("target", "normal", 0.8),
                                     ("source", "anomaly", 0.1), ("target", "anomaly", 0.2)])
    table = section_metrics(inverted)
    assert table.iloc[0]["auc_source"] == 0.0
    score = official_score(table)
    assert 0 < score < 10 * sys.float_info.epsilon


@pytest.mark.parametrize(("frame", "message"), [
    (FAN.drop(columns="domain"), r"lacks columns \['domain'\]"),
    (FAN.assign(domain="shifted"), r"unknown domain value\(s\) \['shifted'\]"),
    (FAN[FAN["label"] == "normal"], "fan section 00 .*needs normal and anomalous clips"),
])
def test_bad_tables_are_named(frame, message):
    with pytest.raises(ValueError, match=message):
        section_metrics(frame)


# ------------------------------------------------------------ DCASE 2021 and the per-year summary

# fan 00 by domain. source: normals 0.1 0.4, anomalies 0.3 0.5; target: normals 0.7 0.2,
# anomalies 0.7 (a tie with a normal) 0.9. pump 01: every anomaly above every normal.
FAN_21 = clips("fan", "00", [("source", "normal", 0.1), ("source", "normal", 0.4),
                             ("source", "anomaly", 0.3), ("source", "anomaly", 0.5),
                             ("target", "normal", 0.7), ("target", "normal", 0.2),
                             ("target", "anomaly", 0.7), ("target", "anomaly", 0.9)])
TABLE_21 = pd.concat([PUMP, FAN_21], ignore_index=True)  # pump first: order of appearance
# AUC (anomaly above normal: 1, tie: 1/2, over the anomaly-normal pairs):
AUC_S = 3 / 4  # source: 0.3 > 0.1, 0.3 < 0.4, 0.5 > both: 3 of 4
AUC_T = 7 / 8  # target: 0.7 = 0.7 (1/2), 0.7 > 0.2, 0.9 > both: 3.5 of 4
AUC_ALL = 25 / 32  # 16 pairs: 0.3 beats 2, 0.5 beats 3, 0.7 beats 3 and ties 1, 0.9 beats 4
# pAUC: ROC area up to FPR 0.1, McClish (1 + (A - 0.005) / (0.1 - 0.005)) / 2.
# source: ROC (0, 0) (0, 1/2) (1/2, 1/2) ...: A = 0.1 x 1/2 = 0.05 -> (1 + 9/19) / 2
PAUC_S = 14 / 19
# target: ROC (0, 0) (0, 1/2) (1/2, 1) ...: TPR 0.6 at FPR 0.1, A = 0.1 (0.5 + 0.6) / 2 = 0.055
PAUC_T = 29 / 38
# all: ROC (0, 0) (0, 1/4) (1/4, 1/2) ...: TPR 0.35 at FPR 0.1, A = 0.03 -> (1 + 5/19) / 2
PAUC_ALL = 12 / 19
# 2022+ on the same clips: each domain's normals against all four anomalies (8 pairs)
AUC_SMIX = 7 / 8  # normals 0.1 0.4: only 0.3 < 0.4 lost
AUC_TMIX = 11 / 16  # normals 0.7 0.2: 0.3 and 0.5 beat 0.2 only, 0.7 beats 0.2 and ties 0.7


def hmean(*values: float) -> float:
    return len(values) / sum(1 / v for v in values)


def test_section_metrics_2021_by_hand():
    table = section_metrics_2021(TABLE_21)
    assert table[["machine_type", "section"]].values.tolist() == [["pump", "01"], ["fan", "00"]]
    fan = table.iloc[1]
    expected = {"auc_source": AUC_S, "pauc_source": PAUC_S, "auc_target": AUC_T,
                "pauc_target": PAUC_T, "auc_all": AUC_ALL, "pauc_all": PAUC_ALL}
    for key, value in expected.items():
        assert fan[key] == pytest.approx(value, abs=1e-12), key
    assert table.iloc[0][list(expected)].tolist() == [1.0] * 6


def test_official_score_2021_is_the_harmonic_mean_of_both_domains_auc_and_pauc():
    score = official_score_2021(section_metrics_2021(TABLE_21))
    assert score == pytest.approx(hmean(AUC_S, AUC_T, PAUC_S, PAUC_T, 1, 1, 1, 1), abs=1e-12)


def test_official_metrics_2021_structure():
    result = official_metrics(TABLE_21, "dcase2021")
    assert list(result) == ["dataset", "official", "per_type", "per_section"]
    assert result["dataset"] == "dcase2021"
    assert result["official"] == pytest.approx(official_score_2021(section_metrics_2021(TABLE_21)))
    assert list(result["per_type"]) == ["pump", "fan"]
    fan = result["per_type"]["fan"]
    assert set(fan) == {"official", "auc_source", "auc_target", "pauc_source", "pauc_target",
                        "pauc"}
    assert fan["official"] == pytest.approx(hmean(AUC_S, AUC_T, PAUC_S, PAUC_T), abs=1e-12)
    assert fan["pauc"] == pytest.approx((PAUC_S + PAUC_T) / 2, abs=1e-12)
    assert result["per_type"]["pump"]["official"] == 1.0
    assert result["per_section"]["fan"]["00"]["pauc_all"] == pytest.approx(PAUC_ALL, abs=1e-12)
    assert set(result["per_section"]["pump"]["01"]) == {
        "auc_source", "pauc_source", "auc_target", "pauc_target", "auc_all", "pauc_all"}
    assert json.loads(json.dumps(result)) == result


def test_official_metrics_2023_structure():
    result = official_metrics(TABLE_21, "dcase2023")
    assert list(result["per_type"]) == ["pump", "fan"]
    fan = result["per_type"]["fan"]
    assert set(fan) == {"official", "auc_source", "auc_target", "pauc"}
    assert fan["auc_source"] == pytest.approx(AUC_SMIX, abs=1e-12)
    assert fan["auc_target"] == pytest.approx(AUC_TMIX, abs=1e-12)
    assert fan["pauc"] == pytest.approx(PAUC_ALL, abs=1e-12)
    assert fan["official"] == pytest.approx(hmean(AUC_SMIX, AUC_TMIX, PAUC_ALL), abs=1e-12)
    assert result["official"] == pytest.approx(hmean(AUC_SMIX, AUC_TMIX, PAUC_ALL, 1, 1, 1),
                                               abs=1e-12)
    assert result["per_section"]["fan"]["00"]["auc_all"] == pytest.approx(AUC_ALL, abs=1e-12)
    assert json.loads(json.dumps(result)) == result


def test_dcase2020_is_pointed_to_the_2020_metrics():
    with pytest.raises(ValueError, match=r"benchmark\.evaluation\.metrics"):
        official_metrics(TABLE_21, "dcase2020")
    with pytest.raises(ValueError, match=r"benchmark\.evaluation\.metrics"):
        official_interval(TABLE_21, "dcase2020", resamples=10)


# ------------------------------------------------------------------------------ bootstrap


def simulate(rng: np.random.Generator, types: int = 3, sections: int = 2, per_stratum: int = 20,
             decimals: int | None = None) -> pd.DataFrame:
    """Normal scores N(0, 1), anomalous N(1, 1) (source) or N(0.5, 1) (target); ``decimals``
    rounds them (ties)."""
    rows = [(f"type{t}", f"{s:02d}", domain, label, f"type{t}/{s}_{domain}_{label}_{k:04d}.wav")
            for t in range(types) for s in range(sections) for domain in DOMAINS
            for label in ("normal", "anomaly") for k in range(per_stratum)]
    frame = pd.DataFrame(rows, columns=["machine_type", "section", "domain", "label", "path"])
    shift = np.where(frame["label"] == "normal", 0.0,
                     np.where(frame["domain"] == "source", 1.0, 0.5))
    score = rng.normal(size=len(frame)) + shift
    return frame.assign(score=score if decimals is None else score.round(decimals))


@pytest.mark.parametrize(("year", "metrics", "keys"), [
    (2021, section_metrics_2021, OFFICIAL_KEYS_2021), (2023, section_metrics, OFFICIAL_KEYS)])
def test_weighted_roc_values_equal_sklearn_on_the_clips_as_they_are(year, metrics, keys):
    for decimals in (None, 1):  # distinct scores, then many ties
        scores = simulate(np.random.default_rng(3), per_stratum=13, decimals=decimals)
        values = _section_values(*_clips(scores), year)
        expected = metrics(scores)
        for _, row in expected.iterrows():
            cell = values[(row["machine_type"], row["section"])]
            for key in keys:  # pAUC: sklearn's roc_auc_score(max_fpr=0.1)
                assert cell[key].shape == (1,)
                assert cell[key][0] == pytest.approx(row[key], abs=1e-12), key


def test_interval_contains_the_estimate_and_is_deterministic():
    scores = simulate(np.random.default_rng(0))
    for dataset in ("dcase2021", "dcase2023"):
        first = official_interval(scores, dataset, resamples=300, seed=5)
        assert first["official"]["estimate"] == official_metrics(scores, dataset)["official"]
        cells = [first["official"], *first["per_type"].values()]
        assert list(first["per_type"]) == ["type0", "type1", "type2"]
        assert all(c["low"] <= c["estimate"] <= c["high"] for c in cells)
        assert official_interval(scores, dataset, resamples=300, seed=5) == first
        # the draws follow the clips (their paths) and the seed only, not the row order
        shuffled = scores.sample(frac=1.0, random_state=1)
        assert official_interval(shuffled, dataset, resamples=300, seed=5) == first
        other = official_interval(scores, dataset, resamples=300, seed=6)
        assert other["official"]["low"] != first["official"]["low"]
        assert json.loads(json.dumps(first)) == first


def test_resamples_keep_every_stratum_size():
    scores = simulate(np.random.default_rng(1), types=2, sections=2, per_stratum=7)
    scores = scores[~((scores["domain"] == "target") & (scores.index % 3 == 0))]  # sizes differ
    clips_, domains = _clips(scores)
    assert len(clips_.strata) == 2 * 2 * 2  # one per (type, section, domain)
    for stratum, counts in zip(clips_.strata, resample_counts(clips_, 50, seed=2), strict=True):
        for flag in (False, True):
            members = stratum.anomalous == flag
            assert (counts[:, members].sum(axis=1) == members.sum()).all()


def test_interval_narrows_with_more_clips():
    widths = []
    for per_stratum in (10, 160):
        scores = simulate(np.random.default_rng(4), per_stratum=per_stratum)
        result = official_interval(scores, "dcase2021", resamples=300, seed=0)
        widths.append(result["official"]["high"] - result["official"]["low"])
    assert widths[1] < widths[0] / 2  # 16 x the clips: about a quarter of the width


def test_interval_is_fast_on_a_full_sized_table():
    scores = simulate(np.random.default_rng(2), types=7, sections=3, per_stratum=50)
    started = time.perf_counter()
    official_interval(scores, "dcase2023", resamples=1000, seed=0)
    assert time.perf_counter() - started < 5.0  # about 0.8 s on the development machine


NO_TARGET_ANOMALY = FAN_21[~((FAN_21["domain"] == "target") & (FAN_21["label"] == "anomaly"))]
NO_SOURCE_NORMAL = FAN_21[~((FAN_21["domain"] == "source") & (FAN_21["label"] == "normal"))]


@pytest.mark.parametrize(("frame", "domain"), [(NO_TARGET_ANOMALY, "target"),
                                               (NO_SOURCE_NORMAL, "source")])
def test_a_domain_lacking_a_label_is_named(frame, domain):
    where = rf"fan section 00 \({domain}\)"
    with pytest.raises(ValueError, match=where):
        section_metrics_2021(frame)
    with pytest.raises(ValueError, match=where):
        official_metrics(frame, "dcase2021")
    for dataset in ("dcase2021", "dcase2023"):
        with pytest.raises(ValueError, match=where):
            official_interval(frame, dataset, resamples=10)


def test_a_section_lacking_a_domain_is_named():
    with pytest.raises(ValueError, match=r"fan section 00 \(target\)"):
        official_interval(FAN_21[FAN_21["domain"] == "source"], "dcase2023", resamples=10)
