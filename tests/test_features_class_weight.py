"""``class_weight`` on MLPClassifier: a per-class sample weight, as scikit-learn's classifiers.

scikit-learn's own MLPClassifier takes ``sample_weight`` (1.7+) but no
``class_weight``; a class weight is defined as multiplying each row's sample
weight, so the reference for fastmlp's ``class_weight`` is scikit-learn's
MLPClassifier fitted with ``sample_weight = compute_sample_weight(...)``.
"""

import warnings

import numpy as np
import pytest
import sklearn.neural_network as skn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.class_weight import compute_sample_weight

import fastmlp
from test_mlp_parity import assert_same_model


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(n_class=4, return_X_y=True)
    X = X[:300] / 16.0
    y = y[:300]
    # Unbalanced: drop most of class 3.
    keep = (y != 3) | (np.arange(len(y)) % 4 == 0)
    return X[keep], y[keep]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


PARAMS = dict(hidden_layer_sizes=(16,), max_iter=15, random_state=0)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 2: 0.5}])
@pytest.mark.parametrize("with_sw", [False, True])
def test_class_weight_is_scikit_learns_sample_weight(data, solver, class_weight, with_sw):
    X, y = data
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(y)) if with_sw else None
    expected_sw = compute_sample_weight(class_weight, y) * (1.0 if sw is None else sw)
    ref = quiet(skn.MLPClassifier(solver=solver, **PARAMS).fit, X, y, sample_weight=expected_sw)
    got = quiet(fastmlp.MLPClassifier(solver=solver, class_weight=class_weight, **PARAMS).fit,
                X, y, sample_weight=sw)
    assert_same_model(ref, got, 1e-6)


def test_class_weight_in_the_early_stopping_score(data):
    X, y = data
    cw = {0: 5.0, 1: 1.0, 2: 1.0, 3: 10.0}
    params = dict(PARAMS, early_stopping=True, max_iter=30, n_iter_no_change=3)
    ref = quiet(skn.MLPClassifier(**params).fit, X, y,
                sample_weight=compute_sample_weight(cw, y))
    got = quiet(fastmlp.MLPClassifier(class_weight=cw, **params).fit, X, y)
    assert_same_model(ref, got, 1e-6)
    # And the weights change the scores: an unweighted fit scores otherwise.
    plain = quiet(fastmlp.MLPClassifier(**params).fit, X, y)
    assert plain.validation_scores_ != got.validation_scores_


def test_default_and_unit_weights_change_nothing(data):
    X, y = data
    base = quiet(fastmlp.MLPClassifier(**PARAMS).fit, X, y)
    ones = quiet(fastmlp.MLPClassifier(class_weight={c: 1.0 for c in range(4)}, **PARAMS).fit,
                 X, y)
    for a, b in zip(base.coefs_, ones.coefs_):
        np.testing.assert_array_equal(a, b)


def test_multilabel_balanced(data):
    X, y = data
    Y = np.column_stack([y == 0, y % 2 == 1]).astype(int)
    ref = quiet(skn.MLPClassifier(**PARAMS).fit, X, Y,
                sample_weight=compute_sample_weight("balanced", Y))
    got = quiet(fastmlp.MLPClassifier(class_weight="balanced", **PARAMS).fit, X, Y)
    assert_same_model(ref, got, 1e-6)


def test_partial_fit(data):
    X, y = data
    cw = {0: 2.0, 3: 4.0}
    ref = skn.MLPClassifier(**PARAMS)
    got = fastmlp.MLPClassifier(class_weight=cw, **PARAMS)
    for start in (0, 100):
        rows = slice(start, start + 100)
        ref.partial_fit(X[rows], y[rows], classes=np.arange(4),
                        sample_weight=compute_sample_weight(cw, y[rows]))
        got.partial_fit(X[rows], y[rows], classes=np.arange(4))
    assert_same_model(ref, got, 1e-6)
    with pytest.raises(ValueError, match="'balanced' is not supported by partial_fit"):
        fastmlp.MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=np.arange(4))


@pytest.mark.parametrize("bad", ["auto", 3, 1.5])
def test_invalid_class_weight(data, bad):
    X, y = data
    with pytest.raises(InvalidParameterError, match="'class_weight' parameter"):
        fastmlp.MLPClassifier(class_weight=bad).fit(X, y)


def test_unknown_class_in_dict_raises_scikit_learns_error(data):
    X, y = data
    with pytest.raises(ValueError) as theirs:
        compute_sample_weight({"a": 1.0}, y)
    with pytest.raises(ValueError) as ours:
        fastmlp.MLPClassifier(class_weight={"a": 1.0}, max_iter=2).fit(X, y)
    assert str(ours.value) == str(theirs.value)


def test_to_sklearn_refuses_a_class_weight(data):
    X, y = data
    got = quiet(fastmlp.MLPClassifier(class_weight="balanced", **PARAMS).fit, X, y)
    with pytest.raises(ValueError, match="no scikit-learn equivalent with class_weight"):
        got.to_sklearn()
    got.set_params(class_weight=None)
    np.testing.assert_array_equal(got.to_sklearn().predict(X), got.predict(X))
