"""The hidden activations beyond scikit-learn's: leaky_relu, elu, gelu, silu, softplus.

Each is checked against its NumPy reference (tests/naive.py), its derivative
against the reference derivative and, through a whole network, by finite
differences of the loss.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

import fastmlp
import naive
from fastmlp._activations import (
    ACTIVATION_CODES,
    ELU,
    EXTRA_HIDDEN,
    GELU,
    LEAKY_RELU,
    SILU,
    SOFTPLUS,
    activate,
    backprop_activation,
    bias_activate,
    bias_activate_keeping,
    derivative,
    keeps_slope,
)

NEW_KINDS = [LEAKY_RELU, ELU, GELU, SILU, SOFTPLUS]
# The arguments: ordinary values, both tails (where exp overflows or
# underflows), the neighbourhood of 0 (where expm1 and log1p matter).
EDGES = np.array([-800.0, -40.0, -20.0, -5.0, -1.3, -1.2, -1e-10, -0.0, 0.0, 1e-10, 0.7,
                  3.0, 20.0, 40.0, 800.0])


def _inputs(dtype):
    rng = np.random.RandomState(0)
    Z = np.concatenate([rng.randn(40) * 3, EDGES]).astype(dtype)
    return Z.reshape(-1, 5)


def _conditioning(z, kind, dtype):
    """How many ulps the float32 rounding of gelu's ``z^3`` may move its gate (see below)."""
    return 1 + np.abs(2 * 0.0356774 * z**3) if (kind == GELU and dtype == np.float32) else 1


def test_every_new_name_has_a_code():
    assert sorted(ACTIVATION_CODES[name] for name in EXTRA_HIDDEN) == sorted(NEW_KINDS)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 2e-15), (np.float32, 2e-7)])
@pytest.mark.parametrize("kind", NEW_KINDS)
def test_activation_matches_reference(kind, dtype, rtol):
    Z = _inputs(dtype)
    b = np.linspace(-0.5, 0.5, Z.shape[1]).astype(dtype)
    got = Z.copy()
    bias_activate(got, b, kind)
    z = Z.astype(np.float64) + b.astype(np.float64)
    want = naive.activation(z, kind)
    # Relative to each value (the reference rounded to the dtype). gelu's
    # gate is exp(-2u), u ~ 0.036 z^3: an input's float32 rounding of z^3
    # (the input itself is float32) moves the result by |2u| ulps of
    # float32, which only float64 arithmetic on the whole row would avoid.
    cond = _conditioning(z, kind, dtype)
    err = np.abs(got.astype(np.float64) - want.astype(dtype).astype(np.float64))
    assert np.all(err <= rtol * 8 * cond * np.abs(want) + np.finfo(dtype).smallest_subnormal), (
        z[err > rtol * 8 * cond * np.abs(want)])
    assert got.dtype == dtype
    # No bias: the same values as with a zero bias.
    plain = Z.copy()
    activate(plain, kind)
    zero = Z.copy()
    bias_activate(zero, np.zeros_like(b), kind)
    np.testing.assert_array_equal(plain, zero)


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_nan_propagates(kind):
    Z = np.array([[np.nan, 1.0]])
    bias_activate(Z, np.zeros(2), kind)
    assert np.isnan(Z[0, 0]) and np.isfinite(Z[0, 1])


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 2e-6)])
@pytest.mark.parametrize("kind", NEW_KINDS)
def test_derivative_matches_reference(kind, dtype, rtol):
    Z = _inputs(dtype)
    b = np.zeros(Z.shape[1], dtype=dtype)
    rng = np.random.RandomState(1)
    delta = rng.randn(*Z.shape).astype(dtype)
    A = Z.copy()
    S = np.full_like(Z, np.nan)
    bias_activate_keeping(A, b, kind, S)
    # The output is the same whether or not the slopes are kept.
    A2 = Z.copy()
    bias_activate(A2, b, kind)
    np.testing.assert_array_equal(A, A2)
    got = delta.copy()
    backprop_activation(A, S, got, kind)
    want = delta.astype(np.float64) * naive.derivative_from_input(Z.astype(np.float64), kind)
    want = want.astype(dtype).astype(np.float64)  # below float32's range: 0
    # elu' = A + 1 from the output is exact to an ulp of 1, not of e^z: for
    # z << 0 (e^z below the dtype's epsilon) it gives 0, as scikit-learn's
    # tanh' = 1 - A^2 does for |z| >> 0. An absolute error, then, relative
    # to delta.
    floor = np.abs(delta) * np.finfo(dtype).eps * 2 if kind == ELU else 1e-300
    err = np.abs(got - want)
    bound = rtol * 8 * _conditioning(Z.astype(np.float64), kind, dtype) * np.abs(want) + floor
    assert np.all(err <= bound), Z[err > bound]
    if not keeps_slope(kind):
        # From the output alone, and S never written.
        assert np.isnan(S).all()
        again = delta.copy()
        derivative(A, again, kind)
        np.testing.assert_array_equal(again, got)


