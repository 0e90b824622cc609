"""Compiled forward and backward passes of the MLP, and a whole minibatch epoch.

Storage conventions shared by every kernel here:

* ``theta`` is the flat parameter vector: all weight matrices (C order) one
  after another, then all bias vectors. ``coef_ptr`` (length L + 1) and
  ``icpt_ptr`` (length L + 1) give where layer ``l``'s weights and biases
  start and end, ``units`` (length L + 1) the width of every layer, input
  first. A gradient (``grad``, each row of ``G``) has the layout of ``theta``.
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
* The epoch kernels take one of each batch buffer per thread, stacked on a
  leading axis (``Xb[q]``, ``acts[q]``, ``G[q]`` ...), one thread for
  :func:`stochastic_epoch`.
"""

import numpy as np

from ._activations import (
    BIAS_ACTIVATE_COLUMNS,
    bias_activate,
    backprop_activation,
    bias_activate_keeping,
    copy_into,
    csr_dot,
    csr_transpose_dot,
    keeps_slope,
)
from ._config import LAYER, NO, cast_like, jit
from ._dropout import drop_units, dropping, mask_gradient
from ._losses import LOSS_VALUE, OUTPUT_DELTA
from ._optimizers import APPLY_STEP, N_HYPER, NO_STEP, YES, begin_step, finished
from ._parallel import Kernel, call, fetch_add, run_parts


@jit
def _view(buf, rows, cols):
    """``buf[:rows * cols]`` as a C-ordered (rows, cols) matrix; (0, 0) if ``buf`` is empty.

    The kernels find every weight matrix and every block of ``acts``,
    ``deltas`` and the slopes (an empty ``buf`` when they are not kept, see
    :func:`batch_gradient`) here, the offsets worked out as they go: one
    compiled helper with one reshape. A helper for each (weights, blocks, the
    slopes' blocks; fastmlp._profile's floor epoch keeps the first two)
    cost a cold first fit 0.3-0.4 s apiece, and the
    reshapes written out in each kernel made the kernels dearer to compile
    than the helpers had cost (issue 14).
    """
    # The callers slice buf where the matrix starts: a start passed as the
    # literal 0 compiled this a second time.
    if buf.shape[0] == 0:
        return buf[:0].reshape((0, 0))
    return buf[: rows * cols].reshape((rows, cols))


@jit
def _upper_layers_loop(n, theta, coef_ptr, icpt_ptr, units, acts, hidden, out, first, slopes,
                       rows, drop):
    """Layers ``first`` .. L - 1 of the forward pass.

    Layer ``first - 1``'s output is read from ``acts``; hidden layers keep
    their slopes in ``slopes`` when it is not empty (see :func:`batch_gradient`)
    and drop units of rows ``rows`` with dropout (see :func:`forward`).
    Called by address (fastmlp._parallel.call), once a pass, straight from
    forward and the prediction kernels: linked, the loop was compiled again
    inside each, and a helper making the call was one more function to
    compile (issue 14).
    """
    n_layers = units.shape[0] - 1
    # Layer first - 1's block of acts starts at lo, n * sum(units[1:first]).
    lo = 0
    for j in range(1, first):
        lo += n * units[j]
    for layer in range(first, n_layers):
        kind = out if layer == n_layers - 1 else hidden
        W = _view(theta[coef_ptr[layer]:], units[layer], units[layer + 1])
        b = theta[icpt_ptr[layer] : icpt_ptr[layer + 1]]
        A = _view(acts[lo:], n, units[layer])
        lo += n * units[layer]
        Z = _view(acts[lo:], n, units[layer + 1])
        np.dot(A, W, Z)
        # The output layer keeps no slopes.
        S = _view(slopes[lo:] if layer < n_layers - 1 else slopes[:0], n, units[layer + 1])
        bias_activate_keeping(Z, b, kind, S)
        drop_units(Z, S, kind, drop, layer, rows)


_UPPER_LAYERS_LOOP = Kernel(_upper_layers_loop)


