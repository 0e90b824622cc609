"""Edges where fastmlp once differed from scikit-learn, threads, and a long-lived process.

The differential bad-input suite (test_bad_input.py) compares outcomes of
many cases; the tests here check the fixes of the differences it found
against scikit-learn's own figures, and what must hold when fastmlp is
used from several threads or for many fits in one process.
"""

import gc
import os
import threading
import warnings

import numba
import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.neural_network as skn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from like_sklearn import skip_without_string_label_scores


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


@pytest.fixture(scope="module")
def digits01():
    # As scikit-learn's own RBM tests scale them.
    X, _ = load_digits(return_X_y=True)
    X = X - X.min()
    return X / X.max()


def both(name, **params):
    return getattr(skn, name)(**params), getattr(fastmlp, name)(**params)


def quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return func(*args, **kwargs)


# --- dtypes kept across partial_fit and warm_start ------------------------
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_partial_fit_f64_f32_f64_keeps_float64_and_optimizer_state(digits, solver):
    """A float64 model stays float64 (its Adam/momentum state too): scikit-learn's weights."""
    X, y = digits
    ref, ours = both("MLPClassifier", hidden_layer_sizes=(20,), solver=solver, random_state=0)
    for est in (ref, ours):
        est.partial_fit(X, y, classes=np.unique(y))
        est.partial_fit(X.astype(np.float32), y)
        est.partial_fit(X, y)
    for a, b in zip(ref.coefs_ + ref.intercepts_, ours.coefs_ + ours.intercepts_):
        assert b.dtype == a.dtype == np.float64
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_partial_fit_keeps_float32_model_float32(digits):
    """A float32 model fed float64 stays float32 and goes on from its optimizer state."""
    X, y = digits
    ref, ours = both("MLPRegressor", hidden_layer_sizes=(20,), random_state=0)
    for est in (ref, ours):
        est.partial_fit(X.astype(np.float32), y)
        est.partial_fit(X, y)
        est.partial_fit(X, y)
    assert ours._optimizer["t"] == 3 * (-(-len(X) // 200))
    for a, b in zip(ref.coefs_ + ref.intercepts_, ours.coefs_ + ours.intercepts_):
        assert b.dtype == a.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_warm_start_keeps_the_first_fits_dtype(digits):
    X, y = digits
    ref, ours = both("MLPClassifier", hidden_layer_sizes=(10,), max_iter=5, warm_start=True,
                     random_state=0)
    for est in (ref, ours):
        quiet(est.fit, X, y)
        quiet(est.fit, X.astype(np.float32), y)
    for a, b in zip(ref.coefs_, ours.coefs_):
        assert b.dtype == a.dtype == np.float64
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


# --- prediction dtypes ------------------------------------------------------
@pytest.mark.parametrize("fit_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.longdouble])
def test_prediction_dtype_is_sklearns(digits, fit_dtype, dtype):
    """The output has the dtype of ``X @ coefs_[0]``: float64 for a float32 model and float64 X."""
    X, y = digits
    Xp = (X[:20] * 16).astype(dtype)
    ref, ours = both("MLPClassifier", hidden_layer_sizes=(10,), max_iter=5, random_state=0)
    for est in (ref, ours):
        quiet(est.fit, X.astype(fit_dtype), y)
    a, b = ref.predict_proba(Xp), ours.predict_proba(Xp)
    assert b.dtype == a.dtype
    rtol = 1e-4 if fit_dtype == np.float32 else 1e-10
    np.testing.assert_allclose(b.astype(float), a.astype(float), rtol=rtol, atol=1e-7)
    ref, ours = both("MLPRegressor", hidden_layer_sizes=(10,), max_iter=5, random_state=0)
    for est in (ref, ours):
        quiet(est.fit, X.astype(fit_dtype), y)
    a, b = ref.predict(Xp), ours.predict(Xp)
    assert b.dtype == a.dtype
    np.testing.assert_allclose(b.astype(float), a.astype(float), rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("fit_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["transform", "score_samples"])
def test_rbm_longdouble_input_like_sklearn(digits01, fit_dtype, method):
    """np.longdouble input: scikit-learn's dtype, its values to float64 precision."""
    X = digits01[:100]
    ref, ours = both("BernoulliRBM", n_components=8, n_iter=2, random_state=0)
    for est in (ref, ours):
        est.fit(X.astype(fit_dtype))
    a = getattr(ref, method)(X.astype(np.longdouble))
    b = getattr(ours, method)(X.astype(np.longdouble))
    assert b.dtype == a.dtype
    np.testing.assert_allclose(b.astype(float), a.astype(float),
                               rtol=1e-5 if fit_dtype == np.float32 else 1e-10)


# --- errors -----------------------------------------------------------------
@pytest.mark.parametrize("v", [[[1.0] * 64], 1.0, None])
def test_gibbs_on_non_arrays_raises_sklearns_type(digits01, v):
    ref, ours = both("BernoulliRBM", n_components=4, n_iter=1, random_state=0)
    for est in (ref, ours):
        est.fit(digits01[:50])
    with pytest.raises(AttributeError):
        ref.gibbs(v)
    with pytest.raises(AttributeError, match="NumPy array or a sparse matrix"):
        ours.gibbs(v)


def test_gibbs_keeps_sklearns_shapes(digits01):
    """1-D and 3-D visible vectors are sampled as scikit-learn samples them."""
    ref, ours = both("BernoulliRBM", n_components=4, n_iter=1, random_state=0)
    for est in (ref, ours):
        est.fit(digits01[:50])
    for v in (digits01[0], digits01[:6].reshape(2, 3, 64)):
        a, b = ref.gibbs(v), ours.gibbs(v)
        assert b.shape == a.shape
        np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("v", [np.ones((2, 65)), sp.csr_matrix(np.ones((2, 65))),
                               np.ones((2, 3, 63))])
def test_gibbs_wrong_width_raises_value_error(digits01, v):
    ours = fastmlp.BernoulliRBM(n_components=4, n_iter=1, random_state=0).fit(digits01[:50])
    with pytest.raises(ValueError, match="expecting 64 features"):
        ours.gibbs(v)


def test_regressor_string_targets_raise_type_error(digits):
    X, _ = digits
    y = np.array(["a", "b"])[np.arange(len(X)) % 2]
    ref, ours = both("MLPRegressor", max_iter=2)
    with pytest.raises(TypeError):
        ref.fit(X, y)
    with pytest.raises(TypeError, match="numeric targets"):
        ours.fit(X, y)


def test_early_stopping_single_member_class_error_is_sklearns(digits):
    """The split is scikit-learn's, and so is its error, which names the class 'True'.

    scikit-learn stratifies on its boolean 0/1 column; its own
    test_early_stopping_stratified (run under the patch) checks that text.
    """
    X, _ = digits
    y = np.array(["cat"] * (len(X) - 1) + ["dog"])
    ref, ours = both("MLPClassifier", early_stopping=True, max_iter=2, random_state=0)
    with pytest.raises(ValueError, match="least populated class") as theirs:
        ref.fit(X, y)
    with pytest.raises(ValueError, match="least populated class") as got:
        ours.fit(X, y)
    assert str(got.value) == str(theirs.value)


@skip_without_string_label_scores
def test_early_stopping_split_is_sklearns(digits):
    X, y = digits
    yb = np.array(["even", "odd"])[y % 2]
    ref, ours = both("MLPClassifier", hidden_layer_sizes=(10,), early_stopping=True,
                     max_iter=5, random_state=0)
    for est in (ref, ours):
        quiet(est.fit, X, yb)
    np.testing.assert_allclose(ours.validation_scores_, ref.validation_scores_, rtol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-10)


# --- the RBM in float32 and float64 ------------------------------------------
def test_rbm_float32_and_float64_agree_as_sklearns_do(digits01):
    """scikit-learn's test_convergence_dtype_consistency, its tolerances, on fastmlp."""
    X = digits01[:100]
    r64 = fastmlp.BernoulliRBM(n_components=16, batch_size=5, n_iter=5, random_state=42)
    r32 = fastmlp.BernoulliRBM(n_components=16, batch_size=5, n_iter=5, random_state=42)
    t64 = r64.fit_transform(X.astype(np.float64))
    t32 = r32.fit_transform(X.astype(np.float32))
    np.testing.assert_allclose(t64, t32, rtol=1e-6, atol=0)
    np.testing.assert_allclose(r64.intercept_hidden_, r32.intercept_hidden_, rtol=1e-6, atol=0)
    np.testing.assert_allclose(r64.intercept_visible_, r32.intercept_visible_, rtol=1e-5, atol=0)
    np.testing.assert_allclose(r64.components_, r32.components_, rtol=1e-3, atol=0)
    np.testing.assert_allclose(r64.h_samples_, r32.h_samples_)


def test_rbm_partial_fit_trains_the_fitted_shape(digits01):
    """set_params(n_components=...) after fitting changes nothing until the next fit."""
    X = digits01[:60]
    ref, ours = both("BernoulliRBM", n_components=3, random_state=0)
    for est in (ref, ours):
        est.fit(X)
        est.set_params(n_components=50)
        for _ in range(5):
            est.partial_fit(X)
    assert ours.components_.shape == ref.components_.shape == (3, 64)
    np.testing.assert_allclose(ours.components_, ref.components_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), rtol=1e-10)
    assert ours.fit(X).components_.shape == (50, 64)


def test_replaced_fitted_arrays_that_disagree_raise(digits01, digits):
    rbm = fastmlp.BernoulliRBM(n_components=3, n_iter=1, random_state=0).fit(digits01[:30])
    rbm.intercept_hidden_ = np.zeros(5)
    for method in ("transform", "partial_fit", "score_samples", "gibbs"):
        with pytest.raises(ValueError, match="fitted arrays disagree"):
            getattr(rbm, method)(digits01[:3])
    X, y = digits
    mlp = quiet(fastmlp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=2).fit, X, y)
    mlp.coefs_ = [mlp.coefs_[0], np.zeros((6, 1))]
    with pytest.raises(ValueError, match="do not form a network"):
        mlp.predict(X)


def test_malformed_csr_is_refused(digits):
    X, y = digits
    mlp = quiet(fastmlp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=2).fit, X, y)
    bad = sp.csr_matrix(X[:2])
    bad.indices[0] = 10_000  # a column far outside the matrix
    with pytest.raises(ValueError, match="structure is invalid"):
        mlp.predict(bad)
    rbm = fastmlp.BernoulliRBM(n_components=3, n_iter=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="structure is invalid"):
        rbm.transform(bad)


def _malformed_csrs(X):
    """CSR matrices whose structure lies, each built valid and then broken.

    Each also lists a column twice in its first row (not canonical), so
    that code which sorted or summed its entries before checking its
    structure would read through the lie.
    """
    def dup_first_row():
        # Row 0 lists its first column twice: not canonical.
        rows = sp.csr_matrix(X[:4])
        data = np.concatenate([rows.data[:1], rows.data])
        indices = np.concatenate([rows.indices[:1], rows.indices])
        indptr = rows.indptr + 1
        indptr[0] = 0
        return sp.csr_matrix((data, indices, indptr), shape=rows.shape)

    far_column = dup_first_row()
    far_column.indices[-1] = 10_000
    negative_column = dup_first_row()
    negative_column.indices[-1] = -3
    decreasing = dup_first_row()
    decreasing.indptr[1] = decreasing.indptr[3] + 1  # row 1 then ends before it starts
    beyond = dup_first_row()
    beyond.indptr[-1] = beyond.indices.shape[0] + 50
    return {"far column": far_column, "negative column": negative_column,
            "decreasing pointers": decreasing, "pointers beyond the entries": beyond}


@pytest.mark.parametrize("what", ["far column", "negative column", "decreasing pointers",
                                  "pointers beyond the entries"])
def test_malformed_csr_is_refused_by_every_fit(digits, digits01, what):
    """fit and partial_fit check a CSR's structure before they sort or sum it."""
    X, y = digits
    bad = _malformed_csrs(X)[what]
    yb = y[: bad.shape[0]]
    for est in (fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2),
                fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, solver="lbfgs"),
                fastmlp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=2, solver="sgd")):
        with pytest.raises(ValueError, match="structure is invalid"):
            quiet(est.fit, bad, yb)
    clf = fastmlp.MLPClassifier(hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match="structure is invalid"):
        clf.partial_fit(bad, yb, classes=np.unique(y))
    rbm = fastmlp.BernoulliRBM(n_components=3, n_iter=1, random_state=0)
    with pytest.raises(ValueError, match="structure is invalid"):
        rbm.fit(bad)
    rbm.fit(X)
    for method in ("partial_fit", "transform", "score_samples", "gibbs"):
        with pytest.raises(ValueError, match="structure is invalid"):
            getattr(rbm, method)(bad)


