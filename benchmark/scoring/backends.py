"""Scoring backends: anomaly scores of test clips from a model's training-clip embeddings.

A backend is fitted per *group* (in DCASE 2020 a machine ID, e.g. ``"fan/id_00"``) on the
embeddings of that group's normal training clips and scores test clips of the same group;
higher means more anomalous::

    backend = create_backend("knn", k=1)
    backend.fit(train_embeddings, train_groups)            # (N, D), (N,)
    scores = backend.score(test_embeddings, test_groups)   # (M, D), (M,) -> (M,) float64

Registered backends (the order of :func:`list_backends`):

- ``knn``: mean cosine distance ``1 - cos`` to the ``k`` nearest training embeddings of the
  group, the default backend of ASDKit (T. Fujimura, K. Wilkinghoff, K. Imoto and T. Toda,
  "ASDKit: A Toolkit for Comprehensive Evaluation of Anomalous Sound Detection Methods",
  arXiv:2507.10264, 2025; ``asdkit/backends/knn.py``). Optionally with the local-density
  normalisation (``density_k``) of K. Wilkinghoff et al., "Keeping the balance: Anomaly score
  calculation for domain generalization", ICASSP 2025 (ASDKit's ``KnnRescale``).
- ``kmeans``: minimum cosine distance to the group's k-means centres (K. Wilkinghoff, "Design
  choices for learning embeddings from auxiliary tasks for domain generalization in anomalous
  sound detection", ICASSP 2023; ASDKit ``asdkit/backends/kmeans.py``).
- ``mahalanobis``: Mahalanobis distance to the group's training mean under a shrinkage
  covariance (O. Ledoit and M. Wolf, "A well-conditioned estimator for large-dimensional
  covariance matrices", J. Multivariate Analysis, 2004; for deep features K. Lee et al., "A
  simple unified framework for detecting out-of-distribution samples and adversarial attacks",
  NeurIPS 2018).
- ``selective_mahalanobis``: one covariance per domain (source / target), the smaller of the
  Mahalanobis distances, as the DCASE 2023/2024 Task 2 baseline scores its autoencoder's
  reconstruction residuals (N. Harada et al., "First-shot anomaly detection for machine
  condition monitoring: A domain generalization baseline", EUSIPCO 2023;
  ``nttcslab/dcase2023_task2_baseline_ae``).

- ``loss``: the model's own score, registered first so that every scoring rule is a backend:
  the paper's (the ArcFace cross-entropy of the clip's true ID; the reconstruction error of
  the frame models, :mod:`benchmark.evaluation.scores`). It reads that score as a one-column
  "embedding" (``input="score"``), fits nothing and returns it unchanged.

Distances. The cosine backends L2-normalise every embedding (a zero embedding is an error) and
search neighbours with scikit-learn's euclidean ``NearestNeighbors``; for unit vectors
``|a - b|^2 = 2 - 2 cos(a, b)``, so the cosine distance is ``d^2 / 2``, in ``[0, 2]``. (ASDKit's
``Knn`` averages ``d / 2`` over the ``k`` neighbours instead, which is not the cosine distance;
for ``k = 1`` the two rank clips identically.) The Mahalanobis backends return the distance
``sqrt((x - mu)^T S^+ (x - mu))``, not its square (``S^+``: a shrunk covariance's inverse, through
its Cholesky factor; an unshrunk one's pseudo-inverse, what scikit-learn's ``precision_`` is);
within a group the square ranks clips identically.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from inspect import signature
from numbers import Integral, Real
from typing import Any, ClassVar, Literal, Self, TypeVar

import numpy as np
from scipy.linalg import LinAlgError, cholesky, pinvh, solve_triangular
from sklearn.cluster import KMeans
from sklearn.covariance import EmpiricalCovariance, LedoitWolf, ShrunkCovariance
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

__all__ = [
    "BackendSpec",
    "ScoringBackend",
    "LossBackend",
    "KNNBackend",
    "KMeansBackend",
    "MahalanobisBackend",
    "SelectiveMahalanobisBackend",
    "register_backend",
    "create_backend",
    "backend_parameters",
    "list_backends",
    "get_spec",
    "DOMAINS",
]

BackendInput = Literal["score", "embedding", "residual"]
DOMAINS = ("source", "target")


@dataclass(frozen=True)
class BackendSpec:
    """What the scoring stage needs to know about a backend.

    ``input``: what the backend is meant to be fitted on, a model's ``"embedding"`` (e.g. the
    vector before the ArcFace head), its reconstruction ``"residual"`` (AE / IDNN) or its own
    anomaly ``"score"`` as one column (``loss``).
    """

    name: str
    input: BackendInput
    description: str
    reference: str

    def __post_init__(self) -> None:
        if self.input not in ("score", "embedding", "residual"):
            raise ValueError(f"backend {self.name!r}: unknown input {self.input!r}")


B = TypeVar("B", bound="type[ScoringBackend]")
_REGISTRY: dict[str, tuple[BackendSpec, type[ScoringBackend]]] = {}


def register_backend(spec: BackendSpec) -> Callable[[B], B]:
    """Class decorator registering a :class:`ScoringBackend` subclass under ``spec.name``."""

    def decorate(cls: B) -> B:
        if spec.name in _REGISTRY:
            raise ValueError(f"backend {spec.name!r} is already registered")
        cls.spec = spec
        _REGISTRY[spec.name] = (spec, cls)
        return cls

    return decorate


def _lookup(name: str) -> tuple[BackendSpec, type[ScoringBackend]]:
    if name not in _REGISTRY:
        raise KeyError(f"unknown backend {name!r}; valid names: {', '.join(list_backends())}")
    return _REGISTRY[name]


def list_backends() -> list[str]:
    """Registered backend names, in registration order."""
    return list(_REGISTRY)


def get_spec(name: str) -> BackendSpec:
    """The :class:`BackendSpec` of a registered backend (``KeyError`` listing valid names)."""
    return _lookup(name)[0]


def backend_parameters(name: str) -> list[str]:
    """The constructor parameters of a registered backend, in order."""
    return [p for p in signature(_lookup(name)[1].__init__).parameters if p != "self"]


def create_backend(name: str, **kwargs: Any) -> ScoringBackend:
    """An unfitted backend; ``kwargs`` are its parameters (``TypeError`` naming the backend for
    one it does not take, ``ValueError`` naming a bad value)."""
    _, cls = _lookup(name)
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise TypeError(
            f"create_backend({name!r}): bad argument(s) {sorted(kwargs)}: {error}"
        ) from error


# ---------------------------------------------------------------------------------------------
# validation helpers


def _check_int(backend: str, param: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{backend}: {param} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_embeddings(backend: str, what: str, x: Any, dim: int | None) -> np.ndarray:
    """``x`` as a finite float64 ``(N, D)`` array (``D == dim`` when given)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"{backend}: {what} embeddings must be (N, D) with D >= 1, "
                         f"got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{backend}: {what} embeddings have dimension {arr.shape[1]}, "
                         f"the backend was fitted on dimension {dim}")
    bad = ~np.isfinite(arr).all(axis=1)  # (N,)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(f"{backend}: {len(rows)} {what} embedding(s) with non-finite values "
                         f"(first row {rows[0]})")
    return arr


