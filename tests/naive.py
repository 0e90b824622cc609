"""Plain NumPy references for every compiled kernel (written for clarity, not speed)."""

import numpy as np

from fastmlp._activations import EXP, IDENTITY, LOGISTIC, RELU, SOFTMAX, TANH
from fastmlp._losses import BINARY_LOG_LOSS, POISSON, SQUARED_ERROR


def activation(Z, kind):
    if kind == IDENTITY:
        return Z.copy()
    if kind == LOGISTIC:
        return 1 / (1 + np.exp(-Z))
    if kind == TANH:
        return np.tanh(Z)
    if kind == RELU:
        return np.maximum(Z, 0)
    if kind == EXP:
        return np.exp(Z)
    if kind == SOFTMAX:
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)
    raise ValueError(kind)


def derivative_from_output(A, kind):
    """d activation / dz expressed through the output A (hidden activations only)."""
    return {
        IDENTITY: np.ones_like(A),
        LOGISTIC: A * (1 - A),
        TANH: 1 - A**2,
        RELU: (A > 0).astype(A.dtype),
    }[kind]


def loss(P, Y, sw, kind):
    w = np.ones(len(P)) if sw is None else sw
    eps = np.finfo(P.dtype).eps
    if kind == SQUARED_ERROR:
        per = 0.5 * ((Y - P) ** 2).mean(axis=1)
    elif kind == POISSON:
        with np.errstate(divide="ignore", invalid="ignore"):
            ylog = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1) / P), 0.0)
        per = (ylog - Y + P).sum(axis=1)
    else:
        Pc = np.clip(P, eps, 1 - eps)
        per = -(Y * np.log(Pc)).sum(axis=1)
        if kind == BINARY_LOG_LOSS:
            per -= ((1 - Y) * np.log(1 - Pc)).sum(axis=1)
    return float((w * per).sum() / w.sum())


def mlp_loss(X, Y, sw, coefs, intercepts, hidden, out, loss_kind, alpha, data_scale=1.0):
    """Loss with the L2 term of a full network, by plain NumPy.

    ``data_scale`` multiplies the data term only (see :func:`gradient_scale`).
    """
    A = X
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        A = activation(A @ W + b, out if i == len(coefs) - 1 else hidden)
    s = len(X) if sw is None else sw.sum()
    l2 = 0.5 * alpha * sum((W**2).sum() for W in coefs) / s
    return data_scale * loss(A, Y, sw, loss_kind) + l2


def gradient_scale(loss_kind, n_outputs):
    """By what the data term must be scaled for the MLP gradient to be its derivative.

    scikit-learn reports the squared error averaged over outputs but
    back-propagates ``P - Y``, the derivative of the loss *summed* over
    outputs; fastmlp keeps that convention for parity, so with several
    outputs the gradient is that of ``n_outputs`` times the reported data term.
    """
    return float(n_outputs) if loss_kind == SQUARED_ERROR else 1.0


def sgd(theta, grad, velocity, lr, momentum, nesterov):
    v = momentum * velocity - lr * grad
    step = momentum * v - lr * grad if nesterov else v
    return theta + step, v


def adam(theta, grad, m, v, t, lr, b1, b2, eps):
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    return theta - lr_t * m / (np.sqrt(v) + eps), m, v
