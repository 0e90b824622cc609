"""fastmlp against scikit-learn on the same data and random_state.

The random state is consumed in scikit-learn's order (initial weights, then
the validation split, then one permutation per epoch), so the two libraries
follow the same trajectory and agree to rounding; float64 cases are held to
rtol 1e-6 and float32 ones to rtol 1e-3, the figures the project promises.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.neural_network as skn
from sklearn.datasets import load_digits, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

import fastmlp

SOLVERS = ["lbfgs", "sgd", "adam"]
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
RTOL = {np.float64: 1e-6, np.float32: 1e-3}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def fit_both(name, X, y, fit_kwargs=None, **params):
    """Fit scikit-learn's and fastmlp's estimator ``name`` alike; return both."""
    models = []
    for lib in (skn, fastmlp):
        est = getattr(lib, name)(**params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y, **(fit_kwargs or {}))
        models.append(est)
    return models


def assert_same_model(ref, got, rtol, check_dtype=True):
    """Every fitted attribute of ``got`` equals ``ref``'s to ``rtol``."""
    assert got.n_iter_ == ref.n_iter_
    assert got.t_ == ref.t_
    for attr in ("n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        assert getattr(got, attr) == getattr(ref, attr), attr
    if hasattr(ref, "classes_"):
        np.testing.assert_array_equal(got.classes_, ref.classes_)
    np.testing.assert_allclose(got.loss_, ref.loss_, rtol=rtol)
    for attr in ("loss_curve_", "validation_scores_"):
        if getattr(ref, attr, None) is not None:
            np.testing.assert_allclose(getattr(got, attr), getattr(ref, attr), rtol=rtol)
    for attr in ("best_loss_", "best_validation_score_"):
        if getattr(ref, attr, None) is not None:
            np.testing.assert_allclose(getattr(got, attr), getattr(ref, attr), rtol=rtol)
        else:
            assert getattr(got, attr, None) is None
    # Weights: relative to each layer's scale, since single weights near zero
    # have no meaningful relative error.
    for a, b in zip(ref.coefs_ + ref.intercepts_, got.coefs_ + got.intercepts_):
        assert a.shape == b.shape
        if check_dtype:
            assert a.dtype == b.dtype
        np.testing.assert_allclose(b, a, rtol=0, atol=rtol * np.abs(a).max())


def agreement(ref, got, X):
    return np.mean(np.all(np.asarray(ref.predict(X) == got.predict(X)).reshape(len(X), -1), axis=1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_digits_every_solver_and_activation(digits, solver, activation, dtype):
    X, y = digits
    X = X.astype(dtype)
    ref, got = fit_both(
        "MLPClassifier", X, y, hidden_layer_sizes=(32,), solver=solver,
        activation=activation, max_iter=20, random_state=0,
    )
    # scikit-learn's lbfgs returns float64 weights from float32 input;
    # fastmlp keeps the input's dtype there (documented in the README).
    lbfgs32 = solver == "lbfgs" and dtype == np.float32
    assert_same_model(ref, got, RTOL[dtype], check_dtype=not lbfgs32)
    assert got.coefs_[0].dtype == dtype
    assert agreement(ref, got, X) >= 0.99
    np.testing.assert_allclose(got.predict_proba(X), ref.predict_proba(X), rtol=0,
                               atol=100 * RTOL[dtype])


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", learning_rate="constant", momentum=0.0),
        dict(solver="sgd", learning_rate="invscaling", power_t=0.3),
        dict(solver="sgd", learning_rate="adaptive", n_iter_no_change=2, tol=1e-1),
        dict(solver="sgd", nesterovs_momentum=False, momentum=0.5),
        dict(solver="adam", beta_1=0.8, beta_2=0.99, epsilon=1e-6, alpha=1e-2),
        dict(solver="adam", early_stopping=True, validation_fraction=0.2),
        dict(solver="sgd", early_stopping=True, n_iter_no_change=3),
        dict(solver="adam", batch_size=64, shuffle=False),
        dict(solver="adam", n_iter_no_change=2, tol=1e-2),  # stops early on training loss
        dict(solver="lbfgs", max_fun=50, alpha=1e-3),
        dict(solver="adam", hidden_layer_sizes=(20, 15, 10)),
    ],
)
def test_digits_options(digits, params):
    X, y = digits
    params = {"hidden_layer_sizes": (24,), "max_iter": 25, "random_state": 1, **params}
    ref, got = fit_both("MLPClassifier", X, y, **params)
    assert_same_model(ref, got, 1e-6)
    assert agreement(ref, got, X) >= 0.99


def test_batch_size_larger_than_data_warns_like_sklearn(digits):
    X, y = digits
    for lib in (skn, fastmlp):
        with pytest.warns(UserWarning, match="batch_size"):
            lib.MLPClassifier(batch_size=5000, max_iter=2).fit(X[:300], y[:300])
    ref, got = fit_both("MLPClassifier", X[:300], y[:300], batch_size=5000, max_iter=3,
                        random_state=0)
    assert_same_model(ref, got, 1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_sample_weight(digits, solver):
    X, y = digits
    sw = np.random.RandomState(0).uniform(0.2, 3.0, size=len(y))
    ref, got = fit_both("MLPClassifier", X, y, fit_kwargs={"sample_weight": sw},
                        hidden_layer_sizes=(16,), solver=solver, max_iter=15, random_state=0)
    assert_same_model(ref, got, 1e-6)


def test_sample_weight_with_early_stopping(digits):
    X, y = digits
    sw = np.random.RandomState(1).uniform(0.2, 3.0, size=len(y))
    ref, got = fit_both("MLPClassifier", X, y, fit_kwargs={"sample_weight": sw},
                        early_stopping=True, max_iter=15, random_state=0)
    assert_same_model(ref, got, 1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_binary_and_string_labels(digits, solver):
    X, y = digits
    labels = np.array(["even", "odd"])[y % 2]
    ref, got = fit_both("MLPClassifier", X, labels, hidden_layer_sizes=(8,), solver=solver,
                        max_iter=15, random_state=0)
    assert got.out_activation_ == "logistic"
    assert_same_model(ref, got, 1e-6)
    np.testing.assert_array_equal(got.predict(X), ref.predict(X))
    np.testing.assert_allclose(got.predict_log_proba(X), ref.predict_log_proba(X), rtol=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_multilabel(solver):
    X, Y = make_multilabel_classification(n_samples=300, n_features=10, n_classes=4,
                                          random_state=0)
    ref, got = fit_both("MLPClassifier", X, Y, hidden_layer_sizes=(12,), solver=solver,
                        max_iter=30, random_state=0)
    assert_same_model(ref, got, 1e-6)
    np.testing.assert_array_equal(got.predict(X), ref.predict(X))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n_targets", [1, 3])
def test_regressor(solver, n_targets, dtype):
    X, y = make_regression(n_samples=400, n_features=8, n_targets=n_targets, noise=1.0,
                           random_state=0)
    X, y = X.astype(dtype), (y / 100).astype(dtype)
    ref, got = fit_both("MLPRegressor", X, y, hidden_layer_sizes=(16, 8), solver=solver,
                        max_iter=20, random_state=0)
    assert_same_model(ref, got, RTOL[dtype], check_dtype=not (solver == "lbfgs" and dtype == np.float32))
    np.testing.assert_allclose(got.predict(X), ref.predict(X), rtol=0,
                               atol=100 * RTOL[dtype] * np.abs(ref.predict(X)).max())
    np.testing.assert_allclose(got.score(X, y), ref.score(X, y), rtol=1e-4)


@pytest.mark.parametrize("solver", SOLVERS)
def test_poisson_regressor(solver):
    rng = np.random.RandomState(0)
    X = rng.rand(300, 5)
    y = rng.poisson(np.exp(X @ np.array([1.0, -0.5, 0.3, 0.0, 0.8]))).astype(float)
    ref, got = fit_both("MLPRegressor", X, y, loss="poisson", hidden_layer_sizes=(8,),
                        solver=solver, max_iter=20, random_state=0)
    assert got.out_activation_ == "exp"
    assert_same_model(ref, got, 1e-6)


def test_regressor_early_stopping():
    X, y = make_regression(n_samples=500, n_features=6, random_state=2)
    ref, got = fit_both("MLPRegressor", X, y / 100, early_stopping=True, max_iter=30,
                        random_state=0)
    assert_same_model(ref, got, 1e-6)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_sparse_input_matches_sklearn_and_dense(digits, solver, fmt):
    X, y = digits
    Xs = sp.csr_matrix(X).asformat(fmt)
    ref, got = fit_both("MLPClassifier", Xs, y, hidden_layer_sizes=(16,), solver=solver,
                        max_iter=10, random_state=0)
    assert_same_model(ref, got, 1e-6)
    dense = fastmlp.MLPClassifier(hidden_layer_sizes=(16,), solver=solver, max_iter=10,
                                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense.fit(X, y)
    assert_same_model(dense, got, 1e-6)
    np.testing.assert_allclose(got.predict_proba(Xs), dense.predict_proba(X), rtol=1e-6,
                               atol=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_sequence(digits, solver):
    X, y = digits
    classes = np.unique(y)
    models = []
    for lib in (skn, fastmlp):
        est = lib.MLPClassifier(hidden_layer_sizes=(16,), solver=solver, random_state=0)
        for start in range(0, 1500, 300):
            kw = {"classes": classes} if start == 0 else {}
            est.partial_fit(X[start : start + 300], y[start : start + 300], **kw)
        models.append(est)
    assert_same_model(*models, 1e-6)

    models = []
    for lib in (skn, fastmlp):
        est = lib.MLPRegressor(hidden_layer_sizes=(16,), solver=solver, random_state=0)
        for start in range(0, 1500, 500):
            est.partial_fit(X[start : start + 500], y[start : start + 500] / 10.0)
        models.append(est)
    assert_same_model(*models, 1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_warm_start_continues(digits, solver):
    X, y = digits
    models = []
    for lib in (skn, fastmlp):
        est = lib.MLPClassifier(hidden_layer_sizes=(16,), solver=solver, max_iter=5,
                                warm_start=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
            est.fit(X, y)
        models.append(est)
    assert_same_model(*models, 1e-6)


def test_feature_names_in(digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    ref, got = fit_both("MLPClassifier", df, y, max_iter=5, random_state=0)
    np.testing.assert_array_equal(got.feature_names_in_, ref.feature_names_in_)
    np.testing.assert_array_equal(got.predict(df), ref.predict(df))
    with pytest.warns(UserWarning, match="feature names"):
        got.predict(X)


def test_score_matches(digits):
    X, y = digits
    ref, got = fit_both("MLPClassifier", X, y, max_iter=10, random_state=0)
    assert got.score(X, y) == ref.score(X, y)