@jit
def forward(
    Xb, data, indices, indptr, rows, n, theta, coef_ptr, icpt_ptr, units, acts, hidden, out,
    slopes, drop,
):
    """Forward pass of ``n`` rows; layer outputs land in ``acts``.

    Dense input is ``Xb[:n]``; sparse input is rows ``rows[:n]`` of the CSR
    matrix. Returns nothing: the output layer is the last ``n x units[L]`` block of ``acts``.
    A non-empty ``slopes`` receives the hidden layers' slopes (:func:`batch_gradient`).
    A non-empty ``drop`` is dropout (fastmlp._dropout): the hidden units of
    the rows numbered ``rows[:n]`` (dense input too) are dropped by the
    batch's masks, which needs ``slopes``; prediction passes an empty one.
    """
    kind = out if units.shape[0] == 2 else hidden
    W = _view(theta[coef_ptr[0]:], units[0], units[1])
    b = theta[icpt_ptr[0] : icpt_ptr[1]]
    Z = _view(acts, n, units[1])
    if data is not None:
        csr_dot(data, indices, indptr, rows[:n], W, Z)
    else:
        np.dot(Xb[:n], W, Z)
    S = _view(slopes if units.shape[0] > 2 else slopes[:0], n, units[1])
    bias_activate_keeping(Z, b, kind, S)
    drop_units(Z, S, kind, drop, LAYER[0], rows)
    call(_UPPER_LAYERS_LOOP, (n, theta, coef_ptr, icpt_ptr, units, acts, hidden, out, LAYER[1],
                              slopes, rows, drop))



# A NumPy integer, not the literal 1: a literal argument compiled
# finish_step and everything below it a second time, for the literal type.
_ONE_PART = np.intp(1)
_FIRST_PART = np.intp(0)


@jit
def batch_gradient(
    Xb, data, indices, indptr, rows, n, Y, sw, has_sw,
    theta, G, coef_ptr, icpt_ptr, units, acts, deltas, hidden, out, loss_kind,
    finish, alpha, solver, state1, state2, hyper, lr_t, drop,
):
    """Forward and backward over ``n`` rows, the gradient into ``G``.

    For every layer ``G`` receives ``A.T @ D`` (weights) and ``D.sum(0)``
    (biases). Without ``finish`` these raw sums stay as they are, so that
    the sums of several row blocks can be added up before
    :func:`finish_gradient`. With ``finish`` each layer's gradient is
    finished (L2 term, division by the rows' weight) as soon as its sums
    are final, while they are still in cache; with a ``solver`` other than
    NO_STEP the layer is stepped with ``lr_t`` straight from those sums
    instead (:func:`finish_step`), which leaves them raw in ``G``. The
    error signal sent to the layer below is computed before the layer's
    weights change. ``solver=None`` is NO_STEP compiled without the
    optimizer steps (L-BFGS and every caller that only wants gradients:
    Numba removes the branch for a None, so a first lbfgs fit does not
    compile SGD and Adam). ``Y[:n]`` and ``sw[:n]`` are the
    targets and weights of the rows, in the order of ``Xb``/``rows``.
    With dropout (a non-empty ``drop``, see fastmlp._dropout), the rows'
    hidden units are dropped by the batch's masks, forward and
    backward; ``rows[:n]`` must then number the rows, dense input too.

    Returns ``(mean loss of the rows, sum of their weights, sum of squared
    weights)``, the last 0 without ``finish``.
    """
    n_layers = units.shape[0] - 1
    # Where the hidden slopes are kept (in the layout of acts): deltas'
    # second half, or nothing. gelu and silu keep them
    # (fastmlp._activations.keeps_slope), and every activation with dropout
    # (fastmlp._dropout); their deltas hold 2 entries a unit and row.
    width = 0
    for j in range(1, units.shape[0]):
        width += units[j]
    size = n * width if keeps_slope(hidden) or dropping(drop) else 0
    slopes = deltas[size : 2 * size]
    # The loss, the optimizer steps and the forward pass are called by
    # address (fastmlp._parallel.call), once a batch or a layer: linked, each
    # tree was optimised and compiled to machine code again inside this one.
    call(_FORWARD, (Xb, data, indices, indptr, rows, n, theta, coef_ptr, icpt_ptr, units,
                    acts, hidden, out, slopes, drop))
    last = n_layers - 1
    # lo: where a layer's block of acts, deltas and slopes starts, the
    # output layer's first, then each one below.
    lo = n * (width - units[n_layers])
    P = _view(acts[lo:], n, units[n_layers])
    Yn = Y[:n]
    swn = sw[:n]
    loss = call(LOSS_VALUE, (P, Yn, swn, has_sw, loss_kind))
    if has_sw:
        sw_sum = 0.0
        for i in range(n):
            sw_sum += swn[i]
    else:
        sw_sum = float(n)

    call(OUTPUT_DELTA, (P, Yn, swn, has_sw, _view(deltas[lo:], n, units[n_layers]), loss_kind))
    n_weights = coef_ptr[n_layers]
    squares = 0.0
    for layer in range(last, -1, -1):
        D = _view(deltas[lo:], n, units[layer + 1])
        Gw = _view(G[coef_ptr[layer]:], units[layer], units[layer + 1])
        below = lo - n * units[layer]
        if layer > 0:
            # The error signal for the layer below, from weights that no
            # step has changed yet.
            A = _view(acts[below:], n, units[layer])
            Dp = _view(deltas[below:], n, units[layer])
            np.dot(D, _view(theta[coef_ptr[layer]:], units[layer], units[layer + 1]).T, Dp)
            S = _view(slopes[below:], n, units[layer])
            # Dropout: S holds the layer's output before the masks (fastmlp._dropout).
            mask_gradient(Dp, drop, layer - 1, rows)
            backprop_activation(S if dropping(drop) else A, S, Dp, hidden)
            np.dot(A.T, D, Gw)
        elif data is not None:
            csr_transpose_dot(data, indices, indptr, rows[:n], D, Gw)
        else:
            np.dot(Xb[:n].T, D, Gw)
        Gb = G[icpt_ptr[layer] : icpt_ptr[layer + 1]]
        k = Gb.shape[0]
        for j in range(k):
            Gb[j] = 0.0
        for i in range(n):
            for j in range(k):
                Gb[j] += D[i, j]
        if finish:
            G2 = G.reshape((1, G.shape[0]))
            for start, stop in ((coef_ptr[layer], coef_ptr[layer + 1]),
                                (icpt_ptr[layer], icpt_ptr[layer + 1])):
                if solver is None:
                    squares += call(_FINISH_GRADIENT, (G2, _ONE_PART, theta, n_weights, alpha,
                                                       sw_sum, start, stop))
                else:
                    squares += call(_FINISH_STEP, (G2, _ONE_PART, theta, n_weights, alpha,
                                                   sw_sum, solver, state1, state2, hyper,
                                                   lr_t, start, stop))
        lo = below
    return loss, sw_sum, squares


