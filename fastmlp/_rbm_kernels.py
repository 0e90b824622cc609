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
None: a dense fit compiles no CSR code.
"""

import math

import numpy as np

from ._activations import LOGISTIC, _logistic, affine
from ._config import NO, YES, cast_like, jit
from ._mt19937 import fill_uniform
from ._parallel import Kernel, call, run_parts


# Chains of at least this many rows take their visible means from BLAS
# (one single-threaded product a block of features); shorter ones from the
# register-blocked loops of _visible_block. Whole epochs, 784 x 256, 2
# threads, loops against BLAS (two runs): 0.89-0.91x the time at 10 rows,
# 0.81-0.86x at 16, 0.94-1.03x at 24, 1.10-1.18x at 32, 1.11-1.32x at 100.
# The estimator chooses (the kernels' ``blas``: True or None), so that
# Numba compiles one of the two for a fit: the other added 2.3 s to a
# first fit with a cold cache.
BLAS_MIN_ROWS = 32

# Blocks of features whose sums cd_means adds up apart: at least this
# many, or one a thread. The result depends on the number of blocks, so one
# or two threads give the same model. Whole epochs, 784 x 256, 2 threads:
# 2 blocks against 4 were as fast at 10 rows and 0.83-0.94x the time at
# 100; 8 blocks were slower at both.
MIN_FEATURE_BLOCKS = 2

# Fused multiply-adds (contract) in the sums over lists: each product and
# sum is rounded once, as in BLAS's FMA kernels.
_FMA = {"contract"}


# Row number 0 as a plain int64: helpers called with a literal 0 are
# compiled again for it (Numba specialises on constant arguments).
_NO_ROW = np.intp(0)


@jit
def _list_rows(V, data, indices, indptr, rows, j0, j1, ptr, idx, val):
    """The non-zeros of the positive rows' columns ``j0:j1`` as lists.

    Row ``i``'s entries are ``idx[ptr[i]:ptr[i + 1]]`` (columns counted from
    ``j0``) and ``val`` there; ``ptr`` gets ``n + 1`` entries. ``V`` is
    dense, or the CSR rows ``rows``. The dense scan appends every entry and
    keeps it if non-zero: no branch on the data.
    """
    n = rows.shape[0]
    c = 0
    ptr[0] = 0
    for i in range(n):
        if data is not None:
            r = rows[i]
            for p in range(indptr[r], indptr[r + 1]):
                j = indices[p]
                if j0 <= j < j1:
                    idx[c] = j - j0
                    val[c] = data[p]
                    c += 1
        else:
            for j in range(j0, j1):
                v = V[i, j]
                idx[c] = j - j0
                val[c] = v
                c += v != 0
        ptr[i + 1] = c


@jit
def _sample_rows(P, U, stride, offset, n, ptr, idx, val):
    """Draw the sample ``(U < P)``, listing its ones as rows ``n, n + 1, ..``.

    ``P`` is a block of columns of the means, whose uniforms ``U`` are laid
    out in C order, ``stride`` to a row, the block's starting at column
    ``offset``. The lists are those of :func:`_list_rows`, whose ``n`` rows
    they follow.
    """
    m, w = P.shape
    c = ptr[n]
    one = cast_like(1.0, val)
    for i in range(m):
        for t in range(w):
            idx[c] = t
            val[c] = one
            c += U[i * stride + offset + t] < P[i, t]
        ptr[n + i + 1] = c


@jit
def _list_columns(ptr, idx, val, n_rows, w, cptr, cidx, cval):
    """The same entries by column: column ``j``'s rows ``cidx[cptr[j]:cptr[j + 1]]``, in order."""
    for j in range(w + 1):
        cptr[j] = 0
    for p in range(ptr[n_rows]):
        cptr[idx[p] + 1] += 1
    for j in range(w):
        cptr[j + 1] += cptr[j]
    # cptr[j] is column j's next free place while filling, then its end.
    for i in range(n_rows):
        for p in range(ptr[i], ptr[i + 1]):
            j = idx[p]
            q = cptr[j]
            cidx[q] = i
            cval[q] = val[p]
            cptr[j] = q + 1
    for j in range(w, 0, -1):
        cptr[j] = cptr[j - 1]
    cptr[0] = 0