def test_all_zero_sample_weights_raise_sklearns_error(digits):
    """scikit-learn 1.9's error on every supported version (1.7's divided by zero)."""
    X, y = digits
    for est in (fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2),
                fastmlp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=2, solver="lbfgs")):
        with pytest.raises(ValueError, match="at least one non-zero number"):
            est.fit(X, y, sample_weight=np.zeros(y.shape[0]))
        assert not hasattr(est, "coefs_")


# --- threads ----------------------------------------------------------------
def _in_threads(funcs):
    results = [None] * len(funcs)
    errors = []
    start = threading.Barrier(len(funcs))

    def run(i):
        try:
            start.wait()
            results[i] = funcs[i]()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(funcs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_predict_from_8_threads_is_predict_alone(digits):
    X, y = digits
    clf = quiet(fastmlp.MLPClassifier(hidden_layer_sizes=(30,), max_iter=20,
                                      random_state=0).fit, X, y)
    rbm = fastmlp.BernoulliRBM(n_components=16, n_iter=2, random_state=0).fit(X)
    alone = clf.predict_proba(X), clf.predict(X[:1]), rbm.transform(X)
    for got in _in_threads([lambda: (clf.predict_proba(X), clf.predict(X[:1]),
                                     rbm.transform(X))] * 8):
        for a, b in zip(alone, got):
            np.testing.assert_array_equal(b, a)


def _fits(X, y):
    return [
        lambda: quiet(fastmlp.MLPClassifier(hidden_layer_sizes=(20,), max_iter=10,
                                            random_state=1).fit, X, y).coefs_,
        lambda: quiet(fastmlp.MLPRegressor(hidden_layer_sizes=(15,), max_iter=10,
                                           solver="sgd", random_state=2).fit, X, y).coefs_,
        lambda: quiet(fastmlp.MLPClassifier(hidden_layer_sizes=(10,), max_iter=10,
                                            solver="lbfgs", random_state=3).fit, X, y).coefs_,
        lambda: [fastmlp.BernoulliRBM(n_components=12, n_iter=3,
                                      random_state=4).fit(X).components_],
    ]


def test_fits_in_4_threads_are_fits_alone(digits):
    """Each concurrent fit equals, to the bit, the same fit run alone on 1 or on 2 threads.

    A fit's thread count is Numba's within the BLAS limit when it starts;
    while another fit holds BLAS to one thread, a fit that starts takes
    one thread and so the one-thread kernels, whose sums are grouped
    differently (README, Threads). Either way it is a fit that also runs
    alone; nothing else may change it.
    """
    X, y = digits
    before = numba.get_num_threads()
    alone = {}
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            alone[threads] = [f() for f in _fits(X, y)]
    finally:
        numba.set_num_threads(before)
    for _ in range(2):
        got = _in_threads(_fits(X, y))
        for i, coefs in enumerate(got):
            assert any(
                all(np.array_equal(a, b) for a, b in zip(ref[i], coefs))
                for ref in alone.values()
            ), "fit %d in a thread is no fit run alone" % i


# --- a long-lived process ---------------------------------------------------
def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_1000_fits_do_not_grow_memory(digits):
    """1,000 fits (and predictions) in one process: memory stays flat after warm-up."""
    X, y = digits
    X, y = X[:200], y[:200]
    kinds = [
        lambda: quiet(fastmlp.MLPClassifier(hidden_layer_sizes=(20,), max_iter=3).fit,
                      X, y).predict_proba(X),
        lambda: quiet(fastmlp.MLPRegressor(hidden_layer_sizes=(10,), max_iter=3,
                                           solver="lbfgs").fit, X, y).predict(X),
        lambda: fastmlp.BernoulliRBM(n_components=8, n_iter=1).fit(X).transform(X),
        lambda: quiet(fastmlp.MLPClassifier(hidden_layer_sizes=(10,), max_iter=2).fit,
                      sp.csr_matrix(X), y).predict(X),
    ]
    for f in kinds * 25:  # warm-up: compiles, caches, allocator pools
        f()
    gc.collect()
    start = _rss_mib()
    for i in range(1000):
        kinds[i % len(kinds)]()
    gc.collect()
    grown = _rss_mib() - start
    # A leak of one 300 x 64 float64 copy a fit would be 150 MiB here.
    assert grown < 20, "resident memory grew by %.1f MiB over 1,000 fits" % grown