@jit
def finish_gradient(G, n_parts, theta, n_weights, alpha, sw_sum, start, stop):
    """``G[0, start:stop]`` = the gradient there, from the raw sums of ``G[:n_parts]``.

    Adds the parts, then the L2 term ``alpha * theta`` for weights (the
    first ``n_weights`` entries), and divides by the rows' weight ``sw_sum``:
    ``(A.T @ D + alpha W) / s`` and ``D.sum(0) / s``, scikit-learn's
    arithmetic. Returns the sum of squares of the weights in the range, for
    the loss's L2 term.
    """
    # Scalars in the array dtype keep float32 loops in float32 (vectorised).
    a = cast_like(alpha, theta)
    s = cast_like(sw_sum, theta)
    # Loops over whole slices, one per part and per kind of entry: the
    # compiler left scalar a loop over range(start, stop) (4x slower), a
    # loop over the parts inside, and a float64 sum of squares.
    split = min(max(start, n_weights), stop)
    g = G[0, start:stop]
    for q in range(1, n_parts):
        other = G[q, start:stop]
        for i in range(g.shape[0]):
            g[i] += other[i]
    gw = G[0, start:split]
    w = theta[start:split]
    squares = float(np.dot(w, w)) if split > start else 0.0
    for i in range(gw.shape[0]):
        gw[i] = finished(gw[i], gw[i], NO, w[i], a, YES, s)
    gb = G[0, split:stop]
    for i in range(gb.shape[0]):
        gb[i] = finished(gb[i], gb[i], NO, gb[i], a, NO, s)
    return squares