@jit(fastmath=_FMA)
def _combine_rows(ptr, idx, val, n, scale, X, Y, add):
    """``Y[r] (+)= sum(c[p] * X[idx[p]])`` over the entries ``p`` of list ``r``, for every row of ``Y``.

    ``c[p] = scale * val[p]``, negated where ``idx[p] >= n``; with ``add``
    false ``Y[r]`` starts from zero. The entries are added in order, eight
    rows of ``X`` to a pass over ``Y[r]`` (then four, then one), which is
    loaded and stored once for them. Both the hidden sums (lists by row of
    the samples, ``X`` the weights) and the weight step (lists by column,
    ``X`` the hidden means, negative rows from ``n``) are this. RBM inputs and
    samples are mostly zeros and ones: adding up the rows that the non-zeros
    select does a fraction of a dense product's work. One thread, 784 x 256
    weights, 200 rows at 21% density: hidden sums 374 us (459 us four rows
    to a pass; 484 us for the dense product in BLAS), the weight step
    347-351 us (365-376 us four to a pass; 609 us for BLAS's product and
    its step). With 20 rows: 38 against 43 us, and 34 us either way.
    """
    for r in range(Y.shape[0]):
        y = Y[r]
        if not add:
            for t in range(y.shape[0]):
                y[t] = 0.0
        p = ptr[r]
        e = ptr[r + 1]
        while p + 8 <= e:
            x0, x1, x2, x3 = X[idx[p]], X[idx[p + 1]], X[idx[p + 2]], X[idx[p + 3]]
            x4, x5, x6, x7 = X[idx[p + 4]], X[idx[p + 5]], X[idx[p + 6]], X[idx[p + 7]]
            a0 = (scale if idx[p] < n else -scale) * val[p]
            a1 = (scale if idx[p + 1] < n else -scale) * val[p + 1]
            a2 = (scale if idx[p + 2] < n else -scale) * val[p + 2]
            a3 = (scale if idx[p + 3] < n else -scale) * val[p + 3]
            a4 = (scale if idx[p + 4] < n else -scale) * val[p + 4]
            a5 = (scale if idx[p + 5] < n else -scale) * val[p + 5]
            a6 = (scale if idx[p + 6] < n else -scale) * val[p + 6]
            a7 = (scale if idx[p + 7] < n else -scale) * val[p + 7]
            for t in range(y.shape[0]):
                y[t] = (((((((y[t] + a0 * x0[t]) + a1 * x1[t]) + a2 * x2[t]) + a3 * x3[t])
                          + a4 * x4[t]) + a5 * x5[t]) + a6 * x6[t]) + a7 * x7[t]
            p += 8
        while p + 4 <= e:
            x0, x1, x2, x3 = X[idx[p]], X[idx[p + 1]], X[idx[p + 2]], X[idx[p + 3]]
            a0 = (scale if idx[p] < n else -scale) * val[p]
            a1 = (scale if idx[p + 1] < n else -scale) * val[p + 1]
            a2 = (scale if idx[p + 2] < n else -scale) * val[p + 2]
            a3 = (scale if idx[p + 3] < n else -scale) * val[p + 3]
            for t in range(y.shape[0]):
                y[t] = (((y[t] + a0 * x0[t]) + a1 * x1[t]) + a2 * x2[t]) + a3 * x3[t]
            p += 4
        while p < e:
            x0 = X[idx[p]]
            a0 = (scale if idx[p] < n else -scale) * val[p]
            for t in range(y.shape[0]):
                y[t] += a0 * x0[t]
            p += 1


@jit
def _visible_bias_step(b, step, cptr, cidx, cval, n):
    """``b += step * (Vpos.sum(0) - Vneg.sum(0))`` from column lists, ``step`` float64.

    Each column's positive entries are added in row order, as a sum of the
    dense rows would add them, in ``b``'s dtype. The negative sample holds
    zeros and ones, which scikit-learn adds up as integers, so its step is
    float64 even for a float32 model, rounded once into ``b``: so it is
    here (a float32 step rounded twice left ``b``'s near-zero entries 3.5e-5
    apart from a float64 fit's, against scikit-learn's 8e-6; with the
    step itself rounded to float32, 1.2e-5).
    """
    zero = cast_like(0.0, b)
    for j in range(b.shape[0]):
        pos = zero
        neg = 0.0
        for p in range(cptr[j], cptr[j + 1]):
            if cidx[p] < n:
                pos += cval[p]
            else:
                neg += cval[p]
        b[j] = b[j] + step * (np.float64(pos) - neg)


