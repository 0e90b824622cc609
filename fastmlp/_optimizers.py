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

A step reads the gradient's raw sums (the parts of a batch, before the L2
term and the division by the batch's weight) and finishes each entry in the
same pass as the update: one trip through the parameters instead of two.
"""

import math

import numpy as np

from ._config import NO, YES, cast_like, jit
from ._parallel import Kernel, call_lazily

# NO_STEP: compute gradients only (L-BFGS, gradient checks). NumPy integers
# so that a kernel passing one is not compiled again for a literal (see
# fastmlp._activations).
NO_STEP = np.intp(-1)
SGD = np.intp(0)
ADAM = np.intp(1)

# The ``two`` and ``l2`` flags are YES and NO from fastmlp._config: a
# literal True in one call and False in another compiled apply_step twice
# (about 1 s of a cold first fit).

# Layout of the float64 ``hyper`` vector that carries an optimizer's settings.
LR, MOMENTUM, NESTEROV, BETA_1, BETA_2, EPSILON = range(6)
N_HYPER = 6


@jit
def finished(g0, g1, two, w, a, l2, s):
    """One parameter's gradient from its raw sums: ``(g0 [+ g1] [+ a * w]) / s``.

    ``g0`` and ``g1`` are the raw sums of two parts of a batch (``g1`` is
    ignored unless ``two``), ``a * w`` the L2 term of a weight (only with
    ``l2``), ``s`` the batch's weight: scikit-learn's arithmetic, in this
    order. Every kernel that finishes a gradient does it here, so that a
    step taken from the raw sums and a gradient finished first are the same
    to the last bit.
    """
    g = g0 + g1 if two else g0
    if l2:
        g = g + a * w
    return g / s


@jit
def _sgd_loop(theta, g0, g1, two, a, l2, s, velocity, lr, momentum, nesterov):
    for i in range(theta.shape[0]):
        w = theta[i]
        g = finished(g0[i], g1[i], two, w, a, l2, s)
        v = momentum * velocity[i] - lr * g
        velocity[i] = v
        if nesterov:
            theta[i] = w + (momentum * v - lr * g)
        else:
            theta[i] = w + v


@jit
def sgd_step(theta, g0, g1, two, alpha, l2, s, velocity, lr, momentum, nesterov):
    """One SGD step with (Nesterov) momentum, in place, from raw gradient sums.

    The gradient is :func:`finished` from ``g0``, ``g1``, ``theta``,
    ``alpha`` and ``s`` entry by entry, in the same pass as the step:
    finishing it first, in a pass of its own, cost an extra trip through
    the parameters.
    """
    _sgd_loop(theta, g0, g1, two, cast_like(alpha, theta), l2, cast_like(s, theta),
              velocity, cast_like(lr, theta), cast_like(momentum, theta), nesterov)


@jit
def _adam_loop(theta, g0, g1, two, a, l2, s, m, v, lr_t, beta_1, one_minus_beta_1, beta_2,
               one_minus_beta_2, epsilon):
    for i in range(theta.shape[0]):
        w = theta[i]
        g = finished(g0[i], g1[i], two, w, a, l2, s)
        mi = beta_1 * m[i] + one_minus_beta_1 * g
        vi = beta_2 * v[i] + one_minus_beta_2 * (g * g)
        m[i] = mi
        v[i] = vi
        theta[i] = w - lr_t * mi / (math.sqrt(vi) + epsilon)


@jit
def adam_step(theta, g0, g1, two, alpha, l2, s, m, v, lr_t, beta_1, beta_2, epsilon):
    """One Adam step with the bias-corrected step size ``lr_t``, in place.

    From raw gradient sums, finished in the same pass as in :func:`sgd_step`.
    """
    # Scalars in the parameters' dtype keep a float32 loop in single
    # precision (twice the SIMD width), as NumPy does for float32 arrays.
    _adam_loop(theta, g0, g1, two, cast_like(alpha, theta), l2, cast_like(s, theta), m, v,
               cast_like(lr_t, theta), cast_like(beta_1, theta),
               cast_like(1 - beta_1, theta), cast_like(beta_2, theta),
               cast_like(1 - beta_2, theta), cast_like(epsilon, theta))


@jit
def begin_step(solver, hyper, t):
    """Advance the step count; returns ``(t, lr_t)``, the step size to apply.

    SGD keeps ``t`` and steps by the current learning rate; Adam counts the
    step and returns its bias-corrected step size,
    ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``.
    """
    if solver == SGD:
        return t, hyper[LR]
    t += 1
    # Written out here, not a helper of its own: each compiled function
    # costs a cold first fit about 0.2 s however small it is (issue 14).
    return t, hyper[LR] * math.sqrt(1 - hyper[BETA_2]**t) / (1 - hyper[BETA_1]**t)


@jit
def apply_step(solver, theta, G, n_parts, alpha, l2, s, state1, state2, hyper, lr_t, start,
               stop):
    """Step ``theta[start:stop]`` from the raw gradient sums ``G[:n_parts, start:stop]``.

    The gradient is :func:`finished` on the way (the L2 term only with
    ``l2``). ``G`` is only read, except that with more than two parts all
    but the last are first added into ``G[0]``, in the order in which
    ``fastmlp._mlp_kernels.finish_gradient`` adds them. Parameters are
    independent element by element, so a training loop may step each layer
    as soon as its gradient is final, while it is still in cache, instead
    of sweeping the whole vector afterwards.
    """
    g0 = G[0, start:stop]
    for q in range(1, n_parts - 1):
        other = G[q, start:stop]
        for i in range(g0.shape[0]):
            g0[i] += other[i]
    two = n_parts > 1
    g1 = G[n_parts - 1, start:stop] if two else g0
    # Each solver's step by address, compiled when a fit first takes it
    # (fastmlp._parallel.call_lazily): an adam fit does not compile SGD's,
    # and neither is compiled again inside apply_step.
    if solver == SGD:
        call_lazily(_SGD_STEP, (theta[start:stop], g0, g1, two, alpha, l2, s,
                                state1[start:stop], lr_t, hyper[MOMENTUM],
                                hyper[NESTEROV] != 0))
    elif solver == ADAM:
        call_lazily(_ADAM_STEP, (theta[start:stop], g0, g1, two, alpha, l2, s,
                                 state1[start:stop], state2[start:stop], lr_t, hyper[BETA_1],
                                 hyper[BETA_2], hyper[EPSILON]))


_SGD_STEP = Kernel(sgd_step)
_ADAM_STEP = Kernel(adam_step)
# Called by address from fastmlp._mlp_kernels.finish_step.
APPLY_STEP = Kernel(apply_step)
