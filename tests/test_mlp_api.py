"""Public API, parameter validation and bad input, against scikit-learn's behaviour."""

import inspect
import pickle
import warnings

import numpy as np
import pytest
import sklearn.neural_network as skn
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import fastmlp
from like_sklearn import assert_same_error

NAMES = ["MLPClassifier", "MLPRegressor"]


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


def quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


# fastmlp's options beyond scikit-learn (README "Beyond scikit-learn"),
# keyword-only after scikit-learn's own, each defaulting to its behaviour.
EXTRA_PARAMS = {
    "MLPClassifier": {"class_weight": None, "dropout": 0.0},
    "MLPRegressor": {"huber_delta": 1.35, "dropout": 0.0},
}


@pytest.mark.parametrize("name", NAMES)
def test_same_signature_and_defaults(name):
    ours = inspect.signature(getattr(fastmlp, name))
    theirs = inspect.signature(getattr(skn, name))
    n = len(theirs.parameters)
    assert list(ours.parameters)[:n] == list(theirs.parameters)
    extra = {k: p.default for k, p in list(ours.parameters.items())[n:]}
    assert extra == EXTRA_PARAMS[name]
    assert all(p.kind == p.KEYWORD_ONLY for p in list(ours.parameters.values())[n:])
    for p in theirs.parameters.values():
        q = ours.parameters[p.name]
        assert q.default == p.default, p.name
        assert q.kind == p.kind, p.name
    params = getattr(fastmlp, name)().get_params()
    assert {k: v for k, v in params.items() if k not in extra} == getattr(skn, name)().get_params()


