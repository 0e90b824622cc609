"""Compiled activations and the fused affine layer, shared by every estimator.

Each activation is named by a small integer so that a kernel can take it as
an argument and branch once per call, outside the element loops. The string
names are the ones scikit-learn uses; :data:`ACTIVATION_CODES` maps them.

All kernels work in place on arrays the caller allocated; none allocates
per call except :func:`softmax_rows`, which uses no temporaries either.
"""

import math

import numpy as np

from ._config import jit

IDENTITY = 0
LOGISTIC = 1
TANH = 2
RELU = 3
SOFTMAX = 4
EXP = 5

ACTIVATION_CODES = {
    "identity": IDENTITY,
    "logistic": LOGISTIC,
    "tanh": TANH,
    "relu": RELU,
    "softmax": SOFTMAX,
    "exp": EXP,
}


@jit
def _logistic(x):
    # The same formula as scipy.special.expit; for very negative x, exp(-x)
    # overflows to inf and the result is an exact 0, as in SciPy.
    return 1.0 / (1.0 + math.exp(-x))


@jit
def softmax_rows(Z):
    """Replace each row of ``Z`` by its softmax, shifted by the row maximum."""
    n, k = Z.shape
    for i in range(n):
        m = Z[i, 0]
        for j in range(1, k):
            if Z[i, j] > m:
                m = Z[i, j]
        s = Z.dtype.type(0.0)
        for j in range(k):
            e = math.exp(Z[i, j] - m)
            Z[i, j] = e
            s += e
        for j in range(k):
            Z[i, j] /= s


@jit
def bias_activate(Z, b, kind):
    """``Z += b`` (broadcast over rows), then apply activation ``kind``, in one pass."""
    n, k = Z.shape
    if kind == SOFTMAX:
        for i in range(n):
            for j in range(k):
                Z[i, j] += b[j]
        softmax_rows(Z)
        return
    for i in range(n):
        for j in range(k):
            z = Z[i, j] + b[j]
            if kind == RELU:
                if z < 0:
                    z = 0.0
            elif kind == LOGISTIC:
                z = _logistic(z)
            elif kind == TANH:
                z = math.tanh(z)
            elif kind == EXP:
                z = math.exp(z)
            Z[i, j] = z


@jit
def activate(Z, kind):
    """Apply activation ``kind`` to ``Z`` in place (no bias)."""
    n, k = Z.shape
    if kind == IDENTITY:
        return
    if kind == SOFTMAX:
        softmax_rows(Z)
        return
    for i in range(n):
        for j in range(k):
            z = Z[i, j]
            if kind == RELU:
                if z < 0:
                    z = 0.0
            elif kind == LOGISTIC:
                z = _logistic(z)
            elif kind == TANH:
                z = math.tanh(z)
            elif kind == EXP:
                z = math.exp(z)
            Z[i, j] = z


@jit
def derivative(A, delta, kind):
    """Multiply ``delta`` in place by the activation's derivative.

    The derivative is written in terms of the activation's *output* ``A``,
    which is what the forward pass keeps: relu' = [A > 0], logistic' =
    A (1 - A), tanh' = 1 - A^2, identity' = 1.
    """
    n, k = A.shape
    if kind == IDENTITY:
        return
    for i in range(n):
        for j in range(k):
            a = A[i, j]
            if kind == RELU:
                if a == 0:
                    delta[i, j] = 0.0
            elif kind == LOGISTIC:
                delta[i, j] = delta[i, j] * a * (1 - a)
            elif kind == TANH:
                delta[i, j] = delta[i, j] * (1 - a * a)


@jit
def affine(A, W, b, Z, kind):
    """Dense layer: ``Z = activation(A @ W + b)``, the product in BLAS.

    ``A`` (n, p), ``W`` (p, k), ``b`` (k,), ``Z`` (n, k) preallocated, all of
    one dtype; ``W`` may be a transposed (Fortran-ordered) view.
    """
    np.dot(A, W, Z)
    bias_activate(Z, b, kind)


@jit
def csr_affine(data, indices, indptr, rows, W, b, Z, kind):
    """Sparse layer: ``Z = activation(X[rows] @ W + b)`` for CSR ``X``.

    ``rows`` selects (and orders) the rows of the CSR matrix, so a shuffled
    minibatch needs no gathered copy of ``X``.
    """
    n, k = Z.shape
    for i in range(n):
        r = rows[i]
        for j in range(k):
            Z[i, j] = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            v = data[p]
            c = indices[p]
            for j in range(k):
                Z[i, j] += v * W[c, j]
    bias_activate(Z, b, kind)


@jit
def csr_transpose_dot(data, indices, indptr, rows, D, G):
    """``G = X[rows].T @ D`` for CSR ``X``: the weight gradient of a sparse input layer."""
    n, k = D.shape
    G[:, :] = 0.0
    for i in range(n):
        r = rows[i]
        for p in range(indptr[r], indptr[r + 1]):
            v = data[p]
            c = indices[p]
            for j in range(k):
                G[c, j] += v * D[i, j]
