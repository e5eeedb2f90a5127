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

DCASE 2021 (:func:`section_metrics_2021`, :func:`official_score_2021`) scores each domain on its
own clips: ``auc_<domain>`` / ``pauc_<domain>`` are the AUC / pAUC of the domain's normal clips
against the domain's anomalous clips (ASDKit ``asdkit/utils/dcase_utils/dcase_idx.py``: the
``s`` / ``t`` index, ``is_target == 0`` / ``1``, both labels); its official score is the harmonic
mean of every section's ``auc_source``, ``auc_target``, ``pauc_source``, ``pauc_target`` (ASDKit
``official21``: ``hmean`` of ``s_auc, t_auc, s_pauc, t_pauc``), floored at epsilon as above.

:func:`official_metrics` picks the year's definition from the data-set registry and returns a
JSON-ready summary; :func:`official_interval` adds percentile bootstrap intervals of the
official scores (clips resampled within each (type, section, domain, label) stratum).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from statistics import harmonic_mean
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from benchmark.data.datasets import get_dataset
from benchmark.evaluation.uncertainty import (
    LEVEL,
    Interval,
    ScoredClips,
    Stratum,
    interval,
    resample_counts,
    roc_areas,
)

MAX_FPR = 0.1
DOMAINS = ("source", "target")
COLUMNS = ("machine_type", "section", "domain", "label", "score")
OFFICIAL_KEYS = ("auc_source", "auc_target", "pauc")
OFFICIAL_KEYS_2021 = ("auc_source", "auc_target", "pauc_source", "pauc_target")
YEARS = (2021, 2022, 2023, 2024, 2025)  # the years :func:`official_metrics` scores
EPS = sys.float_info.epsilon  # the evaluator's floor before the harmonic mean


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
    rows = []
    for row, where, anomalous, score, domains in _sections(scores):
        for domain in DOMAINS:
            keep = anomalous | (domains == domain)
            row[f"auc_{domain}"] = _auc(anomalous[keep], score[keep], f"{where} ({domain})")
        row["pauc"] = _auc(anomalous, score, where, max_fpr=MAX_FPR)
        row["auc_all"] = _auc(anomalous, score, where)
        rows.append(row)
    return pd.DataFrame(rows)


def _sections(scores: pd.DataFrame
              ) -> Iterator[tuple[dict[str, Any], str, np.ndarray, np.ndarray, np.ndarray]]:
    """Per (machine type, section) in order of appearance: its row's keys, its name for errors,
    and its clips' anomalous flags, scores and domains ``(N,)`` (the table checked first)."""
    _check(scores)
    for (machine_type, section), group in scores.groupby(["machine_type", "section"],
                                                         sort=False):
        yield ({"machine_type": machine_type, "section": section},
               f"{machine_type} section {section}",
               (group["label"] == "anomaly").to_numpy(), group["score"].to_numpy(float),
               group["domain"].to_numpy())


def official_score(sections: pd.DataFrame) -> float:
    """The harmonic mean of every section's ``auc_source``, ``auc_target`` and ``pauc``
    (:func:`section_metrics`), each at least the float epsilon."""
    return _floored_hmean(sections[list(OFFICIAL_KEYS)].to_numpy(float).ravel())  # (3 S,)


def _floored_hmean(values: np.ndarray) -> float:
    """``scipy.stats.hmean(numpy.maximum(values, eps))``, as the 2023 evaluator computes it."""
    if len(values) == 0:
        raise ValueError("no sections to score")
    return float(harmonic_mean(np.maximum(values, EPS).tolist()))


# ---------------------------------------------------------------------------- DCASE 2021


