"""Dropout of hidden units in training: the rates, the masks and how they reach the epoch.

Inverted dropout (Srivastava et al., 2014): in each training batch every
unit of hidden layer ``l`` is dropped (its output set to 0) with
probability ``rates[l]`` and kept otherwise, the kept outputs scaled by
``1 / (1 - rates[l])`` so that a unit's expected output is the same as
without dropout; prediction uses the network as it is, with no mask and no
scale. The input and the output layer are never dropped.

The masks are drawn inside the compiled epoch (:func:`drop_units`, called
from :func:`fastmlp._mlp_kernels.forward`), with no random stream of its
own: each unit's keep decision is a hash of ``(seed, batch count, layer,
row of X, unit)`` compared with the layer's threshold. All of it travels
in one int64 array ``drop`` = ``[seed, batch count, threshold of each
hidden layer]`` (:func:`dropout_state`; empty: no dropout). The seed is
drawn once per fit from the estimator's random state, only when a rate is
above 0 (so that ``dropout=0`` consumes nothing and stays bit-identical to
scikit-learn), and the epoch adds 1 to the count after every batch. A
row's mask depends neither on where the batch was split between threads
nor on how the epoch was split into calls, so a model is the same on one
thread or several.

With dropout, every hidden layer keeps in the second half of ``deltas``
what its backward pass needs once the output is masked: the slopes for
gelu and silu (as they always do), the unmasked output ``f(z)`` for the
others, whose derivative is taken from it. The backward pass multiplies the
gradient of a layer's output by the same masks (:func:`mask_gradient`, the
hash computed again rather than a mask stored), which sends no gradient
through a dropped unit and scales a kept one's by ``1 / (1 - p)``, then by
the activation's slope as without dropout.
"""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError

from ._activations import deltas_per_unit, keeps_slope
from ._config import cast_like, jit
from ._parallel import Kernel, call_lazily

# splitmix64's constants (Steele, Lea and Flood, 2014) and murmur3's 32-bit
# finaliser's (Appleby). A uint64 mixed with an int64 in Numba gives a
# float64: every constant and shift count here is a NumPy uint64.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_GOLDEN32 = np.uint64(0x9E3779B9)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_FMIX1 = np.uint64(0x85EBCA6B)
_FMIX2 = np.uint64(0xC2B2AE35)
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFTS = tuple(np.uint64(k) for k in (13, 16, 27, 30, 31, 32))
_S13, _S16, _S27, _S30, _S31, _S32 = _SHIFTS


