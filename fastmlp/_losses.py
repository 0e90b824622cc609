"""Compiled losses of the MLP and the error signal they send back.

scikit-learn's losses are each paired with the output activation that is
its canonical link (identity for squared error, exp for Poisson, softmax
for multiclass log-loss, logistic for binary/multilabel log-loss), so the
derivative of the loss with respect to the output layer's pre-activation is
``P - Y`` for all of them. The robust regression losses beyond
scikit-learn's (absolute error, Huber; identity output) send back
``sign(P - Y)`` and ``clip(P - Y, -delta, delta)``; :func:`output_delta`
computes every one.

A kernel names its loss by the float64 array ``[code, huber_delta]``
(:func:`loss_parameters`) and passes it through unchanged. An array, not a
tuple: a parallel region's arguments must be arrays or scalars. Only that
form: every other type (a bare code, a tuple) would be a specialisation of
every kernel below it that no fit uses, compiled again (in the tests, which
once passed bare codes, 25 s of a cold run).
"""

import math

import numba
import numba.extending
import numpy as np

from ._config import jit
from ._parallel import Kernel

SQUARED_ERROR = 0
POISSON = 1
LOG_LOSS = 2
BINARY_LOG_LOSS = 3
# Regression losses beyond scikit-learn's (README "Beyond scikit-learn").
ABSOLUTE_ERROR = 4
HUBER = 5

LOSS_CODES = {
    "squared_error": SQUARED_ERROR,
    "poisson": POISSON,
    "log_loss": LOG_LOSS,
    "binary_log_loss": BINARY_LOG_LOSS,
    "absolute_error": ABSOLUTE_ERROR,
    "huber": HUBER,
}


def loss_parameters(code, huber_delta=0.0):
    """The ``[code, huber_delta]`` array the estimators pass the kernels as their loss."""
    return np.array([code, huber_delta], dtype=np.float64)


def loss_spec(loss):
    """``(code, huber_delta)`` of a :func:`loss_parameters` array; usable inside kernels."""
    return int(loss[0]), float(loss[1])


@numba.extending.overload(loss_spec)
def _loss_spec_overload(loss):
    # Anything else fails to type (see the module's docstring).
    if isinstance(loss, numba.types.Array):
        return lambda loss: (np.intp(loss[0]), float(loss[1]))


@jit
def loss_value(P, Y, sw, has_sw, kind):
    """Mean loss of predictions ``P`` against targets ``Y``, as scikit-learn defines it.

    Rows are averaged with weights ``sw`` when ``has_sw`` (else uniformly);
    outputs are then averaged for squared error (which also carries the 1/2),
    absolute error and Huber, and summed for the others. Probabilities are
    clipped to ``[eps, 1 - eps]`` with the machine epsilon of ``P``'s dtype.
    Huber's loss of a residual ``r`` is HuberRegressor's ``H(r)`` (``r^2``
    for ``|r| <= delta``, ``2 delta |r| - delta^2`` beyond) times the 1/2 of
    squared error, so that it equals squared error wherever no residual
    exceeds ``delta``. ``kind`` is a code, ``(code, delta)`` or ``[code, delta]``.

    Returns a float64 accumulated in float64.
    """
    kind, delta = loss_spec(kind)
    n, k = P.shape
    eps = np.finfo(P.dtype).eps
    total = 0.0
    wsum = 0.0
    for i in range(n):
        w = sw[i] if has_sw else 1.0
        wsum += w
        row = 0.0
        for j in range(k):
            p = P[i, j]
            y = Y[i, j]
            if kind == SQUARED_ERROR:
                d = y - p
                row += d * d
            elif kind == ABSOLUTE_ERROR:
                row += abs(y - p)
            elif kind == HUBER:
                d = abs(y - p)
                row += d * d if d <= delta else 2.0 * delta * d - delta * delta
            elif kind == POISSON:
                term = p - y
                if y != 0:
                    term += y * math.log(y / p)
                row += term
            else:
                if p < eps:
                    p = eps
                elif p > 1 - eps:
                    p = 1 - eps
                if kind == LOG_LOSS:
                    if y != 0:
                        row -= y * math.log(p)
                else:
                    if y != 0:
                        row -= y * math.log(p)
                    if y != 1:
                        row -= (1 - y) * math.log(1 - p)
        total += w * row
    total /= wsum
    if kind == SQUARED_ERROR or kind == HUBER:
        total *= 0.5 / k
    elif kind == ABSOLUTE_ERROR:
        total /= k
    return total


@jit
def output_delta(P, Y, sw, has_sw, D, kind):
    """``D = (P - Y)``, each row scaled by its sample weight when ``has_sw``.

    For absolute error ``sign(P - Y)`` (0 where they are equal), for Huber
    ``clip(P - Y, -delta, delta)``: as for squared error, the derivative of
    the loss summed over outputs (scikit-learn back-propagates ``P - Y``
    for the mean over outputs; fastmlp keeps that convention for every
    regression loss).
    """
    kind, delta = loss_spec(kind)
    n, k = P.shape
    lo = -delta
    for i in range(n):
        w = sw[i] if has_sw else 1.0
        for j in range(k):
            d = P[i, j] - Y[i, j]
            if kind == ABSOLUTE_ERROR:
                d = (d > 0) - (d < 0) if d == d else d
            elif kind == HUBER:
                d = min(max(d, lo), delta)
            if has_sw:
                d *= w
            D[i, j] = d


# Called by address (fastmlp._parallel.call) from the MLP's batch_gradient:
# compiled once in their own libraries, not again inside it.
LOSS_VALUE = Kernel(loss_value)
OUTPUT_DELTA = Kernel(output_delta)