@jit
def finish_step(G, n_parts, theta, n_weights, alpha, sw_sum, solver, state1, state2, hyper,
                lr_t, start, stop):
    """:func:`finish_gradient`, or with a ``solver`` the step it would feed.

    With a solver, ``theta[start:stop]`` takes one step straight from the
    raw sums in ``G[:n_parts]`` (see :func:`fastmlp._optimizers.apply_step`),
    which leaves no finished gradient behind: finishing it in a pass of its
    own, then stepping, made a 60,000 x 784 -> 100 -> 10 epoch 1-6% slower
    (float32; 2-3% in float64). Returns the sum of squares of the weights in the range
    before the step, as :func:`finish_gradient` does.
    """
    # By address, once a layer (or a thread's share) a batch: the steps are
    # compiled once, not again inside this kernel.
    if solver == NO_STEP:
        return call(_FINISH_GRADIENT, (G, n_parts, theta, n_weights, alpha, sw_sum, start,
                                       stop))
    split = min(max(start, n_weights), stop)
    w = theta[start:split]
    squares = float(np.dot(w, w)) if split > start else 0.0
    call(APPLY_STEP, (solver, theta, G, n_parts, alpha, YES, sw_sum, state1, state2, hyper,
                      lr_t, start, split))
    call(APPLY_STEP, (solver, theta, G, n_parts, alpha, NO, sw_sum, state1, state2, hyper,
                      lr_t, split, stop))
    return squares


# Called by address (fastmlp._parallel.call) from _row_part, loss_grad and
# _loss_grad_part: the forward/backward tree is compiled in batch_gradient's
# own library, not again inside each of them (and inside stochastic_epoch,
# which links _row_part).
_BATCH_GRADIENT = Kernel(batch_gradient)
# From _param_part and batch_gradient: the optimizer steps are compiled once,
# not again inside each.
_FINISH_STEP = Kernel(finish_step)
_FINISH_GRADIENT = Kernel(finish_gradient)
# From batch_gradient and _row_part's profiling branch (upto == FORWARD).
_FORWARD = Kernel(forward)


@jit
def loss_grad(
    Xb, data, indices, indptr, rows, n, Y, sw, has_sw,
    theta, grad, coef_ptr, icpt_ptr, units, acts, deltas, hidden, out, loss_kind, alpha,
):
    """Loss (with the L2 term) and its gradient over ``n`` rows, into ``grad``.

    ``Y[:n]`` and ``sw[:n]`` are the targets and weights of those rows, in
    the order of ``Xb``/``rows``. Returns the loss as a float64.
    """
    loss, sw_sum, squares = call(_BATCH_GRADIENT, (
        Xb, data, indices, indptr, rows, n, Y, sw, has_sw, theta, grad, coef_ptr,
        icpt_ptr, units, acts, deltas, hidden, out, loss_kind,
        YES, alpha, None, grad[:0], grad[:0], np.zeros(N_HYPER), 0.0, rows[:0],
    ))
    return loss + 0.5 * alpha * squares / sw_sum


@jit(from_python=False)
def _loss_grad_part(
    q, n_parts, X, data, indices, indptr, rows, Y, sw, has_sw,
    theta, G, coef_ptr, icpt_ptr, units, acts, deltas, hidden, out, loss_kind, alpha, part,
):
    """Block ``q`` of :func:`split_loss_grad`: its raw gradient sums into ``G[q]``."""
    n = Y.shape[0]
    r0 = q * n // n_parts
    r1 = (q + 1) * n // n_parts
    Xq = X[r0:r1] if data is None else X
    swq = sw[r0:r1] if has_sw else sw
    part[q, _LOSS], part[q, _SW_SUM], part[q, _SQUARES] = call(_BATCH_GRADIENT, (
        Xq, data, indices, indptr, rows[r0:r1], r1 - r0, Y[r0:r1], swq, has_sw, theta,
        G[q], coef_ptr, icpt_ptr, units, acts[q], deltas[q], hidden, out, loss_kind,
        NO, alpha, None, theta[:0], theta[:0], np.zeros(N_HYPER), 0.0, rows[:0],
    ))


_LOSS_GRAD_PART = Kernel(_loss_grad_part)