@jit(fastmath={"reassoc", "contract"})
def _dot(x, y):
    # Reassociation (and no other fast-math flag: NaN and inf still
    # propagate) lets the reduction vectorise.
    s = x[0] * 0
    for t in range(x.shape[0]):
        s += x[t] * y[t]
    return s


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


@jit(fastmath={"reassoc", "contract"})
def _dot_pairs(A, i, W, j, out):
    # Rows i and i + 1 of A against rows j and j + 1 of W: what _dot8 does
    # for the two rows left over from its fours.
    s0 = s1 = s2 = s3 = W[j, 0] * 0
    for t in range(W.shape[1]):
        w0 = W[j, t]
        w1 = W[j + 1, t]
        a0 = A[i, t]
        a1 = A[i + 1, t]
        s0 += a0 * w0
        s1 += a1 * w0
        s2 += a0 * w1
        s3 += a1 * w1
    out[i, j] += s0
    out[i + 1, j] += s1
    out[i, j + 1] += s2
    out[i + 1, j + 1] += s3


@jit
def _visible_block(Hs, W, b, P):
    """``P = sigmoid(Hs @ W.T + b)`` for a block ``W`` of rows of ``Wt``.

    Dot products go two rows of ``W`` by four of ``Hs`` at a time
    (:func:`_dot8`): on 784 x 256 weights, 0.136 -> 0.100 ms for 10 chain
    rows and 1.17 -> 0.79 ms for 100 against :func:`_dot4` alone (on an
    earlier machine; on this one BLAS wins from about 24 rows, see
    :data:`BLAS_MIN_ROWS`); two rows left over go by
    :func:`_dot_pairs` (10 chain rows against 392 x 256 weights: 61.5 ->
    48 us, one thread). The sigmoid then runs over each row of the block,
    a contiguous loop the compiler vectorises (a sigmoid per dot product
    stays scalar).
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
        if i + 2 <= m:
            _dot_pairs(Hs, i, W, j, P)
            i += 2
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
def _hidden_block(S, c, HH, n, h0, h1, step, U, offset, Hs, acc):
    """Hidden units ``h0:h1`` of a PCD step: means, hidden bias step, chain sample.

    ``HH[:, h0:h1] = sigmoid(c + S[0] + S[1] + ...)`` there, the blocks of
    features' parts of the hidden sums added in order, so that the result
    does not depend on which thread adds them. Then ``c[h0:h1]`` takes its
    step from those means (``HH[:n]`` positive, the rest negative, ``acc``
    scratch of ``h1 - h0``), and ``Hs[:, h0:h1]`` gets the chain's next
    sample from the negative means, its uniforms ``U`` from ``offset`` in C
    order. A thread that owns a block of hidden units does all of this
    with no other thread's sums to wait for.
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


# Called by address from the parts (fastmlp._parallel.call), once a block a
# step: their register-blocked loops are compiled once, not again inside each
# part that calls them.
_COMBINE_ROWS = Kernel(_combine_rows)
_VISIBLE_BLOCK = Kernel(_visible_block)


@jit(from_python=False)
def _feature_part(f, n_features, V, data, indices, indptr, rows, Wt, b, Hs, U, P, S, n, d,
                  n_rows, one, step, ptr, idx, val, cptr, cidx, cval, blas):
    """Block ``f`` of features of :func:`cd_means` (its first parallel part)."""
    j0, j1, Pf = _feature_block(P, f, n_features)
    w = j1 - j0
    W = Wt[j0:j1]
    _list_rows(V, data, indices, indptr, rows, j0, j1, ptr[f], idx[f], val[f])
    if blas is not None:
        affine(Hs, W.T, b[j0:j1], Pf, LOGISTIC)
    else:
        call(_VISIBLE_BLOCK, (Hs, W, b[j0:j1], Pf))
    _sample_rows(Pf, U, d, j0, n, ptr[f], idx[f], val[f])
    # Hidden sums: every entry positive (its column is below d).
    call(_COMBINE_ROWS, (ptr[f], idx[f], val[f], d, one, W, S[f, :n_rows], NO))
    _list_columns(ptr[f], idx[f], val[f], n_rows, w, cptr[f], cidx[f], cval[f])
    _visible_bias_step(b[j0:j1], step, cptr[f], cidx[f], cval[f], n)


_FEATURE_PART = Kernel(_feature_part)


