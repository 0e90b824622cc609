"""Compiled persistent contrastive divergence (PCD-1) for the Bernoulli RBM.

The weights are kept as ``Wt``, shape ``(n_features, n_components)`` in C
order, which is the memory of scikit-learn's Fortran-ordered
``components_`` (its transpose); the estimator exposes ``components_`` as
``Wt.T``. Hidden means are then the shared affine layer ``sigmoid(V @ Wt +
c)`` and visible means ``sigmoid(H @ Wt.T + b)``.

Uniforms come from the MT19937 stream of the estimator's ``RandomState``
(:mod:`fastmlp._mt19937`) in scikit-learn's order: per minibatch, first one
per visible unit of the negative chain, then one per hidden unit.

Input is dense ``V`` with None for the CSR parts ``data``, ``indices``,
``indptr``, or those parts with the rows ``rows`` to read. Every CSR branch
is under ``data is not None``, which Numba removes when it compiles for a
None: a dense fit compiles no CSR code (likewise ``G`` picks BLAS or the
threaded loops in :func:`cd_step`).
"""

import math

import numpy as np
from numba import prange

from ._activations import LOGISTIC, _logistic, affine
from ._config import cast_like, jit, pjit
from ._mt19937 import fill_uniform


# Minibatches of at least this many rows use BLAS for the products; smaller
# ones use the zero-skipping threaded loops. Whole epochs on 784 x 256
# binary images, BLAS against loops: 1.42x the time at 10 rows, 1.10x at
# 20, 0.96x at 32, 0.87x at 48 (Xeon with AVX-512, 2 cores; on an AVX2
# EPYC, before the BLAS path split its work between the threads, the loops
# won up to about 140 rows).
BLAS_MIN_ROWS = 32

# Blocks of features whose sums cd_means adds up apart (the result
# depends on it, not on the thread count). A multiple of the usual thread
# count, so that each thread reads the rows of the weights it updates.
FEATURE_BLOCKS = 4


@jit
def bernoulli(P, U, stride, offset, out):
    """``out[i, t] = (U[i * stride + offset + t] < P[i, t])`` as 0.0/1.0.

    ``P`` and ``out`` are a block of columns of a sample whose uniforms
    ``U`` are laid out in C order, ``stride`` to a row, the block's starting
    at column ``offset``.
    """
    n, k = P.shape
    for i in range(n):
        for t in range(k):
            out[i, t] = 1.0 if U[i * stride + offset + t] < P[i, t] else 0.0


# Row number 0 as a plain int64: helpers called with a literal 0 are
# compiled again for it (Numba specialises on constant arguments).
_NO_ROW = np.intp(0)

# The helpers below take whole 2-D arrays and row numbers rather than row
# views: each view passed costs a reference-count update, and the four-way
# axpy over 784 x 256 weights ran at 7.7 GFMA/s with row numbers against
# 4.1 with views (one thread; in the hidden sums, 7% faster).


# Fused multiply-adds (contract) in the axpys: each product and sum is
# rounded once, as in BLAS's FMA kernels. One thread, 10 + 10 rows of 392
# binary features at 21% density, 256 hidden units: hidden sums 58-63 ->
# 54-56 us, weight step 51-53 -> 45-53 us (a whole epoch: within the noise).
_FMA = {"contract"}


@jit(fastmath=_FMA)
def _axpy4(a0, j0, a1, j1, a2, j2, a3, j3, X, Y, i):
    # Y[i] += a0 X[j0] + .. + a3 X[j3] in one pass over Y[i]: it is loaded
    # and stored once instead of four times, and every element gets the same
    # additions in the same order as four single steps.
    for t in range(Y.shape[1]):
        Y[i, t] = (((Y[i, t] + a0 * X[j0, t]) + a1 * X[j1, t]) + a2 * X[j2, t]) + a3 * X[j3, t]


@jit(fastmath=_FMA)
def _axpy(a, j, X, Y, i):
    # Y[i] += a X[j]
    for t in range(Y.shape[1]):
        Y[i, t] += a * X[j, t]


