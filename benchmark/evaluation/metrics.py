"""AUC and pAUC per machine ID, averaged per machine type and over types (DCASE 2020 Task 2).

pAUC is ``roc_auc_score(..., max_fpr=0.1)``: the McClish-standardised partial AUC, as in the
DCASE baseline. Per type: the arithmetic mean over its machine IDs. ``mean``: the arithmetic mean
over types of the per-type figures (``auc``, ``pauc``) and their harmonic mean (``auc_hmean``,
``pauc_hmean``, which punishes a type the model fails on). All values are fractions in 0..1.
:func:`official_score` is the challenge's ranking score (DCASE 2020: the mean of AUC and pAUC).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import harmonic_mean
from typing import Any

import numpy as np
import pandas as pd

from benchmark.data.layout import MACHINE_TYPES


def _binary(labels: Sequence | np.ndarray) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.dtype.kind in "USO":
        bad = set(arr.tolist()) - {"normal", "anomaly"}
        if bad:
            raise ValueError(f"labels must be 'normal'/'anomaly', got {sorted(bad)}")
        return (arr == "anomaly").astype(int)
    return arr.astype(int)


def auc_pauc(labels: Sequence | np.ndarray, scores: Sequence | np.ndarray,
             max_fpr: float = 0.1) -> tuple[float, float]:
    """``(AUC, pAUC)`` of anomaly ``scores`` (larger = more anomalous); labels 1/"anomaly"."""
    y = _binary(labels)
    s = np.asarray(scores, dtype=float)
    if len(set(y.tolist())) != 2:
        raise ValueError("AUC needs both normal and anomalous clips")
    if not np.isfinite(s).all():
        raise ValueError("scores hold NaN or infinite values")
    from sklearn.metrics import roc_auc_score  # here: 0.8 s of import kept off stage start-up

    return float(roc_auc_score(y, s)), float(roc_auc_score(y, s, max_fpr=max_fpr))


def _type_order(types: Sequence[str]) -> list[str]:
    known = [t for t in MACHINE_TYPES if t in set(types)]
    return known + sorted(set(types) - set(known))


def summarise(scores: pd.DataFrame, max_fpr: float = 0.1, **info: Any) -> dict[str, Any]:
    """Metrics dict of a scores table (columns machine_type, machine_id, label, score).

    ``info`` (model, data_source, epochs, ...) is put first in the returned dict.
    """
    per_id: dict[str, dict[str, dict[str, float]]] = {}
    per_type: dict[str, dict[str, float]] = {}
    for machine_type in _type_order(scores["machine_type"].unique()):
        of_type = scores[scores["machine_type"] == machine_type]
        per_id[machine_type] = {}
        for machine_id, group in sorted(of_type.groupby("machine_id")):
            auc, pauc = auc_pauc(group["label"], group["score"], max_fpr)
            per_id[machine_type][machine_id] = {"auc": auc, "pauc": pauc}
        ids = per_id[machine_type].values()
        per_type[machine_type] = {
            "auc": float(np.mean([v["auc"] for v in ids])),
            "pauc": float(np.mean([v["pauc"] for v in ids])),
        }
    if not per_type:
        raise ValueError("no scores to summarise")
    aucs = [v["auc"] for v in per_type.values()]
    paucs = [v["pauc"] for v in per_type.values()]
    mean = {
        "auc": float(np.mean(aucs)),
        "pauc": float(np.mean(paucs)),
        "auc_hmean": float(harmonic_mean(aucs)),
        "pauc_hmean": float(harmonic_mean(paucs)),
    }
    return {**info, "mean": mean, "per_type": per_type, "per_id": per_id}


OFFICIAL_YEARS: tuple[int, ...] = (2020,)
"""DCASE years whose official score :func:`official_score` implements."""


def official_score(summary: dict[str, Any], year: int = 2020) -> float:
    """The DCASE ``year`` official score of a :func:`summarise` result or a metrics JSON.

    DCASE 2020 Task 2 ranks systems by the arithmetic mean of AUC and pAUC: per machine type the
    arithmetic mean of every machine ID's AUC and pAUC together, then the arithmetic mean over
    the types (ASDKit's ``official20``: ``add_official`` in asdkit/utils/asdkit_utils/evaluate.py
    averages each type's ``<section>_s_auc`` and ``<section>_s_pauc`` columns, and
    asdkit/bin/table.py averages the types). Each type's AUC and pAUC are taken over the same
    IDs here, so this equals ``(mean["auc"] + mean["pauc"]) / 2``. Read from ``per_id`` when the
    summary has it, else from ``per_type``. Other years (harmonic means over sections and
    domains) are not implemented: a ValueError naming the year.
    """
    if year not in OFFICIAL_YEARS:
        raise ValueError(f"official_score: no official score for DCASE {year} "
                         f"(implemented: {', '.join(map(str, OFFICIAL_YEARS))})")
    if "per_id" in summary:
        values = [[x for v in ids.values() for x in (v["auc"], v["pauc"])]
                  for ids in summary["per_id"].values()]
    elif "per_type" in summary:
        values = [[v["auc"], v["pauc"]] for v in summary["per_type"].values()]
    else:
        raise ValueError("official_score: the summary has neither 'per_id' nor 'per_type'")
    if not values or not all(values):
        raise ValueError("official_score: the summary has no machine type with scores")
    return float(np.mean([np.mean(v) for v in values]))


def roc_table(scores: pd.DataFrame) -> pd.DataFrame:
    """ROC curve points per machine type (IDs pooled): columns machine_type, fpr, tpr."""
    parts = []
    for machine_type in _type_order(scores["machine_type"].unique()):
        group = scores[scores["machine_type"] == machine_type]
        from sklearn.metrics import roc_curve

        fpr, tpr, _ = roc_curve(_binary(group["label"]), group["score"].to_numpy(float))
        parts.append(pd.DataFrame({"machine_type": machine_type, "fpr": fpr, "tpr": tpr}))
    return pd.concat(parts, ignore_index=True)


def eval_section(eval_scores: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metrics' ``eval`` section and the per-ID JSON's ``eval`` of the evaluation scores.

    ``({"clips": N, "mean": {auc, pauc, auc_hmean, pauc_hmean, official}, "per_type": {...}},
    {"per_id": {type: {id: {auc, pauc}}}})``, figures as :func:`summarise` and
    :func:`official_score` (DCASE 2020) compute them.
    """
    summary = summarise(eval_scores)
    mean = {**summary["mean"], "official": official_score(summary, year=2020)}
    section = {"clips": int(len(eval_scores)), "mean": mean, "per_type": summary["per_type"]}
    return section, {"per_id": summary["per_id"]}