@jit(inline="always")
def _mix64(z):
    """splitmix64's finaliser: a bijection of uint64, every output bit hung on every input bit."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@jit(inline="always")
def _mix32(x):
    """murmur3's 32-bit finaliser, on the low 32 bits of a uint64 (``x < 2**32``).

    32-bit multiplies vectorise on AVX2, where 64-bit ones do not: a 64-bit
    hash per unit cost 1.6 ns an element (float64), this one 1.2.
    """
    x = x ^ (x >> _S16)
    x = (x * _FMIX1) & _LOW32
    x = x ^ (x >> _S13)
    x = (x * _FMIX2) & _LOW32
    return x ^ (x >> _S16)


# A hash below a layer's threshold keeps the unit: thresholds are out of 2**32.
_FULL = 1 << 32


def thresholds(rates):
    """``round((1 - rate) * 2**32)`` for each rate: the keep thresholds of :func:`dropout_state`."""
    return np.floor((1.0 - np.asarray(rates, dtype=np.float64)) * _FULL + 0.5).astype(np.int64)


def dropout_state(rates, seed=0, count=0):
    """The kernels' ``drop`` array: ``[seed, batch count, threshold of each hidden layer]``.

    int64 (the seed's uint64 bits), or empty without dropout (``rates``
    empty). One array, the type of the kernels' row numbers: prediction
    passes an empty slice of those, and no kernel compiles again for it.
    """
    if len(rates) == 0:
        return np.empty(0, dtype=np.int64)
    head = np.array([seed, count], dtype=np.uint64).view(np.int64)
    return np.concatenate([head, thresholds(rates)])


@jit
def unit_hashes(drop, layer, row, units, out):
    """The 32-bit hashes of ``units`` units of one row (tests and :func:`drop_units`'s reference).

    ``out[j]`` is unit ``j``'s hash in the batch of ``drop`` (its seed and
    count), hidden layer ``layer``, row ``row`` of X.
    """
    base = _row_base(drop, layer, row)
    for j in range(units):
        out[j] = _unit_hash(base, j)


@jit(inline="always")
def _row_base(drop, layer, row):
    stream = _mix64(np.uint64(drop[0]) ^ _mix64(np.uint64(drop[1]) * _GOLDEN + np.uint64(layer)))
    return _mix64(stream + np.uint64(row) * _GOLDEN) >> _S32


@jit(inline="always")
def _unit_hash(base, j):
    return _mix32((base + np.uint64(j) * _GOLDEN32) & _LOW32)


@jit(inline="always")
def dropping(drop):
    """True when dropout is on (the estimator passes an empty ``drop`` when every rate is 0)."""
    return drop.shape[0] > 0


@jit
def _scale_by_masks(M, drop, layer, rows):
    """``M[i, j] *= m / q``, ``m`` the keep decision of unit ``j`` of row ``rows[i]``.

    ``q`` = threshold / 2**32 is the exact keep probability, ``1 - rate``
    rounded to 2**-32, so that the scaled output's expectation is the
    unmasked one.
    """
    n, k = M.shape
    threshold = np.uint64(drop[2 + layer])
    kept = cast_like(4294967296.0 / drop[2 + layer], M)
    dropped = cast_like(0.0, M)
    for i in range(n):
        base = _row_base(drop, layer, rows[i])
        for j in range(k):
            M[i, j] *= kept if _unit_hash(base, j) < threshold else dropped


# Called by address, and compiled when a fit first drops a unit
# (fastmlp._parallel.call_lazily): linked, it was compiled with every forward
# and backward pass, dropout or not (0.6 s of a cold first fit), and again
# inside each of their callers.
_SCALE_BY_MASKS = Kernel(_scale_by_masks)


# Inlined in the forward and backward passes: as functions of their own,
# each was one more compile, and its code linked into every caller anyway.
@jit(inline="always")
def drop_units(A, S, kind, drop, layer, rows):
    """Dropout on hidden layer ``layer``'s output ``A`` (n, k), after its activation.

    Nothing without dropout (``drop`` empty) or without slopes (``S``
    empty: the output layer). Otherwise ``A`` becomes ``f(z) m / q``, ``m``
    the keep decision of each unit of row ``rows[i]`` and ``q`` the layer's
    keep probability, and ``S`` keeps what the backward pass needs after the
    mask: gelu's and silu's slopes are there already
    (:func:`fastmlp._activations.bias_activate_keeping`); for every other
    activation ``S`` receives ``f(z)``, from which its slope is taken
    (:func:`fastmlp._activations.derivative`).
    """
    if not dropping(drop) or S.shape[0] == 0:
        return
    n, k = A.shape
    if not keeps_slope(kind):
        for i in range(n):
            for j in range(k):
                S[i, j] = A[i, j]
    if drop[2 + layer] < _FULL:
        call_lazily(_SCALE_BY_MASKS, (A, drop, layer, rows))


@jit(inline="always")
def mask_gradient(D, drop, layer, rows):
    """The backward pass through :func:`drop_units`' masks: ``D *= m / q``.

    ``D`` is the gradient with respect to hidden layer ``layer``'s output;
    the masks are drawn again from the same hash (about 1 ns an element),
    not stored. Nothing without dropout.
    """
    if dropping(drop) and drop[2 + layer] < _FULL:
        call_lazily(_SCALE_BY_MASKS, (D, drop, layer, rows))


def scratch_per_unit(hidden, drop):
    """Entries of ``deltas`` a hidden unit and row: 2 with dropout (``drop``), else as before."""
    return 2 if drop.shape[0] > 0 else deltas_per_unit(hidden)


_MESSAGE = ("The 'dropout' parameter of %s must be a float in the range [0.0, 1.0) or an "
            "array-like of such floats, one per hidden layer. Got %r instead.")


def dropout_rates(dropout, n_hidden, owner="MLPClassifier"):
    """The per-hidden-layer rates of ``dropout``, as a float64 array, or an empty one.

    ``dropout`` is a float in [0, 1) for every hidden layer, or one such
    float per hidden layer (``n_hidden`` of them). All zero gives an empty
    array: dropout off, nothing drawn, the default path. Raises
    :class:`~sklearn.utils._param_validation.InvalidParameterError` (a
    ValueError, as scikit-learn's parameter validation raises for a bad
    float) for a value outside [0, 1) and ValueError for the wrong number of
    rates.
    """
    if isinstance(dropout, (Real, np.number)):
        values = np.full(n_hidden, float(dropout))
    elif isinstance(dropout, (str, bytes, dict)) or not hasattr(dropout, "__len__"):
        raise InvalidParameterError(_MESSAGE % (owner, dropout))
    else:
        try:
            values = np.asarray(dropout, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidParameterError(_MESSAGE % (owner, dropout)) from None
        if values.ndim != 1:
            raise InvalidParameterError(_MESSAGE % (owner, dropout))
    if not np.all((values >= 0.0) & (values < 1.0)):
        raise InvalidParameterError(_MESSAGE % (owner, dropout))
    if values.shape[0] != n_hidden:
        raise ValueError(
            "dropout has %d rates for %d hidden layers: give one float, or one rate per "
            "hidden layer." % (values.shape[0], n_hidden))
    if not values.any():
        return np.empty(0)
    return np.ascontiguousarray(values)