BAD_PARAMS = [
    ("hidden_layer_sizes", [0, -1, (5, 0), "a"]),
    ("activation", ["softmax", "Relu", None]),
    ("solver", ["newton", 1]),
    ("alpha", [-1.0, "x"]),
    ("batch_size", [0, -5, "big", 2.5]),
    ("learning_rate", ["fast"]),
    ("learning_rate_init", [0.0, -1.0]),
    ("power_t", [-0.5]),
    ("max_iter", [0, -1, 1.5]),
    ("shuffle", ["yes"]),
    ("random_state", ["seed"]),
    ("tol", [-1e-3]),
    ("momentum", [-0.1, 1.1]),
    ("nesterovs_momentum", [2]),
    ("early_stopping", ["no"]),
    ("validation_fraction", [1.0, -0.1]),
    ("beta_1", [1.0, -0.1]),
    ("beta_2", [1.0]),
    ("epsilon", [0.0]),
    ("n_iter_no_change", [0, -1]),
    ("max_fun", [0]),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("param, values", BAD_PARAMS)
def test_invalid_parameters_raise_like_sklearn(data, name, param, values):
    X, y = data
    for value in values:
        errors = []
        for lib in (skn, fastmlp):
            est = getattr(lib, name)(max_iter=2, **{param: value}) if param != "max_iter" else getattr(lib, name)(**{param: value})
            with pytest.raises(Exception) as info:
                quiet_fit(est, X, y)
            errors.append(info)
        assert errors[1].type is errors[0].type, (param, value)
        # Same message, but for the order in which a set of options prints.
        ours, theirs = str(errors[1].value), str(errors[0].value)
        assert ours.split("{")[0] == theirs.split("{")[0], (param, value)
        assert ours.rsplit("}", 1)[-1] == theirs.rsplit("}", 1)[-1], (param, value)


def test_regressor_invalid_loss(data):
    X, y = data
    for lib in (skn, fastmlp):
        with pytest.raises(ValueError, match="'loss' parameter"):
            lib.MLPRegressor(loss="quantile").fit(X, y)


def bad_inputs(X, y):
    Xnan = X.copy()
    Xnan[-1, -1] = np.nan
    Xinf = X.copy()
    Xinf[0, 0] = np.inf
    return {
        "nan in X": (Xnan, y),
        "inf in X": (Xinf, y),
        "empty X": (X[:0], y[:0]),
        "1-D X": (X[:, 0], y),
        "mismatched lengths": (X, y[:-1]),
        "3-D X": (X[:, :, None], y),
        "complex X": (X.astype(complex), y),
    }


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", list(bad_inputs(np.zeros((4, 2)), np.zeros(4))))
def test_bad_fit_input_raises_like_sklearn(data, name, case):
    X, y = data
    Xb, yb = bad_inputs(X, y)[case]
    messages = []
    for lib in (skn, fastmlp):
        with pytest.raises(ValueError) as info:
            quiet_fit(getattr(lib, name)(max_iter=2), Xb, yb)
        messages.append(str(info.value))
    assert messages[1] == messages[0]


def test_nan_in_regression_target_raises_like_sklearn(data):
    X, y = data
    y = y.astype(float)
    y[7] = np.nan
    for lib in (skn, fastmlp):
        with pytest.raises(ValueError, match="NaN"):
            lib.MLPRegressor(max_iter=2).fit(X, y)


@pytest.mark.parametrize("name", NAMES)
def test_predict_input_checks(data, name):
    X, y = data
    est = quiet_fit(getattr(fastmlp, name)(max_iter=3, random_state=0), X, y)
    ref = quiet_fit(getattr(skn, name)(max_iter=3, random_state=0), X, y)
    Xnan = X[:5].copy()
    Xnan[1, 1] = np.nan
    for bad in (X[:, :10], Xnan, X[:0], X[0], np.asfortranarray(Xnan), Xnan.astype(np.float32)):
        assert_same_error(ValueError, ref, est, "predict", bad)
    # The fast path and the full validation give the same predictions.
    np.testing.assert_array_equal(est.predict(X[:7]), est.predict(X[:7].tolist()))
    np.testing.assert_array_equal(est.predict(X[:1]), est.predict(np.asfortranarray(X[:1])))
    np.testing.assert_array_equal(est.predict(X[:3].astype(np.float32)), est.predict(X[:3]))


@pytest.mark.parametrize("activation", ["logistic", "relu"])
def test_predict_finds_every_nan_and_inf(data, activation):
    """The fast path checks finiteness on the first layer's products, not on X.

    That must still catch a NaN or an infinity anywhere: in a later block
    of rows, in a feature whose weights are all zero (inf * 0 is NaN), and
    -inf under a saturating activation (logistic(-inf) is a finite 0).
    """
    X, y = data
    est = quiet_fit(fastmlp.MLPClassifier(hidden_layer_sizes=(8,), activation=activation,
                                          max_iter=3, random_state=0), X, y)
    ref = quiet_fit(skn.MLPClassifier(hidden_layer_sizes=(8,), activation=activation,
                                      max_iter=3, random_state=0), X, y)
    for m in (est, ref):
        m.coefs_[0][5] = 0.0
    big = np.tile(X, (8, 1))  # 3200 rows: two prediction blocks
    for row, col in [(0, 0), (3100, 63), (2500, 5)]:
        for value in (np.nan, np.inf, -np.inf):
            bad = big.copy()
            bad[row, col] = value
            for method in ("predict", "predict_proba"):
                assert_same_error(ValueError, ref, est, method, bad)
    # A finite X whose products overflow is valid input: same output as scikit-learn.
    huge = X[:4].copy()
    huge[0, 10] = 1e308
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(est.predict(huge), ref.predict(huge))


@pytest.mark.parametrize("name", NAMES + ["BernoulliRBM"])
def test_not_fitted_same_error_as_sklearn(name):
    methods = {"MLPClassifier": ("predict", "predict_proba", "predict_log_proba"),
               "MLPRegressor": ("predict",),
               "BernoulliRBM": ("transform", "gibbs", "score_samples")}[name]
    for method in methods:
        assert_same_error(NotFittedError, getattr(skn, name)(), getattr(fastmlp, name)(),
                          method, np.zeros((2, 3)))


def test_partial_fit_errors(data):
    X, y = data
    clf = fastmlp.MLPClassifier()
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 5], y[y < 5], classes=np.arange(5))
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X[y < 5], y[y < 5], classes=np.arange(6))
    for lib in (skn, fastmlp):
        with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
            lib.MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.arange(10))


