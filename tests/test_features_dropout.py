"""Dropout of hidden units (fastmlp._dropout), the last of the features beyond scikit-learn.

The masks' hash against a NumPy reference (tests/naive.py), the forward and
backward pass with the masks held fixed against NumPy and finite
differences for every hidden activation, the keep rate, reproducibility
(seed, threads, chunks), prediction without dropout, the solvers and the
inputs, and the default path left as scikit-learn's.
"""

import warnings

import numba
import numpy as np
import pytest
import sklearn.neural_network as skn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

import fastmlp
import naive
from fastmlp import _mlp_kernels as K
from fastmlp._activations import (
    ACTIVATION_CODES,
    EXTRA_HIDDEN,
    IDENTITY,
    SKLEARN_HIDDEN,
    SOFTMAX,
)
from fastmlp._config import YES
from fastmlp._dropout import drop_units, dropout_rates, dropout_state, thresholds, unit_hashes
from fastmlp._losses import ABSOLUTE_ERROR, HUBER, LOG_LOSS
from fastmlp._optimizers import N_HYPER
from test_features_activations import assert_sparse_and_float32_train_alike
from test_kernels import _Net, _targets
from test_mlp_parity import assert_same_model
from test_threads import _Alternating

HIDDEN = [ACTIVATION_CODES[a] for a in SKLEARN_HIDDEN + EXTRA_HIDDEN]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def _fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


def _params(est):
    return list(est.coefs_) + list(est.intercepts_)


def _same(a, b):
    return all(np.array_equal(p, q) for p, q in zip(_params(a), _params(b)))


# ---------------------------------------------------------------- the masks


def test_hashes_match_numpy():
    rows = np.array([0, 5, 17, 123456, 2**31 + 7])
    for (seed, count), layer in [((0, 0), 0), ((2**64 - 1, 3), 1), ((987654321, 10**6), 4)]:
        drop = dropout_state([0.5] * 5, seed, count)
        got = np.empty((len(rows), 37), dtype=np.uint64)
        for i, r in enumerate(rows):
            unit_hashes(drop, layer, r, 37, got[i])
        np.testing.assert_array_equal(got, naive.dropout_hashes(seed, count, layer, rows, 37))
        assert got.max() < 2**32


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_keep_rate_and_scale(rate, dtype):
    """About 1 - p of the units kept, each scaled by exactly 1 / (1 - p), the rest 0."""
    n, k = 4000, 50
    A = np.ones((n, k), dtype=dtype)
    S = np.empty_like(A)
    rows = np.random.RandomState(0).permutation(10 * n)[:n]
    drop_units(A, S, ACTIVATION_CODES["identity"], dropout_state([0.0, rate], 42, 7), 1, rows)
    kept = A != 0
    # 200,000 draws: the standard error of the rate is below 0.0012; 0.006 is
    # over 5 of them.
    assert abs(kept.mean() - (1 - rate)) < 0.006
    np.testing.assert_allclose(A[kept], 1 / (1 - rate), rtol=1e-9 if dtype == np.float64 else 1e-7)
    np.testing.assert_array_equal(S, 1.0)  # the output before the masks
    # Neither rows nor units of one row lean: per-unit and per-row rates
    # within 5 standard errors.
    assert np.abs(kept.mean(axis=0) - (1 - rate)).max() < 5 * np.sqrt(rate * (1 - rate) / n)
    # Neighbouring units are independent: P(both kept) ~ (1 - p)^2.
    both = (kept[:, 1:] & kept[:, :-1]).mean()
    assert abs(both - (1 - rate) ** 2) < 0.01
    # The same rows of another batch get another mask.
    B = np.ones_like(A)
    drop_units(B, S, ACTIVATION_CODES["identity"], dropout_state([0.0, rate], 42, 8), 1, rows)
    agree = ((B != 0) == kept).mean()
    assert abs(agree - ((1 - rate) ** 2 + rate**2)) < 0.01