def test_gelu_is_pytorchs_tanh_form():
    Z = np.linspace(-4, 4, 161)
    np.testing.assert_allclose(naive.activation(Z, GELU), naive.gelu_tanh_form(Z), rtol=1e-12,
                               atol=1e-15)


def test_derivatives_match_finite_differences_of_the_activation():
    """The reference derivatives themselves, against the reference functions."""
    Z = np.linspace(-6, 6, 241).reshape(1, -1) + 1e-3  # no kink exactly on a point
    h = 1e-6
    for kind in NEW_KINDS:
        numeric = (naive.activation(Z + h, kind) - naive.activation(Z - h, kind)) / (2 * h)
        np.testing.assert_allclose(naive.derivative_from_input(Z, kind), numeric,
                                   rtol=1e-6, atol=1e-8)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _reference_output(est, X):
    A = X
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        kind = est.out_activation_ if i == len(est.coefs_) - 1 else est.activation
        A = naive.activation(A @ W + b, ACTIVATION_CODES[kind])
    return A


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("activation", EXTRA_HIDDEN)
def test_estimators_train_and_predict(digits, activation, solver):
    X, y = digits
    clf = _fit(fastmlp.MLPClassifier((20, 10), activation=activation, solver=solver,
                                     max_iter=40, learning_rate_init=0.02, random_state=0),
               X, y)
    assert clf.score(X, y) > 0.9
    np.testing.assert_allclose(clf.predict_proba(X), _reference_output(clf, X), rtol=1e-10,
                               atol=1e-14)
    reg = _fit(fastmlp.MLPRegressor(hidden_layer_sizes=(16,), activation=activation,
                                    solver=solver, max_iter=40, random_state=0),
               X, y.astype(float))
    np.testing.assert_allclose(reg.predict(X), _reference_output(reg, X).ravel(), rtol=1e-10)
    # The loss went down.
    if solver == "adam":
        assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]


def assert_sparse_and_float32_train_alike(params, X, y):
    """MLPClassifier(**params) on CSR and float32 ``X`` trains as on dense float64; returns that."""
    dense = _fit(fastmlp.MLPClassifier(**params), X, y)
    sparse = _fit(fastmlp.MLPClassifier(**params), sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-10)
    single = _fit(fastmlp.MLPClassifier(**params), X.astype(np.float32), y)
    assert single.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(single.loss_curve_, dense.loss_curve_, rtol=1e-3)
    return dense


@pytest.mark.parametrize("activation", ["gelu", "softplus"])
def test_float32_and_sparse_train_like_dense_float64(digits, activation):
    X, y = digits
    params = dict(hidden_layer_sizes=(12,), activation=activation, max_iter=5, random_state=0)
    assert_sparse_and_float32_train_alike(params, X, y)


@pytest.mark.parametrize("bad", ["swish", "GELU", "softmax", "exp"])
def test_invalid_activation(digits, bad):
    X, y = digits
    with pytest.raises(InvalidParameterError, match="'activation' parameter"):
        fastmlp.MLPClassifier(activation=bad).fit(X, y)


def test_to_sklearn_refuses_a_new_activation(digits):
    X, y = digits
    clf = _fit(fastmlp.MLPClassifier((8,), activation="silu", max_iter=3), X, y)
    with pytest.raises(InvalidParameterError, match="'activation' parameter"):
        clf.to_sklearn()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", EXTRA_HIDDEN)
def test_onnx_export(digits, activation, dtype):
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    import fastmlp.onnx  # noqa: F401  (registers the converters)

    X, y = digits
    X = X.astype(dtype)
    reg = _fit(fastmlp.MLPRegressor(hidden_layer_sizes=(12, 6), activation=activation,
                                    max_iter=20, random_state=0), X, y.astype(float))
    onx = to_onnx(reg, X[:1])
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: X})[0].ravel()
    np.testing.assert_allclose(got, reg.predict(X), rtol=1e-5 if dtype == np.float32 else 1e-10,
                               atol=1e-5 if dtype == np.float32 else 1e-12)