@pytest.mark.parametrize("name", NAMES)
def test_partial_fit_needs_a_stochastic_solver(name):
    est = getattr(fastmlp, name)(solver="lbfgs")
    assert not hasattr(est, "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        est.partial_fit
    # scikit-learn 1.9's regressor exposes partial_fit with lbfgs (a bug that
    # runs a full L-BFGS fit); its classifier behaves as fastmlp's do.
    assert not hasattr(skn.MLPClassifier(solver="lbfgs"), "partial_fit")
    assert hasattr(getattr(fastmlp, name)(solver="adam"), "partial_fit")


def test_poisson_rejects_negative_targets(data):
    X, y = data
    y = y - 3.0
    est = fastmlp.MLPRegressor(loss="poisson", max_iter=2)
    with pytest.raises(ValueError, match="negative"):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("name", NAMES)
def test_diverging_fit_raises_and_leaves_the_model_unchanged(data, name):
    X, y = data
    Xbig = X * 1e150
    for lib in (skn, fastmlp):
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            quiet_fit(getattr(lib, name)(solver="sgd", learning_rate_init=1e5, max_iter=5,
                                         random_state=0), Xbig, y)
    est = quiet_fit(getattr(fastmlp, name)(solver="sgd", warm_start=True, max_iter=3,
                                           random_state=0), X, y)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items()
              if k.endswith("_") and not isinstance(v, list)}
    coefs = [c.copy() for c in est.coefs_]
    est.set_params(learning_rate_init=1e5)
    with pytest.raises(ValueError, match="non-finite"):
        quiet_fit(est, Xbig, y)
    for a, b in zip(coefs, est.coefs_):
        np.testing.assert_array_equal(a, b)
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(est, k), v)
    est.set_params(learning_rate_init=1e-3)
    quiet_fit(est, X, y)  # still usable


def test_convergence_warning_like_sklearn(data):
    X, y = data
    for lib in (skn, fastmlp):
        with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
            lib.MLPClassifier(max_iter=3).fit(X, y)
        with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
            lib.MLPClassifier(solver="lbfgs", max_iter=3).fit(X, y)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="adam", max_iter=4),
        dict(solver="sgd", early_stopping=True, max_iter=4),
        dict(solver="sgd", learning_rate="adaptive", n_iter_no_change=1, tol=10.0, max_iter=12),
        dict(solver="adam", n_iter_no_change=1, tol=10.0, max_iter=5),
    ],
)
def test_verbose_output_matches(data, params, capsys):
    X, y = data
    outputs = []
    for lib in (skn, fastmlp):
        quiet_fit(lib.MLPClassifier(verbose=True, random_state=0, **params), X, y)
        outputs.append(capsys.readouterr().out)
    assert outputs[0]
    assert outputs[1] == outputs[0]


@pytest.mark.parametrize("name", NAMES)
def test_pickle_clone_and_set_params(data, name):
    X, y = data
    est = quiet_fit(getattr(fastmlp, name)(hidden_layer_sizes=(7, 5), max_iter=5,
                                           random_state=0), X, y)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    # The reloaded model keeps training from where it was.
    if hasattr(est, "partial_fit"):
        a = est.partial_fit(X, y) if name == "MLPRegressor" else est.partial_fit(X, y)
        b = loaded.partial_fit(X, y)
        for c1, c2 in zip(a.coefs_, b.coefs_):
            np.testing.assert_array_equal(c1, c2)
    fresh = clone(est)
    assert not hasattr(fresh, "coefs_")
    assert fresh.set_params(alpha=0.5).get_params()["alpha"] == 0.5


def test_coefs_edited_by_the_user_are_used(data):
    X, y = data
    est = quiet_fit(fastmlp.MLPClassifier(max_iter=3, random_state=0), X, y)
    ref = quiet_fit(skn.MLPClassifier(max_iter=3, random_state=0), X, y)
    new = [np.zeros_like(c) for c in est.coefs_]
    est.coefs_ = [c.copy() for c in new]
    ref.coefs_ = [c.copy() for c in new]
    np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), rtol=1e-12)


def test_warm_start_with_other_classes_or_shape(data):
    X, y = data
    est = quiet_fit(fastmlp.MLPClassifier(max_iter=2, warm_start=True), X, y)
    with pytest.raises(ValueError, match="warm_start can only be used"):
        est.fit(X[y < 5], y[y < 5])
    est.set_params(hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match="architecture"):
        est.fit(X, y)