def test_threshold():
    np.testing.assert_array_equal(thresholds([0.0, 0.5, 0.999999]),
                                  [2**32, 2**31, round(1e-6 * 2**32)])
    drop = dropout_state([0.2, 0.0], 2**64 - 1, 5)
    assert drop.dtype == np.int64 and drop[0] == -1 and drop[1] == 5
    assert dropout_state(np.empty(0)).shape == (0,)


# ------------------------------------------- forward and backward, masks fixed


def _masked_loss_grad(net, X, Y, hidden, drop, rows, alpha, out=SOFTMAX, loss_kind=LOG_LOSS):
    """The compiled batch_gradient with dropout: (loss with L2 term, gradient)."""
    n = X.shape[0]
    width = int(net.units[1:].sum())
    acts = np.empty(n * width)
    deltas = np.empty(2 * n * width)
    loss, sw_sum, squares = K.batch_gradient(
        X, None, None, None, rows, n, Y, np.empty(0), False, net.theta, net.grad,
        net.coef_ptr, net.icpt_ptr, net.units, acts, deltas, hidden, out,
        naive.kernel_loss(loss_kind), YES, alpha, None, net.grad[:0], net.grad[:0], np.zeros(N_HYPER), 0.0, drop,
    )
    return loss + 0.5 * alpha * squares / sw_sum, net.grad.copy()