@jit
def split_loss_grad(
    X, data, indices, indptr, rows, Y, sw, has_sw,
    theta, G, coef_ptr, icpt_ptr, units, acts, deltas, hidden, out, loss_kind, alpha, part,
):
    """:func:`loss_grad` over all rows of ``Y`` in ``len(G)`` blocks of consecutive rows.

    Block ``q`` (rows ``q * n // len(G)`` to ``(q + 1) * n // len(G)``) is
    forwarded and back-propagated in ``acts[q]``, ``deltas[q]`` and ``G[q]``
    with single-threaded BLAS, one block a thread
    (:func:`fastmlp._parallel.run_parts`); the blocks' sums are then
    added up in order and finished into ``G[0]``. The blocks are fixed by
    ``G``'s first axis, not by the threads that run them, so the result is
    the same on one thread or several (L-BFGS, where every evaluation is a
    few large products that BLAS's own threads would split: when other
    processes hold the cores, they waited for each other at every product).
    Dense ``X`` is read where it is (no gathered copy); CSR input reads rows
    ``rows`` (``arange(n)``). ``part`` is scratch of ``len(G)`` x 3.
    """
    n_parts = G.shape[0]
    run_parts(n_parts, _LOSS_GRAD_PART,
              (n_parts, X, data, indices, indptr, rows, Y, sw, has_sw, theta, G, coef_ptr,
               icpt_ptr, units, acts, deltas, hidden, out, loss_kind, alpha, part))
    sw_sum = 0.0
    for q in range(n_parts):
        sw_sum += part[q, _SW_SUM]
    # _FIRST_PART, not 0: a literal compiled finish_gradient a second time.
    part[0, _SQUARES] = call(_FINISH_GRADIENT, (G, n_parts, theta,
                                                coef_ptr[units.shape[0] - 1], alpha, sw_sum,
                                                _FIRST_PART, theta.shape[0]))
    # The loss, L2 term included, as parallel_epoch adds up a batch's.
    if n_parts == 1:
        loss = part[0, _LOSS]
    else:
        loss = 0.0
        for q in range(n_parts):
            loss += part[q, _LOSS] * part[q, _SW_SUM]
        loss /= sw_sum
    return loss + 0.5 * alpha * part[0, _SQUARES] / sw_sum


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


_GATHER_ROWS = Kernel(_gather_rows)


# How far an epoch goes with each batch: production runs every phase; the
# profiler (fastmlp._profile) runs shorter prefixes and attributes the
# differences in time to each phase.
GATHER, FORWARD, BACKWARD, UPDATE = 0, 1, 2, 3

# Columns of the per-part results ``part`` of the epoch kernels.
_LOSS, _SW_SUM, _SQUARES = 0, 1, 2


@jit(from_python=False)
def _row_part(
    q, n_parts, rows, X, data, indices, indptr, Y, sw, has_sw,
    theta, G, coef_ptr, icpt_ptr, units, hidden, out, loss_kind,
    Xb, Yb, swb, acts, deltas, part, upto, finish, alpha, solver, state1, state2,
    hyper, lr_t, drop,
):
    """Part ``q`` of ``n_parts`` of a batch's rows: gather, forward, backward.

    Works in part ``q``'s own buffers (``Xb[q]``, ``acts[q]``, ``G[q]`` ...)
    and leaves what :func:`batch_gradient` returns in ``part[q]``. Dropout
    (``drop``) masks each row by its number in X, so the split of
    a batch into parts does not change its masks.
    """
    n = rows.shape[0]
    r0 = q * n // n_parts
    r1 = (q + 1) * n // n_parts
    rq = rows[r0:r1]
    # By address: the gather's unrolled loops are compiled once, not again
    # inside this kernel.
    if data is None:
        call(_GATHER_ROWS, (X, rq, Xb[q]))
    call(_GATHER_ROWS, (Y, rq, Yb[q]))
    if has_sw:
        swq = swb[q]
        for i in range(rq.shape[0]):
            swq[i] = sw[rq[i]]
    if upto == FORWARD:
        # The slopes where batch_gradient keeps them (see there), or nothing.
        width = 0
        for j in range(1, units.shape[0]):
            width += units[j]
        size = (r1 - r0) * width if keeps_slope(hidden) or dropping(drop) else 0
        call(_FORWARD, (Xb[q], data, indices, indptr, rq, r1 - r0, theta, coef_ptr,
                        icpt_ptr, units, acts[q], hidden, out, deltas[q][size : 2 * size],
                        drop))
    if upto >= BACKWARD:
        part[q, _LOSS], part[q, _SW_SUM], part[q, _SQUARES] = call(_BATCH_GRADIENT, (
            Xb[q], data, indices, indptr, rq, r1 - r0, Yb[q], swb[q], has_sw, theta,
            G[q], coef_ptr, icpt_ptr, units, acts[q], deltas[q], hidden, out, loss_kind,
            finish, alpha, solver, state1, state2, hyper, lr_t, drop,
        ))


_ROW_PART = Kernel(_row_part)