@jit(from_python=False)
def _hidden_part(t, nb, k, S, c, HH, n, hidden_step, U, offset, Hs, sums):
    """Block ``t`` of ``nb`` of the hidden units of :func:`cd_means` (its second part)."""
    _hidden_block(S, c, HH, n, t * k // nb, (t + 1) * k // nb, hidden_step, U, offset, Hs,
                  sums[t])


_HIDDEN_PART = Kernel(_hidden_part)


@jit(from_python=False)
def _weights_part(f, n_features, HH, n, Wt, step, cptr, cidx, cval):
    """Block ``f`` of the rows of ``Wt`` of :func:`cd_weights`."""
    d = Wt.shape[0]
    j0 = f * d // n_features
    j1 = (f + 1) * d // n_features
    call(_COMBINE_ROWS, (cptr[f], cidx[f], cval[f], n, step, HH, Wt[j0:j1], YES))


_WEIGHTS_PART = Kernel(_weights_part)


@jit
def cd_means(V, data, indices, indptr, rows, Wt, b, c, Hs, U, P, S, HH, n_blocks, step, sums,
             lists, blas):
    """The means, samples and bias steps of one PCD step, on the threads.

    With ``n = len(rows)`` positive rows (dense ``V``, or CSR rows ``rows``)
    and ``m = len(Hs)`` chain rows:

    * ``HH[:n] = sigmoid(V @ Wt + c)``, the positive hidden means;
    * ``P = sigmoid(Hs @ Wt.T + b)``, the visible means of the chain;
    * ``Vneg = (U < P)``, the negative sample, its uniforms the first
      ``m * d`` of ``U`` (C order);
    * ``HH[n:] = sigmoid(Vneg @ Wt + c)``, the negative hidden means;
    * ``b`` and ``c`` take their steps (``step`` already divided by ``n``;
      ``b`` takes it unrounded, ``c`` in ``Wt``'s dtype, as scikit-learn's
      float32 arithmetic does),
      and ``Hs`` becomes the chain's next sample, from the ``m * k``
      uniforms after the negative sample's.

    The first part is done in ``len(S)`` blocks of features, each on one
    thread, with nothing shared between the blocks but the read-only ``Hs``:
    block ``f`` lists the non-zeros of its columns of the positive rows and
    of the negative sample (``lists``: ``ptr, idx, val, cptr, cidx, cval``,
    each with the blocks on its first axis; by row, then by column for
    :func:`cd_weights`), adds up its own rows of ``Wt`` for both hidden sums
    (into ``S[f]``, scratch of at least ``n + m`` rows), makes its columns of
    ``P`` and steps its part of ``b``. ``P`` is scratch here: block ``f``'s
    columns are a contiguous ``m x width`` piece of its memory. Then the
    hidden units are split into ``n_blocks`` (:func:`_hidden_block`), with a
    row of ``k`` of ``sums`` each as scratch for the hidden bias step.

    So each thread reads the rows of ``Wt`` that it owns in
    :func:`cd_weights` (the same split for ``len(S)`` a multiple of
    ``n_blocks``): rows that the other core had just updated cost 57 us a
    minibatch of 10 moving between the caches, more than their sums, when
    the threads split the rows of ``V`` instead. The result does not depend
    on the number of threads. With ``blas`` not None (see
    :data:`BLAS_MIN_ROWS`) the visible means are single-threaded BLAS
    products (the caller limits BLAS to the calling thread when there are
    several).
    """
    ptr, idx, val, cptr, cidx, cval = lists
    n = rows.shape[0]
    m, d = P.shape
    k = HH.shape[1]
    n_rows = n + m
    one = cast_like(1.0, Wt)
    hidden_step = cast_like(step, Wt)
    n_features = S.shape[0]
    run_parts(n_features, _FEATURE_PART,
              (n_features, V, data, indices, indptr, rows, Wt, b, Hs, U, P, S, n, d, n_rows,
               one, step, ptr, idx, val, cptr, cidx, cval, blas))
    nb = max(1, min(n_blocks, k))
    run_parts(nb, _HIDDEN_PART, (nb, k, S, c, HH, n, hidden_step, U, m * d, Hs, sums))