@jit(inline="always")
def _axpy_selected(A, sa, B, sb, b0, col, X, Y, i):
    """``Y[i] += sa A[:, col] @ X[:len(A)] + sb B[:, col] @ X[b0:b0 + len(B)]``.

    Rows of ``X`` whose coefficient is zero are skipped; the others are
    applied four at a time (:func:`_axpy4`), in order, up to three waiting
    in ``(a0, q0) .. (a2, q2)`` for the next one. Both the hidden means
    (``A`` the transposed visible rows) and the weight step (``A``, ``B`` the
    positive and negative visible samples) are this.
    """
    a0 = a1 = a2 = Y[i, 0] * 0
    q0 = q1 = q2 = _NO_ROW
    pending = 0
    na = A.shape[0]
    for q in range(na + B.shape[0]):
        if q < na:
            a = sa * A[q, col]
            r = q
        else:
            a = sb * B[q - na, col]
            r = b0 + q - na
        if a != 0:
            if pending == 3:
                _axpy4(a0, q0, a1, q1, a2, q2, a, r, X, Y, i)
                pending = 0
            elif pending == 2:
                a2, q2, pending = a, r, 3
            elif pending == 1:
                a1, q1, pending = a, r, 2
            else:
                a0, q0, pending = a, r, 1
    if pending > 0:
        _axpy(a0, q0, X, Y, i)
    if pending > 1:
        _axpy(a1, q1, X, Y, i)
    if pending > 2:
        _axpy(a2, q2, X, Y, i)


@jit(fastmath={"reassoc", "contract"})
def _dot(x, y):
    # Reassociation (and no other fast-math flag: NaN and inf still
    # propagate) lets the reduction vectorise.
    s = x[0] * 0
    for t in range(x.shape[0]):
        s += x[t] * y[t]
    return s


@jit
def _selected_sums(V, data, indices, indptr, rows, Wt, j0, j1, S, r0):
    """``S[r0 + i] = V[i, j0:j1] @ Wt[j0:j1]`` for every row ``i``, skipping zeros.

    RBM inputs and samples are mostly zeros and ones, and a minibatch has
    few rows: adding up the rows of ``Wt`` that the non-zero inputs select
    does a fraction of a dense product's work. ``V`` is dense, or the CSR
    rows ``rows``.
    """
    n = rows.shape[0] if data is not None else V.shape[0]
    k = S.shape[1]
    one = cast_like(1.0, Wt)
    for i in range(n):
        for h in range(k):
            S[r0 + i, h] = 0.0
        if data is not None:
            r = rows[i]
            for p in range(indptr[r], indptr[r + 1]):
                j = indices[p]
                if j0 <= j < j1:
                    _axpy(data[p], j, Wt, S, r0 + i)
        else:
            # 1 * v is exact: the same sums as adding v * Wt[j] directly.
            _axpy_selected(V.T[j0:j1], one, V.T[:0], one, _NO_ROW, i, Wt[j0:j1], S, r0 + i)


@jit(fastmath={"reassoc", "contract"})
def _dot4(A, i, w, out, j):
    # Rows i .. i + 3 of A against w at once: each w[t] loaded once feeds
    # four sums (reassociated, so that each vectorises; see _dot).
    s0 = s1 = s2 = s3 = w[0] * 0
    for t in range(w.shape[0]):
        wt = w[t]
        s0 += A[i, t] * wt
        s1 += A[i + 1, t] * wt
        s2 += A[i + 2, t] * wt
        s3 += A[i + 3, t] * wt
    out[i, j] += s0
    out[i + 1, j] += s1
    out[i + 2, j] += s2
    out[i + 3, j] += s3


@jit(fastmath={"reassoc", "contract"})
def _dot8(A, i, W, j, out):
    # Rows i .. i + 3 of A against rows j and j + 1 of W: eight sums from
    # six loads per step, where _dot4 needs five loads for four.
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = W[j, 0] * 0
    for t in range(W.shape[1]):
        w0 = W[j, t]
        w1 = W[j + 1, t]
        a0 = A[i, t]
        a1 = A[i + 1, t]
        a2 = A[i + 2, t]
        a3 = A[i + 3, t]
        s0 += a0 * w0
        s1 += a1 * w0
        s2 += a2 * w0
        s3 += a3 * w0
        s4 += a0 * w1
        s5 += a1 * w1
        s6 += a2 * w1
        s7 += a3 * w1
    out[i, j] += s0
    out[i + 1, j] += s1
    out[i + 2, j] += s2
    out[i + 3, j] += s3
    out[i, j + 1] += s4
    out[i + 1, j + 1] += s5
    out[i + 2, j + 1] += s6
    out[i + 3, j + 1] += s7