@jit(from_python=False)
def _param_part(q, n_threads, G, n_parts, theta, n_weights, alpha, sw_sum,
                solver, state1, state2, hyper, lr_t, part):
    """Part ``q`` of ``n_threads`` of the parameters: :func:`finish_step` on them."""
    size = theta.shape[0]
    start = q * size // n_threads
    stop = (q + 1) * size // n_threads
    part[q, _SQUARES] = call(_FINISH_STEP, (G, n_parts, theta, n_weights, alpha, sw_sum,
                                            solver, state1, state2, hyper, lr_t, start, stop))


_PARAM_PART = Kernel(_param_part)


@jit(inline="always")
def _next_batch(drop):
    if dropping(drop):
        drop[1] += 1


@jit
def stochastic_epoch(
    X, data, indices, indptr, Y, sw, has_sw, order, batch_size,
    theta, G, coef_ptr, icpt_ptr, units, hidden, out, loss_kind, alpha,
    Xb, Yb, swb, acts, deltas, part, solver, state1, state2, hyper, t, accumulated,
    drop, upto=UPDATE,
):
    """One pass over the rows in ``order`` by minibatches of ``batch_size``, one thread.

    Each batch is gathered (dense ``X``, ``Y``, ``sw`` into ``Xb[0]``,
    ``Yb[0]``, ``swb[0]``), forwarded, back-propagated and followed by one
    optimizer step on ``theta``, the gradient in ``G[0]``, each layer
    stepped as soon as its gradient is final; ``upto`` stops each batch
    after an earlier phase (profiling only). The products use BLAS's own
    threads. Returns ``(accumulated + the sum over batches of batch loss *
    batch rows, t)`` where ``t`` is the optimizer's step count afterwards:
    an epoch run as several calls over consecutive pieces of ``order`` (each
    a whole number of batches) passes each call's sum to the next, and adds
    up the same numbers in the same order as one call.

    Dropout: a non-empty ``drop`` (``[seed, batch count, threshold of each
    hidden layer]``, fastmlp._dropout) drops hidden units by the batch's masks,
    and the count goes up by one a batch, so that the next call goes on
    where this one stopped.
    """
    n_samples = order.shape[0]
    step = solver if upto == UPDATE else NO_STEP
    for start in range(0, n_samples, batch_size):
        rows = order[start : min(start + batch_size, n_samples)]
        t_next, lr_t = begin_step(step, hyper, t)
        # NumPy scalars, not 0, 1 and True: typed as parallel_epoch's parts
        # pass them, so both epochs share one compile of _row_part.
        call(_ROW_PART, (_FIRST_PART, _ONE_PART, rows, X, data, indices, indptr, Y, sw,
                         has_sw, theta, G, coef_ptr, icpt_ptr, units, hidden, out, loss_kind,
                         Xb, Yb, swb, acts, deltas, part, upto, YES, alpha, step, state1,
                         state2, hyper, lr_t, drop))
        _next_batch(drop)
        if upto < BACKWARD:
            continue
        t = t_next
        # The batch's loss, L2 term included, from its one part's results.
        accumulated += (part[0, _LOSS] + 0.5 * alpha * part[0, _SQUARES] / part[0, _SW_SUM]) \
            * rows.shape[0]
    return accumulated, t


