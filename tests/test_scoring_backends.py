"""Scoring backends (benchmark.scoring) against direct numpy computations on planted embeddings,
the local-density normalisation on a planted per-group scale difference, and the registry."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.covariance import LedoitWolf, ShrunkCovariance

from benchmark.scoring import BackendSpec, create_backend, get_spec, list_backends
from benchmark.scoring.backends import KNNBackend, register_backend

GROUPS = ("fan/id_00", "pump/id_02")


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def planted(seed: int = 0, dim: int = 4, n_train: int = 20, n_test: int = 6):
    """2 groups around different directions; rows of the groups interleaved (shuffled).

    The last test clip of each group (``anomaly`` marks it) points away from its group."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(len(GROUPS), dim)))  # (2, D)
    train, train_groups, test, test_groups, anomaly = [], [], [], [], []
    for centre, group in zip(centres, GROUPS, strict=True):
        train.append(centre + 0.3 * rng.normal(size=(n_train, dim)))  # (n_train, D)
        normal = centre + 0.3 * rng.normal(size=(n_test - 1, dim))
        far = -centre + 0.05 * rng.normal(size=(1, dim))
        test.append(np.vstack([normal, far]))  # (n_test, D)
        train_groups += [group] * n_train
        test_groups += [group] * n_test
        anomaly += [False] * (n_test - 1) + [True]
    train, test = np.vstack(train), np.vstack(test)
    p_train, p_test = rng.permutation(len(train)), rng.permutation(len(test))
    return (train[p_train], np.array(train_groups)[p_train], test[p_test],
            np.array(test_groups)[p_test], np.array(anomaly)[p_test])


@pytest.fixture(scope="module")
def data():
    return planted()


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 1.0 - unit(a) @ unit(b).T  # (len(a), len(b))


def per_group(train, train_groups, test, test_groups, score_one):
    """Scores ``(M,)`` from ``score_one(train_g, test_g) -> (m,)`` group by group."""
    out = np.full(len(test), np.nan)
    for group in GROUPS:
        out[test_groups == group] = score_one(train[train_groups == group],
                                              test[test_groups == group])
    return out


# ------------------------------------------------------------------ each backend, by hand


@pytest.mark.parametrize("k", [1, 3, 20])
def test_knn_is_mean_cosine_distance_to_k_nearest(data, k):
    train, tg, test, sg, _ = data
    expected = per_group(train, tg, test, sg, lambda r, t: np.sort(
        cosine_matrix(t, r), axis=1)[:, :k].mean(axis=1))
    got = create_backend("knn", k=k).fit(train, tg).score(test, sg)
    assert got.dtype == np.float64 and got.shape == (len(test),)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize(("k", "density_k"), [(1, 1), (2, 4), (3, 19)])
def test_knn_density_normalisation_by_hand(data, k, density_k):
    train, tg, test, sg, _ = data

    def score_one(refs, queries):
        among = cosine_matrix(refs, refs)  # (n, n)
        np.fill_diagonal(among, np.inf)  # the other references only
        constants = np.sort(among, axis=1)[:, :density_k].mean(axis=1)  # (n,)
        ratios = cosine_matrix(queries, refs) / constants  # (m, n)
        return np.sort(ratios, axis=1)[:, :k].mean(axis=1)

    expected = per_group(train, tg, test, sg, score_one)
    got = create_backend("knn", k=k, density_k=density_k).fit(train, tg).score(test, sg)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)


def test_kmeans_is_min_cosine_distance_to_the_fitted_centres(data):
    train, tg, test, sg, _ = data
    backend = create_backend("kmeans", n_clusters=3, random_state=7).fit(train, tg)

    def score_one(refs, queries):
        fitted = KMeans(n_clusters=3, n_init=10, random_state=7).fit(unit(refs))
        return cosine_matrix(queries, fitted.cluster_centers_).min(axis=1)

    np.testing.assert_allclose(backend.score(test, sg), per_group(train, tg, test, sg, score_one),
                               rtol=0, atol=1e-10)
    for group in GROUPS:
        state = backend.states_[group]
        assert state.centres.shape == (3, 4)
        np.testing.assert_allclose(state.centres, unit(state.kmeans.cluster_centers_))


