"""Compiled optimizer steps over one flat parameter buffer.

The estimator keeps every weight and bias in a single contiguous vector
(``coefs_`` and ``intercepts_`` are views of it), so one loop updates the
whole network and the optimizer state is two vectors of the same length.
The update rules are scikit-learn's (``_stochastic_optimizers``):

* SGD with momentum ``mu`` and learning rate ``lr``::

      v <- mu * v - lr * g
      theta += mu * v - lr * g   (Nesterov)   or   theta += v

* Adam, with ``t`` the step count after increment::

      m <- b1 * m + (1 - b1) * g
      v <- b2 * v + (1 - b2) * g^2
      theta -= lr_t * m / (sqrt(v) + eps),  lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)
"""

import math

import numpy as np

from ._config import cast_like, jit

# NO_STEP: compute gradients only (L-BFGS, gradient checks). NumPy integers
# so that a kernel passing one is not compiled again for a literal (see
# fastmlp._activations).
NO_STEP = np.intp(-1)
SGD = np.intp(0)
ADAM = np.intp(1)

# Layout of the float64 ``hyper`` vector that carries an optimizer's settings.
LR, MOMENTUM, NESTEROV, BETA_1, BETA_2, EPSILON = range(6)
N_HYPER = 6


@jit
def sgd_step(theta, grad, velocity, lr, momentum, nesterov):
    """One SGD step with (Nesterov) momentum, in place."""
    for i in range(theta.shape[0]):
        g = grad[i]
        v = momentum * velocity[i] - lr * g
        velocity[i] = v
        if nesterov:
            theta[i] += momentum * v - lr * g
        else:
            theta[i] += v


@jit
def adam_learning_rate(lr, beta_1, beta_2, t):
    """Adam's bias-corrected step size at step ``t`` (t >= 1)."""
    return lr * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)


@jit
def _adam_loop(theta, grad, m, v, lr_t, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2,
               epsilon):
    for i in range(theta.shape[0]):
        g = grad[i]
        mi = beta_1 * m[i] + one_minus_beta_1 * g
        vi = beta_2 * v[i] + one_minus_beta_2 * (g * g)
        m[i] = mi
        v[i] = vi
        theta[i] -= lr_t * mi / (math.sqrt(vi) + epsilon)


@jit
def adam_step(theta, grad, m, v, lr_t, beta_1, beta_2, epsilon):
    """One Adam step with the bias-corrected step size ``lr_t``, in place."""
    # Scalars in the parameters' dtype keep a float32 loop in single
    # precision (twice the SIMD width), as NumPy does for float32 arrays.
    _adam_loop(theta, grad, m, v, cast_like(lr_t, theta), cast_like(beta_1, theta),
               cast_like(1 - beta_1, theta), cast_like(beta_2, theta),
               cast_like(1 - beta_2, theta), cast_like(epsilon, theta))


@jit
def begin_step(solver, hyper, t):
    """Advance the step count; returns ``(t, lr_t)``, the step size to apply.

    SGD keeps ``t`` and steps by the current learning rate; Adam counts the
    step and returns its bias-corrected step size.
    """
    if solver == SGD:
        return t, hyper[LR]
    t += 1
    return t, adam_learning_rate(hyper[LR], hyper[BETA_1], hyper[BETA_2], t)


@jit
def apply_step(solver, theta, grad, state1, state2, hyper, lr_t, start, stop):
    """Update ``theta[start:stop]`` from ``grad[start:stop]`` (one step, in place).

    Parameters are independent element by element, so a training loop may
    step each layer as soon as its gradient is final, while it is still in
    cache, instead of sweeping the whole vector afterwards.
    """
    if solver == SGD:
        sgd_step(theta[start:stop], grad[start:stop], state1[start:stop], lr_t,
                 hyper[MOMENTUM], hyper[NESTEROV] != 0)
    elif solver == ADAM:
        adam_step(theta[start:stop], grad[start:stop], state1[start:stop],
                  state2[start:stop], lr_t, hyper[BETA_1], hyper[BETA_2], hyper[EPSILON])


@jit
def optimizer_step(solver, theta, grad, state1, state2, hyper, t):
    """One step of ``solver`` (SGD or ADAM) on the whole vector; returns the new count."""
    t, lr_t = begin_step(solver, hyper, t)
    apply_step(solver, theta, grad, state1, state2, hyper, lr_t, 0, theta.shape[0])
    return t
