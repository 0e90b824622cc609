"""The early-stopping split, as row numbers, drawn as scikit-learn's ``train_test_split`` draws it.

scikit-learn's MLP splits its validation set off with
``train_test_split(X, y, random_state=rs, test_size=validation_fraction,
stratify=...)``: a ``ShuffleSplit`` for regressors and multilabel targets, a
``StratifiedShuffleSplit`` on the (rows x 1) boolean target of a binary
classifier. fastmlp needs only the rows, never a copy of X, and the same rows
from the same random draws (so that the same seed gives the same model and
the epochs that follow draw the same shuffles).

scikit-learn's stratified split builds a Python string per row, an inverse
array, a stable argsort and then Python lists of per-row indices, ~100 bytes
a row in all (12% of a 200-feature float32 row). Here the labels are
integer codes (one byte a row for the boolean target), the rows of each class
are gathered into one integer array, each class's run is shuffled in place
(the swaps ``permutation(count)`` would make, from the same draws) and the
train and validation rows are written into one array: 16 bytes a row at the
peak, 8 after.
"""

import functools
from math import ceil

import numpy as np

# StratifiedShuffleSplit turns a 2-D target into one string per row; the two
# strings of a boolean column, in their sort order.
_BOOL_STRINGS = np.array(["False", "True"])


def split_sizes(n_samples, test_size):
    """``(n_train, n_test)`` for a float fraction or integer count, with scikit-learn's errors.

    The train size is what is left (``train_test_split``'s ``train_size=None``).
    """
    kind = np.asarray(test_size).dtype.kind
    if (kind == "i" and (test_size >= n_samples or test_size <= 0)) or (
        kind == "f" and (test_size <= 0 or test_size >= 1)
    ):
        raise ValueError(
            "test_size={0} should be either positive and smaller"
            " than the number of samples {1} or a float in the "
            "(0, 1) range".format(test_size, n_samples)
        )
    if kind not in ("i", "f"):
        raise ValueError("Invalid value for test_size: {}".format(test_size))
    n_test = ceil(test_size * n_samples) if kind == "f" else int(test_size)
    n_train = n_samples - n_test
    if n_train == 0:
        raise ValueError(
            "With n_samples={}, test_size={} and train_size=None, the "
            "resulting train set will be empty. Adjust any of the "
            "aforementioned parameters.".format(n_samples, test_size)
        )
    return n_train, n_test


def label_codes(labels):
    """``(classes, codes, counts)`` of the labels as StratifiedShuffleSplit sees them.

    ``classes`` are what ``np.unique`` would return (its errors name them),
    ``codes`` the small integer code of each row into ``classes`` and
    ``counts`` the rows per class. A 2-D array is one string per row there
    (its values joined by spaces), which for a boolean column is
    ``'False'``/``'True'``: that case, the MLP's, is coded from the booleans
    directly, one byte a row, with no strings.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1 and labels.dtype == np.bool_:
        return _coded_bools(labels[:, 0], _BOOL_STRINGS)
    if labels.ndim == 2:
        labels = np.array([" ".join(row.astype("str")) for row in labels])
    if labels.dtype == np.bool_:
        return _coded_bools(labels, np.array([False, True]))
    classes, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return classes, codes.reshape(-1), counts


def _coded_bools(column, names):
    codes = np.ascontiguousarray(column).view(np.uint8)
    counts = np.bincount(codes, minlength=2)
    present = counts > 0
    if present.all():
        return names, codes, counts
    # One value only: np.unique would know one class, coded 0.
    return names[present], np.zeros_like(codes), counts[present]


def approximate_mode(class_counts, n_draws, random_state):
    """Rows per class when ``n_draws`` rows are drawn: scikit-learn's tie-broken rounding.

    Each class gets the floor of its proportional share; the rows still
    missing go to the classes with the largest fractional parts, ties broken
    by ``random_state.choice`` exactly as ``sklearn.utils.extmath`` breaks
    them, so the same draws are consumed.
    """
    share = class_counts / class_counts.sum() * n_draws
    taken = np.floor(share)
    missing = int(n_draws - taken.sum())
    if missing > 0:
        fraction = share - taken
        for value in np.unique(fraction)[::-1]:
            (tied,) = np.nonzero(fraction == value)
            k = min(tied.shape[0], missing)
            taken[random_state.choice(tied, size=k, replace=False)] += 1
            missing -= k
            if missing == 0:
                break
    return taken.astype(int)


def stratified_rows(codes, classes, counts, n_train, n_test, random_state):
    """``(train, test)`` row numbers of StratifiedShuffleSplit's first split.

    The rows of each class in increasing order, shuffled in place class by
    class (the swaps that ``random_state.permutation(count)`` makes, from the
    same draws), their first ``n_i`` to train and the next ``t_i`` to test;
    then both sets shuffled in place, as ``random_state.permutation(list)``
    shuffles them. Raises scikit-learn's errors for a class of one row and for
    fewer train or test rows than classes.
    """
    n_classes = classes.shape[0]
    if counts.min() < 2:
        raise ValueError(_one_row_class_message(classes[counts < 2].tolist()))
    if n_train < n_classes:
        raise ValueError(
            "The train_size = %d should be greater or "
            "equal to the number of classes = %d" % (n_train, n_classes)
        )
    if n_test < n_classes:
        raise ValueError(
            "The test_size = %d should be greater or "
            "equal to the number of classes = %d" % (n_test, n_classes)
        )
    by_class = _rows_by_class(codes, counts)
    n_i = approximate_mode(counts, n_train, random_state)
    t_i = approximate_mode(counts - n_i, n_test, random_state)
    rows = np.empty(n_train + n_test, dtype=np.intp)
    train, test = rows[:n_train], rows[n_train:]
    start = to_train = to_test = 0
    for count, k_train, k_test in zip(counts.tolist(), n_i.tolist(), t_i.tolist()):
        run = by_class[start : start + count]
        random_state.shuffle(run)
        train[to_train : to_train + k_train] = run[:k_train]
        test[to_test : to_test + k_test] = run[k_train : k_train + k_test]
        start += count
        to_train += k_train
        to_test += k_test
    del by_class
    random_state.shuffle(train)
    random_state.shuffle(test)
    return train, test


def _one_row_class_message(too_few):
    """The installed scikit-learn's words for a class of one row, ``too_few`` the classes."""
    message = ("The least populated class{} in y {} only 1 member, which is too few. The"
               " minimum number of groups for any class cannot be less than 2.")
    if _names_the_classes():
        return message.format("es", "have") + " Classes with too few members are: %s" % (
            too_few,)
    return message.format("", "has")