def section_metrics_2021(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (machine type, section), in order of appearance, the DCASE 2021 way:
    ``auc_source``, ``pauc_source``, ``auc_target``, ``pauc_target`` (each over the clips of
    that domain only: its normals against its anomalies), then ``auc_all`` and ``pauc_all``
    over every clip of the section (reported, not part of the score). Fractions.

    ASDKit's ``s_auc`` / ``t_auc`` / ``s_pauc`` / ``t_pauc`` (``get_domain_idx``: ``s`` is
    ``is_target == 0``, ``t`` is ``is_target == 1``, normal and anomalous clips alike). A domain
    without normal or anomalous clips is a ValueError naming type, section and domain.
    """
    rows = []
    for row, where, anomalous, score, domains in _sections(scores):
        for domain in DOMAINS:
            keep = domains == domain
            for key, kwargs in (("auc", {}), ("pauc", {"max_fpr": MAX_FPR})):
                row[f"{key}_{domain}"] = _auc(anomalous[keep], score[keep],
                                              f"{where} ({domain})", **kwargs)
        row["auc_all"] = _auc(anomalous, score, where)
        row["pauc_all"] = _auc(anomalous, score, where, max_fpr=MAX_FPR)
        rows.append(row)
    return pd.DataFrame(rows)


def official_score_2021(sections: pd.DataFrame) -> float:
    """The DCASE 2021 official score: the harmonic mean of every section's ``auc_source``,
    ``auc_target``, ``pauc_source`` and ``pauc_target`` (:func:`section_metrics_2021`), each at
    least the float epsilon (ASDKit ``official21``; floored as the 2023 evaluator does)."""
    return _floored_hmean(sections[list(OFFICIAL_KEYS_2021)].to_numpy(float).ravel())  # (4 S,)


# ---------------------------------------------------------------------------- per year


def _year(dataset: str) -> int:
    """The DCASE year of a registered data set; 2020 and unknown years are ValueErrors."""
    year = get_dataset(dataset).year
    if year == 2020:
        raise ValueError(f"{dataset}: DCASE 2020 has no domains; its metrics and official score "
                         "are benchmark.evaluation.metrics (summarise, official_score)")
    if year not in YEARS:
        raise ValueError(f"{dataset}: no official metrics for DCASE {year} (implemented: "
                         f"{', '.join(map(str, YEARS))})")
    return year


def _definition(year: int) -> tuple[Callable[[pd.DataFrame], pd.DataFrame], tuple[str, ...]]:
    """The year's per-section metrics and the columns its harmonic mean takes."""
    if year == 2021:
        return section_metrics_2021, OFFICIAL_KEYS_2021
    return section_metrics, OFFICIAL_KEYS


def _type_summary(rows: pd.DataFrame, keys: tuple[str, ...]) -> dict[str, float]:
    """One type's official score (the floored harmonic mean of its sections' ``keys``) and the
    mean over its sections of each official value (2021: ``pauc`` is the mean of
    ``pauc_source`` and ``pauc_target``)."""
    summary = {"official": _floored_hmean(rows[list(keys)].to_numpy(float).ravel())}
    summary |= {key: float(rows[key].mean()) for key in keys}
    if "pauc" not in summary:
        summary["pauc"] = float(rows[["pauc_source", "pauc_target"]].to_numpy(float).mean())
    return summary


def official_metrics(scores: pd.DataFrame, dataset: str) -> dict[str, Any]:
    """The official metrics of ``dataset`` (``dcase2021`` ... ``dcase2025``), JSON-ready.

    ``{"dataset", "official", "per_type": {type: {...}}, "per_section": {type: {section: {...}}}}``
    (types and sections in order of appearance, as strings). ``official``: the year's official
    score over every type and section (:func:`official_score_2021` for 2021,
    :func:`official_score` for 2022-2025). ``per_type[type]``: ``official`` (the same harmonic
    mean over the type's sections only), and the mean over its sections of ``auc_source``,
    ``auc_target`` and ``pauc`` (2021: also ``pauc_source``, ``pauc_target``; ``pauc`` is their
    mean). ``per_section``: every value of :func:`section_metrics_2021` /
    :func:`section_metrics`. DCASE 2020 (no domains) is a ValueError pointing to
    :mod:`benchmark.evaluation.metrics`.
    """
    metrics, keys = _definition(_year(dataset))
    sections = metrics(scores)
    sections = sections.assign(machine_type=sections["machine_type"].astype(str),
                               section=sections["section"].astype(str))
    values = [c for c in sections.columns if c not in ("machine_type", "section")]
    per_type, per_section = {}, {}
    for machine_type, rows in sections.groupby("machine_type", sort=False):
        per_type[machine_type] = _type_summary(rows, keys)
        per_section[machine_type] = {
            row["section"]: {key: float(row[key]) for key in values}
            for _, row in rows.iterrows()
        }
    return {"dataset": dataset,
            "official": _floored_hmean(sections[list(keys)].to_numpy(float).ravel()),
            "per_type": per_type, "per_section": per_section}