def _check_labels(backend: str, what: str, labels: Any, n: int) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.shape != (n,):
        raise ValueError(f"{backend}: {what} must have shape ({n},) like the embeddings, "
                         f"got {arr.shape}")
    return arr


def _group_rows(groups: np.ndarray) -> Iterator[tuple[Any, np.ndarray]]:
    """``(group, row indices)`` per distinct group (sorted), groups as plain Python values."""
    keys, inverse = np.unique(groups, return_inverse=True)
    for index, key in enumerate(keys.tolist()):
        yield key, np.flatnonzero(inverse == index)


def _check_nonzero(backend: str, what: str, x: np.ndarray) -> None:
    """A zero embedding has no direction, hence no cosine distance."""
    zero = ~x.any(axis=1)  # (N,)
    if zero.any():
        raise ValueError(f"{backend}: {int(zero.sum())} zero {what} embedding(s) have no cosine "
                         f"distance (first row {np.flatnonzero(zero)[0]})")


def _cosine(euclidean: np.ndarray) -> np.ndarray:
    """Cosine distance ``1 - cos`` from the euclidean distance of unit vectors."""
    return euclidean**2 / 2  # |a - b|^2 = 2 - 2 cos(a, b)


# ---------------------------------------------------------------------------------------------
# base class


class ScoringBackend:
    """Base class: input checks and the per-group loop; subclasses fit and score one group.

    After :meth:`fit`, ``states_`` maps each group to what the subclass fitted on it and
    ``dim_`` is the embedding dimension.
    """

    spec: ClassVar[BackendSpec]
    cosine: ClassVar[bool] = False  # True: the backend L2-normalises (zero embeddings refused)

    @property
    def name(self) -> str:
        return self.spec.name

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters and their values (for logging)."""
        return {p: getattr(self, p) for p in signature(type(self).__init__).parameters
                if p != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def fit(self, train: np.ndarray, groups: np.ndarray) -> Self:
        """Fit on the normal training embeddings ``train (N, D)`` of groups ``groups (N,)``."""
        return self._fit(train, groups, None)

    def _fit(self, train: Any, groups: Any, domains: Any) -> Self:
        x = _check_embeddings(self.name, "training", train, None)  # (N, D)
        g = _check_labels(self.name, "groups", groups, len(x))  # (N,)
        if len(x) == 0:
            raise ValueError(f"{self.name}: no training embeddings")
        d = self._check_domains(domains, len(x))  # (N,)
        if self.cosine:
            _check_nonzero(self.name, "training", x)
        states = {group: self._fit_group(group, x[rows], d[rows])
                  for group, rows in _group_rows(g)}
        self.states_: dict[Any, Any] = states  # set only once every group is fitted
        self.dim_ = x.shape[1]
        return self

    def _check_domains(self, domains: Any, n: int) -> np.ndarray:
        if domains is None:
            return np.full(n, "source")
        d = _check_labels(self.name, "domains", domains, n)
        unknown = sorted(set(d.tolist()) - set(DOMAINS))
        if unknown:
            raise ValueError(f"{self.name}: unknown domain(s) {unknown}; valid: {list(DOMAINS)}")
        return d

    def score(self, test: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Anomaly scores ``(M,)`` float64 of ``test (M, D)`` in groups ``groups (M,)``."""
        if not hasattr(self, "states_"):
            raise RuntimeError(f"{self.name}: score() called before fit()")
        x = _check_embeddings(self.name, "test", test, self.dim_)  # (M, D)
        g = _check_labels(self.name, "groups", groups, len(x))  # (M,)
        if self.cosine:
            _check_nonzero(self.name, "test", x)
        scores = np.empty(len(x), dtype=np.float64)  # (M,)
        if len(x) == 0:
            return scores
        by_group = list(_group_rows(g))
        unseen = [group for group, _ in by_group if group not in self.states_]
        if unseen:
            raise ValueError(f"{self.name}: test group(s) {unseen} not among the training "
                             f"groups {list(self.states_)}")
        for group, rows in by_group:
            scores[rows] = self._score_group(self.states_[group], x[rows])
        return scores

    def _fit_group(self, group: Any, x: np.ndarray, domains: np.ndarray) -> Any:
        raise NotImplementedError

    def _score_group(self, state: Any, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# loss


@register_backend(BackendSpec(
    name="loss",
    input="score",
    description="the model's own anomaly score (the paper's: ArcFace cross-entropy of the true "
                "ID; reconstruction error)",
    reference="Neri & Carli 2024 (the paper's score); Koizumi et al. 2020 (the AE's)",
))
class LossBackend(ScoringBackend):
    """The model's own score, unchanged: ``score(test (M, 1), groups)`` is ``test[:, 0]``.

    Fitting checks the input and stores nothing, so cross-fitted training scores are the
    training clips' own scores.
    """

    def __init__(self) -> None:
        pass

    def _fit_group(self, group: Any, x: np.ndarray, domains: np.ndarray) -> None:
        if x.shape[1] != 1:
            raise ValueError(f"loss: expects the model's score as one column, got {x.shape[1]}")

    def _score_group(self, state: None, x: np.ndarray) -> np.ndarray:
        return x[:, 0]


# ---------------------------------------------------------------------------------------------
# knn


@dataclass(frozen=True)
class KNNState:
    """One group of :class:`KNNBackend`: the index on the unit reference embeddings and, with
    ``density_k``, the references and their normalisation constants ``(n,)``."""

    index: NearestNeighbors
    references: np.ndarray | None = None  # (n, D) unit rows
    constants: np.ndarray | None = None  # (n,)


@register_backend(BackendSpec(
    name="knn",
    input="embedding",
    description="mean cosine distance to the k nearest training embeddings of the group "
                "(optionally local-density normalised)",
    reference="Fujimura et al. 2025 (ASDKit); Wilkinghoff et al., ICASSP 2025 (density_k)",
))
class KNNBackend(ScoringBackend):
    """Mean cosine distance ``1 - cos`` to the ``k`` nearest training embeddings of the group.

    ``k`` larger than a group's training embeddings is a ``ValueError`` at :meth:`fit` (using
    all of them instead would silently change what the score means for that group).

    ``density_k > 0``: the local-density normalisation of Wilkinghoff et al. (ICASSP 2025).
    Each reference (training) embedding ``r`` gets ``c_r``, the mean cosine distance from
    ``r`` to its ``density_k`` nearest *other* references of the group; a test embedding's
    distances to the references are divided by ``c_r`` and the ``k`` smallest ratios averaged.
    ``density_k`` must be below the group's size; a ``c_r`` of 0 (``density_k`` + 1 identical
    references) is a ``ValueError``. The ratios are no metric, so that search is a full
    test-by-reference distance matrix (``pairwise_distances_chunked``), not a tree.
    """

    cosine = True

    def __init__(self, k: int = 1, density_k: int = 0) -> None:
        self.k = _check_int("knn", "k", k, minimum=1)
        self.density_k = _check_int("knn", "density_k", density_k, minimum=0)

    def _fit_group(self, group: Any, x: np.ndarray, domains: np.ndarray) -> KNNState:
        refs = normalize(x)  # (n, D)
        n = len(refs)
        if self.k > n:
            raise ValueError(f"knn: k={self.k} exceeds the {n} training embedding(s) of group "
                             f"{group!r}")
        index = NearestNeighbors(n_neighbors=self.k, metric="euclidean").fit(refs)
        if self.density_k == 0:
            return KNNState(index)
        if self.density_k > n - 1:
            raise ValueError(f"knn: density_k={self.density_k} needs more than {self.density_k} "
                             f"training embeddings, group {group!r} has {n}")
        dist, _ = index.kneighbors(n_neighbors=self.density_k)  # (n, density_k), self excluded
        constants = _cosine(dist).mean(axis=1)  # (n,)
        if (constants <= 0).any():
            raise ValueError(f"knn: group {group!r}: {int((constants <= 0).sum())} reference(s) "
                             f"with {self.density_k} identical neighbours (density constant 0); "
                             "raise density_k")
        return KNNState(index, refs, constants)

    def _score_group(self, state: KNNState, x: np.ndarray) -> np.ndarray:
        query = normalize(x)  # (m, D)
        if state.constants is None:
            dist, _ = state.index.kneighbors(query)  # (m, k)
            return _cosine(dist).mean(axis=1)

        def k_smallest_ratios(chunk: np.ndarray, start: int) -> np.ndarray:
            ratios = _cosine(chunk) / state.constants  # (c, n)
            return np.partition(ratios, self.k - 1, axis=1)[:, : self.k].mean(axis=1)  # (c,)

        return np.concatenate(list(pairwise_distances_chunked(
            query, state.references, reduce_func=k_smallest_ratios, metric="euclidean")))


# ---------------------------------------------------------------------------------------------
# kmeans


@dataclass(frozen=True)
class KMeansState:
    """One group of :class:`KMeansBackend`: the fitted k-means and the unit centres."""

    kmeans: KMeans
    centres: np.ndarray  # (n_clusters, D) unit rows
    index: NearestNeighbors


@register_backend(BackendSpec(
    name="kmeans",
    input="embedding",
    description="minimum cosine distance to the k-means centres of the group's training "
                "embeddings",
    reference="Wilkinghoff, ICASSP 2023; Fujimura et al. 2025 (ASDKit)",
))
class KMeansBackend(ScoringBackend):
    """Minimum cosine distance to the ``n_clusters`` k-means centres of the group's
    L2-normalised training embeddings (centres L2-normalised after k-means, as ASDKit).

    ``n_clusters`` is capped at the group's number of training embeddings (then every
    embedding is its own centre and the score is the ``k = 1`` kNN score). k-means runs
    ``n_init`` times (fixed, not scikit-learn's version-dependent ``"auto"``) from
    ``random_state``.

    ``density_k`` is accepted only as 0: the normalisation divides by the density around each
    *reference embedding* among the other references; a centre is no training embedding, and
    its mean distance to its nearest training embeddings (the alternative) measures the
    cluster's spread instead and is 0 for the singleton clusters that the cap produces. Use
    ``knn`` with ``density_k`` for the normalised score.
    """

    cosine = True

    def __init__(self, n_clusters: int = 16, random_state: int = 0, n_init: int = 10,
                 density_k: int = 0) -> None:
        self.n_clusters = _check_int("kmeans", "n_clusters", n_clusters, minimum=1)
        self.random_state = _check_int("kmeans", "random_state", random_state, minimum=0)
        self.n_init = _check_int("kmeans", "n_init", n_init, minimum=1)
        if isinstance(density_k, bool) or density_k != 0:
            raise ValueError(f"kmeans: density_k must be 0 (the local-density normalisation is "
                             f"defined for knn only), got {density_k!r}")
        self.density_k = 0

    def _fit_group(self, group: Any, x: np.ndarray, domains: np.ndarray) -> KMeansState:
        unit = normalize(x)  # (n, D)
        kmeans = KMeans(n_clusters=min(self.n_clusters, len(unit)), n_init=self.n_init,
                        random_state=self.random_state).fit(unit)
        centres = normalize(kmeans.cluster_centers_)  # (n_clusters, D)
        index = NearestNeighbors(n_neighbors=1, metric="euclidean").fit(centres)
        return KMeansState(kmeans, centres, index)

    def _score_group(self, state: KMeansState, x: np.ndarray) -> np.ndarray:
        dist, _ = state.index.kneighbors(normalize(x))  # (m, 1)
        return _cosine(dist[:, 0])


# ---------------------------------------------------------------------------------------------
# mahalanobis


Shrinkage = Literal["ledoit_wolf", "empirical"] | float
Location = Literal["mean", "zero"]


@dataclass(frozen=True)
class Gaussian:
    """One fitted covariance: the estimator, the location scored against, and either the lower
    Cholesky factor of a shrunk (positive-definite) covariance or the pseudo-inverse of an
    unshrunk one."""

    estimator: EmpiricalCovariance
    location: np.ndarray  # (D,)
    cholesky: np.ndarray | None  # (D, D) lower, L L^T = S
    precision: np.ndarray | None  # (D, D) S^+


def _check_shrinkage(backend: str, shrinkage: Any) -> Shrinkage:
    if shrinkage in ("ledoit_wolf", "empirical"):
        return shrinkage
    if (isinstance(shrinkage, Real) and not isinstance(shrinkage, bool | str)
            and 0.0 <= float(shrinkage) <= 1.0):
        return float(shrinkage)
    raise ValueError(f"{backend}: shrinkage must be 'ledoit_wolf', 'empirical' or a float in "
                     f"[0, 1], got {shrinkage!r}")


def _check_location(backend: str, location: Any) -> Location:
    if location not in ("mean", "zero"):
        raise ValueError(f"{backend}: location must be 'mean' or 'zero', got {location!r}")
    return location


def _covariance(shrinkage: Shrinkage) -> EmpiricalCovariance:
    """The estimator, without its ``precision_`` (:func:`_fit_gaussian` inverts, or factors)."""
    if shrinkage == "ledoit_wolf":
        return LedoitWolf(store_precision=False)
    if shrinkage == "empirical":
        return EmpiricalCovariance(store_precision=False)
    return ShrunkCovariance(shrinkage=shrinkage, store_precision=False)


def _shrunk(estimator: EmpiricalCovariance) -> bool:
    """True when the covariance is ``(1 - a) S + a mu I`` with ``a > 0``: positive definite,
    its smallest eigenvalue at least ``a mu``."""
    return float(getattr(estimator, "shrinkage_", getattr(estimator, "shrinkage", 0.0))) > 0


def _fit_gaussian(backend: str, group: Any, x: np.ndarray, shrinkage: Shrinkage,
                  location: Location, what: str = "") -> Gaussian:
    if len(x) < 2:
        raise ValueError(f"{backend}: group {group!r}{what} has {len(x)} training "
                         "embedding(s); a covariance needs at least 2")
    estimator = _covariance(shrinkage).fit(x)  # covariance about the training mean
    centre = estimator.location_ if location == "mean" else np.zeros(x.shape[1])  # (D,)
    covariance = estimator.covariance_  # (D, D)
    if _shrunk(estimator):  # a Cholesky factor: far cheaper than pinvh at D = 1280
        with contextlib.suppress(LinAlgError):  # not positive definite after all: pinvh
            return Gaussian(estimator, centre, cholesky(covariance, lower=True), None)
    return Gaussian(estimator, centre, None, pinvh(covariance))  # what sklearn's precision_ is


def _mahalanobis(gaussian: Gaussian, x: np.ndarray) -> np.ndarray:
    delta = x - gaussian.location  # (m, D)
    if gaussian.cholesky is not None:  # |L^-1 delta|^2 = delta^T S^-1 delta
        whitened = solve_triangular(gaussian.cholesky, delta.T, lower=True)  # (D, m)
        squared = np.einsum("dm,dm->m", whitened, whitened)  # (m,)
    else:
        squared = np.einsum("md,de,me->m", delta, gaussian.precision, delta)  # (m,)
    return np.sqrt(np.maximum(squared, 0.0))


@register_backend(BackendSpec(
    name="mahalanobis",
    input="embedding",
    description="Mahalanobis distance to the group's training mean, shrinkage covariance",
    reference="Ledoit & Wolf 2004; Lee et al., NeurIPS 2018",
))
class MahalanobisBackend(ScoringBackend):
    """Mahalanobis distance ``sqrt((x - mu)^T S^+ (x - mu))`` (not squared) to the group's
    training mean ``mu``.

    ``shrinkage``: ``"ledoit_wolf"`` (``LedoitWolf``, default), ``"empirical"``
    (``EmpiricalCovariance``, the maximum-likelihood covariance, divided by N) or a float in
    [0, 1] (``ShrunkCovariance`` with that coefficient). A shrunk covariance is positive
    definite and inverted through its Cholesky factor; without shrinkage ``S^+`` is the
    pseudo-inverse (scikit-learn's ``precision_``), so a singular covariance (fewer clips than
    dimensions) still scores. ``location="zero"`` scores the distance to the origin
    under the same (centred) covariance, as the DCASE 2023 baseline does for residuals.
    Each group needs at least 2 training embeddings.
    """

    def __init__(self, shrinkage: Shrinkage = "ledoit_wolf", location: Location = "mean") -> None:
        self.shrinkage = _check_shrinkage(self.spec.name, shrinkage)
        self.location = _check_location(self.spec.name, location)

    def _fit_group(self, group: Any, x: np.ndarray, domains: np.ndarray) -> Gaussian:
        return _fit_gaussian(self.name, group, x, self.shrinkage, self.location)

    def _score_group(self, state: Gaussian, x: np.ndarray) -> np.ndarray:
        return _mahalanobis(state, x)


@register_backend(BackendSpec(
    name="selective_mahalanobis",
    input="residual",
    description="per group one covariance per domain (source / target); the smaller "
                "Mahalanobis distance",
    reference="Harada et al., EUSIPCO 2023 (DCASE 2023/2024 Task 2 baseline)",
))
class SelectiveMahalanobisBackend(MahalanobisBackend):
    """Per group, one Gaussian per domain present in its training data (``"source"``,
    ``"target"``); the score is the smaller of the Mahalanobis distances.

    Meant for the AE / IDNN reconstruction residuals (``spec.input == "residual"``). Defaults
    to the empirical covariance; with one domain (DCASE 2020: :meth:`fit` without ``domains``)
    it equals ``mahalanobis`` with the same ``shrinkage`` and ``location``.

    As in the baseline, the covariances are centred on the training mean; the baseline scores
    a residual's distance to zero (``location="zero"``), the squared form, per frame averaged
    over the clip, and inverts with ``torch.inverse``; here the default is the distance to the
    domain's training mean (``"mean"``), not squared, one row per clip, pseudo-inverse.
    """

    def __init__(self, shrinkage: Shrinkage = "empirical", location: Location = "mean") -> None:
        super().__init__(shrinkage=shrinkage, location=location)

    def fit(self, train: np.ndarray, groups: np.ndarray,
            domains: np.ndarray | None = None) -> Self:
        """As :meth:`ScoringBackend.fit`, with ``domains (N,)`` of ``"source"`` / ``"target"``
        (default: all ``"source"``)."""
        return self._fit(train, groups, domains)

    def _fit_group(self, group: Any, x: np.ndarray, domains: np.ndarray) -> list[Gaussian]:
        return [_fit_gaussian(self.name, group, x[domains == domain], self.shrinkage,
                              self.location, what=f" ({domain})")
                for domain in DOMAINS if (domains == domain).any()]

    def _score_group(self, state: list[Gaussian], x: np.ndarray) -> np.ndarray:
        return np.min([_mahalanobis(gaussian, x) for gaussian in state], axis=0)  # (m,)