@jit
def _visible_block(Hs, W, b, P):
    """``P = sigmoid(Hs @ W.T + b)`` for a block ``W`` of rows of ``Wt``.

    Dot products go two rows of ``W`` by four of ``Hs`` at a time
    (:func:`_dot8`): on 784 x 256 weights, 0.136 -> 0.100 ms for 10 chain
    rows and 1.17 -> 0.79 ms for 100 (faster than BLAS there, 1.1 ms),
    against :func:`_dot4` alone. The sigmoid then runs over each row of the
    block, a contiguous loop the compiler vectorises (a sigmoid per dot
    product stays scalar).
    """
    m = Hs.shape[0]
    w = W.shape[0]
    for i in range(m):
        for j in range(w):
            P[i, j] = b[j]
    j = _NO_ROW
    while j + 2 <= w:
        i = _NO_ROW
        while i + 4 <= m:
            _dot8(Hs, i, W, j, P)
            i += 4
        for r in range(i, m):
            P[r, j] += _dot(Hs[r], W[j])
            P[r, j + 1] += _dot(Hs[r], W[j + 1])
        j += 2
    if j < w:
        i = _NO_ROW
        while i + 4 <= m:
            _dot4(Hs, i, W[j], P, j)
            i += 4
        for r in range(i, m):
            P[r, j] += _dot(Hs[r], W[j])
    for i in range(m):
        row = P[i]
        for j in range(w):
            row[j] = _logistic(row[j])


@jit
def _feature_block(P, f, n_blocks):
    """Block ``f`` of ``n_blocks`` of features: ``(j0, j1, Pf)``.

    The block is columns ``j0:j1``; its visible means ``Pf`` (m x (j1 - j0))
    are a contiguous piece of ``P``'s memory, the blocks one after the
    other, so that each thread writes its own cache lines.
    """
    m, d = P.shape
    j0 = f * d // n_blocks
    j1 = (f + 1) * d // n_blocks
    Pf = P.reshape(m * d)[m * j0 : m * j1].reshape((m, j1 - j0))
    return j0, j1, Pf


@jit
def _hidden_block(S, c, HH, n, h0, h1, step, U, offset, Hs, acc, negate):
    """Hidden units ``h0:h1`` of a PCD step: means, hidden bias step, chain sample.

    ``HH[:, h0:h1] = sigmoid(c + S[0] + S[1] + ...)`` there, the blocks of
    features' parts of the hidden sums added in order, so that the result
    does not depend on which thread adds them. Then ``c[h0:h1]`` takes its
    step from those means (``HH[:n]`` positive, the rest negative, ``acc``
    scratch of ``h1 - h0``), and ``Hs[:, h0:h1]`` gets the chain's next
    sample from the negative means, its uniforms ``U`` from ``offset`` in C
    order. With ``negate`` the negative means are then negated, for
    :func:`blas_weights`'s single product. A thread that owns a block of
    hidden units does all of this with no other thread's sums to wait for.
    """
    n_rows, k = HH.shape
    for i in range(n_rows):
        row = HH[i, h0:h1]
        for h in range(h1 - h0):
            row[h] = c[h0 + h]
        for f in range(S.shape[0]):
            part = S[f, i, h0:h1]
            for h in range(h1 - h0):
                row[h] += part[h]
        for h in range(h1 - h0):
            row[h] = _logistic(row[h])
    w = h1 - h0
    for h in range(w):
        acc[h] = 0.0
    _bias_step(c[h0:h1], step, acc[:w], HH[:n, h0:h1], HH[n:, h0:h1])
    Hneg = HH[n:, h0:h1]
    _sample_chain(Hneg, U, k, offset + h0, Hs[:, h0:h1])
    if negate:
        for i in range(Hneg.shape[0]):
            for h in range(w):
                Hneg[i, h] = -Hneg[i, h]


