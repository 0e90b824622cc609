"""fastmlp on a real distributed.LocalCluster (2 worker processes, 1 thread each).

One cluster serves the module (starting one takes seconds); the cold-cache
tests start their own, since they need fresh processes with an empty
NUMBA_CACHE_DIR. Every test is bounded by the fixture's timeouts.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

import fastmlp

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from fastmlp.dask import warm_up_workers  # noqa: E402
from fastmlp.dask._workers import cache_stats, warm_up  # noqa: E402

# What these tests run on the workers: compiled once (one worker, then the
# other loads) before any test, so a cold cache costs one compile.
CASES = (
    ("MLPClassifier", "lbfgs", "float64", False),
    ("MLPClassifier", "adam", "float64", False),
)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster, timeout="60s") as c:
            warm_up_workers(c, CASES)
            yield c


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def _assert_same_weights(a, b, atol):
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.loss_, b.loss_, rtol=1e-8)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert p.dtype == q.dtype
        np.testing.assert_allclose(p, q, rtol=0, atol=atol)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_lbfgs_on_blocks_equals_in_memory_fit(client, n_classes):
    X, y = make_classification(n_samples=1500, n_features=12, n_informative=6,
                               n_classes=n_classes, random_state=0)
    sw = np.random.RandomState(1).uniform(0.5, 2.0, size=len(y))
    params = dict(solver="lbfgs", hidden_layer_sizes=(10,), max_iter=40, alpha=1e-3,
                  random_state=0)
    local = _quiet_fit(fastmlp.MLPClassifier(**params), X, y, sample_weight=sw)
    # Four unequal blocks over two workers.
    Xd = da.from_array(X, chunks=((500, 300, 400, 300), 12))
    blocks = _quiet_fit(fastmlp.MLPClassifier(**params), Xd, da.from_array(y, chunks=500),
                        sample_weight=da.from_array(sw, chunks=700))
    _assert_same_weights(local, blocks, 1e-8)
    np.testing.assert_array_equal(blocks.classes_, local.classes_)
    np.testing.assert_array_equal(blocks.predict(X), local.predict(X))


def test_lbfgs_regressor_from_dask_dataframe(client):
    X, y = make_regression(n_samples=800, n_features=6, n_targets=2, random_state=0)
    y = y / 100
    frame = pd.DataFrame(X.astype(np.float32), columns=["f%d" % i for i in range(6)])
    params = dict(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    local = _quiet_fit(fastmlp.MLPRegressor(**params), frame, y)
    ddf = dd.from_pandas(frame, npartitions=3)
    blocks = _quiet_fit(fastmlp.MLPRegressor(**params), ddf, da.from_array(y, chunks=(300, 2)))
    # The float64 iterates agree to 1e-8; rounded to float32 weights, a
    # last-bit difference can flip a rounding (float32's spacing is 6e-8 at 1).
    _assert_same_weights(local, blocks, 1e-6)
    np.testing.assert_array_equal(blocks.feature_names_in_, local.feature_names_in_)


def test_lbfgs_without_a_client_runs_in_process():
    X, y = make_classification(n_samples=400, n_features=5, random_state=2)
    params = dict(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    local = _quiet_fit(fastmlp.MLPClassifier(**params), X, y)
    import dask

    with dask.config.set(scheduler="synchronous"):
        # The module's client is the default one when it runs; this test must
        # not see it, so it runs in a thread-free scope without a client.
        from fastmlp.dask import _lbfgs

        original = _lbfgs._client
        _lbfgs._client = lambda: None
        try:
            blocks = _quiet_fit(fastmlp.MLPClassifier(**params),
                                da.from_array(X, chunks=150), da.from_array(y, chunks=150))
        finally:
            _lbfgs._client = original
    _assert_same_weights(local, blocks, 1e-8)


def test_stochastic_solver_on_dask_says_what_to_use(client):
    X, y = make_classification(n_samples=100, random_state=0)
    est = fastmlp.MLPClassifier(solver="adam")
    with pytest.raises(ValueError, match="Incremental"):
        est.fit(da.from_array(X, chunks=50), da.from_array(y, chunks=50))
    assert not hasattr(est, "coefs_")


def test_bad_dask_input_raises_sklearn_errors(client):
    X, y = make_classification(n_samples=100, n_features=4, random_state=0)
    X[3, 2] = np.nan
    est = fastmlp.MLPClassifier(solver="lbfgs")
    with pytest.raises(ValueError, match="NaN"):
        est.fit(da.from_array(X, chunks=50), da.from_array(y, chunks=50))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(da.from_array(X, chunks=50), da.from_array(y[:90], chunks=50))
    assert not hasattr(est, "coefs_")
    X[3, 2] = 0.0
    poisson = fastmlp.MLPRegressor(loss="poisson", solver="lbfgs")
    with pytest.raises(ValueError, match="negative"):
        poisson.fit(da.from_array(X, chunks=50), da.from_array(y - 0.5, chunks=50))
    assert not hasattr(poisson, "coefs_")


def test_incremental_and_parallel_post_fit(client):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = make_classification(n_samples=1200, n_features=10, random_state=0)
    Xd, yd = da.from_array(X, chunks=300), da.from_array(y, chunks=300)
    params = dict(hidden_layer_sizes=(8,), random_state=0, shuffle=False)
    # shuffle_blocks=False: Incremental visits the blocks in a random order by default.
    inc = wrappers.Incremental(fastmlp.MLPClassifier(**params), shuffle_blocks=False)
    inc.fit(Xd, yd, classes=[0, 1])
    # The same partial_fit calls, block by block, in this process.
    local = fastmlp.MLPClassifier(**params)
    for start in range(0, 1200, 300):
        local.partial_fit(X[start : start + 300], y[start : start + 300], classes=[0, 1])
    # A worker has one thread (the one-thread epoch kernel) where this
    # process may have two (the batch split between threads): the sums
    # differ in their last bits, nothing more.
    for p, q in zip(inc.estimator_.coefs_, local.coefs_):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-15)

    post = wrappers.ParallelPostFit(local)
    np.testing.assert_array_equal(post.predict(Xd).compute(), local.predict(X))
    np.testing.assert_allclose(post.predict_proba(Xd).compute(), local.predict_proba(X))

    # The RBM has no score method (as scikit-learn's); Incremental wants a scoring.
    def pseudo_likelihood(est, X, y=None):
        return float(np.mean(est.score_samples(X)))

    binary = (X > 0).astype(float)
    rbm = wrappers.Incremental(fastmlp.BernoulliRBM(n_components=4, random_state=0),
                               scoring=pseudo_likelihood, shuffle_blocks=False)
    rbm.fit(da.from_array(binary, chunks=300))
    local = fastmlp.BernoulliRBM(n_components=4, random_state=0)
    for start in range(0, 1200, 300):
        local.partial_fit(binary[start : start + 300])
    np.testing.assert_allclose(rbm.estimator_.components_, local.components_, rtol=1e-12,
                               atol=1e-15)


def test_grid_search_runs_on_the_workers(client):
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    grid = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(4,), (6,)]}
    base = fastmlp.MLPClassifier(solver="lbfgs", max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = GridSearchCV(base, grid, cv=3).fit(X, y)
        with distributed.get_task_stream(client) as stream:
            with joblib.parallel_config(backend="dask"):
                remote = GridSearchCV(base, grid, cv=3, n_jobs=-1).fit(X, y)
    workers = set(client.scheduler_info()["workers"])
    ran_on = {task["worker"] for task in stream.data}
    assert ran_on and ran_on <= workers
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_


def _cold_cluster(cache_dir):
    """Two fresh worker processes whose Numba cache is ``cache_dir`` (empty at first)."""
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    dashboard_address=None,
                                    env={"NUMBA_CACHE_DIR": str(cache_dir)})


def _pickled_model():
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    model = _quiet_fit(fastmlp.MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs",
                                             max_iter=5, random_state=0), X, y)
    return model, pickle.dumps(model), X


def _predict_then_stats(blob, X):
    return pickle.loads(blob).predict(X), cache_stats()


def _assert_fresh_workers_only_load(c, model, blob, X):
    """New worker processes (``client.restart()``) predict from the pickle with no compile."""
    c.restart()
    c.wait_for_workers(2, timeout=120)
    for address in c.scheduler_info()["workers"]:
        pred, stats = c.submit(_predict_then_stats, blob, X, workers=[address],
                               pure=False).result(timeout=300)
        np.testing.assert_array_equal(pred, model.predict(X))
        assert stats["misses"] == 0 and stats["hits"] > 0, stats


# The smallest fit (lbfgs: one loss kernel) and its prediction.
COLD_CASES = (("MLPClassifier", "lbfgs", "float64", False),)


def test_fresh_workers_compile_once_per_machine(tmp_path):
    """Fresh workers on an empty cache, with the recipe: one compiles, the other only loads.

    Then new worker processes load everything a pickled model needs, with no
    compile. The kernels are compiled once in all (about 30 s of CPU on this
    machine); the race of two workers compiling at once, which costs twice
    that, is the slow test below.
    """
    model, blob, X = _pickled_model()
    with _cold_cluster(tmp_path / "numba") as cluster, \
            distributed.Client(cluster, timeout="120s") as c:
        stats = warm_up_workers(c, COLD_CASES)
        assert len(stats) == 2
        compiled = sorted(s["misses"] for s in stats.values())
        assert compiled[0] == 0 and compiled[1] > 0, stats
        assert all(s["hits"] > 0 for s in stats.values() if s["misses"] == 0), stats
        _assert_fresh_workers_only_load(c, model, blob, X)


@pytest.mark.slow
def test_fresh_workers_racing_on_a_cold_cache(tmp_path):
    """Two new workers compiling the same kernels at once into an empty cache do not crash.

    Without the warm-up both compile (Numba's cache writers race on the same
    files); the cache they leave is loaded by new processes. Two compiles of
    ~30 s of CPU each at once: marked slow, and run by .ci/run on its own.
    """
    model, blob, X = _pickled_model()
    with _cold_cluster(tmp_path / "numba") as cluster, \
            distributed.Client(cluster, timeout="120s") as c:
        at_once = c.run(warm_up, COLD_CASES)
        assert len(at_once) == 2
        assert all(s["misses"] > 0 for s in at_once.values()), at_once
        _assert_fresh_workers_only_load(c, model, blob, X)