@functools.lru_cache(maxsize=None)
def _names_the_classes():
    """Whether scikit-learn's error for a class of one row lists the classes.

    Newer releases list them, 1.7 (the declared floor) does not: asked of the
    installed version once, on a four-row target, the first time the error
    is raised.
    """
    from sklearn.model_selection import StratifiedShuffleSplit

    try:
        next(StratifiedShuffleSplit(n_splits=1, test_size=2, random_state=0).split(
            np.zeros((4, 1)), np.array([0, 1, 1, 1])))
    except ValueError as exc:
        return "Classes with too few members" in str(exc)
    return True


def _rows_by_class(codes, counts):
    """Row numbers grouped by class, increasing within each (a stable argsort of ``codes``).

    For a few classes, one pass per class writes the rows where they go
    (a byte a row of mask beside the result); for many, a stable argsort.
    """
    if counts.shape[0] > 8:
        return np.argsort(codes, kind="stable").astype(np.intp, copy=False)
    rows = np.empty(codes.shape[0], dtype=np.intp)
    start = 0
    for code, count in enumerate(counts.tolist()):
        rows[start : start + count] = np.flatnonzero(codes == code)
        start += count
    return rows


def shuffled_rows(n_samples, n_train, n_test, random_state):
    """``(train, test)`` row numbers of ShuffleSplit's first split: two views of one permutation."""
    order = random_state.permutation(n_samples).astype(np.intp, copy=False)
    return order[n_test : n_test + n_train], order[:n_test]


def validation_split(n_samples, stratify, test_size, random_state):
    """``(train, test)``: the rows ``train_test_split(arange(n_samples), ...)`` returns.

    Parameters
    ----------
    n_samples : int
        Rows of X.
    stratify : array-like of shape (n_samples,) or (n_samples, n_columns), or None
        The labels to stratify on, as given to ``train_test_split``.
    test_size : float or int
        Fraction (or number) of rows for the test (validation) set.
    random_state : numpy.random.RandomState
        Drawn from exactly as ``train_test_split`` draws from it.

    Returns
    -------
    train, test : ndarray of intp
        Row numbers, in the order scikit-learn returns them.
    """
    n_train, n_test = split_sizes(n_samples, test_size)
    if stratify is None:
        return shuffled_rows(n_samples, n_train, n_test, random_state)
    classes, codes, counts = label_codes(stratify)
    return stratified_rows(codes, classes, counts, n_train, n_test, random_state)
