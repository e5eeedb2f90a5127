"""The DCASE 2022-2025 official metrics against values computed by hand (issue 21 groundwork)."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from benchmark.evaluation.domain_metrics import official_score, section_metrics


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
