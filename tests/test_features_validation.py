"""An explicit validation set, fit(X, y, X_val=, y_val=, sample_weight_val=), and
validation_loss_curve_ (HistGradientBoosting's 1.7 convention)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.neural_network as skn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, log_loss, r2_score

import fastmlp
from test_mlp_parity import assert_same_model


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:500] / 16.0, y[:500]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


PARAMS = dict(hidden_layer_sizes=(16,), max_iter=25, random_state=0, early_stopping=True,
              n_iter_no_change=4)


def test_split_fit_records_the_validation_loss_and_keeps_parity(digits):
    X, y = digits
    ref = quiet(skn.MLPClassifier(**PARAMS).fit, X, y)
    got = quiet(fastmlp.MLPClassifier(**PARAMS).fit, X, y)
    assert_same_model(ref, got, 1e-6)
    assert len(got.validation_loss_curve_) == got.n_iter_ == len(got.validation_scores_)


def test_validation_loss_is_the_log_loss_of_the_validation_rows(digits):
    """With a given set the rows are known: the curve's entries are their log-loss."""
    X, y = digits
    Xt, yt, Xv, yv = X[:400], y[:400], X[400:], y[400:]
    losses = []
    for epochs in (1, 2, 3):
        # warm_start=False: each fit replays the first epochs exactly.
        est = quiet(fastmlp.MLPClassifier(**dict(PARAMS, max_iter=epochs,
                                                 n_iter_no_change=1000)).fit,
                    Xt, yt, X_val=Xv, y_val=yv)
        # The model after epoch `epochs` is the final one only if that
        # epoch's score was the best; otherwise early stopping restored an
        # earlier one. Refit without early stopping for the epoch's model.
        plain = quiet(fastmlp.MLPClassifier(**dict(PARAMS, max_iter=epochs,
                                                   early_stopping=False)).fit, Xt, yt)
        losses.append(log_loss(yv, plain.predict_proba(Xv), labels=plain.classes_))
    np.testing.assert_allclose(est.validation_loss_curve_, losses, rtol=1e-9)


def test_no_validation_set_no_curve(digits):
    X, y = digits
    est = quiet(fastmlp.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3).fit, X, y)
    assert est.validation_loss_curve_ is None


@pytest.mark.parametrize("sparse", [False, True])
def test_explicit_validation_set_is_a_split_that_was_given(digits, sparse):
    """With X_val, every row of X trains; the scores are those of X_val."""
    X, y = digits
    Xt, yt, Xv, yv = X[:400], y[:400], X[400:], y[400:]
    params = dict(PARAMS, n_iter_no_change=1000, max_iter=8)
    fit_X = sp.csr_matrix(Xt) if sparse else Xt
    fit_Xv = sp.csr_matrix(Xv) if sparse else Xv
    got = quiet(fastmlp.MLPClassifier(**params).fit, fit_X, yt, X_val=fit_Xv, y_val=yv)
    # The training trajectory is that of an unsplit fit on X (the random
    # state draws no split), while scores come from X_val: compare with a
    # fit without early stopping, epoch by epoch.
    plain = quiet(fastmlp.MLPClassifier(**dict(params, early_stopping=False)).fit, fit_X, yt)
    np.testing.assert_allclose(got.loss_curve_, plain.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(max(got.validation_scores_), got.best_validation_score_)
    assert got.score(Xv, yv) == pytest.approx(got.best_validation_score_)
    assert len(got.validation_loss_curve_) == got.n_iter_


def test_weighted_validation_set(digits):
    X, y = digits
    Xt, yt, Xv, yv = X[:400], y[:400], X[400:], y[400:]
    swv = np.where(yv == 3, 5.0, 1.0)
    params = dict(PARAMS, n_iter_no_change=1000, max_iter=5)
    got = quiet(fastmlp.MLPClassifier(**params).fit, Xt, yt, X_val=Xv, y_val=yv,
                sample_weight_val=swv)
    unweighted = quiet(fastmlp.MLPClassifier(**params).fit, Xt, yt, X_val=Xv, y_val=yv)
    assert got.validation_scores_ != unweighted.validation_scores_
    # Same training (weights do not touch it), so the final models agree and
    # the last score is the weighted accuracy of the final model.
    np.testing.assert_allclose(got.loss_curve_, unweighted.loss_curve_, rtol=1e-12)
    assert got.best_validation_score_ == pytest.approx(
        accuracy_score(yv, got.predict(Xv), sample_weight=swv))


def test_regressor_with_validation_set():
    rng = np.random.RandomState(0)
    X = rng.randn(400, 5)
    y = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.randn(400)
    est = quiet(fastmlp.MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True,
                                     max_iter=10, n_iter_no_change=1000, random_state=0).fit,
                X[:300], y[:300], X_val=X[300:], y_val=y[300:])
    assert est.best_validation_score_ == pytest.approx(r2_score(y[300:], est.predict(X[300:])))
    # The restored best model's squared error (0.5 * mean((y - p)^2)) is
    # the curve's entry at the best score's epoch.
    best = int(np.argmax(est.validation_scores_))
    np.testing.assert_allclose(est.validation_loss_curve_[best],
                               0.5 * np.mean((y[300:] - est.predict(X[300:])) ** 2),
                               rtol=1e-10)
    assert est.validation_loss_curve_[-1] < est.validation_loss_curve_[0]


def test_validation_set_errors(digits):
    X, y = digits
    est = fastmlp.MLPClassifier(**PARAMS)
    with pytest.raises(ValueError, match="X_val is provided, but y_val was not provided"):
        est.fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="y_val is provided, but X_val was not provided"):
        est.fit(X, y, y_val=y)
    with pytest.raises(ValueError, match="early_stopping is False"):
        fastmlp.MLPClassifier().fit(X, y, X_val=X, y_val=y)
    with pytest.raises(ValueError, match="solver='lbfgs' does not stop early"):
        fastmlp.MLPClassifier(solver="lbfgs", early_stopping=True).fit(X, y, X_val=X, y_val=y)
    with pytest.raises(ValueError, match="features"):
        est.fit(X, y, X_val=X[:, :5], y_val=y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, y, X_val=X[:10], y_val=y[:9])
    with pytest.raises(ValueError, match="classes not in"):
        est.fit(X[y < 5], y[y < 5], X_val=X, y_val=y)
    assert not hasattr(est, "coefs_")  # nothing half-changed

