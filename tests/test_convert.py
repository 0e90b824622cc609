"""to_sklearn() and from_sklearn(): the same model, and the same training from there on."""

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import sklearn.neural_network as sknn
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from fastmlp._optimizers import LR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rng = np.random.RandomState(0)
X = rng.rand(80, 5)
Y_MULTI = np.c_[X @ [1.0, -2, 3, 0.5, 1], X[:, 0] * X[:, 1]]
TARGETS = {
    "binary": (X[:, 0] + X[:, 1] > 1).astype(int),
    "multiclass": np.digitize(X[:, 2], [0.33, 0.66]),
    "multilabel": np.c_[X[:, 0] > 0.5, X[:, 1] > 0.3, X[:, 2] > 0.7].astype(int),
    "regression": X @ [1.0, 2, 3, 4, 5],
    "multioutput": Y_MULTI,
    "poisson": np.exp(X @ [0.5, -0.3, 0.2, 0.1, 0.4]),
}
# Float64 predictions of the converted model equal the original's to this
# (both libraries' prediction paths are exact copies of the same arithmetic
# up to the order of BLAS sums).
PRED_RTOL = 1e-12


def estimators(kind, **params):
    params = dict(hidden_layer_sizes=(7, 4), random_state=0, max_iter=15, **params)
    if kind in ("binary", "multiclass", "multilabel"):
        return fastmlp.MLPClassifier(**params), sknn.MLPClassifier(**params)
    if kind == "poisson":
        params["loss"] = "poisson"
    return fastmlp.MLPRegressor(**params), sknn.MLPRegressor(**params)


def fit_quietly(est, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args)


def assert_same_predictions(a, b, Xt):
    np.testing.assert_allclose(a.predict(Xt), b.predict(Xt), rtol=PRED_RTOL, atol=0)
    if hasattr(a, "predict_proba"):
        np.testing.assert_allclose(a.predict_proba(Xt), b.predict_proba(Xt),
                                   rtol=PRED_RTOL, atol=1e-300)


def assert_same_state(a, b):
    pa, pb = a.get_params(), b.get_params()
    assert {k: pa[k] for k in pb if k in pa} == {k: pb[k] for k in pa if k in pb}
    # fastmlp's own options (not in scikit-learn) stay at their defaults.
    fast = a if type(a).__module__.startswith("fastmlp") else b
    assert fast.get_params() == type(fast)().get_params() | {
        k: v for k, v in fast.get_params().items() if k in (pa.keys() & pb.keys())}
    for attr in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_",
                 "n_features_in_", "loss_", "best_loss_", "loss_curve_",
                 "validation_scores_", "best_validation_score_"):
        assert getattr(a, attr, None) == getattr(b, attr, None), attr
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(ca, cb)
        assert ca.dtype == cb.dtype
    if hasattr(a, "classes_"):
        np.testing.assert_array_equal(a.classes_, b.classes_)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_to_sklearn_and_back(kind, solver):
    fast, _ = estimators(kind, solver=solver, activation="tanh")
    fit_quietly(fast, X, TARGETS[kind])
    sk = fast.to_sklearn()
    assert type(sk) is getattr(sknn, type(fast).__name__)
    assert_same_state(fast, sk)
    assert_same_predictions(fast, sk, X)
    back = fastmlp.from_sklearn(sk)
    assert type(back) is type(fast)
    assert_same_state(fast, back)
    assert_same_predictions(fast, back, X)


def test_float32_model_keeps_its_dtype():
    fast, _ = estimators("multiclass")
    fit_quietly(fast, X.astype(np.float32), TARGETS["multiclass"])
    sk = fast.to_sklearn()
    assert sk.coefs_[0].dtype == np.float32
    assert sk._optimizer.ms[0].dtype == np.float32
    # float32 sums in different orders: equal to float32's resolution.
    np.testing.assert_allclose(sk.predict_proba(X.astype(np.float32)),
                               fast.predict_proba(X.astype(np.float32)), rtol=1e-5, atol=1e-6)
    back = fastmlp.from_sklearn(sk)
    assert back._optimizer["state1"].dtype == np.float32 == back._theta.dtype


def continue_partial_fit(est, y, epochs=6):
    for _ in range(epochs):
        est.partial_fit(X, y)
    return np.array(est.loss_curve_[-epochs:])


@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_goes_on_as_scikit_learn_would(solver, learning_rate):
    """Either way, the converted model's next epochs follow the original's loss curve."""
    y = TARGETS["multioutput"]
    params = dict(solver=solver, learning_rate=learning_rate, learning_rate_init=0.05,
                  momentum=0.8)
    fast, sk = estimators("multioutput", **params)
    fit_quietly(sk, X, y)
    converted = fastmlp.from_sklearn(sk)
    expected = continue_partial_fit(sk, y)
    # The loss curves of two libraries doing the same arithmetic in their own
    # order: 1e-10 relative (the differences seen were ~1e-15).
    np.testing.assert_allclose(continue_partial_fit(converted, y), expected, rtol=1e-10)

    fit_quietly(fast, X, y)
    converted = fast.to_sklearn()
    assert converted._optimizer.learning_rate == fast._optimizer["hyper"][LR] or (
        solver == "adam")
    expected = continue_partial_fit(fast, y)
    np.testing.assert_allclose(continue_partial_fit(converted, y), expected, rtol=1e-10)