@jit
def parallel_epoch(
    X, data, indices, indptr, Y, sw, has_sw, order, batch_size,
    theta, G, coef_ptr, icpt_ptr, units, hidden, out, loss_kind, alpha,
    Xb, Yb, swb, acts, deltas, part, solver, state1, state2, hyper, t, accumulated,
    drop, upto=UPDATE,
):
    """:func:`stochastic_epoch` with each batch split between ``len(G)`` threads.

    Each thread gathers, forwards and back-propagates its share of the
    batch's rows in its own buffers, its products in single-threaded BLAS
    (the caller limits BLAS to one thread: its own threads would fight
    these for the cores); then each adds up the threads' gradient sums,
    finishes the gradient and steps its share of the parameters. The
    gather, the elementwise work and the optimizer step are split in two as
    well, where BLAS threads split only the products. The threads' sums are
    added in another order than one pass over the batch would add them, so
    results differ from :func:`stochastic_epoch`'s in the last bits.
    """
    n_threads = G.shape[0]
    n_weights = coef_ptr[units.shape[0] - 1]
    n_samples = order.shape[0]
    step = solver if upto == UPDATE else NO_STEP
    for start in range(0, n_samples, batch_size):
        rows = order[start : min(start + batch_size, n_samples)]
        n_parts = min(n_threads, rows.shape[0])
        run_parts(n_parts, _ROW_PART,
                  (n_parts, rows, X, data, indices, indptr, Y, sw, has_sw, theta, G,
                   coef_ptr, icpt_ptr, units, hidden, out, loss_kind, Xb, Yb, swb, acts,
                   deltas, part, upto, NO, alpha, NO_STEP, state1, state2, hyper, 0.0, drop))
        _next_batch(drop)
        if upto < BACKWARD:
            continue
        sw_sum = 0.0
        for q in range(n_parts):
            sw_sum += part[q, _SW_SUM]
        t, lr_t = begin_step(step, hyper, t)
        run_parts(n_threads, _PARAM_PART,
                  (n_threads, G, n_parts, theta, n_weights, alpha, sw_sum, step, state1,
                   state2, hyper, lr_t, part))
        # The batch's loss, L2 term included, from the parts' results: the
        # rows' mean loss weighted by each part's weight. Written out here
        # and in split_loss_grad, not a helper: each compiled function costs
        # a cold first fit 0.1-0.4 s however small it is (issue 14).
        if n_parts == 1:
            loss = part[0, _LOSS]
        else:
            loss = 0.0
            for q in range(n_parts):
                loss += part[q, _LOSS] * part[q, _SW_SUM]
            loss /= sw_sum
        squares = 0.0
        for q in range(n_threads):
            squares += part[q, _SQUARES]
        accumulated += (loss + 0.5 * alpha * squares / sw_sum) * rows.shape[0]
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
def _predict_rows(X, data, indices, indptr, start, stop, theta, coef_ptr, icpt_ptr, units,
                  acts, ZT, rows, hidden, out, result, check_finite):
    """Rows ``start`` to ``stop`` of :func:`predict`, in one block of scratch.

    ``acts`` holds a block's activations, ``ZT`` its transposed first layer
    (or is empty), ``rows`` room for the block's row numbers (CSR input).
    Returns False if ``check_finite`` finds a NaN or an infinity.
    """
    n = stop - start
    last = units.shape[0] - 2
    if data is not None:
        for i in range(n):
            rows[i] = start + i
        forward(X, data, indices, indptr, rows, n, theta, coef_ptr, icpt_ptr, units,
                acts, hidden, out, acts[:0], rows[:0])
    elif ZT.shape[0] > 0 and last > 0:
        # The hidden layer's output stays transposed; the next product
        # reads it as a Fortran-ordered matrix, so nothing is copied.
        T = ZT[: units[1] * n].reshape((units[1], n))
        np.dot(_view(theta[coef_ptr[0]:], units[0], units[1]).T, X[start:stop].T, T)
        if check_finite and not all_finite(T):
            return False
        call(BIAS_ACTIVATE_COLUMNS, (T, theta[icpt_ptr[0] : icpt_ptr[1]], hidden))
        # affine's work, written out: one function fewer to compile (issue 14).
        Z = _view(acts[n * units[1]:], n, units[2])
        np.dot(T.T, _view(theta[coef_ptr[1]:], units[1], units[2]), Z)
        bias_activate(Z, theta[icpt_ptr[1] : icpt_ptr[2]], out if last == 1 else hidden)
        call(_UPPER_LAYERS_LOOP, (n, theta, coef_ptr, icpt_ptr, units, acts, hidden, out,
                                  LAYER[2], acts[:0], rows, rows[:0]))
    else:
        Z = _view(acts, n, units[1])
        np.dot(X[start:stop], _view(theta[coef_ptr[0]:], units[0], units[1]), Z)
        if check_finite and not all_finite(Z):
            return False
        bias_activate(Z, theta[icpt_ptr[0] : icpt_ptr[1]],
                      out if units.shape[0] == 2 else hidden)
        call(_UPPER_LAYERS_LOOP, (n, theta, coef_ptr, icpt_ptr, units, acts, hidden, out,
                                  LAYER[1], acts[:0], rows, rows[:0]))
    # The output layer's block, the last of acts'.
    lo = 0
    for j in range(1, units.shape[0] - 1):
        lo += n * units[j]
    copy_into(_view(acts[lo:], n, units[last + 1]), result[start:stop])
    return True


# Called by address (fastmlp._parallel.call) from predict and _predict_part:
# compiled once for both, and not linked into either.
_PREDICT_ROWS = Kernel(_predict_rows)


