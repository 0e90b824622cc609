"""Compiled losses of the MLP and the error signal they send back.

Every loss here is paired with the output activation that is its canonical
link (identity for squared error, exp for Poisson, softmax for multiclass
log-loss, logistic for binary/multilabel log-loss), so the derivative of the
loss with respect to the output layer's pre-activation is ``P - Y`` for all of
them; :func:`output_delta` computes that once for every loss.
"""

import math

import numpy as np

from ._config import jit

SQUARED_ERROR = 0
POISSON = 1
LOG_LOSS = 2
BINARY_LOG_LOSS = 3

LOSS_CODES = {
    "squared_error": SQUARED_ERROR,
    "poisson": POISSON,
    "log_loss": LOG_LOSS,
    "binary_log_loss": BINARY_LOG_LOSS,
}


@jit
def loss_value(P, Y, sw, has_sw, kind):
    """Mean loss of predictions ``P`` against targets ``Y``, as scikit-learn defines it.

    Rows are averaged with weights ``sw`` when ``has_sw`` (else uniformly);
    outputs are then averaged for squared error (which also carries the 1/2)
    and summed for the others. Probabilities are clipped to
    ``[eps, 1 - eps]`` with the machine epsilon of ``P``'s dtype.

    Returns a float64 accumulated in float64.
    """
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
    if kind == SQUARED_ERROR:
        total *= 0.5 / k
    return total


@jit
def output_delta(P, Y, sw, has_sw, D):
    """``D = (P - Y)``, each row scaled by its sample weight when ``has_sw``."""
    n, k = P.shape
    for i in range(n):
        w = sw[i] if has_sw else 1.0
        for j in range(k):
            d = P[i, j] - Y[i, j]
            if has_sw:
                d *= w
            D[i, j] = d