def test_optimizer_state_is_what_makes_the_curves_agree():
    """Negative control: without the moments carried over, the curve is another one."""
    y = TARGETS["regression"]
    _, sk = estimators("regression", solver="adam", learning_rate_init=0.05)
    fit_quietly(sk, X, y)
    converted = fastmlp.from_sklearn(sk)
    del converted._optimizer
    fresh = continue_partial_fit(converted, y)
    assert not np.allclose(fresh, continue_partial_fit(sk, y), rtol=1e-6)


def test_warm_start_and_early_stopping_state():
    y = TARGETS["binary"]
    fast, _ = estimators("binary", solver="sgd", early_stopping=True, validation_fraction=0.2,
                         n_iter_no_change=50, warm_start=True)
    fit_quietly(fast, X, y)
    sk = fast.to_sklearn()
    for best, now in zip(sk._best_coefs + sk._best_intercepts, fast.coefs_ + fast.intercepts_):
        # Early stopping ends on the best parameters, which it kept.
        np.testing.assert_array_equal(best, now)
    assert sk._no_improvement_count == fast._no_improvement_count
    fit_quietly(fast, X, y)
    fit_quietly(sk, X, y)
    np.testing.assert_allclose(sk.validation_scores_, fast.validation_scores_, rtol=1e-10)
    np.testing.assert_allclose(sk.loss_curve_, fast.loss_curve_, rtol=1e-10)
    assert_same_predictions(fast, sk, X)


def test_rbm_both_ways_and_on():
    Xb = (X > 0.5).astype(float)
    fast = fastmlp.BernoulliRBM(n_components=4, n_iter=3, random_state=0).fit(Xb)
    sk = fast.to_sklearn()
    assert type(sk) is sknn.BernoulliRBM
    np.testing.assert_allclose(sk.transform(Xb), fast.transform(Xb), rtol=PRED_RTOL)
    back = fastmlp.from_sklearn(sk)
    np.testing.assert_allclose(back.transform(Xb), fast.transform(Xb), rtol=PRED_RTOL)
    # partial_fit draws from random_state_, which is carried: the same steps.
    for est in (fast, sk, back):
        est.partial_fit(Xb)
    np.testing.assert_allclose(sk.components_, fast.components_, rtol=1e-10)
    np.testing.assert_allclose(back.components_, fast.components_, rtol=1e-10)


def test_unfitted_wrong_type_and_independence():
    unfitted = fastmlp.MLPRegressor(hidden_layer_sizes=(3,), alpha=0.5).to_sklearn()
    assert unfitted.get_params()["alpha"] == 0.5 and not hasattr(unfitted, "coefs_")
    with pytest.raises(TypeError, match="scikit-learn"):
        fastmlp.from_sklearn(fastmlp.MLPRegressor())
    with pytest.raises(TypeError, match="fastmlp"):
        fastmlp.convert.to_sklearn(sknn.MLPRegressor())
    with pytest.raises(TypeError):
        fastmlp.from_sklearn(object())
    fast, _ = estimators("regression")
    fit_quietly(fast, X, TARGETS["regression"])
    before = fast.predict(X)
    sk = fast.to_sklearn()
    sk.coefs_[0][:] = 0
    sk.loss_curve_.append(-1)
    np.testing.assert_array_equal(fast.predict(X), before)
    assert fast.loss_curve_[-1] != -1


def test_to_sklearn_while_patched_is_still_scikit_learn():
    fast, _ = estimators("binary")
    fit_quietly(fast, X, TARGETS["binary"])
    with fastmlp.sklearn_patched():
        sk = fast.to_sklearn()
        assert sknn.MLPClassifier is fastmlp.MLPClassifier
    assert type(sk) is sknn.MLPClassifier


def test_pickles(tmp_path):
    fast, _ = estimators("multiclass")
    fit_quietly(fast, X, TARGETS["multiclass"])
    again = pickle.loads(pickle.dumps(fast))
    assert type(again) is fastmlp.MLPClassifier
    np.testing.assert_array_equal(again.predict_proba(X), fast.predict_proba(X))
    # to_sklearn()'s pickle loads where fastmlp cannot be imported at all.
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(fast.to_sklearn()))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "p.npy", fast.predict_proba(X))
    code = (
        "import sys; sys.modules['fastmlp'] = None\n"
        "import pickle, numpy as np\n"
        "m = pickle.load(open(%r, 'rb'))\n"
        "X = np.load(%r); p = np.load(%r)\n"
        "np.testing.assert_allclose(m.predict_proba(X), p, rtol=1e-12)\n"
        "m.partial_fit(X, m.predict(X))\n"
        "print(type(m).__module__, any(v is not None for k, v in sys.modules.items()\n"
        "                              if k.startswith('fastmlp')))\n"
    ) % (str(path), str(tmp_path / "X.npy"), str(tmp_path / "p.npy"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["sklearn.neural_network._multilayer_perceptron", "False"]