@jit
def predict(
    X, data, indices, indptr, theta, coef_ptr, icpt_ptr, units, acts, ZT, hidden, out,
    result, check_finite,
):
    """Network output of every input row, into ``result`` (n_samples, n_outputs).

    Rows go through the network in blocks of ``len(acts) // sum(units[1:])``
    so the hidden activations of a block stay in cache between layers and
    the scratch memory does not grow with the number of rows.

    With a non-empty ``ZT`` (``units[1]`` entries per row of a block), a
    dense input's first layer is computed transposed, ``W.T @ X.T``, into
    it: OpenBLAS runs a many-rows-by-few-columns product much faster that
    way in float64 (54,000 x 784 by 784 x 100: 31 against 23.5 GFMA/s on
    one thread, 61 against 46 on two, SkylakeX kernels); in float32 it was
    slower on two threads (110 against 128 GFMA/s).

    With ``check_finite`` (dense ``X`` only), returns False, leaving
    ``result`` incomplete, as soon as a block's first-layer pre-activations
    ``X @ W`` hold a NaN or an infinity, and True otherwise. Under IEEE
    arithmetic a NaN or infinite input always reaches them (``inf * w`` is
    ``±inf``, or NaN for ``w == 0``; sums of such never become finite), so
    this checks ``X`` at ``units[1] / units[0]`` of the cost of reading it
    again; a False can also mean a finite ``X`` overflowed, which the caller
    sorts out.
    """
    # Written out here and in _predict_part, not helpers: each compiled
    # function costs a cold first fit 0.1 s or more (issue 14).
    n_total = X.shape[0] if data is None else indptr.shape[0] - 1
    width = 0
    for j in range(1, units.shape[0]):
        width += units[j]
    block = acts.shape[0] // width
    rows = np.empty(block if data is not None else 0, dtype=np.intp)
    for start in range(0, n_total, block):
        if not call(_PREDICT_ROWS, (X, data, indices, indptr, start, min(start + block, n_total),
                                    theta, coef_ptr, icpt_ptr, units, acts, ZT, rows, hidden,
                                    out, result, check_finite)):
            return False
    return True


@jit
def _predict_part(
    q, X, data, indices, indptr, first, stop, theta, coef_ptr, icpt_ptr, units,
    acts, ZT, rows, hidden, out, result, check_finite, ok, taken,
):
    """Slot ``q`` of :func:`parallel_predict`: the next block not yet taken, until none is left."""
    n_total = X.shape[0] if data is None else indptr.shape[0] - 1
    width = 0
    for j in range(1, units.shape[0]):
        width += units[j]
    block = acts.shape[1] // width
    ok[q] = True
    while True:
        b = first + fetch_add(taken, 0, 1)
        if b >= stop:
            break
        start = b * block
        if not call(_PREDICT_ROWS, (X, data, indices, indptr, start,
                                    min(start + block, n_total), theta, coef_ptr, icpt_ptr,
                                    units, acts[q], ZT[q], rows[q], hidden, out, result,
                                    check_finite)):
            ok[q] = False
            break


_PREDICT_PART = Kernel(_predict_part)


@jit
def parallel_predict(
    X, data, indices, indptr, first, stop, theta, coef_ptr, icpt_ptr, units, acts, ZT, rows,
    hidden, out, result, check_finite, ok,
):
    """:func:`predict`'s blocks ``first`` to ``stop - 1``, shared between ``len(acts)`` slots.

    Each slot takes the next block no slot has taken yet and computes it in
    its own scratch (``acts[q]``, ``ZT[q]``, ``rows[q]``) with
    single-threaded BLAS; the slots run on the threads, or one after the
    other on one thread. Taking blocks as they come rather than a fixed
    share keeps every thread busy while any block is left: on a busy
    machine a thread the scheduler holds back takes fewer blocks instead of
    keeping the others waiting. A row's output depends only on its block,
    so the result is the same whichever slot computes it, on any number of
    threads. ``ok[q]`` becomes False where :func:`predict` would have
    returned False.
    """
    n_slots = acts.shape[0]
    taken = np.zeros(1, dtype=np.intp)
    run_parts(n_slots, _PREDICT_PART,
              (X, data, indices, indptr, first, stop, theta, coef_ptr, icpt_ptr,
               units, acts, ZT, rows, hidden, out, result, check_finite, ok, taken))