@jit
def cd_weights(HH, n, Wt, step, lists):
    """``Wt += step * (Vpos.T @ HH[:n] - Vneg.T @ HH[n:])`` from :func:`cd_means`'s column lists.

    Each block of features (the first axis of ``lists``) steps its rows of
    ``Wt``, on the thread that made them in :func:`cd_means`.
    """
    cptr, cidx, cval = lists[3:]
    n_features = cptr.shape[0]
    run_parts(n_features, _WEIGHTS_PART, (n_features, HH, n, Wt, step, cptr, cidx, cval))


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

    The uniforms ``U`` are laid out as in :func:`_sample_rows`.
    """
    m, k = Hs.shape
    for i in range(m):
        for h in range(k):
            p = Hneg[i, h]
            # scikit-learn sets h to 1 where u < h, then floors: h == 1.0
            # (a saturated sigmoid) also stays 1.
            Hs[i, h] = 1.0 if (U[i * stride + offset + h] < p or p >= 1.0) else 0.0


@jit
def cd_step(V, data, indices, indptr, rows, Wt, b, c, Hs, lr, key, pos, HH, Pv, U, S,
            n_blocks, sums, lists, blas):
    """One PCD-1 update on the ``n = len(rows)`` rows ``V`` (dense) or ``rows`` of a CSR matrix.

    ``Hs`` (m x k) is the persistent chain, replaced by its next sample;
    ``Wt``, ``b`` (visible) and ``c`` (hidden) are updated in place with step
    ``lr`` (already divided by ``n``). Scratch (:func:`cd_means`): ``HH``
    (n + m rows of k) holds the positive then negative hidden means, ``Pv``
    is m x d, ``U`` at least m * (d + k), ``S`` blocks of features x (n + m)
    x k, ``sums`` n_blocks x k and ``lists`` the blocks' lists of non-zeros:
    ``ptr`` (blocks x (n + m + 1)), ``idx`` and ``val`` (blocks x (n + m) *
    width), ``cptr`` (blocks x (width + 1)), ``cidx`` and ``cval`` (as
    ``idx``), with ``width = ceil(d / blocks)``. ``blas`` (True or None)
    picks how the visible means are made (:data:`BLAS_MIN_ROWS`).
    """
    n = rows.shape[0]
    m, k = Hs.shape
    d = Wt.shape[0]
    step = cast_like(lr, Wt)
    # The negative sample's uniforms, then the chain's next sample's: the
    # stream's order, drawn at once for the threads.
    fill_uniform(key, pos, U[: m * d])
    fill_uniform(key, pos, U[m * d : m * (d + k)])
    call(_CD_MEANS, (V, data, indices, indptr, rows, Wt, b, c, Hs, U, Pv, S, HH[: n + m],
                     n_blocks, lr, sums, lists, blas))
    call(_CD_WEIGHTS, (HH[: n + m], n, Wt, step, lists))


# Called by address (fastmlp._parallel.call): each parallel driver, and the
# step around them, is compiled to machine code once, in its own library,
# not again inside each function above it (cd_step, cd_epoch).
_CD_MEANS = Kernel(cd_means)
_CD_WEIGHTS = Kernel(cd_weights)
_CD_STEP = Kernel(cd_step)


def list_buffers(n_rows, n_features, blocks, dtype):
    """Scratch for the lists of non-zeros of ``n_rows`` sample rows (:func:`cd_step`).

    Room for every entry: at most 3x the memory of the dense samples
    (an int32 index and a value, by row and by column).
    """
    width = -(-n_features // blocks)
    size = n_rows * width
    return (
        np.empty((blocks, n_rows + 1), dtype=np.intp),
        np.empty((blocks, size), dtype=np.int32),
        np.empty((blocks, size), dtype=dtype),
        np.empty((blocks, width + 1), dtype=np.intp),
        np.empty((blocks, size), dtype=np.int32),
        np.empty((blocks, size), dtype=dtype),
    )


@jit
def cd_epoch(
    X, data, indices, indptr, first, n_samples, batch_size, learning_rate,
    Wt, b, c, Hs, key, pos, HH, Pv, U, S, rows, n_blocks, sums, lists, blas,
):
    """PCD-1 over consecutive minibatches of ``batch_size`` rows, from row ``first``.

    The batches start at ``first``, ``first + batch_size`` ... up to row
    ``n_samples``; an epoch is one call from 0, or several over consecutive
    pieces that each start where a batch of the whole epoch starts.
    """
    for start in range(first, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        n = stop - start
        for i in range(n):
            rows[i] = start + i
        V = X[start:stop] if data is None else X
        call(_CD_STEP, (V, data, indices, indptr, rows[:n], Wt, b, c, Hs,
                        learning_rate / n, key, pos, HH, Pv, U, S, n_blocks, sums, lists,
                        blas))


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