def test_kmeans_caps_n_clusters_at_the_group_size(data):
    train, tg, test, sg, _ = data
    backend = create_backend("kmeans", n_clusters=50).fit(train, tg)
    assert all(len(backend.states_[g].centres) == 20 for g in GROUPS)
    # every training embedding its own centre: the k = 1 kNN score
    np.testing.assert_allclose(backend.score(test, sg),
                               create_backend("knn", k=1).fit(train, tg).score(test, sg),
                               atol=1e-10)


def mahalanobis_by_hand(covariance, mean, queries):
    inverse = np.linalg.inv(covariance)  # (D, D)
    delta = queries - mean  # (m, D)
    return np.sqrt(np.sum(delta @ inverse * delta, axis=1))  # (m,)


@pytest.mark.parametrize(("shrinkage", "estimator"), [
    ("ledoit_wolf", lambda: LedoitWolf()),
    (0.3, lambda: ShrunkCovariance(shrinkage=0.3)),
    ("empirical", None),
])
def test_mahalanobis_by_hand(data, shrinkage, estimator):
    train, tg, test, sg, _ = data

    def score_one(refs, queries):
        if estimator is None:
            covariance = np.cov(refs, rowvar=False, bias=True)  # the ML covariance, by hand
        else:
            covariance = estimator().fit(refs).covariance_
        return mahalanobis_by_hand(covariance, refs.mean(axis=0), queries)

    got = create_backend("mahalanobis", shrinkage=shrinkage).fit(train, tg).score(test, sg)
    np.testing.assert_allclose(got, per_group(train, tg, test, sg, score_one), rtol=1e-9)


def test_mahalanobis_location_zero(data):
    train, tg, test, sg, _ = data
    expected = per_group(train, tg, test, sg, lambda r, t: mahalanobis_by_hand(
        np.cov(r, rowvar=False, bias=True), np.zeros(r.shape[1]), t))
    got = create_backend("mahalanobis", shrinkage="empirical", location="zero").fit(
        train, tg).score(test, sg)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


@pytest.mark.parametrize("location", ["mean", "zero"])
def test_selective_with_one_domain_is_mahalanobis_empirical(data, location):
    train, tg, test, sg, _ = data
    plain = create_backend("mahalanobis", shrinkage="empirical", location=location)
    selective = create_backend("selective_mahalanobis", location=location)
    expected = plain.fit(train, tg).score(test, sg)
    np.testing.assert_array_equal(selective.fit(train, tg).score(test, sg), expected)
    np.testing.assert_array_equal(
        selective.fit(train, tg, domains=np.full(len(train), "source")).score(test, sg), expected)


def test_selective_with_two_domains_is_the_smaller_distance(data):
    train, tg, test, sg, _ = data
    rng = np.random.default_rng(1)
    domains = np.where(rng.random(len(train)) < 0.4, "target", "source")
    train = train + np.where(domains == "target", 0.5, 0.0)[:, None]  # target domain shifted
    test = test + np.where(rng.random(len(test)) < 0.5, 0.5, 0.0)[:, None]
    expected, arms = np.full(len(test), np.nan), []
    for group in GROUPS:
        refs, in_domain, queries = train[tg == group], domains[tg == group], test[sg == group]
        each = [mahalanobis_by_hand(np.cov(refs[in_domain == d], rowvar=False, bias=True),
                                    refs[in_domain == d].mean(axis=0), queries)
                for d in ("source", "target")]  # 2 x (m,)
        expected[sg == group] = np.min(each, axis=0)
        arms.append(np.argmin(each, axis=0))
    got = create_backend("selective_mahalanobis").fit(train, tg, domains=domains).score(test, sg)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert set(np.concatenate(arms)) == {0, 1}  # both domains' distances were the smaller one


CONFIGS = [("knn", {}), ("knn", {"k": 3, "density_k": 4}), ("kmeans", {"n_clusters": 4}),
           ("mahalanobis", {}), ("selective_mahalanobis", {})]


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_planted_anomaly_scores_highest_in_its_group(data, name, kwargs):
    train, tg, test, sg, anomaly = data
    scores = create_backend(name, **kwargs).fit(train, tg).score(test, sg)
    for group in GROUPS:
        in_group = sg == group
        assert anomaly[in_group][np.argmax(scores[in_group])], (name, group)


def test_every_backend_is_covered():
    assert {name for name, _ in CONFIGS} == set(list_backends()) - {"loss"}


