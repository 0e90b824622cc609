"""Resource promises of the MLP: no copy of well-formed input, bounded extra memory, threads."""

import os
import subprocess
import sys
import tracemalloc
import warnings

import numba
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

from fastmlp import BernoulliRBM, MLPClassifier


def _peak_extra_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["float32", "memmap"])
def test_stochastic_fit_does_not_copy_input(kind, tmp_path):
    """adam/sgd work in O(batch x width) memory and never copy ready-made X."""
    rng = np.random.RandomState(0)
    n, p = 20_000, 300  # 24 MB in float32
    X = rng.rand(n, p).astype(np.float32)
    if kind == "memmap":
        mm = np.memmap(tmp_path / "X.dat", dtype=np.float32, mode="w+", shape=(n, p))
        mm[:] = X
        mm.flush()
        X = np.memmap(tmp_path / "X.dat", dtype=np.float32, mode="r", shape=(n, p))
    y = rng.randint(3, size=n)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=1, random_state=0)
    clf.fit(X[:500], y[:500])  # compile outside the measurement

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)

    peak = _peak_extra_bytes(fit)
    # Labels (n x 3) and the shuffled index (n) are O(n) but small; a copy of
    # X would add 24 MB.
    assert peak < X.nbytes / 4, peak
    assert clf.coefs_[0].dtype == np.float32


def test_blas_obeys_threadpoolctl_limits():
    """The kernels' BLAS (SciPy's, which Numba calls) is one threadpoolctl controls."""
    X = np.random.RandomState(0).rand(300, 20)
    y = (X[:, 0] > 0.5).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(max_iter=2).fit(X, y)
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    assert blas
    with threadpool_limits(limits=1, user_api="blas"):
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            limited = MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        free = MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    np.testing.assert_allclose(limited.coefs_[0], free.coefs_[0], rtol=1e-10)


