"""The official metrics of the domain-shift years (DCASE 2022-2025 Task 2), per (type, section).

Groundwork of issue 21 (no pipeline stage reads it yet). As the organisers' evaluator computes
them (nttcslab/dcase2023_task2_evaluator, ``dcase2023_task2_evaluator.py``), for every machine
type and section of a score table with columns ``machine_type, section, domain, label, score``
(``domain``: ``source`` / ``target``; ``label``: ``normal`` / ``anomaly``; higher = more
anomalous):

- ``auc_source``: the AUC of the section's *source* normal clips against *all* its anomalous
  clips (both domains);
- ``auc_target``: the same with the *target* normal clips;
- ``pauc``: the pAUC (max FPR 0.1, McClish-standardised as scikit-learn's ``roc_auc_score``
  with ``max_fpr``) over every clip of the section;
- ``auc_all``: the AUC over every clip (reported, not part of the score).

The official score (:func:`official_score`) is the harmonic mean of every ``auc_source``,
``auc_target`` and ``pauc`` of all types and sections together, each floored at the float
epsilon as the evaluator does (``scipy.stats.hmean(numpy.maximum(x, eps))``).
"""

from __future__ import annotations

import sys
from statistics import harmonic_mean

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

MAX_FPR = 0.1
DOMAINS = ("source", "target")
COLUMNS = ("machine_type", "section", "domain", "label", "score")
OFFICIAL_KEYS = ("auc_source", "auc_target", "pauc")


def _check(scores: pd.DataFrame) -> None:
    missing = [c for c in COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"score table lacks columns {missing} (needs {list(COLUMNS)})")
    for column, valid in (("domain", DOMAINS), ("label", ("normal", "anomaly"))):
        bad = sorted(set(scores[column]) - set(valid))
        if bad:
            raise ValueError(f"unknown {column} value(s) {bad}; valid: {list(valid)}")


def _auc(anomalous: np.ndarray, score: np.ndarray, where: str, **kwargs) -> float:
    if anomalous.all() or not anomalous.any():
        raise ValueError(f"{where}: needs normal and anomalous clips for an AUC")
    return float(roc_auc_score(anomalous, score, **kwargs))


def section_metrics(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (machine type, section), in order of appearance: ``auc_source``,
    ``auc_target``, ``pauc``, ``auc_all`` (fractions)."""
    _check(scores)
    rows = []
    for (machine_type, section), group in scores.groupby(["machine_type", "section"],
                                                         sort=False):
        where = f"{machine_type} section {section}"
        anomalous = (group["label"] == "anomaly").to_numpy()  # (N,)
        score = group["score"].to_numpy(float)  # (N,)
        row = {"machine_type": machine_type, "section": section}
        for domain in DOMAINS:
            keep = anomalous | (group["domain"] == domain).to_numpy()
            row[f"auc_{domain}"] = _auc(anomalous[keep], score[keep], f"{where} ({domain})")
        row["pauc"] = _auc(anomalous, score, where, max_fpr=MAX_FPR)
        row["auc_all"] = _auc(anomalous, score, where)
        rows.append(row)
    return pd.DataFrame(rows)


def official_score(sections: pd.DataFrame) -> float:
    """The harmonic mean of every section's ``auc_source``, ``auc_target`` and ``pauc``
    (:func:`section_metrics`), each at least the float epsilon."""
    values = sections[list(OFFICIAL_KEYS)].to_numpy(float).ravel()  # (3 S,)
    if len(values) == 0:
        raise ValueError("no sections to score")
    return float(harmonic_mean(np.maximum(values, sys.float_info.epsilon).tolist()))
