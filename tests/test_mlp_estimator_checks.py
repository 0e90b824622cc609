"""scikit-learn's estimator checks over both MLP estimators."""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastmlp import MLPClassifier, MLPRegressor

# Small networks keep the ~100 checks fast; max_iter is high enough for the
# fit-quality checks (check_classifiers_train / check_regressors_train),
# which scikit-learn's own estimators fail too with fewer iterations.
ESTIMATORS = [
    MLPClassifier(hidden_layer_sizes=(10,), max_iter=300, random_state=0),
    MLPRegressor(hidden_layer_sizes=(10,), max_iter=300, random_state=0),
    MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=200, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
