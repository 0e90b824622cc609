"""Compiled forward and backward passes of the MLP, and a whole minibatch epoch.

Storage conventions shared by every kernel here:

* ``theta`` is the flat parameter vector: all weight matrices (C order) one
  after another, then all bias vectors. ``coef_ptr`` (length L + 1) and
  ``icpt_ptr`` (length L + 1) give where layer ``l``'s weights and biases
  start and end, ``units`` (length L + 1) the width of every layer, input
  first. ``grad`` has the layout of ``theta``.
* ``acts`` and ``deltas`` are flat scratch buffers of at least
  ``n * sum(units[1:])`` elements; for a batch of ``n`` rows, layer ``l``'s
  block is an ``(n, units[l + 1])`` C-ordered view starting at
  ``n * sum(units[1:l + 1])``.
* The input is either dense (``X``, C-ordered, rows ``rows`` of it gathered
  into ``Xb`` for a shuffled batch) or CSR (``data``, ``indices``,
  ``indptr``), in which case no gathered copy is made: the sparse kernels
  read rows ``rows`` directly. Dense input passes None for ``data``,
  ``indices`` and ``indptr``, and Numba compiles the kernels for it without
  their CSR branches (every one is under ``data is not None``); other unused
  inputs are empty arrays.
"""

import numpy as np

from ._activations import (
    affine,
    bias_activate,
    copy_into,
    csr_affine,
    csr_transpose_dot,
    derivative,
)
from ._config import cast_like, jit
from ._losses import loss_value, output_delta
from ._optimizers import N_HYPER, NO_STEP, apply_step, begin_step


@jit
def _weights(theta, coef_ptr, units, layer):
    return theta[coef_ptr[layer] : coef_ptr[layer + 1]].reshape(
        (units[layer], units[layer + 1])
    )


@jit
def _block(buf, units, n, layer):
    start = 0
    for j in range(1, layer + 1):
        start += n * units[j]
    return buf[start : start + n * units[layer + 1]].reshape((n, units[layer + 1]))


@jit
def _upper_layers(n, theta, coef_ptr, icpt_ptr, units, acts, hidden, out):
    """Layers 1 .. L - 1 of the forward pass, from layer 0's output in ``acts``."""
    n_layers = units.shape[0] - 1
    for layer in range(1, n_layers):
        kind = out if layer == n_layers - 1 else hidden
        W = _weights(theta, coef_ptr, units, layer)
        b = theta[icpt_ptr[layer] : icpt_ptr[layer + 1]]
        A = _block(acts, units, n, layer - 1)
        Z = _block(acts, units, n, layer)
        affine(A, W, b, Z, kind)


@jit
def forward(
    Xb, data, indices, indptr, rows, n, theta, coef_ptr, icpt_ptr, units, acts, hidden, out
):
    """Forward pass of ``n`` rows; layer outputs land in ``acts``.

    Dense input is ``Xb[:n]``; sparse input is rows ``rows[:n]`` of the CSR
    matrix. Returns nothing: the output layer is ``_block(acts, units, n, L - 1)``.
    """
    kind = out if units.shape[0] == 2 else hidden
    W = _weights(theta, coef_ptr, units, 0)
    b = theta[icpt_ptr[0] : icpt_ptr[1]]
    Z = _block(acts, units, n, 0)
    if data is not None:
        csr_affine(data, indices, indptr, rows[:n], W, b, Z, kind)
    else:
        affine(Xb[:n], W, b, Z, kind)
    _upper_layers(n, theta, coef_ptr, icpt_ptr, units, acts, hidden, out)


@jit
def _param_grads(A, D, W, Gw, Gb, alpha, sw_sum):
    """Finish layer gradients: ``Gw = (A.T @ D + alpha W) / s`` and ``Gb = sum(D) / s``.

    ``A`` has 0 rows when the caller has already written ``A.T @ D`` into
    ``Gw`` (sparse input layer).
    """
    if A.shape[0] > 0:
        np.dot(A.T, D, Gw)
    p, k = Gw.shape
    # Scalars in the array dtype keep float32 loops in float32 (vectorised).
    a = cast_like(alpha, Gw)
    s = cast_like(sw_sum, Gw)
    for i in range(p):
        for j in range(k):
            Gw[i, j] = (Gw[i, j] + a * W[i, j]) / s
    for j in range(k):
        Gb[j] = 0.0
    for i in range(D.shape[0]):
        for j in range(k):
            Gb[j] += D[i, j]
    for j in range(k):
        Gb[j] /= s


