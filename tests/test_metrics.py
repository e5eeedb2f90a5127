"""AUC / pAUC against hand-computed values and scikit-learn; the metrics summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from benchmark.evaluation.metrics import auc_pauc, roc_table, summarise


def test_auc_and_pauc_by_hand():
    # pairs (anomaly > normal): 0.35 beats 0.1 only, 0.8 beats both -> 3 of 4
    auc, pauc = auc_pauc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert auc == pytest.approx(0.75)
    # up to FPR 0.1 the ROC sits at TPR 0.5: area 0.05; McClish: 0.5 * (1 + (a - min) / (max - min))
    assert pauc == pytest.approx(0.5 * (1 + (0.05 - 0.005) / (0.1 - 0.005)))


def test_perfect_and_inverted_scores():
    assert auc_pauc(["normal", "anomaly"], [0.0, 1.0]) == (1.0, 1.0)
    auc, pauc = auc_pauc(["normal", "anomaly"], [1.0, 0.0])
    assert auc == 0.0 and pauc == pytest.approx(0.5 * (1 + (0 - 0.005) / 0.095))


def test_matches_sklearn_on_random_scores():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = rng.normal(size=200) + labels
    auc, pauc = auc_pauc(labels, scores, max_fpr=0.1)
    assert auc == roc_auc_score(labels, scores)
    assert pauc == roc_auc_score(labels, scores, max_fpr=0.1)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="both normal and anomalous"):
        auc_pauc([0, 0], [1, 2])
    with pytest.raises(ValueError, match="'normal'/'anomaly'"):
        auc_pauc(["ok", "anomaly"], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        auc_pauc([0, 1], [0.0, float("nan")])


def _table() -> pd.DataFrame:
    rows = []
    # fan id_00 perfect (AUC 1), fan id_02 inverted (AUC 0), slider id_00 AUC 0.75
    for mid, scores in [("id_00", [0, 0, 1, 1]), ("id_02", [1, 1, 0, 0])]:
        for label, score in zip(["normal", "normal", "anomaly", "anomaly"], scores, strict=True):
            rows.append(("fan", mid, label, score))
    for label, score in zip(["normal", "normal", "anomaly", "anomaly"], [0.1, 0.4, 0.35, 0.8],
                            strict=True):
        rows.append(("slider", "id_00", label, score))
    frame = pd.DataFrame(rows, columns=["machine_type", "machine_id", "label", "score"])
    frame["path"] = [f"clip{i}.wav" for i in range(len(frame))]
    return frame


def test_summarise_means_per_id_type_and_overall():
    metrics = summarise(_table(), model="m", epochs=3)
    assert list(metrics)[:2] == ["model", "epochs"]
    assert metrics["per_id"]["fan"]["id_00"]["auc"] == 1.0
    assert metrics["per_id"]["fan"]["id_02"]["auc"] == 0.0
    assert metrics["per_type"]["fan"]["auc"] == 0.5
    assert metrics["per_type"]["slider"]["auc"] == pytest.approx(0.75)
    assert metrics["mean"]["auc"] == pytest.approx(0.625)
    assert metrics["mean"]["auc_hmean"] == pytest.approx(2 / (1 / 0.5 + 1 / 0.75))
    slider_pauc = 0.5 * (1 + 0.045 / 0.095)
    fan_pauc = (1.0 + 0.5 * (1 - 0.005 / 0.095)) / 2
    assert metrics["per_type"]["fan"]["pauc"] == pytest.approx(fan_pauc)
    assert metrics["mean"]["pauc"] == pytest.approx((fan_pauc + slider_pauc) / 2)
    assert list(metrics["per_type"]) == ["fan", "slider"]


def test_roc_table_per_type():
    roc = roc_table(_table())
    assert list(roc.columns) == ["machine_type", "fpr", "tpr"]
    assert set(roc["machine_type"]) == {"fan", "slider"}
    assert roc["fpr"].between(0, 1).all() and roc["tpr"].between(0, 1).all()
