"""Assertions that fastmlp behaves as scikit-learn does, shared by the test modules."""

import functools
import warnings

import numpy as np
import pytest


def assert_same_error(exc_type, ref, ours, method, *args):
    """``ours.method(*args)`` raises ``exc_type`` with the message ``ref.method`` raises.

    ``ref`` is scikit-learn's estimator and ``ours`` fastmlp's; both calls
    must raise ``exc_type`` (or a subclass), with the same text.
    """
    with pytest.raises(exc_type) as theirs:
        getattr(ref, method)(*args)
    with pytest.raises(exc_type) as got:
        getattr(ours, method)(*args)
    assert str(got.value) == str(theirs.value)


@functools.lru_cache(maxsize=None)
def sklearn_scores_string_labels():
    """Whether the installed scikit-learn's own early stopping runs with string labels.

    1.7.0 calls ``np.isnan`` on the predicted labels and raises TypeError for
    strings (fastmlp scores them either way): comparisons with it skip there.
    """
    from sklearn.neural_network import MLPClassifier

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MLPClassifier(hidden_layer_sizes=(2,), early_stopping=True, max_iter=2,
                          random_state=0).fit(np.arange(40.0).reshape(20, 2),
                                              np.array(["no", "yes"] * 10))
    except TypeError:
        return False
    return True


skip_without_string_label_scores = pytest.mark.skipif(
    not sklearn_scores_string_labels(),
    reason="this scikit-learn's early stopping cannot score string labels "
    "(np.isnan on its predictions: a bug of 1.7.0)")