# Compute threads the fits start. Some packages start threads of their own:
# pyarrow (which pandas and dask bring) starts jemalloc's background thread,
# an allocator's, so it is left out, and counting starts after the imports.
_COUNT_THREADS = """
import os
import numpy as np, fastmlp
def threads():
    names = [open("/proc/self/task/%s/comm" % t).read().strip()
             for t in os.listdir("/proc/self/task")]
    return sum(name != "jemalloc_bg_thd" for name in names)
# A fit that starts on a busy machine starts on one thread (fastmlp._threads);
# this one is to start on all it may use.
import fastmlp._threads
fastmlp._threads._runnable_elsewhere = lambda: 0
before = threads()
X = (np.random.RandomState(0).rand(200, 50) > 0.7).astype(float)
fastmlp.BernoulliRBM(n_components=16, batch_size=10, n_iter=2, random_state=0).fit(X)
fastmlp.MLPClassifier(max_iter=3).fit(X, X[:, 0] > 0)
print(threads() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_numba_and_blas_thread_limits_are_obeyed():
    """With NUMBA_NUM_THREADS=1 and OPENBLAS_NUM_THREADS=1 the fits start no thread."""

    def threads(**env):
        out = subprocess.run([sys.executable, "-c", _COUNT_THREADS], capture_output=True,
                             text=True, check=True, env={**os.environ, **env})
        return int(out.stdout.split()[-1])

    assert threads(NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1") == 0
    if os.cpu_count() > 1:
        assert threads(NUMBA_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2") > 0


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
@pytest.mark.parametrize("batch_size", [10, 40])  # short chains, and BLAS's visible means
def test_rbm_gives_the_same_model_on_one_thread_or_two(batch_size):
    # Both work on R.MIN_FEATURE_BLOCKS blocks of features: the same sums.
    X = (np.random.RandomState(1).rand(300, 40) > 0.6).astype(float)
    params = dict(n_components=12, batch_size=batch_size, n_iter=2, random_state=0)
    before = numba.get_num_threads()
    models = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            models.append(BernoulliRBM(**params).fit(X))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(models[0].components_, models[1].components_)
    np.testing.assert_array_equal(models[0].h_samples_, models[1].h_samples_)


def test_worker_threads_obey_numba_and_threadpoolctl():
    from fastmlp._threads import thread_budget as worker_threads

    before = numba.get_num_threads()
    assert 1 <= worker_threads() <= before
    with threadpool_limits(limits=1, user_api="blas"):
        assert worker_threads() == 1
    numba.set_num_threads(1)
    try:
        assert worker_threads() == 1
    finally:
        numba.set_num_threads(before)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
@pytest.mark.parametrize("sparse", [False, True])
def test_batches_split_between_threads_give_the_single_thread_model(sparse):
    """A fit whose batches are split between threads matches the one-thread fit.

    Also: BLAS, limited to one thread while the threads run, gets its own
    limit back afterwards.
    """
    import scipy.sparse as sp

    rng = np.random.RandomState(2)
    X = rng.rand(500, 30)
    y = rng.randint(3, size=500)
    if sparse:
        X[X < 0.7] = 0.0
        X = sp.csr_matrix(X)
    params = dict(hidden_layer_sizes=(20, 10), max_iter=5, batch_size=64, random_state=0)
    before = numba.get_num_threads()
    blas = sorted(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    from fastmlp._threads import thread_budget as worker_threads

    numba.set_num_threads(2)
    try:
        if worker_threads() < 2:
            pytest.skip("BLAS is limited to one thread here")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            split = MLPClassifier(**params).fit(X, y)
            numba.set_num_threads(1)
            single = MLPClassifier(**params).fit(X, y)
    finally:
        numba.set_num_threads(before)
    assert sorted(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas") == blas
    np.testing.assert_allclose(split.loss_curve_, single.loss_curve_, rtol=1e-12)
    for a, b in zip(split.coefs_ + split.intercepts_, single.coefs_ + single.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


# catch_warnings is not thread-safe: the threads' warnings are filtered here.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fits_in_several_python_threads_restore_the_blas_limit():
    """Fits running at once share the one-thread BLAS limit and give it back."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.RandomState(3)
    X = rng.rand(400, 20)
    y = rng.randint(2, size=400)
    before = sorted(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    def fit(seed):
        return MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, batch_size=32,
                             random_state=seed).fit(X, y)

    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(fit, range(4)))
    assert sorted(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas") == before
    for seed, model in enumerate(together):
        alone = fit(seed)
        np.testing.assert_array_equal(model.coefs_[0], alone.coefs_[0])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_that_starts_while_another_holds_blas_gets_the_same_model():
    """The one-thread BLAS limit of a running fit is not a user's limit: same budget, same bits.

    Reading it made a fit that started during another one a one-thread fit,
    its sums grouped otherwise than the two-thread fit it was alone (1e-16
    apart): which one came out depended on how the threads were timed.
    """
    from fastmlp import _threads as T

    if T.thread_budget() < 2:
        pytest.skip("needs a budget of two threads")
    rng = np.random.RandomState(3)
    X = rng.rand(400, 20)
    y = rng.randint(2, size=400)

    def fit():
        return MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, batch_size=32,
                             random_state=0).fit(X, y)

    alone = fit()
    budget = T.thread_budget()
    with T.single_threaded_blas():  # as a fit running in another thread holds it
        assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {1}
        assert T.thread_budget() == budget
        during = fit()
    for a, b in zip(alone.coefs_ + alone.intercepts_, during.coefs_ + during.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_the_blas_limit_comes_back_when_another_thread_gives_it_back():
    """The first fit in sets the one-thread limit, a fit in another thread is the last out.

    threadpoolctl 3.6+ lets only the thread that first set OpenBLAS's limit
    change it; the restore from the other thread did nothing, and BLAS
    stayed at one thread after the fits (the contended bench's last line
    showed it).
    """
    import threading

    from fastmlp import _threads as T

    blas = lambda: sorted(i["num_threads"] for i in threadpool_info()
                          if i["user_api"] == "blas")
    before = blas()
    if max(before, default=1) < 2:
        pytest.skip("BLAS runs one thread already")
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with T.single_threaded_blas():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second():
        first_in.wait(10)
        with T.single_threaded_blas():
            second_in.set()
            first_out.wait(10)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert first_out.is_set() and second_in.is_set()
    assert blas() == before