def test_loss_returns_the_model_score_unchanged():
    rng = np.random.default_rng(0)
    own = rng.normal(size=(12, 1))  # the model's own scores, one column
    groups = np.repeat(GROUPS[:2], 6)
    backend = create_backend("loss").fit(own[:8], groups[:8])
    got = backend.score(own, groups)
    assert got.dtype == np.float64 and np.array_equal(got, own[:, 0])  # bit for bit
    with pytest.raises(ValueError, match="loss: expects the model's score as one column, got 3"):
        create_backend("loss").fit(rng.normal(size=(8, 3)), groups[:8])


# ------------------------------------------------------------ local-density normalisation


def scaled_groups(seed: int, spread_a: float = 0.04, spread_b: float = 0.2,
                  dim: int = 8, n_train: int = 200, n_test: int = 100):
    """Groups ``a`` and ``b``: the same noise around two directions, ``b``'s 5x as large."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(2, dim)))
    noise_train, noise_test = rng.normal(size=(n_train, dim)), rng.normal(size=(n_test, dim))
    train = np.vstack([unit(c + s * noise_train) for c, s in zip(centres, (spread_a, spread_b),
                                                                  strict=True)])
    test = np.vstack([unit(c + s * noise_test) for c, s in zip(centres, (spread_a, spread_b),
                                                                strict=True)])
    return train, np.repeat(["a", "b"], n_train), test, np.repeat(["a", "b"], n_test)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 5])
def test_density_normalisation_removes_a_per_group_scale(seed, k):
    train, tg, test, sg = scaled_groups(seed)

    def median_ratio(**kwargs) -> float:
        scores = create_backend("knn", k=k, **kwargs).fit(train, tg).score(test, sg)
        return float(np.median(scores[sg == "b"]) / np.median(scores[sg == "a"]))

    assert median_ratio() > 2  # the planted difference is there without the normalisation
    assert 0.67 < median_ratio(density_k=4) < 1.5


# ------------------------------------------------------------------------------- registry


def test_registry_names_order_and_specs():
    assert list_backends() == ["loss", "knn", "kmeans", "mahalanobis", "selective_mahalanobis"]
    assert [get_spec(n).input for n in list_backends()] == (
        ["score"] + ["embedding"] * 3 + ["residual"])
    for name in list_backends():
        spec = get_spec(name)
        assert spec.name == name and spec.description and spec.reference
        backend = create_backend(name)
        assert backend.spec is spec and backend.name == name
        assert name.replace("_", "").lower() in type(backend).__name__.lower()
    assert repr(create_backend("knn", k=3)) == "KNNBackend(k=3, density_k=0)"
    assert create_backend("kmeans").get_params() == {
        "n_clusters": 16, "random_state": 0, "n_init": 10, "density_k": 0}


def test_unknown_backend_lists_valid_names():
    with pytest.raises(KeyError, match="'lof'.*loss, knn, kmeans, mahalanobis, "
                                       "selective_mahalanobis"):
        create_backend("lof")
    with pytest.raises(KeyError, match="valid names: loss, knn"):
        get_spec("nearest")


def test_bad_kwargs_name_the_backend():
    with pytest.raises(TypeError, match=r"create_backend\('knn'\).*n_neighbors"):
        create_backend("knn", n_neighbors=3)
    with pytest.raises(TypeError, match=r"create_backend\('mahalanobis'\)"):
        create_backend("mahalanobis", domains=["source"])


def test_registering_twice_and_bad_spec_are_errors():
    with pytest.raises(ValueError, match="'knn' is already registered"):
        register_backend(BackendSpec("knn", "embedding", "again", "-"))(KNNBackend)
    with pytest.raises(ValueError, match="unknown input 'logits'"):
        BackendSpec("x", "logits", "", "")


@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("knn", {"k": 0}, "knn: k must be an int >= 1, got 0"),
    ("knn", {"k": 1.5}, "knn: k must be an int >= 1, got 1.5"),
    ("knn", {"k": True}, "got True"),
    ("knn", {"density_k": -1}, "knn: density_k must be an int >= 0, got -1"),
    ("kmeans", {"n_clusters": 0}, "kmeans: n_clusters must be an int >= 1, got 0"),
    ("kmeans", {"density_k": 4}, "kmeans: density_k must be 0 .* got 4"),
    ("mahalanobis", {"shrinkage": 1.5}, "mahalanobis: shrinkage must be .* got 1.5"),
    ("mahalanobis", {"shrinkage": "oas"}, "got 'oas'"),
    ("mahalanobis", {"shrinkage": True}, "got True"),
    ("selective_mahalanobis", {"location": "median"},
     "selective_mahalanobis: location must be 'mean' or 'zero', got 'median'"),
])
def test_bad_values_are_named(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_backend(name, **kwargs)


def test_unseen_test_group_is_named(data):
    train, tg, test, sg, _ = data
    backend = create_backend("knn").fit(train, tg)
    groups = sg.astype(object)
    groups[0] = "valve/id_06"
    with pytest.raises(ValueError, match=r"\['valve/id_06'\] not among the training groups"):
        backend.score(test, groups)
    int_backend = create_backend("mahalanobis").fit(train, (tg == GROUPS[1]).astype(int))
    with pytest.raises(ValueError, match=r"test group\(s\) \[2\]"):
        int_backend.score(test, np.full(len(test), 2))


@pytest.mark.parametrize("name", ["knn", "kmeans", "mahalanobis", "selective_mahalanobis"])
def test_bad_inputs_are_named(data, name):
    train, tg, test, sg, _ = data
    backend = create_backend(name)
    with pytest.raises(RuntimeError, match="before fit"):
        backend.score(test, sg)
    with pytest.raises(ValueError, match=r"groups must have shape \(40,\).*got \(39,\)"):
        backend.fit(train, tg[:-1])
    with pytest.raises(ValueError, match=r"must be \(N, D\).*got shape \(40,\)"):
        backend.fit(train[:, 0], tg)
    bad = train.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 training embedding\(s\) with non-finite.*row 3"):
        backend.fit(bad, tg)
    backend.fit(train, tg)
    with pytest.raises(ValueError, match="dimension 3, the backend was fitted on dimension 4"):
        backend.score(test[:, :3], sg)
    inf = test.copy()
    inf[2, 0] = np.inf
    with pytest.raises(ValueError, match="test embedding"):
        backend.score(inf, sg)
    assert backend.score(np.empty((0, 4)), np.empty(0, dtype=str)).shape == (0,)


def test_group_size_limits(data):
    train, tg, test, sg, _ = data
    with pytest.raises(ValueError, match="knn: k=21 exceeds the 20 training embedding"):
        create_backend("knn", k=21).fit(train, tg)
    with pytest.raises(ValueError, match="density_k=20 .* group 'fan/id_00' has 20"):
        create_backend("knn", density_k=20).fit(train, tg)
    groups = tg.copy()
    groups[0] = "lonely"
    backend = create_backend("mahalanobis").fit(train, tg)
    before = backend.score(test, sg)
    with pytest.raises(ValueError, match="group 'lonely' has 1 training embedding"):
        backend.fit(train, groups)
    assert list(backend.states_) == list(GROUPS)  # a failed fit leaves the last one intact
    np.testing.assert_array_equal(backend.score(test, sg), before)
    duplicated = np.vstack([train[:1]] * 3 + [train[3:]])  # 3 copies of one embedding
    with pytest.raises(ValueError, match="density constant 0"):
        create_backend("knn", density_k=2).fit(duplicated, tg[[0, 0, 0, *range(3, 40)]])


def test_zero_embedding_and_domains(data):
    train, tg, test, sg, _ = data
    zero = train.copy()
    zero[5] = 0.0
    with pytest.raises(ValueError, match=r"knn: 1 zero training embedding\(s\).*row 5"):
        create_backend("knn").fit(zero, tg)
    kmeans = create_backend("kmeans", n_clusters=2).fit(train, tg)
    with pytest.raises(ValueError, match=r"kmeans: 1 zero test embedding\(s\).*row 0"):
        kmeans.score(np.zeros((1, 4)), [GROUPS[0]])
    selective = create_backend("selective_mahalanobis")
    with pytest.raises(ValueError, match=r"unknown domain\(s\) \['tgt'\]"):
        selective.fit(train, tg, domains=np.where(np.arange(40) < 3, "tgt", "source"))
    with pytest.raises(ValueError, match=r"domains must have shape \(40,\)"):
        selective.fit(train, tg, domains=["source"])
    one_target = np.where(np.arange(40) == np.flatnonzero(tg == GROUPS[0])[0], "target", "source")
    with pytest.raises(ValueError, match=r"group 'fan/id_00' \(target\) has 1 training"):
        selective.fit(train, tg, domains=one_target)