# ---------------------------------------------------------------------------- bootstrap

STRATA = ("machine_type", "section", "domain")  # labels are resampled apart within each


def _clips(scores: pd.DataFrame) -> tuple[ScoredClips, tuple[str, ...]]:
    """The clips as :class:`~benchmark.evaluation.uncertainty.ScoredClips`, one
    :class:`~benchmark.evaluation.uncertainty.Stratum` per (type, section, domain) (its
    ``machine_id``: the section), and each stratum's domain.

    Canonical order (type, section, domain, label, path when known), so the resamples depend
    on the clips and the seed only, not on the scores nor (given ``path``) the row order; without
    ``path`` the clips of a stratum are told apart by their order. Every domain of every
    section needs normal and anomalous clips (a ValueError naming them).
    """
    _check(scores)
    scores = scores.assign(machine_type=scores["machine_type"].astype(str),
                           section=scores["section"].astype(str))
    order = [*STRATA, "label", *(["path"] if "path" in scores else [])]
    frame = scores.sort_values(order, kind="stable").reset_index(drop=True)
    anomalous = (frame["label"] == "anomaly").to_numpy()
    strata, domains = [], []
    for (machine_type, section, domain), rows in sorted(
            frame.groupby(list(STRATA), sort=True).indices.items()):
        flags = anomalous[rows]
        if flags.all() or not flags.any():
            raise ValueError(f"{machine_type} section {section} ({domain}): the stratified "
                             "bootstrap needs normal and anomalous clips in each domain")
        strata.append(Stratum(machine_type, section, rows, flags))
        domains.append(domain)
    identity = frame[order].astype(str)
    key = hashlib.sha1(pd.util.hash_pandas_object(identity, index=False).values).hexdigest()
    return ScoredClips(frame, tuple(strata), key), tuple(domains)


Part = tuple[np.ndarray, np.ndarray, np.ndarray]  # one domain: scores (n,), anomalous, weights


def _values_2021(parts: dict[str, Part]) -> dict[str, np.ndarray]:
    """``auc_<domain>`` and ``pauc_<domain>`` ``(R,)``: each domain's clips on their own."""
    values = {}
    for domain in DOMAINS:
        values[f"auc_{domain}"], values[f"pauc_{domain}"] = roc_areas(*parts[domain])
    return values


def _values_domain_shift(parts: dict[str, Part]) -> dict[str, np.ndarray]:
    """``auc_<domain>`` (the domain's normals against all anomalies) and ``pauc`` (every clip)
    ``(R,)``, as :func:`section_metrics`."""
    score, anomalous, weights = (np.concatenate([parts[d][i] for d in DOMAINS], axis=-1)
                                 for i in range(3))
    of_domain = np.concatenate([np.full(len(parts[d][0]), d) for d in DOMAINS])
    values = {}
    for domain in DOMAINS:
        keep = anomalous | (of_domain == domain)
        values[f"auc_{domain}"] = roc_areas(score[keep], anomalous[keep], weights[:, keep])[0]
    values["pauc"] = roc_areas(score, anomalous, weights)[1]
    return values


