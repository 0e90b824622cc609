"""Where an MLP training epoch spends its time, phase by phase.

The compiled epoch (:func:`fastmlp._mlp_kernels.stochastic_epoch`) can stop
each minibatch after the gather, the forward pass, the backward pass, or run
it whole. Timing those four prefixes on the same rows, interleaved and
repeated, attributes the epoch's time to its phases; ``python -m fastmlp
bench`` shows the result next to the BLAS floor.
"""

import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from . import _mlp_kernels as K
from ._config import jit

PHASES = ("gather", "forward", "backward", "update")

# Long enough for Numba's idle worker threads to stop spinning (measured:
# BLAS right after a parallel fit 3-4x slower, after 5 ms as fast as ever).
_SPIN_S = 0.02


def epoch_phases(estimator, X, y, repeats=3, random_state=0, also=None):
    """Seconds one training epoch spends in each phase.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        An unfitted fastmlp estimator with a stochastic solver; a clone is
        fitted for one epoch first (which also compiles the kernels).

    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Training data.

    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets.

    repeats : int, default=3
        Each prefix is timed this many times, interleaved with the others;
        the minimum is kept (the machine's noise only ever adds time).

    random_state : int, default=0
        Seed of the row order used for every timed epoch.

    also : dict of str to callable, default=None
        Other work to time in the same rounds, each callable run once per
        round after the prefixes (the BLAS floor, from
        :func:`floor_epoch_runner`): a slow spell of the machine then
        lengthens both sides of a ratio instead of one.

    Returns
    -------
    phases : dict
        ``{"gather", "forward", "backward", "update", "total"}`` in seconds,
        plus the minimum time of each entry of ``also`` under its name.
        A phase is the difference of two prefixes, floored at zero.
    """
    est = clone(estimator).set_params(max_iter=1, early_stopping=False, verbose=False)
    if est.solver not in ("sgd", "adam"):
        raise ValueError("epoch_phases needs solver='sgd' or 'adam', got %r" % est.solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    X, Y = est._validate_input(X, y, incremental=True, reset=False)
    Y = Y.reshape(Y.shape[0], -1)
    n = X.shape[0]
    batch_size = min(200, n) if est.batch_size == "auto" else min(est.batch_size, n)
    opt = est._new_optimizer(est._theta.shape[0], est._theta.dtype)
    run = est._epoch_runner(X, Y, None, batch_size, opt)
    order = np.random.RandomState(random_state).permutation(n)

    prefixes = (K.GATHER, K.FORWARD, K.BACKWARD, K.UPDATE)
    also = also or {}
    best = dict.fromkeys(prefixes + tuple(also), np.inf)
    for _ in range(repeats):
        for upto in prefixes:
            best[upto] = min(best[upto], time_once(run, order, upto))
        for name, work in also.items():
            # Numba's worker threads spin for a few milliseconds after a
            # parallel epoch; BLAS run in that moment took 3-4x its time.
            time.sleep(_SPIN_S)
            best[name] = min(best[name], time_once(work))
    result = {"gather": best[K.GATHER]}
    for name, (lo, hi) in zip(PHASES[1:], zip(prefixes, prefixes[1:])):
        result[name] = max(best[hi] - best[lo], 0.0)
    result["total"] = best[K.UPDATE]
    for name in also:
        result[name] = best[name]
    return result


def time_once(work, *args):
    """Seconds that one call ``work(*args)`` takes."""
    start = time.perf_counter()
    work(*args)
    return time.perf_counter() - start


def time_best(work, budget_s=0.25, max_calls=100):
    """Fewest seconds of calls ``work()`` in a row (at least one).

    Calls stop after ``max_calls`` or once ``budget_s`` is spent: one call
    of a short task, such as a few milliseconds of BLAS after an idle
    moment, also times the machine waking up, and a few calls can all fall
    in one of this shared machine's slow moments.
    """
    best = spent = time_once(work)
    calls = 1
    while calls < max_calls and spent < budget_s:
        t = time_once(work)
        best, spent, calls = min(best, t), spent + t, calls + 1
    return best


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
def _floor_epoch(Xb, theta, grad, coef_ptr, units, acts, deltas, n_samples, batch_size):
    """Only the matrix products of one minibatch epoch, in the training kernels' BLAS."""
    n_layers = units.shape[0] - 1
    for start in range(0, n_samples, batch_size):
        n = min(batch_size, n_samples - start)
        for layer in range(n_layers):
            A = Xb[:n] if layer == 0 else _block(acts, units, n, layer - 1)
            np.dot(A, _weights(theta, coef_ptr, units, layer), _block(acts, units, n, layer))
        for layer in range(n_layers - 1, -1, -1):
            A = Xb[:n] if layer == 0 else _block(acts, units, n, layer - 1)
            D = _block(deltas, units, n, layer)
            np.dot(A.T, D, _weights(grad, coef_ptr, units, layer))
            if layer > 0:
                W = _weights(theta, coef_ptr, units, layer)
                np.dot(D, W.T, _block(deltas, units, n, layer - 1))


def floor_epoch_runner(units, n_samples, batch_size, dtype=np.float64, seed=0):
    """A function running just the matrix products of one minibatch epoch of an MLP.

    Per minibatch and per layer ``l`` (weights of shape ``units[l] x
    units[l + 1]``): the forward ``A_l @ W_l``, the weight gradient
    ``A_l.T @ D_l`` and, for every layer but the first, the error signal
    ``D_l @ W_l.T``; the same shapes, dtype and BLAS (the one Numba calls,
    SciPy's OpenBLAS) as fastmlp's training kernels, in one compiled loop so
    that no interpreter time is counted. Operands hold random values
    (uninitialised memory may hold NaN or denormals, which change BLAS speed).
    They are allocated, and the loop compiled and run once, before returning.

    Parameters
    ----------
    units : sequence of int
        Layer widths, input first.
    n_samples : int
        Rows in the epoch.
    batch_size : int
        Rows per minibatch (the last batch may be smaller, as in training).
    dtype : dtype, default=np.float64
        Floating dtype of the products.
    seed : int, default=0
        Seed of the random operands.

    Returns
    -------
    run : callable
        ``run()`` does one epoch's products.
    """
    rng = np.random.RandomState(seed)
    dtype = np.dtype(dtype)
    units = np.asarray(units, dtype=np.int64)
    batch_size = min(batch_size, n_samples)
    coef_ptr = np.concatenate([[0], np.cumsum(units[:-1] * units[1:])]).astype(np.int64)
    width = int(units[1:].sum())
    theta = (rng.rand(coef_ptr[-1]) - 0.5).astype(dtype)
    grad = np.empty_like(theta)
    Xb = rng.rand(batch_size, units[0]).astype(dtype)
    acts = rng.rand(batch_size * width).astype(dtype)
    deltas = rng.rand(batch_size * width).astype(dtype)
    _floor_epoch(Xb, theta, grad, coef_ptr, units, acts, deltas, batch_size, batch_size)

    def run():
        _floor_epoch(Xb, theta, grad, coef_ptr, units, acts, deltas, n_samples, batch_size)

    return run


def floor_flops(units, n_samples):
    """Floating-point operations of one epoch of :func:`floor_epoch_runner`'s products."""
    per_row = 0
    for layer, (a, b) in enumerate(zip(units[:-1], units[1:])):
        per_row += 2 * a * b * (3 if layer > 0 else 2)
    return per_row * n_samples