@pjit
def cd_means(V, data, indices, indptr, rows, Wt, b, c, Hs, U, P, Vneg, S, HH, n_blocks, step,
             sums):
    """The means, samples and bias steps of one PCD step, on the threads.

    With ``n = len(rows)`` positive rows (dense ``V``, or CSR rows ``rows``)
    and ``m = len(Hs)`` chain rows:

    * ``HH[:n] = sigmoid(V @ Wt + c)``, the positive hidden means;
    * ``P = sigmoid(Hs @ Wt.T + b)``, the visible means of the chain;
    * ``Vneg = (U < P)``, the negative sample, its uniforms the first
      ``m * d`` of ``U`` (C order);
    * ``HH[n:] = sigmoid(Vneg @ Wt + c)``, the negative hidden means;
    * ``b`` and ``c`` take their steps (``step`` already divided by ``n``),
      and ``Hs`` becomes the chain's next sample, from the ``m * k``
      uniforms after the negative sample's.

    The first part is done in ``len(S)`` blocks of features, each on one
    thread, with nothing shared between the blocks but the read-only ``Hs``:
    block ``f`` adds up its own rows of ``Wt`` for both hidden sums (into
    ``S[f]``, scratch of at least ``n + m`` rows), makes its columns of
    ``P`` and ``Vneg`` and steps its part of ``b``. ``P`` is scratch here:
    block ``f``'s columns are a contiguous ``m x width`` piece of its
    memory. Then the hidden units are split into ``n_blocks``
    (:func:`_hidden_block`). ``sums`` is scratch for the bias steps'
    column sums: a row of ``max(k, ceil(d / len(S)))`` for each block of
    either kind. (Each block's visible means as one single-threaded BLAS
    product instead of :func:`_visible_block`'s loops made whole epochs
    1.2-1.35x slower at 10 to 100 rows.)

    So each thread reads the rows of ``Wt`` that it owns in
    :func:`cd_weights` (the same split for ``len(S)`` a multiple of
    ``n_blocks``): rows that the other core had just updated cost 57 us a
    minibatch of 10 moving between the caches, more than their sums, when
    the threads split the rows of ``V`` instead. The bias steps and the
    chain sample run on the threads too, as in :func:`blas_means`, leaving
    the calling thread only the draws. The result does not depend on the
    number of threads.
    """
    n = rows.shape[0]
    m, d = P.shape
    k = HH.shape[1]
    n_features = S.shape[0]
    for f in prange(n_features):
        j0, j1, Pf = _feature_block(P, f, n_features)
        _selected_sums(V, data, indices, indptr, rows, Wt, j0, j1, S[f], _NO_ROW)
        _visible_block(Hs, Wt[j0:j1], b[j0:j1], Pf)
        Vf = Vneg[:, j0:j1]
        bernoulli(Pf, U, d, j0, Vf)
        # The negative sample is dense: no CSR parts.
        _selected_sums(Vneg, None, None, None, rows, Wt, j0, j1, S[f], n)
        acc = sums[f, : j1 - j0]
        for t in range(j1 - j0):
            acc[t] = 0.0
        if data is not None:
            for i in range(n):
                r = rows[i]
                for p in range(indptr[r], indptr[r + 1]):
                    j = indices[p]
                    if j0 <= j < j1:
                        acc[j - j0] += data[p]
        _bias_step(b[j0:j1], step, acc, V[:, j0:j1] if data is None else V[:0, j0:j1], Vf)
    nb = max(1, min(n_blocks, k))
    for t in prange(nb):
        _hidden_block(S, c, HH, n, t * k // nb, (t + 1) * k // nb, step, U, m * d, Hs,
                      sums[t], False)


@pjit
def cd_weights(V, data, indices, indptr, rows, HH, n, Vneg, Wt, step, n_blocks):
    """``Wt += step * (V.T @ Hpos - Vneg.T @ Hneg)``, skipping zero inputs.

    ``Hpos`` and ``Hneg`` are ``HH[:n]`` and the ``len(Vneg)`` rows after
    them. Rows of ``Wt`` are split between the threads; each is read and
    written once per minibatch.
    """
    d = Wt.shape[0]
    nb = max(1, min(n_blocks, d))
    for t in prange(nb):
        j0 = t * d // nb
        j1 = (t + 1) * d // nb
        if data is not None:
            for i in range(n):
                r = rows[i]
                for p in range(indptr[r], indptr[r + 1]):
                    j = indices[p]
                    if j0 <= j < j1:
                        _axpy(step * data[p], i, HH, Wt, j)
        # Both phases' updates of row j while it is in cache; each element
        # sees the same additions, positive phase first (-step * v is
        # -(step * v) exactly). Sparse input did its positive phase above.
        Vpos = V if data is None else V[:0]
        for j in range(j0, j1):
            _axpy_selected(Vpos, step, Vneg, -step, n, j, HH, Wt, j)