def _section_values(clips: ScoredClips, domains: tuple[str, ...], year: int,
                    counts: list[np.ndarray] | None = None
                    ) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """The year's official values ``(R,)`` of every (type, section), weighting each clip by
    its draw count (``counts``: :func:`~benchmark.evaluation.uncertainty.resample_counts`;
    ``None``: the clips as they are, ``R = 1``). AUC and pAUC from the weighted ROC
    (:func:`~benchmark.evaluation.uncertainty.roc_areas`, equal to scikit-learn's)."""
    scores = clips.scores
    parts: dict[tuple[str, str], dict[str, Part]] = {}
    for k, stratum in enumerate(clips.strata):
        weights = np.ones((1, len(stratum.rows))) if counts is None else counts[k]
        parts.setdefault((stratum.machine_type, stratum.machine_id), {})[domains[k]] = (
            scores[stratum.rows], stratum.anomalous, weights)
    values = _values_2021 if year == 2021 else _values_domain_shift
    for (machine_type, section), of_section in parts.items():
        missing = [d for d in DOMAINS if d not in of_section]
        if missing:
            raise ValueError(f"{machine_type} section {section} ({missing[0]}): no clips")
    return {cell: values(of_section) for cell, of_section in parts.items()}


def _hmean_rows(values: list[np.ndarray]) -> np.ndarray:
    """The floored harmonic mean over ``values`` (V arrays of shape (R,)) per resample."""
    stacked = np.maximum(np.vstack(values), EPS)  # (V, R)
    return len(stacked) / (1.0 / stacked).sum(axis=0)


def _as_dict(ci: Interval) -> dict[str, float]:
    return {"estimate": ci.estimate, "low": ci.low, "high": ci.high}


def official_interval(scores: pd.DataFrame, dataset: str, *, resamples: int = 1000,
                      level: float = LEVEL, seed: int = 0,
                      estimates: dict[str, Any] | None = None) -> dict[str, Any]:
    """Percentile bootstrap intervals of ``dataset``'s official score and of each type's.

    ``{"dataset", "resamples", "level", "seed", "official": {"estimate", "low", "high"},
    "per_type": {type: {"estimate", "low", "high"}}}`` (JSON-ready; estimates: those of
    :func:`official_metrics`). Each resample draws the clips of every (type, section, domain,
    label) stratum with replacement, as many as there are
    (:func:`~benchmark.evaluation.uncertainty.resample_counts` over one stratum per (type,
    section, domain), normals and anomalies apart), so every stratum keeps its size and every
    AUC stays defined; the draws depend on the clips and ``seed`` only, as in
    :mod:`benchmark.evaluation.uncertainty`, whose percentile :func:`interval` and ``level``
    are used. All resamples of a domain are scored at once from the count-weighted ROC.
    Every domain of every section needs normal and anomalous clips (a ValueError naming them).

    Time (measured): 7 types x 3 sections x 200 clips (50 per stratum), 1000 resamples: 0.55 s
    for 2021 and 0.8 s for 2023 on the 2-core development machine, 0.15-0.2 s of it the
    scikit-learn point estimates and 0.2 s the draws.
    """
    if estimates is None:  # a caller that has them passes them: computed once
        estimates = official_metrics(scores, dataset)
    year = _year(dataset)
    keys = _definition(year)[1]
    clips, domains = _clips(scores)
    values = _section_values(clips, domains, year, resample_counts(clips, resamples, seed))
    per_type: dict[str, list[np.ndarray]] = {}
    for (machine_type, _), of_section in values.items():
        per_type.setdefault(machine_type, []).extend(of_section[key] for key in keys)
    overall = _hmean_rows([v for of_type in per_type.values() for v in of_type])
    return {
        "dataset": dataset, "resamples": resamples, "level": level, "seed": seed,
        "official": _as_dict(interval(estimates["official"], overall, level)),
        "per_type": {machine_type: _as_dict(interval(summary["official"],
                                                     _hmean_rows(per_type[machine_type]), level))
                     for machine_type, summary in estimates["per_type"].items()},
    }
