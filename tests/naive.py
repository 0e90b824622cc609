"""Plain NumPy references for every compiled kernel (written for clarity, not speed)."""

import math

import numpy as np
from scipy.special import expit

from fastmlp._activations import (
    ELU,
    EXP,
    GELU,
    IDENTITY,
    LEAKY_RELU,
    LOGISTIC,
    RELU,
    SILU,
    SOFTMAX,
    SOFTPLUS,
    TANH,
)
from fastmlp._losses import ABSOLUTE_ERROR, BINARY_LOG_LOSS, HUBER, POISSON, SQUARED_ERROR


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
    if kind == LEAKY_RELU:
        return np.where(Z > 0, Z, 0.01 * Z)
    if kind == ELU:
        return np.where(Z > 0, Z, np.expm1(np.minimum(Z, 0)))
    if kind == SOFTPLUS:
        return np.logaddexp(0, Z)
    if kind == SILU:
        return Z * expit(Z)
    if kind == GELU:
        # PyTorch's approximate="tanh" form, 0.5 z (1 + tanh(u)), with
        # 0.5 (1 + tanh(u)) = expit(2u) (see gelu_tanh_form) so that it keeps
        # its relative precision for z << 0, where 1 + tanh(u) cancels.
        return Z * expit(2 * _gelu_u(Z))
    raise ValueError(kind)


def _gelu_u(Z):
    return math.sqrt(2 / math.pi) * (Z + 0.044715 * Z**3)


def gelu_tanh_form(Z):
    """gelu as PyTorch writes it (approximate="tanh"); equal to activation(Z, GELU)."""
    return 0.5 * Z * (1 + np.tanh(_gelu_u(Z)))


def derivative_from_input(Z, kind):
    """d activation / dz at the pre-activation Z (every hidden activation)."""
    if kind == LEAKY_RELU:
        return np.where(Z > 0, 1.0, 0.01)
    if kind == ELU:
        return np.where(Z > 0, 1.0, np.exp(np.minimum(Z, 0)))
    if kind == SOFTPLUS:
        return expit(Z)
    if kind == SILU:
        s = expit(Z)
        return s * (1 + Z * (1 - s))
    if kind == GELU:
        c = math.sqrt(2 / math.pi)
        s = expit(2 * _gelu_u(Z))
        return s + Z * s * (1 - s) * 2 * c * (1 + 3 * 0.044715 * Z**2)
    return derivative_from_output(activation(Z, kind), kind)


def derivative_from_output(A, kind):
    """d activation / dz expressed through the output A (hidden activations only)."""
    return {
        IDENTITY: np.ones_like(A),
        LOGISTIC: A * (1 - A),
        TANH: 1 - A**2,
        RELU: (A > 0).astype(A.dtype),
    }[kind]


def kernel_loss(kind):
    """A test's loss (a code, or ``(HUBER, delta)``) in the form the estimators pass the kernels."""
    from fastmlp._losses import loss_parameters

    return loss_parameters(*kind) if isinstance(kind, tuple) else loss_parameters(kind)


def loss(P, Y, sw, kind):
    """``kind`` is a loss code, or ``(HUBER, delta)``."""
    kind, delta = kind if isinstance(kind, tuple) else (kind, None)
    w = np.ones(len(P)) if sw is None else sw
    eps = np.finfo(P.dtype).eps
    if kind == SQUARED_ERROR:
        per = 0.5 * ((Y - P) ** 2).mean(axis=1)
    elif kind == ABSOLUTE_ERROR:
        per = np.abs(Y - P).mean(axis=1)
    elif kind == HUBER:
        # HuberRegressor's H, with squared error's 1/2.
        r = np.abs(Y - P)
        per = 0.5 * np.where(r <= delta, r**2, 2 * delta * r - delta**2).mean(axis=1)
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
    kind = loss_kind[0] if isinstance(loss_kind, tuple) else loss_kind
    return float(n_outputs) if kind in (SQUARED_ERROR, ABSOLUTE_ERROR, HUBER) else 1.0


def output_delta(P, Y, kind):
    """The error signal the output layer sends back (before sample weights)."""
    kind, delta = kind if isinstance(kind, tuple) else (kind, None)
    if kind == ABSOLUTE_ERROR:
        return np.sign(P - Y)
    if kind == HUBER:
        return np.clip(P - Y, -delta, delta)
    return P - Y


def sgd(theta, grad, velocity, lr, momentum, nesterov):
    v = momentum * velocity - lr * grad
    step = momentum * v - lr * grad if nesterov else v
    return theta + step, v


def adam(theta, grad, m, v, t, lr, b1, b2, eps):
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    return theta - lr_t * m / (np.sqrt(v) + eps), m, v


# Dropout (fastmlp._dropout): the keep decisions by the same hash, in NumPy's
# wrapping uint64 arithmetic on arrays.
_U64 = np.uint64


def _mix64(z):
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def _mix32(x):
    low = _U64(0xFFFFFFFF)
    x = x ^ (x >> _U64(16))
    x = (x * _U64(0x85EBCA6B)) & low
    x = x ^ (x >> _U64(13))
    x = (x * _U64(0xC2B2AE35)) & low
    return x ^ (x >> _U64(16))


def dropout_hashes(seed, count, layer, rows, n_units):
    """(len(rows), n_units) 32-bit hashes of hidden layer ``layer``'s units in batch ``count``."""
    golden = _U64(0x9E3779B97F4A7C15)
    seed, count = (np.array([k], dtype=_U64) for k in (seed, count))
    stream = _mix64(seed ^ _mix64(count * golden + _U64(layer)))
    base = _mix64(stream + np.asarray(rows, dtype=_U64) * golden) >> _U64(32)
    units = np.arange(n_units, dtype=_U64) * _U64(0x9E3779B9)
    return _mix32((base[:, None] + units[None, :]) & _U64(0xFFFFFFFF))


def dropout_factors(seed, count, rows, hidden_units, rates):
    """Per hidden layer, each unit's factor ``m / q``: 0 if dropped.

    ``q`` is the keep probability, ``1 - p`` rounded to a multiple of 2**-32.
    """
    out = []
    for layer, (k, p) in enumerate(zip(hidden_units, rates)):
        q = np.floor((1.0 - p) * 2.0**32 + 0.5) / 2.0**32
        keep = dropout_hashes(seed, count, layer, rows, k).astype(np.float64) < q * 2.0**32
        out.append(keep / q)
    return out


def central_differences(f, theta, h=1e-6):
    """The gradient of ``f`` at ``theta`` by central differences, one entry at a time."""
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        numeric[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return numeric


def mlp_loss_dropout(X, Y, sw, coefs, intercepts, hidden, out, loss_kind, alpha, factors,
                     data_scale=1.0):
    """:func:`mlp_loss` with hidden layer ``l``'s output multiplied by ``factors[l]``."""
    A = X
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        last = i == len(coefs) - 1
        A = activation(A @ W + b, out if last else hidden)
        if not last:
            A = A * factors[i]
    s = len(X) if sw is None else sw.sum()
    l2 = 0.5 * alpha * sum((W**2).sum() for W in coefs) / s
    return data_scale * loss(A, Y, sw, loss_kind) + l2
