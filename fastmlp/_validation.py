"""Checks of an estimator's state shared by the estimators."""

from sklearn.utils.validation import check_is_fitted


def check_fitted(estimator, attribute):
    """scikit-learn's ``check_is_fitted``, without its cost once ``attribute`` is set.

    ``check_is_fitted`` lists every attribute of the estimator and reads its
    tags, which took as long as the rest of a single-row ``predict``. An
    estimator holding ``attribute`` (a name ending in ``_``) is fitted by
    scikit-learn's own rule; any other is left to ``check_is_fitted``, so the
    error, or its absence, is exactly scikit-learn's.

    Parameters
    ----------
    estimator : estimator instance
        The estimator to check.

    attribute : str
        A fitted attribute that every fit sets.

    Raises
    ------
    NotFittedError
        If scikit-learn's ``check_is_fitted`` raises it.
    """
    if attribute not in vars(estimator):
        check_is_fitted(estimator)
