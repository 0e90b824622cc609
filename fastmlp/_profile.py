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

PHASES = ("gather", "forward", "backward", "update")


def epoch_phases(estimator, X, y, repeats=3, random_state=0):
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

    Returns
    -------
    phases : dict
        ``{"gather", "forward", "backward", "update", "total"}`` in seconds.
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
    best = dict.fromkeys(prefixes, np.inf)
    for _ in range(repeats):
        for upto in prefixes:
            start = time.perf_counter()
            run(order, upto)
            best[upto] = min(best[upto], time.perf_counter() - start)
    result = {"gather": best[K.GATHER]}
    for name, (lo, hi) in zip(PHASES[1:], zip(prefixes, prefixes[1:])):
        result[name] = max(best[hi] - best[lo], 0.0)
    result["total"] = best[K.UPDATE]
    return result