@jit
def loss_grad(
    Xb, data, indices, indptr, rows, n, Y, sw, has_sw,
    theta, grad, coef_ptr, icpt_ptr, units, acts, deltas, hidden, out, loss_kind, alpha,
):
    """Loss (with the L2 term) and its gradient over ``n`` rows, into ``grad``.

    ``Y[:n]`` and ``sw[:n]`` are the targets and weights of those rows, in
    the order of ``Xb``/``rows``. Returns the loss as a float64.
    """
    loss, _ = train_batch(
        Xb, data, indices, indptr, rows, n, Y, sw, has_sw, theta, grad, coef_ptr,
        icpt_ptr, units, acts, deltas, hidden, out, loss_kind, alpha,
        NO_STEP, grad[:0], grad[:0], np.zeros(N_HYPER), np.intp(0),
    )
    return loss


@jit
def train_batch(
    Xb, data, indices, indptr, rows, n, Y, sw, has_sw,
    theta, grad, coef_ptr, icpt_ptr, units, acts, deltas, hidden, out, loss_kind, alpha,
    solver, state1, state2, hyper, t,
):
    """Forward, backward and (unless ``solver`` is NO_STEP) one optimizer step.

    Each layer is stepped as soon as its gradient is final, while that
    gradient is still in cache; the error signal sent to the layer below is
    computed from the layer's weights before they change. Returns
    ``(loss, t)`` with ``t`` the optimizer's new step count.
    """
    n_layers = units.shape[0] - 1
    forward(Xb, data, indices, indptr, rows, n, theta, coef_ptr, icpt_ptr, units,
            acts, hidden, out)
    last = n_layers - 1
    P = _block(acts, units, n, last)
    Yn = Y[:n]
    swn = sw[:n]
    loss = loss_value(P, Yn, swn, has_sw, loss_kind)

    if has_sw:
        sw_sum = 0.0
        for i in range(n):
            sw_sum += swn[i]
    else:
        sw_sum = float(n)
    # The L2 penalty as one BLAS dot over every weight (biases excluded).
    coefs = theta[: coef_ptr[n_layers]]
    loss += 0.5 * alpha * np.dot(coefs, coefs) / sw_sum
    t, lr_t = begin_step(solver, hyper, t)

    D = _block(deltas, units, n, last)
    output_delta(P, Yn, swn, has_sw, D)
    for layer in range(last, -1, -1):
        W = _weights(theta, coef_ptr, units, layer)
        D = _block(deltas, units, n, layer)
        Gw = _weights(grad, coef_ptr, units, layer)
        Gb = grad[icpt_ptr[layer] : icpt_ptr[layer + 1]]
        if layer > 0:
            A = _block(acts, units, n, layer - 1)
            Dp = _block(deltas, units, n, layer - 1)
            np.dot(D, W.T, Dp)
            derivative(A, Dp, hidden)
            _param_grads(A, D, W, Gw, Gb, alpha, sw_sum)
        elif data is not None:
            csr_transpose_dot(data, indices, indptr, rows[:n], D, Gw)
            _param_grads(Xb[:0], D, W, Gw, Gb, alpha, sw_sum)
        else:
            _param_grads(Xb[:n], D, W, Gw, Gb, alpha, sw_sum)
        if solver != NO_STEP:
            apply_step(solver, theta, grad, state1, state2, hyper, lr_t,
                       coef_ptr[layer], coef_ptr[layer + 1])
            apply_step(solver, theta, grad, state1, state2, hyper, lr_t,
                       icpt_ptr[layer], icpt_ptr[layer + 1])
    return loss, t


# Elements (4 to 8 MB) above which the rows gathered are taken to come from
# main memory rather than a cache.
_FROM_MEMORY = np.intp(1 << 20)


@jit
def _gather_rows(src, rows, dst):
    # Element loops: a row-slice assignment builds two array views per row,
    # which costs more than copying a short row. Wide rows of an array too
    # big for the caches are copied four at a time, so that four streams
    # from memory are in flight instead of one: 200-row batches of 60,000 x
    # 784 took 15.7 -> 12.3 ms an epoch in float32, 29 -> 20 ms in float64.
    # Rows of fewer than 64 elements, or rows already in cache, go faster
    # one at a time (by 10-15%).
    p = src.shape[1]
    n = rows.shape[0]
    i = 0
    if p >= 64 and src.size >= _FROM_MEMORY:
        while i + 4 <= n:
            r0, r1, r2, r3 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3]
            for j in range(p):
                dst[i, j] = src[r0, j]
                dst[i + 1, j] = src[r1, j]
                dst[i + 2, j] = src[r2, j]
                dst[i + 3, j] = src[r3, j]
            i += 4
    for q in range(i, n):
        r = rows[q]
        for j in range(p):
            dst[q, j] = src[r, j]