@pjit
def blas_means(V, data, indices, indptr, rows, Wt, b, c, Hs, U, Pv, Vt, S, HH, sums, step):
    """The means and samples of a PCD step by BLAS products, for larger minibatches.

    With ``n = len(rows)`` positive rows (dense ``V``, or CSR rows ``rows``)
    and ``m = len(Hs)`` chain rows, ``HH[:n]`` gets the positive hidden
    means, ``Pv`` the chain's visible means (as :func:`cd_means` lays them
    out), ``HH[n:]`` the negative hidden means, negated for
    :func:`blas_weights`, and ``Hs`` the chain's next sample. ``U`` holds
    the negative sample's ``m * d`` uniforms, then the next chain sample's
    ``m * k``. Both biases take their steps here (``sums``: scratch, as in
    :func:`cd_means`).

    As in :func:`cd_means`, each of the ``len(Vt)`` threads works on its own
    block of features, that is its own rows of ``Wt``, which it alone steps
    in :func:`blas_weights`: it copies its columns of the positive rows and
    makes those of the negative sample in ``Vt[q]`` (flat scratch, ``n + m``
    rows), and its products (single-threaded BLAS: the caller limits BLAS to
    the calling thread) give its part of both hidden sums in ``S[q]``.
    Then the hidden units are split between the threads
    (:func:`_hidden_block`). Splitting rows for the products instead made
    every thread read all the weights, half of them just written by the
    other core.
    """
    n = rows.shape[0]
    m, d = Pv.shape
    n_rows, k = HH.shape
    nb = Vt.shape[0]
    for q in prange(nb):
        j0, j1, Pf = _feature_block(Pv, q, nb)
        w = j1 - j0
        Vq = Vt[q, : n_rows * w].reshape((n_rows, w))
        Vpos = Vq[:n]
        Vneg = Vq[n:]
        if data is not None:
            Vpos[:, :] = 0.0
            for i in range(n):
                r = rows[i]
                for p in range(indptr[r], indptr[r + 1]):
                    j = indices[p]
                    if j0 <= j < j1:
                        Vpos[i, j - j0] = data[p]
        else:
            for i in range(n):
                for t in range(w):
                    Vpos[i, t] = V[i, j0 + t]
        W = Wt[j0:j1]
        np.dot(Vpos, W, S[q, :n])
        affine(Hs, W.T, b[j0:j1], Pf, LOGISTIC)
        bernoulli(Pf, U, d, j0, Vneg)
        np.dot(Vneg, W, S[q, n:n_rows])
        acc = sums[q, :w]
        for t in range(w):
            acc[t] = 0.0
        _bias_step(b[j0:j1], step, acc, Vpos, Vneg)
    nh = max(1, min(nb, k))
    for q in prange(nh):
        _hidden_block(S, c, HH, n, q * k // nh, (q + 1) * k // nh, step, U, m * d, Hs,
                      sums[q], True)


@pjit
def blas_weights(Vt, HH, Wt, step, G):
    """``Wt += step * VV.T @ HH``, each thread stepping its own rows of ``Wt``.

    ``Vt[q]`` holds thread ``q``'s columns of the stacked samples ``VV``
    (from :func:`blas_means`): one single-threaded product into ``G[q]``
    (flat scratch), then its rows are stepped. The threads write no common
    memory, and none adds up another's sums.
    """
    d, k = Wt.shape
    r = HH.shape[0]
    nb = G.shape[0]
    for q in prange(nb):
        j0 = q * d // nb
        j1 = (q + 1) * d // nb
        w = j1 - j0
        Vq = Vt[q, : r * w].reshape((r, w))
        Gq = G[q, : w * k].reshape((w, k))
        np.dot(Vq.T, HH, Gq)
        for t in range(w):
            for h in range(k):
                Wt[j0 + t, h] += step * Gq[t, h]


@jit
def _column_sums(acc, A, B):
    """``acc += A.sum(0) - B.sum(0)``.

    Rows are added one after the other (contiguous, vectorised), ``A``'s
    first, each column in the same order as a sequential sum.
    """
    for i in range(A.shape[0]):
        for j in range(acc.shape[0]):
            acc[j] += A[i, j]
    for i in range(B.shape[0]):
        for j in range(acc.shape[0]):
            acc[j] -= B[i, j]


@jit
def _bias_step(bias, step, acc, A, B):
    """``bias += step * (acc + A.sum(0) - B.sum(0))``, ``acc`` left holding the sum."""
    _column_sums(acc, A, B)
    for j in range(acc.shape[0]):
        bias[j] += step * acc[j]


@jit
def _sample_chain(Hneg, U, stride, offset, Hs):
    """The chain's next sample ``Hs`` from the hidden means ``Hneg``.

    The uniforms ``U`` are laid out as in :func:`bernoulli`.
    """
    m, k = Hs.shape
    for i in range(m):
        for h in range(k):
            p = Hneg[i, h]
            # scikit-learn sets h to 1 where u < h, then floors: h == 1.0
            # (a saturated sigmoid) also stays 1.
            Hs[i, h] = 1.0 if (U[i * stride + offset + h] < p or p >= 1.0) else 0.0