@pytest.mark.parametrize("hidden", [ACTIVATION_CODES["relu"], ACTIVATION_CODES["tanh"]])
@pytest.mark.parametrize("loss_kind", [ABSOLUTE_ERROR, (HUBER, 0.7)], ids=["absolute", "huber"])
def test_regression_losses_gradient_with_fixed_masks(loss_kind, hidden):
    """absolute_error and huber through dropped units: NumPy's loss, finite differences."""
    rng = np.random.RandomState(5)
    n, k, rates = 12, 2, (0.4, 0.25)
    net = _Net([4, 6, 5, k], seed=2)
    X = rng.randn(n, 4)
    Y = rng.randn(n, k) * 3
    rows = rng.permutation(1000)[:n]
    loss, grad = _masked_loss_grad(net, X, Y, hidden, dropout_state(rates, 999, 3), rows,
                                   0.1, IDENTITY, loss_kind)
    factors = naive.dropout_factors(999, 3, rows, net.units[1:-1], rates)
    # scikit-learn's gradient of a k-output regression loss is k times the
    # derivative of the loss it reports (naive.gradient_scale).
    scale = naive.gradient_scale(loss_kind, k)
    assert all(0 < (f == 0).mean() < 1 for f in factors)  # something dropped, not all

    def ref(theta, data_scale=scale):
        coefs, icpts = net.unpack(theta)
        return naive.mlp_loss_dropout(X, Y, None, coefs, icpts, hidden, IDENTITY, loss_kind,
                                      0.1, factors, data_scale)

    # Residuals away from the kinks (0; +-delta), where a finite difference
    # would straddle two slopes.
    coefs, icpts = net.unpack(net.theta)
    A = X
    for i, (W, b) in enumerate(zip(coefs, icpts)):
        A = naive.activation(A @ W + b, IDENTITY if i == len(coefs) - 1 else hidden)
        A = A if i == len(coefs) - 1 else A * factors[i]
    kink = 0.0 if loss_kind == ABSOLUTE_ERROR else loss_kind[1]
    assert np.abs(np.abs(A - Y) - kink).min() > 1e-4
    np.testing.assert_allclose(loss, ref(net.theta, 1.0), rtol=1e-12)
    np.testing.assert_allclose(grad, naive.central_differences(ref, net.theta), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("rates", [(0.4, 0.25), (0.0, 0.5)], ids=["both", "second"])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradient_with_fixed_masks_matches_numpy_and_finite_differences(hidden, rates):
    rng = np.random.RandomState(int(hidden))
    n, k = 12, 3
    net = _Net([4, 6, 5, k], seed=int(hidden))
    X = rng.randn(n, 4)
    Y = _targets(LOG_LOSS, rng, n, k)
    rows = rng.permutation(1000)[:n]
    loss, grad = _masked_loss_grad(net, X, Y, hidden, dropout_state(rates, 12345, 6), rows, 0.1)
    factors = naive.dropout_factors(12345, 6, rows, net.units[1:-1], rates)
    # The masks drop something in every layer with a rate, not everything.
    for f, p in zip(factors, rates):
        assert (0 < (f == 0).mean() < 1) if p else (f == 1).all()

    def ref(theta):
        coefs, icpts = net.unpack(theta)
        return naive.mlp_loss_dropout(X, Y, None, coefs, icpts, hidden, SOFTMAX, LOG_LOSS,
                                      0.1, factors)

    np.testing.assert_allclose(loss, ref(net.theta), rtol=1e-12)
    np.testing.assert_allclose(grad, naive.central_differences(ref, net.theta), rtol=1e-5,
                               atol=1e-7)
    # No rates: no dropout, the bits of K.loss_grad.
    plain = _Net([4, 6, 5, k], seed=int(hidden))
    want = plain.loss_grad(X, Y, None, hidden, SOFTMAX, LOG_LOSS, 0.1)
    got, g = _masked_loss_grad(plain, X, Y, hidden, dropout_state([]), rows, 0.1)
    assert got == want
    np.testing.assert_array_equal(g, plain.grad)


def test_rows_that_drop_a_unit_send_it_no_gradient():
    """Unit j's incoming weights and bias get their data gradient from the rows keeping j only."""
    net = _Net([4, 6, 3], seed=0)
    rng = np.random.RandomState(0)
    n = 30
    X, Y = rng.randn(n, 4), _targets(LOG_LOSS, rng, n, 3)
    rows = np.arange(n)
    drop = dropout_state([0.5], 99, 0)
    factors = naive.dropout_factors(99, 0, rows, [6], [0.5])[0]
    alpha = 0.1
    _, grad = _masked_loss_grad(net, X, Y, ACTIVATION_CODES["tanh"], drop, rows, alpha)
    coefs, _ = net.unpack(net.theta)
    gW, gb = net.unpack(grad)
    assert 0 < (factors == 0).mean() < 1
    for j in range(6):
        keep = factors[:, j] != 0
        sub = _Net([4, 6, 3], seed=0)
        # The same rows by their numbers: the same masks.
        _, g_sub = _masked_loss_grad(sub, X[keep], Y[keep], ACTIVATION_CODES["tanh"], drop,
                                     rows[keep], alpha)
        gW_sub, gb_sub = sub.unpack(g_sub)
        # A gradient is (sum over rows + alpha W) / rows: compare the sums.
        m = keep.sum()
        np.testing.assert_allclose(gW[0][:, j] * n - alpha * coefs[0][:, j],
                                   gW_sub[0][:, j] * m - alpha * coefs[0][:, j],
                                   rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(gb[0][j] * n, gb_sub[0][j] * m, rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------- the estimators


def test_default_and_zero_rates_are_scikit_learns_model(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(15, 8), max_iter=4, random_state=0)
    ref = _fit(skn.MLPClassifier(**params), X, y)
    default = _fit(fastmlp.MLPClassifier(**params), X, y)
    assert_same_model(ref, default, 1e-6)
    for zero in (0.0, 0, [0.0, 0.0], np.zeros(2)):
        assert _same(_fit(fastmlp.MLPClassifier(dropout=zero, **params), X, y), default)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_dropout_compiles_nothing_a_default_fit_did_not(digits, activation):
    """A run-time branch, not a specialisation: a dropout fit after a plain one compiles nothing.

    Nothing but the mask kernel, which a fit compiles (or loads) the first
    time it drops a unit (fastmlp._dropout._SCALE_BY_MASKS), so that a
    default fit does not compile it.
    """
    from fastmlp._compile_profile import CompileRecorder

    X, y = digits
    params = dict(hidden_layer_sizes=(7, 5), max_iter=1, activation=activation, random_state=0)
    _fit(fastmlp.MLPClassifier(**params), X, y).predict(X)
    kernels = (K.forward, K.batch_gradient, K._row_part, K.stochastic_epoch, K.parallel_epoch)
    # Loaded from the cache or compiled: the specialisations there are.
    before = [len(k.signatures) for k in kernels]
    rec = CompileRecorder().install()
    try:
        clf = _fit(fastmlp.MLPClassifier(dropout=[0.5, 0.2], **params), X, y)
        clf.predict(X)
    finally:
        rec.uninstall()
    assert {r[0] for r in rec.records} <= {"fastmlp._dropout._scale_by_masks"}
    assert [len(k.signatures) for k in kernels] == before


def test_one_seed_is_drawn_only_with_dropout(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(10,), max_iter=2)
    with_dropout = np.random.RandomState(3)
    _fit(fastmlp.MLPClassifier(dropout=0.2, random_state=with_dropout, **params), X, y)
    without = np.random.RandomState(3)
    _fit(fastmlp.MLPClassifier(random_state=without, **params), X, y)
    without.randint(np.iinfo(np.uint64).max, dtype=np.uint64)  # the seed
    np.testing.assert_array_equal(with_dropout.get_state()[1], without.get_state()[1])


def test_reproducible_and_seeded(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(20, 10), max_iter=3, dropout=(0.3, 0.1))
    a = _fit(fastmlp.MLPClassifier(random_state=0, **params), X, y)
    b = _fit(fastmlp.MLPClassifier(random_state=0, **params), X, y)
    assert _same(a, b) and a.loss_curve_ == b.loss_curve_
    c = _fit(fastmlp.MLPClassifier(random_state=1, **params), X, y)
    assert not _same(a, c)
    plain = _fit(fastmlp.MLPClassifier(random_state=0, hidden_layer_sizes=(20, 10),
                                       max_iter=3), X, y)
    assert not _same(a, plain)
    # The thinned networks' training loss is above the whole network's.
    assert a.loss_curve_[-1] > plain.loss_curve_[-1]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
def test_masks_do_not_depend_on_the_threads(digits, monkeypatch):
    """One thread (one pass a batch) and two (each batch split in two): the same masks.

    The two add the gradient's sums in other orders (last bits only); other
    masks would give another model altogether.
    """
    X, y = digits
    params = dict(hidden_layer_sizes=(16,), max_iter=3, dropout=0.4, random_state=0,
                  batch_size=50)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _fit(fastmlp.MLPClassifier(**params), X, y)
    finally:
        numba.set_num_threads(before)
    two = _fit(fastmlp.MLPClassifier(**params), X, y)
    for a, b in zip(_params(one), _params(two)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    # Chunks of one batch on one thread and on two in turn: the same bits.
    monkeypatch.setattr("fastmlp._mlp.ThreadChooser", _Alternating)
    assert _same(_fit(fastmlp.MLPClassifier(**params), X, y), two)


def test_prediction_has_no_dropout(digits):
    X, y = digits
    clf = _fit(fastmlp.MLPClassifier((12, 6), dropout=[0.5, 0.3], max_iter=5,
                                     random_state=0), X, y)
    A = X
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        kind = clf.out_activation_ if i == len(clf.coefs_) - 1 else clf.activation
        A = naive.activation(A @ W + b, ACTIVATION_CODES[kind])
    np.testing.assert_allclose(clf.predict_proba(X), A, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))


def test_validation_scores_have_no_dropout(digits):
    X, y = digits
    clf = _fit(fastmlp.MLPClassifier((12,), dropout=0.5, max_iter=6, random_state=0,
                                     early_stopping=True, n_iter_no_change=100),
               X[:200], y[:200], X_val=X[200:], y_val=y[200:])
    # The best epoch's parameters are restored at the end: its score and
    # validation loss are those of the plain network.
    best = int(np.argmax(clf.validation_scores_))
    assert clf.validation_scores_[best] == clf.score(X[200:], y[200:])
    Y_val = (y[200:, None] == clf.classes_[None, :]).astype(float)
    loss = naive.loss(clf.predict_proba(X[200:]), Y_val, None, LOG_LOSS)
    np.testing.assert_allclose(clf.validation_loss_curve_[best], loss, rtol=1e-10)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_solvers_sparse_and_float32(digits, solver):
    X, y = digits
    params = dict(hidden_layer_sizes=(16,), max_iter=4, dropout=0.3, random_state=0,
                  solver=solver, learning_rate_init=0.05 if solver == "sgd" else 0.001)
    # Rows are masked by their row number: CSR input draws the same masks.
    dense = assert_sparse_and_float32_train_alike(params, X, y)
    assert dense.loss_curve_[-1] < dense.loss_curve_[0]


def test_regressor_partial_fit_and_warm_start(digits):
    X, y = digits
    y = y.astype(float)
    params = dict(hidden_layer_sizes=(10,), dropout=0.2, random_state=0)
    reg = fastmlp.MLPRegressor(batch_size=100, **params)
    for _ in range(3):
        reg.partial_fit(X, y)
    # The batch count goes on over the calls: 3 batches each.
    assert reg._optimizer["dropout_batches"] == 9
    again = fastmlp.MLPRegressor(batch_size=100, **params)
    for _ in range(3):
        again.partial_fit(X, y)
    assert _same(reg, again)
    warm = _fit(fastmlp.MLPRegressor(max_iter=2, warm_start=True, **params), X, y)
    first = [p.copy() for p in _params(warm)]
    _fit(warm, X, y)
    assert not all(np.array_equal(p, q) for p, q in zip(first, _params(warm)))
    assert np.isfinite(warm.predict(X)).all()


def test_lbfgs_refuses_dropout(digits):
    X, y = digits
    with pytest.raises(ValueError, match="dropout needs solver='sgd' or 'adam'"):
        fastmlp.MLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)
    with pytest.raises(ValueError, match="dropout needs solver='sgd' or 'adam'"):
        fastmlp.MLPRegressor(hidden_layer_sizes=(5, 5), solver="lbfgs",
                             dropout=[0.0, 0.1]).fit(X, y)
    # Rates of 0 are no dropout: lbfgs trains.
    _fit(fastmlp.MLPClassifier((5,), solver="lbfgs", dropout=0.0, max_iter=3), X, y)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, np.nan, "0.2", None, True, [0.1, 1.0],
                                 [[0.1, 0.2]], ["a", "b"], [-0.5, 0.0]])