@jit
def _gather(src, rows, dst):
    for i in range(rows.shape[0]):
        dst[i] = src[rows[i]]


# How far stochastic_epoch goes with each batch: production runs every
# phase; the profiler (fastmlp._profile) runs shorter prefixes and attributes
# the differences in time to each phase.
GATHER, FORWARD, BACKWARD, UPDATE = 0, 1, 2, 3


@jit
def stochastic_epoch(
    X, data, indices, indptr, Y, sw, has_sw, order, batch_size,
    theta, grad, coef_ptr, icpt_ptr, units, hidden, out, loss_kind, alpha,
    Xb, Yb, swb, acts, deltas, solver, state1, state2, hyper, t, upto=UPDATE,
):
    """One pass over the rows in ``order`` by minibatches of ``batch_size``.

    Each batch is gathered (dense ``X``, ``Y``, ``sw`` into ``Xb``, ``Yb``,
    ``swb``), forwarded, back-propagated and followed by one optimizer step on
    ``theta``; ``upto`` stops each batch after an earlier phase (profiling
    only). Returns ``(sum over batches of batch loss * batch rows, t)`` where
    ``t`` is the optimizer's step count afterwards.
    """
    n_samples = order.shape[0]
    accumulated = 0.0
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        n = stop - start
        rows = order[start:stop]
        if data is None:
            _gather_rows(X, rows, Xb)
        _gather_rows(Y, rows, Yb)
        if has_sw:
            _gather(sw, rows, swb)
        if upto == FORWARD:
            forward(Xb, data, indices, indptr, rows, n, theta, coef_ptr, icpt_ptr,
                    units, acts, hidden, out)
        if upto < BACKWARD:
            continue
        batch_loss, t = train_batch(
            Xb, data, indices, indptr, rows, n, Yb, swb, has_sw,
            theta, grad, coef_ptr, icpt_ptr, units, acts, deltas, hidden, out, loss_kind, alpha,
            solver if upto == UPDATE else NO_STEP, state1, state2, hyper, t,
        )
        accumulated += batch_loss * n
    return accumulated, t


@jit
def all_finite(X):
    """True when no element of the 2-D array ``X`` is NaN or infinite."""
    n, p = X.shape
    for i in range(n):
        # x - x is 0 for every finite x and NaN otherwise; an OR over a row
        # vectorises, where an early exit per element would not.
        bad = False
        for j in range(p):
            x = X[i, j]
            bad |= (x - x) != 0
        if bad:
            return False
    return True


@jit
def predict(
    X, data, indices, indptr, theta, coef_ptr, icpt_ptr, units, acts, hidden, out,
    result, check_finite,
):
    """Network output of every input row, into ``result`` (n_samples, n_outputs).

    Rows go through the network in blocks of ``len(acts) // sum(units[1:])``
    so the hidden activations of a block stay in cache between layers and
    the scratch memory does not grow with the number of rows.

    With ``check_finite`` (dense ``X`` only), returns False, leaving
    ``result`` incomplete, as soon as a block's first-layer pre-activations
    ``X @ W`` hold a NaN or an infinity, and True otherwise. Under IEEE
    arithmetic a NaN or infinite input always reaches them (``inf * w`` is
    ``±inf``, or NaN for ``w == 0``; sums of such never become finite), so
    this checks ``X`` at ``units[1] / units[0]`` of the cost of reading it
    again; a False can also mean a finite ``X`` overflowed, which the caller
    sorts out.
    """
    sparse = data is not None
    n_total = X.shape[0]
    if data is not None:
        n_total = indptr.shape[0] - 1
    width = 0
    for j in range(1, units.shape[0]):
        width += units[j]
    block = acts.shape[0] // width
    last = units.shape[0] - 2
    rows = np.empty(block if sparse else 0, dtype=np.intp)
    for start in range(0, n_total, block):
        stop = min(start + block, n_total)
        n = stop - start
        if check_finite and not sparse:
            Z = _block(acts, units, n, 0)
            np.dot(X[start:stop], _weights(theta, coef_ptr, units, 0), Z)
            if not all_finite(Z):
                return False
            bias_activate(Z, theta[icpt_ptr[0] : icpt_ptr[1]],
                          out if units.shape[0] == 2 else hidden)
            _upper_layers(n, theta, coef_ptr, icpt_ptr, units, acts, hidden, out)
        else:
            for i in range(rows.shape[0]):
                rows[i] = start + i
            forward(X[start:stop] if not sparse else X, data, indices, indptr, rows,
                    n, theta, coef_ptr, icpt_ptr, units, acts, hidden, out)
        copy_into(_block(acts, units, n, last), result[start:stop])
    return True
