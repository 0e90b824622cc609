"""MLPRegressor's losses beyond scikit-learn's: absolute_error and huber (with huber_delta)."""

import warnings

import numpy as np
import pytest
import sklearn.neural_network as skn
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

import fastmlp
import naive
from fastmlp._activations import IDENTITY, RELU, TANH
from fastmlp._losses import ABSOLUTE_ERROR, HUBER, SQUARED_ERROR, loss_value, output_delta
from test_kernels import _Net, check_network_gradient
from test_mlp_parity import assert_same_model

LOSSES = [ABSOLUTE_ERROR, (HUBER, 0.7), (HUBER, 1e-3), (HUBER, 50.0)]


def _residual_data(rng, n, k):
    P = rng.randn(n, k)
    Y = P + rng.randn(n, k) * 2
    Y[0, 0] = P[0, 0]  # a zero residual: sign 0
    return P, Y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_sw", [False, True])
@pytest.mark.parametrize("kind", LOSSES)
def test_loss_and_output_delta_match_numpy(kind, with_sw, dtype):
    rng = np.random.RandomState(0)
    P, Y = (a.astype(dtype) for a in _residual_data(rng, 30, 3))
    sw = (rng.rand(30) + 0.5).astype(dtype) if with_sw else None
    got = loss_value(P, Y, sw if with_sw else np.empty(0, dtype), with_sw,
                     naive.kernel_loss(kind))
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, naive.loss(P.astype(float), Y.astype(float), sw, kind),
                               rtol=rtol)
    D = np.empty_like(P)
    output_delta(P, Y, sw if with_sw else np.empty(0, dtype), with_sw, D,
                 naive.kernel_loss(kind))
    want = naive.output_delta(P, Y, kind) * (1 if sw is None else sw[:, None])
    np.testing.assert_allclose(D, want, rtol=rtol)
    assert D[0, 0] == 0.0 or kind != ABSOLUTE_ERROR


def test_huber_with_a_large_delta_is_squared_error():
    rng = np.random.RandomState(1)
    P, Y = _residual_data(rng, 20, 2)
    D1, D2 = np.empty_like(P), np.empty_like(P)
    output_delta(P, Y, np.empty(0), False, D1, naive.kernel_loss((HUBER, 1e6)))
    output_delta(P, Y, np.empty(0), False, D2, naive.kernel_loss(SQUARED_ERROR))
    np.testing.assert_array_equal(D1, D2)
    assert (loss_value(P, Y, np.empty(0), False, naive.kernel_loss((HUBER, 1e6)))
            == loss_value(P, Y, np.empty(0), False, naive.kernel_loss(SQUARED_ERROR)))


@pytest.mark.parametrize("with_sw", [False, True])
@pytest.mark.parametrize("hidden", [RELU, TANH])
@pytest.mark.parametrize("kind", LOSSES)
def test_network_gradient_matches_finite_differences(kind, hidden, with_sw):
    rng = np.random.RandomState(7)
    n, k = 11, 2
    net = _Net([4, 6, k], seed=3)
    X = rng.randn(n, 4)
    Y = rng.randn(n, k) * 2
    sw = rng.rand(n) + 0.5 if with_sw else None
    # Residuals away from the kinks (0 for absolute error, +-delta for
    # Huber), where the finite difference would straddle two slopes.
    coefs, icpts = net.unpack(net.theta)
    A = X
    for i, (W, b) in enumerate(zip(coefs, icpts)):
        A = naive.activation(A @ W + b, IDENTITY if i == len(coefs) - 1 else hidden)
    kink = 0.0 if kind == ABSOLUTE_ERROR else kind[1]
    assert np.abs(np.abs(A - Y) - kink).min() > 1e-4
    check_network_gradient(net, X, Y, sw, hidden, IDENTITY, kind, 0.1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 5)
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.randn(300)
    y[::25] += 20.0  # outliers
    return X, y


def _fit(est, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_huber_with_a_large_delta_trains_scikit_learns_squared_error_model(data, solver):
    X, y = data
    params = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=20, random_state=0)
    ref = _fit(skn.MLPRegressor(**params), X, y)
    got = _fit(fastmlp.MLPRegressor(loss="huber", huber_delta=1e9, **params), X, y)
    assert_same_model(ref, got, 1e-6)


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
def test_lbfgs_loss_is_the_loss_of_the_fitted_model(data, loss):
    X, y = data
    est = _fit(fastmlp.MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", loss=loss,
                                    huber_delta=0.5, max_iter=50, random_state=0), X, y)
    r = np.abs(y - est.predict(X))
    data_term = r.mean() if loss == "absolute_error" else 0.5 * np.mean(
        np.where(r <= 0.5, r**2, 2 * 0.5 * r - 0.25))
    l2 = 0.5 * est.alpha * sum((W**2).sum() for W in est.coefs_) / len(y)
    np.testing.assert_allclose(est.loss_, data_term + l2, rtol=1e-10)


def test_robust_losses_ignore_outliers(data):
    X, y = data
    clean = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    errors = {}
    for loss in ("squared_error", "absolute_error", "huber"):
        est = _fit(fastmlp.MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", loss=loss,
                                        huber_delta=0.5, max_iter=300, random_state=0), X, y)
        errors[loss] = np.median(np.abs(est.predict(X) - clean))
    assert errors["absolute_error"] < 0.5 * errors["squared_error"]
    assert errors["huber"] < 0.5 * errors["squared_error"]


@pytest.mark.parametrize("bad", [0.0, -1.0, "1"])
def test_invalid_huber_delta(data, bad):
    X, y = data
    with pytest.raises(InvalidParameterError, match="'huber_delta' parameter"):
        fastmlp.MLPRegressor(loss="huber", huber_delta=bad).fit(X, y)


def test_to_sklearn_refuses_the_new_losses(data):
    X, y = data
    est = _fit(fastmlp.MLPRegressor(hidden_layer_sizes=(4,), loss="huber", max_iter=2), X, y)
    with pytest.raises(InvalidParameterError, match="'loss' parameter"):
        est.to_sklearn()