def test_invalid_rates(digits, bad):
    X, y = digits
    with pytest.raises(InvalidParameterError, match="'dropout' parameter"):
        fastmlp.MLPClassifier((5, 4), dropout=bad).fit(X, y)


def test_wrong_number_of_rates(digits):
    X, y = digits
    clf = fastmlp.MLPClassifier((5, 4), dropout=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="3 rates for 2 hidden layers") as info:
        clf.fit(X, y)
    assert not isinstance(info.value, InvalidParameterError)
    assert not hasattr(clf, "coefs_")
    np.testing.assert_array_equal(dropout_rates((0.1, 0.2), 2), [0.1, 0.2])
    assert dropout_rates(0.0, 3).shape == (0,)


def test_to_sklearn_refuses_dropout(digits):
    X, y = digits
    clf = _fit(fastmlp.MLPClassifier((8,), dropout=0.2, max_iter=2), X, y)
    with pytest.raises(ValueError, match="dropout"):
        clf.to_sklearn()


def test_onnx_export_of_a_dropout_model(digits):
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    import fastmlp.onnx  # noqa: F401  (registers the converters)

    X, y = digits
    clf = _fit(fastmlp.MLPClassifier((12, 6), dropout=0.3, max_iter=5, random_state=0), X, y)
    onx = to_onnx(clf, X[:1], options={id(clf): {"zipmap": False}})
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, proba = sess.run(None, {sess.get_inputs()[0].name: X})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(labels, clf.predict(X))