@jit
def cd_step(V, data, indices, indptr, rows, Wt, b, c, Hs, lr, key, pos, VV, HH, Pv, U, S,
            n_blocks, G, Vt, sums):
    """One PCD-1 update on the ``n = len(rows)`` rows ``V`` (dense) or ``rows`` of a CSR matrix.

    ``Hs`` (m x k) is the persistent chain, replaced by its next sample;
    ``Wt``, ``b`` (visible) and ``c`` (hidden) are updated in place with step
    ``lr`` (already divided by ``n``). Scratch: ``HH`` (n + m rows of k)
    holds the positive then negative hidden means, and ``Pv`` (m x d) and
    ``U`` (at least m * (d + k)) serve both paths.

    The products go through the threaded loops above, which win for small
    minibatches (see :data:`BLAS_MIN_ROWS`), when ``G`` and ``Vt`` are
    None; ``VV`` (n + m rows of d) then holds the negative visible sample
    below row ``n``, ``S`` is blocks of features x (n + m) x k and ``sums``
    max(blocks of features, n_blocks) x max(k, ceil(d / blocks of
    features)) (:func:`cd_means`). They go through BLAS
    (:func:`blas_means`, :func:`blas_weights`; BLAS limited to the calling
    thread) when ``G`` (threads x ceil(d / threads) * k) and ``Vt``
    (threads x (n + m) * ceil(d / threads)) are arrays; ``S`` is then
    threads x (n + m) x k, ``sums`` threads x max(k, ceil(d / threads)) and
    ``VV`` is not used. Numba drops the branches of the other path when it
    compiles for a None ``G`` or an array, so a fit compiles only the path
    it takes.
    """
    n = rows.shape[0]
    m, k = Hs.shape
    d = Wt.shape[0]
    step = cast_like(lr, Wt)
    # The negative sample's uniforms, then the chain's next sample's: the
    # stream's order, drawn at once for the threads.
    fill_uniform(key, pos, U[: m * d])
    fill_uniform(key, pos, U[m * d : m * (d + k)])
    if G is not None:
        blas_means(V, data, indices, indptr, rows, Wt, b, c, Hs, U, Pv, Vt, S,
                   HH[: n + m], sums, step)
        blas_weights(Vt, HH[: n + m], Wt, step, G)
        return
    Vneg = VV[n : n + m]
    cd_means(V, data, indices, indptr, rows, Wt, b, c, Hs, U, Pv, Vneg, S,
             HH[: n + m], n_blocks, step, sums)
    cd_weights(V, data, indices, indptr, rows, HH, n, Vneg, Wt, step, n_blocks)


@jit
def cd_epoch(
    X, data, indices, indptr, n_samples, batch_size, learning_rate,
    Wt, b, c, Hs, key, pos, VV, HH, Pv, U, S, rows, n_blocks, G, Vt, sums,
):
    """One pass of PCD-1 over consecutive minibatches of ``batch_size`` rows."""
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        n = stop - start
        for i in range(n):
            rows[i] = start + i
        V = X[start:stop] if data is None else X
        cd_step(V, data, indices, indptr, rows[:n], Wt, b, c, Hs,
                learning_rate / n, key, pos, VV, HH, Pv, U, S, n_blocks, G, Vt, sums)


@jit
def _softplus(x):
    # log(1 + exp(x)) without overflow, as np.logaddexp(0, x) computes it.
    if x > 0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@jit
def pseudo_likelihood(Z, vb, Wt, b, flip, out):
    """Pseudo-likelihood of each row, given its hidden pre-activations.

    ``Z[i] = v_i @ Wt + c`` and ``vb[i] = v_i @ b`` describe row ``i``;
    ``flip[i]`` is the feature flipped for its neighbour ``v_i'`` and
    ``delta = 1 - 2 v_i[flip[i]]`` what the flip adds (passed in
    ``out[i]`` on entry). The result is ``-d * softplus(F(v') - F(v))``
    with ``F`` the free energy, as in scikit-learn.
    """
    n, k = Z.shape
    d = Wt.shape[0]
    for i in range(n):
        j = flip[i]
        delta = out[i]
        fe = -vb[i]
        fe_flip = -(vb[i] + delta * b[j])
        for h in range(k):
            z = Z[i, h]
            fe -= _softplus(z)
            fe_flip -= _softplus(z + delta * Wt[j, h])
        out[i] = -d * _softplus(-(fe_flip - fe))
