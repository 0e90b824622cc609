"""Checks of an estimator's state and of input, shared by the estimators."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import _check_sample_weight, check_is_fitted


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


def check_sample_weight(sample_weight, X, dtype):
    """scikit-learn's checked ``sample_weight``, with all-zero weights refused on every version.

    scikit-learn 1.9's ``_check_sample_weight`` refuses weights that are all
    zero; 1.7's (the oldest fastmlp supports) passes them on, and its MLP
    then divides by their zero sum (``ZeroDivisionError`` from
    ``np.average``), where fastmlp's kernels would train on NaN. Here they
    raise 1.9's ``ValueError`` whatever the installed version.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or scalar
        The weights as the user passed them (not None).

    X : array-like or sparse matrix of shape (n_samples, n_features)
        Validated input.

    dtype : numpy dtype
        The dtype of the returned weights.

    Returns
    -------
    sample_weight : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        If the weights are not a scalar or ``n_samples`` numbers, or are
        all zero.
    """
    sample_weight = _check_sample_weight(sample_weight, X, dtype=dtype)
    if np.all(sample_weight == 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sample_weight


def canonical_csr(X):
    """A sparse ``X`` as CSR whose structure is checked, each row's columns sorted and unique.

    The kernels read ``indptr[r]`` to ``indptr[r + 1]`` of each row and
    index the weights with ``indices`` unchecked, so the structure is
    checked here, before anything reads it (scipy checks it only on
    request; its own products, ``has_canonical_format`` and
    ``sum_duplicates`` would read out of bounds too): ``n_rows + 1``
    non-decreasing pointers from 0, within the stored entries, and column
    indices below ``n_columns``. Repeated entries are added up (as a
    product with ``X`` adds them) and the columns sorted, in a copy, so
    that each row lists a column once; a matrix already in that form is
    returned as it is, without a copy.

    Parameters
    ----------
    X : sparse matrix or array of shape (n_rows, n_columns)
        Validated input.

    Returns
    -------
    X : sparse matrix or array of shape (n_rows, n_columns)
        CSR in canonical format: ``X`` itself if it already was.

    Raises
    ------
    ValueError
        If the sparse structure is inconsistent.
    """
    X = X.tocsr()
    n_rows, n_columns = X.shape
    indptr, indices = np.asarray(X.indptr), np.asarray(X.indices)
    nnz = int(indptr[-1]) if indptr.shape == (n_rows + 1,) else -1
    if (
        nnz < 0
        or indptr[0] != 0
        or nnz > min(indices.shape[0], X.data.shape[0])
        or (n_rows and np.any(indptr[1:] < indptr[:-1]))
        or (nnz and (indices[:nnz].min() < 0 or indices[:nnz].max() >= n_columns))
    ):
        raise ValueError(
            "The sparse matrix's structure is invalid: its index pointers or "
            "column indices do not fit its shape %s." % (X.shape,)
        )
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def csr_arrays(X, dtype):
    """The parts of a sparse ``X`` as the kernels index them: data, indices, indptr.

    Parameters
    ----------
    X : sparse matrix or array of shape (n_rows, n_columns)
        Validated input; checked and made canonical by :func:`canonical_csr`.

    dtype : numpy dtype
        The dtype of the returned ``data``.

    Returns
    -------
    data, indices, indptr : ndarray
        C-contiguous; ``data`` of ``dtype``.

    Raises
    ------
    ValueError
        If the sparse structure is inconsistent.
    """
    X = canonical_csr(X)
    return (
        _writeable(np.ascontiguousarray(X.data, dtype=dtype)),
        _writeable(np.ascontiguousarray(X.indices)),
        _writeable(np.ascontiguousarray(X.indptr)),
    )


class _Alias:
    """Presents another array's memory through ``__array_interface__``, marked writeable."""

    def __init__(self, a):
        interface = dict(a.__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface
        # Keeps a (a memmap: its mapping) alive as long as the alias.
        self.base = a


def _writeable(a):
    """``a``, or for a read-only ``a`` a writeable-flagged view of the same memory.

    Numba types a read-only array apart from a writeable one, so a read-only
    input (``np.load(..., mmap_mode="r")``, a frozen array) compiled again
    every kernel that takes ``X``: a cold float32 digits fit and predict on
    a read-only memmap took +5.2 s on top of the same fit on a writeable
    array (the kernels called by address were shared), and compiles
    nothing with this (``python -m fastmlp._compile_profile --cases
    "read-only on top"``).
    The kernels never write their input, so they can take the same memory
    under the writeable type; nothing is copied.
    """
    if a.flags.writeable:
        return a
    return np.asarray(_Alias(a))


class KernelInput:
    """A validated ``X`` as the kernels take it: a dense C array, or CSR parts.

    Parameters
    ----------
    X : ndarray, memmap or sparse matrix of shape (n_rows, n_columns)
        Validated input (sparse input is made canonical CSR).

    dtype : numpy dtype
        The kernels' dtype (of ``X``, or of the CSR ``data``).

    Attributes
    ----------
    X : ndarray of shape (n_rows, n_columns), or (0, n_columns) for sparse input
        C-contiguous; not a copy of an ``X`` that already is C-ordered in
        ``dtype`` (a memmap's memory is read in place).

    data, indices, indptr : ndarray or None
        The CSR parts (see :func:`csr_arrays`); None for dense input, so that
        Numba compiles the kernels without their CSR branches (it drops the
        code under ``data is not None`` for a None argument).

    sparse : bool

    n : int
        The number of rows.
    """

    __slots__ = ("X", "data", "indices", "indptr", "sparse", "n")

    def __init__(self, X, dtype):
        self.n = X.shape[0]
        self.sparse = sp.issparse(X)
        if self.sparse:
            self.data, self.indices, self.indptr = csr_arrays(X, dtype)
            self.X = np.empty((0, X.shape[1]), dtype=dtype)
        else:
            self.X = _writeable(np.ascontiguousarray(X, dtype=dtype))
            self.data = self.indices = self.indptr = None

    def rows(self):
        """Every row number for sparse input (the kernels' ``rows``), none for dense."""
        return np.arange(self.n if self.sparse else 0, dtype=np.intp)
