"""Compiled activations and the fused affine layer, shared by every estimator.

Each activation is named by a small integer so that a kernel can take it as
an argument and branch once per call, outside the element loops. The string
names are the ones scikit-learn uses; :data:`ACTIVATION_CODES` maps them.

All kernels work in place on arrays the caller allocated; none allocates
per call except :func:`softmax_rows`, which uses no temporaries either.
"""

import math

import numba
import numba.extending
import numpy as np

from ._config import NO, YES, cast_like, jit
from ._parallel import Kernel, call, call_lazily

# NumPy integers, not Python ints: Numba compiles a kernel again for each
# Python-int constant a caller passes it (as a literal type), so a kernel
# called with LOGISTIC from compiled code and with a code from Python was
# compiled twice. An np.intp is typed int64 either way.
IDENTITY = np.intp(0)
LOGISTIC = np.intp(1)
TANH = np.intp(2)
RELU = np.intp(3)
SOFTMAX = np.intp(4)
EXP = np.intp(5)
# Hidden activations beyond scikit-learn's (README "Beyond scikit-learn").
LEAKY_RELU = np.intp(6)
ELU = np.intp(7)
GELU = np.intp(8)
SILU = np.intp(9)
SOFTPLUS = np.intp(10)

ACTIVATION_CODES = {
    "identity": IDENTITY,
    "logistic": LOGISTIC,
    "tanh": TANH,
    "relu": RELU,
    "softmax": SOFTMAX,
    "exp": EXP,
    "leaky_relu": LEAKY_RELU,
    "elu": ELU,
    "gelu": GELU,
    "silu": SILU,
    "softplus": SOFTPLUS,
}

# The hidden activations scikit-learn has, and those fastmlp adds.
SKLEARN_HIDDEN = ("identity", "logistic", "tanh", "relu")
EXTRA_HIDDEN = ("leaky_relu", "elu", "gelu", "silu", "softplus")

# leaky_relu's slope for z < 0: PyTorch's and Keras 3's default.
LEAKY_SLOPE = 0.01
# gelu is PyTorch's approximate="tanh" form, 0.5 z (1 + tanh(c (z + k z^3))),
# written as z * sigmoid(2 c (z + k z^3)), the same function (1 + tanh(u) =
# 2 sigmoid(2u)) without the cancellation of 1 + tanh(u) for z << 0.
_GELU_C = 0.7978845608028654  # sqrt(2 / pi)
_GELU_K = 0.044715


def _bitcast(src, dst, name):
    """An intrinsic giving the ``dst`` scalar whose bits are those of a ``src`` scalar.

    A reinterpretation of the IEEE bit pattern, not a conversion.
    """

    def typer(typingctx, x):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(dst))

        return dst(src), codegen

    typer.__name__ = typer.__qualname__ = name
    return numba.extending.intrinsic(typer)


_int64_bits_as_float64 = _bitcast(numba.types.int64, numba.types.float64,
                                  "_int64_bits_as_float64")
_float64_bits_as_int64 = _bitcast(numba.types.float64, numba.types.int64,
                                  "_float64_bits_as_int64")


@numba.extending.intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (LLVM's fma, a vector instruction on x86 with FMA)."""
    sig = numba.types.float64(numba.types.float64, numba.types.float64, numba.types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@jit(inline="always")
def _pow2(k):
    """``2.0 ** k`` for an integer-valued float ``-1022 <= k <= 1023``.

    Adding 2^52 + 1023 leaves ``k + 1023`` in the low bits of the float's
    mantissa, and shifting them into the exponent field gives ``2^k``. A
    float-to-int64 conversion would do the same, but x86 has no vector
    instruction for it before AVX-512: on AVX2 machines every element of
    exp's vector loop went through scalar conversions.
    """
    return _int64_bits_as_float64(_float64_bits_as_int64(k + 4503599627371519.0) << 52)


# 1/k! for k = 13 .. 2, the Taylor coefficients of exp on |r| <= ln(2)/2,
# where the first omitted term is below 2e-16 of the result.
_EXP_COEFS = tuple(1.0 / math.factorial(k) for k in range(13, 1, -1))
_LN2_HI = 0.6931471803691238  # ln 2 in two parts: k * _LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.9082149292705877e-10
_EXP_MAX = 709.782712893384  # above: exp overflows to inf
_EXP_MIN = -745.1332191019412  # below: exp underflows to 0


@jit
def _horner(c, x):
    """``c[0] x^(n-1) + ... + c[n-1]`` for the coefficient tuple ``c``."""
    p = c[0]
    for i in range(1, len(c)):
        p = _fma(p, x, c[i])
    return p


@jit(inline="always")
def _estrin12(c, x):
    """``c[0] x^11 + ... + c[11]``, the same polynomial as :func:`_horner` in a shallower tree.

    Horner's rule is a chain of 11 dependent multiply-adds; exp's vector
    loop waited on it (2.6 ns per element). Pairing terms (Estrin's scheme)
    leaves 5 steps in a row: 2.05 ns, and the results stay within 1 ulp.
    """
    x2 = x * x
    x4 = x2 * x2
    e0 = _fma(c[10], x, c[11])
    e1 = _fma(c[8], x, c[9])
    e2 = _fma(c[6], x, c[7])
    e3 = _fma(c[4], x, c[5])
    e4 = _fma(c[2], x, c[3])
    e5 = _fma(c[0], x, c[1])
    f0 = _fma(e1, x2, e0)
    f1 = _fma(e3, x2, e2)
    f2 = _fma(e5, x2, e4)
    return _fma(f2, x4 * x4, _fma(f1, x4, f0))


@jit
def exp(x):
    """``exp(x)`` in float64 within 1 ulp of libm's, in a form the compiler vectorises.

    ``math.exp`` is a call into libm per element, which keeps every loop
    around it scalar; the logistic and softmax layers spent as long in it as
    in their matrix products. This is ``2^k * exp(r)`` with ``r = x - k ln 2``,
    a polynomial for ``exp(r)`` and the power of two built from its bits (in
    two factors, so that subnormal results come out right); inf, 0 and NaN
    are selected at the ends, branch-free.
    """
    k = np.floor(x * 1.4426950408889634 + 0.5)  # math.floor would return an int
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = _fma(_fma(_estrin12(_EXP_COEFS, r), r, 1.0), r, 1.0)
    k1 = min(max(k, -1000.0), 1000.0)
    k2 = min(max(k - k1, -100.0), 100.0)
    res = p * _pow2(k1)
    res = res * _pow2(k2)
    res = math.inf if x > _EXP_MAX else res
    res = 0.0 if x < _EXP_MIN else res
    return res if x == x else x


# 1/k! for k = 20 .. 2: the Taylor series of expm1 on [0, 1.25], where the
# first omitted term is below 1e-17 of the result.
_EXPM1_COEFS = tuple(1.0 / math.factorial(k) for k in range(20, 1, -1))


@jit(inline="always")
def tanh(x):
    """``tanh(x)`` in float64 within 3 ulp of libm's, vectorisable like :func:`exp`.

    ``tanh(a) = m / (m + 2)`` with ``m = expm1(2a)`` for ``a = |x|``: no
    cancellation anywhere. ``expm1`` comes from its Taylor series for
    ``2a <= 1.25`` and from ``exp(2a) - 1`` above, where ``exp(2a) >= 3.4``
    leaves the subtraction exact to an ulp. Past ``|x| = 22`` tanh is 1.0 in
    float64 (as libm returns); NaN propagates. Rounding in ``m`` (the
    series, or exp's 1 ulp and the subtraction), in ``m + 2`` and in the
    division add up to the 3 ulp; libm's tanh is 7x slower per element.
    """
    a = abs(x)
    y = 2.0 * a
    small = _horner(_EXPM1_COEFS, y)
    small = (small * y + 1.0) * y
    m = small if y <= 1.25 else exp(y) - 1.0
    t = m / (m + 2.0)
    t = 1.0 if a > 22.0 else t
    return t if x > 0 else (-t if x < 0 else x)  # x itself for +-0 and NaN


@jit(inline="always")
def _expm1_neg(x):
    """``exp(x) - 1`` for ``x <= 0``, vectorisable: a Taylor series near 0, exp below.

    ``exp(x) - 1`` alone loses the relative precision of a small result
    (1e-6 of it at x = -1e-10). For ``x >= -0.35`` this is ``x + x^2 p(x)``
    with exp's 12 coefficients (the first omitted term, x^14 / 14!, is below
    2e-17 of the result); below, ``exp(x) <= 0.71`` and the subtraction
    costs at most 2 ulp. Both are computed and one selected: a branch
    around exp (a call) kept the loop scalar (26 ns an element).
    """
    series = _fma(x * x, _estrin12(_EXP_COEFS, x), x)
    direct = exp(x) - 1.0
    return series if x >= -0.35 else direct


# 1 / (2k + 1), highest k first: 2 atanh(s) = 2 s sum_k s^2k / (2k + 1),
# whose first omitted term (k = 18) is below 2e-18 for s <= 1/3. Two
# 12-coefficient halves (k = 11 .. 0, then k = 17 .. 12 padded with zeros)
# for _estrin12, which indexes its tuple by constants: a loop over a
# tuple's entries indexes it at run time and kept the caller scalar.
_ATANH_LO = tuple(1.0 / (2 * k + 1) for k in range(11, -1, -1))
_ATANH_HI = (0.0,) * 6 + tuple(1.0 / (2 * k + 1) for k in range(17, 11, -1))


@jit(inline="always")
def _log1p_unit(u):
    """``log(1 + u)`` for ``0 <= u <= 1``, vectorisable (libm's log1p is a call per element).

    ``1 + u = (1 + s) / (1 - s)`` for ``s = u / (2 + u)`` (no rounding of
    ``1 + u``), and ``log`` of that is ``2 atanh(s)``, a series in ``s^2``.
    """
    s = u / (2.0 + u)
    t = s * s
    t4 = (t * t) * (t * t)
    series = _fma(t4 * t4 * t4, _estrin12(_ATANH_HI, t), _estrin12(_ATANH_LO, t))
    return 2.0 * s * series


@jit(inline="always")
def _softplus(z):
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): exp never overflows.
    return max(z, 0.0) + _log1p_unit(exp(-abs(z)))


@jit(inline="always")
def _gate(z, kind):
    """``(s, ds/dz)`` of the gate of ``z * s(z)``: silu's sigmoid(z), gelu's sigmoid(2u)."""
    if kind == SILU:
        s = 1.0 / (1.0 + exp(-z))
        return s, s * (1.0 - s)
    z2 = z * z
    u2 = 2.0 * _GELU_C * (z + _GELU_K * z2 * z)
    s = 1.0 / (1.0 + exp(-u2))
    return s, s * (1.0 - s) * (2.0 * _GELU_C * (1.0 + 3.0 * _GELU_K * z2))


@jit
def _logistic(x):
    # The same formula as scipy.special.expit; for very negative x, exp(-x)
    # overflows to inf and the result is an exact 0, as in SciPy. For
    # float32, SciPy computes 1 / (1 + expf(-x)) in float32; exp rounded to
    # float32 is expf, so the same steps in float32 give the same bits. The
    # RBM's samples compare uniforms with these values: one float32 rounding
    # of difference can flip a draw and send the chain elsewhere.
    # exp of the float64 value: exp computes in float64 from its first step
    # whatever it is given, and one specialisation serves both dtypes.
    one = cast_like(1.0, x)
    return one / (one + cast_like(exp(float(-x)), x))


@jit
def softmax_rows(Z):
    """Replace each row of ``Z`` (C-ordered) by its softmax, shifted by the row maximum."""
    n, k = Z.shape
    for i in range(n):
        m = Z[i, 0]
        for j in range(1, k):
            if Z[i, j] > m:
                m = Z[i, j]
        for j in range(k):
            Z[i, j] -= m
    # One exp loop over the whole block: rows are short (one element per
    # class), and an exp loop per row ran mostly in its scalar remainder.
    flat = Z.reshape(n * k)
    for q in range(flat.shape[0]):
        flat[q] = exp(float(flat[q]))
    for i in range(n):
        s = Z.dtype.type(0.0)
        for j in range(k):
            s += Z[i, j]
        for j in range(k):
            Z[i, j] /= s


@jit(inline="always")
def _apply(z, kind):
    if kind == RELU:
        return 0.0 if z < 0 else z
    if kind == LOGISTIC:
        return _logistic(z)
    if kind == TANH:
        return tanh(z)
    if kind == EXP:
        return exp(float(z))
    return z


@jit(inline="always")
def _leaky_relu(z):
    return z if z > 0 else LEAKY_SLOPE * z


@jit(inline="always")
def _elu(z):
    return z if z > 0 else _expm1_neg(min(z, 0.0))


# In float64 for float32 layers too, as bias_activate_keeping computes them.
@jit(inline="always")
def _silu(z):
    z = float(z)
    return z * _gate(z, SILU)[0]


@jit(inline="always")
def _gelu(z):
    z = float(z)
    return z * _gate(z, GELU)[0]


@jit
def _extra_activate(Z, b, kind, add_bias):
    """The activations beyond scikit-learn's, ``Z = f(Z + b)`` (``b`` read if ``add_bias``).

    One loop per kind, apart from scikit-learn's kinds: a single loop that
    branched on the kind inside stopped vectorising even relu's case (its
    forward went from 0.19 to 4.5 ns an element) once these were added.
    (A function passed as an argument would say it once, but Numba cannot
    cache a kernel that takes one.)
    """
    n, k = Z.shape
    if kind == LEAKY_RELU:
        for i in range(n):
            for j in range(k):
                Z[i, j] = _leaky_relu(Z[i, j] + b[j] if add_bias else Z[i, j])
    elif kind == ELU:
        for i in range(n):
            for j in range(k):
                Z[i, j] = _elu(Z[i, j] + b[j] if add_bias else Z[i, j])
    elif kind == GELU:
        for i in range(n):
            for j in range(k):
                Z[i, j] = _gelu(Z[i, j] + b[j] if add_bias else Z[i, j])
    elif kind == SILU:
        for i in range(n):
            for j in range(k):
                Z[i, j] = _silu(Z[i, j] + b[j] if add_bias else Z[i, j])
    else:
        for i in range(n):
            for j in range(k):
                Z[i, j] = _softplus(Z[i, j] + b[j] if add_bias else Z[i, j])


@jit(inline="always")
def keeps_slope(kind):
    """True for the activations whose derivative the forward pass keeps (gelu, silu).

    Their output does not determine their input (``z * s(z)`` has a
    minimum), so the derivative cannot come from the output as the others'
    does (:func:`derivative`); the forward pass computes it next to the
    output instead (:func:`bias_activate_keeping`), from the same gate.
    """
    return kind == GELU or kind == SILU


def deltas_per_unit(kind):
    """Scratch entries a hidden unit needs in a kernel's ``deltas`` buffer, per row.

    Two for the activations that keep their slopes (in the buffer's second
    half, see :func:`fastmlp._mlp_kernels.batch_gradient`), one otherwise.
    """
    return 2 if kind in (GELU, SILU) else 1


@jit
def _bias_activate_keeping_loop(Z, b, kind, S):
    n, k = Z.shape
    for i in range(n):
        for j in range(k):
            # The gate in float64 for float32 layers too: mixed float32 and
            # float64 steps converted back and forth (5.5 against 3.6 ns).
            z = float(Z[i, j] + b[j])
            s, ds = _gate(z, kind)
            Z[i, j] = z * s
            S[i, j] = s + z * ds


@jit
def bias_activate_keeping(Z, b, kind, S):
    """:func:`bias_activate`, and for gelu/silu their derivative at each unit into ``S``.

    ``S`` is a buffer of ``Z``'s shape, or empty: then nothing is kept (the
    output layer; a forward pass that no backward pass follows).
    """
    if S.shape[0] > 0 and keeps_slope(kind):
        call_lazily(_BIAS_ACTIVATE_KEEPING_LOOP, (Z, b, kind, S))
    else:
        bias_activate(Z, b, kind)


@jit
def _bias_activate_loop(Z, b, kind, add_bias):
    # kind and add_bias do not change inside the loop: the compiler moves
    # the branches out (unswitches) and vectorises each case's loop.
    if kind >= LEAKY_RELU:
        call_lazily(_EXTRA_ACTIVATE, (Z, b, kind, add_bias))
        return
    n, k = Z.shape
    for i in range(n):
        for j in range(k):
            z = Z[i, j] + b[j] if add_bias else Z[i, j]
            Z[i, j] = _apply(z, kind)


@jit
def bias_activate_columns(ZT, b, kind):
    """:func:`bias_activate` for a layer output stored transposed, ``ZT`` (k, n).

    ``ZT[j] += b[j]``, then activation ``kind`` (not softmax, which is taken
    along the other axis), along contiguous rows.
    """
    if kind >= LEAKY_RELU:
        # Lazily (see _bias_activate_loop): compiled with its own helper
        # when a fit uses such an activation, not with every prediction
        # kernel (0.6 s of a cold first fit, issue 14).
        call_lazily(_EXTRA_ACTIVATE_COLUMNS, (ZT, b, kind))
        return
    k, n = ZT.shape
    for j in range(k):
        bj = b[j]
        row = ZT[j]
        for i in range(n):
            row[i] = _apply(row[i] + bj, kind)


@jit
def _extra_activate_columns(ZT, b, kind):
    """:func:`bias_activate_columns` for the activations beyond scikit-learn's."""
    k, n = ZT.shape
    for j in range(k):
        row2 = ZT[j].reshape((1, n))
        call_lazily(_EXTRA_ACTIVATE, (row2, np.full(1, b[j], dtype=ZT.dtype), kind, YES))


@jit
def bias_activate(Z, b, kind):
    """``Z += b`` (broadcast over rows), then apply activation ``kind``, in one pass."""
    if kind == SOFTMAX:
        call(_BIAS_ACTIVATE_LOOP, (Z, b, IDENTITY, YES))
        call(_SOFTMAX_ROWS, (Z,))
    else:
        call(_BIAS_ACTIVATE_LOOP, (Z, b, kind, YES))


@jit
def activate(Z, kind):
    """Apply activation ``kind`` to ``Z`` in place (no bias)."""
    if kind == SOFTMAX:
        softmax_rows(Z)
    elif Z.shape[0] > 0:
        _bias_activate_loop(Z, Z[0], kind, NO)  # Z[0] is not read


@jit
def derivative(A, delta, kind):
    """Multiply ``delta`` in place by the activation's derivative.

    The derivative is written in terms of the activation's *output* ``A``,
    which is what the forward pass keeps: relu' = [A > 0], logistic' =
    A (1 - A), tanh' = 1 - A^2, identity' = 1.
    """
    n, k = A.shape
    if kind == IDENTITY:
        return
    # Constants in the arrays' dtype: float32 stays float32, rounded step by
    # step as NumPy does in scikit-learn (a Python int 1 would promote every
    # element to float64). One loop per kind: the compiler vectorised only
    # some of the cases of a loop that branched on the kind inside.
    zero = cast_like(0.0, delta)
    one = cast_like(1.0, delta)
    if kind == RELU:
        for i in range(n):
            for j in range(k):
                delta[i, j] = zero if A[i, j] == 0 else delta[i, j]
    elif kind == LOGISTIC:
        for i in range(n):
            for j in range(k):
                a = A[i, j]
                delta[i, j] = delta[i, j] * a * (one - a)
    elif kind == TANH:
        for i in range(n):
            for j in range(k):
                a = A[i, j]
                delta[i, j] = delta[i, j] * (one - a * a)
    elif kind >= LEAKY_RELU:
        call_lazily(_EXTRA_DERIVATIVE, (A, delta, kind))


@jit
def _extra_derivative(A, delta, kind):
    """:func:`derivative` of the activations beyond scikit-learn's (not gelu, silu)."""
    n, k = A.shape
    one = cast_like(1.0, delta)
    if kind == LEAKY_RELU:
        # A > 0 exactly where z > 0; at z = 0 the slope is taken as
        # LEAKY_SLOPE, as relu's is 0 there.
        slope = cast_like(LEAKY_SLOPE, delta)
        for i in range(n):
            for j in range(k):
                delta[i, j] = delta[i, j] if A[i, j] > 0 else slope * delta[i, j]
    elif kind == ELU:
        # For z <= 0, A = e^z - 1, so elu'(z) = e^z = A + 1.
        for i in range(n):
            for j in range(k):
                a = A[i, j]
                delta[i, j] = delta[i, j] if a > 0 else delta[i, j] * (a + one)
    elif kind == SOFTPLUS:
        # A = log(1 + e^z), so e^-A = 1 / (1 + e^z) and softplus'(z) =
        # sigmoid(z) = 1 - e^-A = -expm1(-A), accurate for small A too.
        for i in range(n):
            for j in range(k):
                delta[i, j] = delta[i, j] * cast_like(-_expm1_neg(-float(A[i, j])), one)


@jit
def backprop_activation(A, S, delta, kind):
    """``delta *= f'(z)`` for a hidden layer's output ``A`` (and kept slopes ``S``).

    gelu and silu multiply by the slopes their forward pass kept in ``S``
    (:func:`bias_activate_keeping`); every other activation takes its
    derivative from ``A`` (:func:`derivative`).
    """
    if keeps_slope(kind):
        n, k = delta.shape
        for i in range(n):
            for j in range(k):
                delta[i, j] *= S[i, j]
    else:
        call(_DERIVATIVE, (A, delta, kind))


# The element loops of the activations (one vectorised loop per kind, exp
# and its polynomials inlined in each) are the largest code of the kernels.
# Linked into their callers, they were optimised and compiled to machine code
# again inside every function above them (forward, batch_gradient, the epoch
# and predict kernels, each of which links everything below it); called by
# address (fastmlp._parallel.call) they are compiled once per type; those
# of the activations beyond scikit-learn's (call_lazily) only when a fit
# uses one (1.5-2 s of every cold first fit, per dtype, before).
_BIAS_ACTIVATE_LOOP = Kernel(_bias_activate_loop)
# By address from the prediction kernels: compiled once, not again inside each.
BIAS_ACTIVATE_COLUMNS = Kernel(bias_activate_columns)
_EXTRA_ACTIVATE_COLUMNS = Kernel(_extra_activate_columns)
_BIAS_ACTIVATE_KEEPING_LOOP = Kernel(_bias_activate_keeping_loop)
_EXTRA_ACTIVATE = Kernel(_extra_activate)
_SOFTMAX_ROWS = Kernel(softmax_rows)
_DERIVATIVE = Kernel(derivative)
_EXTRA_DERIVATIVE = Kernel(_extra_derivative)


@jit
def copy_into(src, dst):
    """``dst[:, :] = src`` for two arrays of the same shape.

    Numba's slice assignment from an array builds its shape-mismatch message
    with string formatting, which compiles Numba's string library: about 5 s
    of a cold first fit, for an error that cannot happen here.
    """
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


@jit
def affine(A, W, b, Z, kind):
    """Dense layer: ``Z = activation(A @ W + b)``, the product in BLAS.

    ``A`` (n, p), ``W`` (p, k), ``b`` (k,), ``Z`` (n, k) preallocated, all of
    one dtype; ``W`` may be a transposed (Fortran-ordered) view.
    """
    np.dot(A, W, Z)
    bias_activate(Z, b, kind)


@jit
def csr_dot(data, indices, indptr, rows, W, Z):
    """``Z = X[rows] @ W`` for CSR ``X``.

    ``rows`` selects (and orders) the rows of the CSR matrix, so a shuffled
    minibatch needs no gathered copy of ``X``.
    """
    n, k = Z.shape
    for i in range(n):
        r = rows[i]
        for j in range(k):
            Z[i, j] = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            v = data[p]
            c = indices[p]
            for j in range(k):
                Z[i, j] += v * W[c, j]


@jit
def csr_affine(data, indices, indptr, rows, W, b, Z, kind):
    """Sparse layer: ``Z = activation(X[rows] @ W + b)`` for CSR ``X`` (see :func:`csr_dot`)."""
    csr_dot(data, indices, indptr, rows, W, Z)
    bias_activate(Z, b, kind)


@jit
def csr_transpose_dot(data, indices, indptr, rows, D, G):
    """``G = X[rows].T @ D`` for CSR ``X``: the weight gradient of a sparse input layer."""
    n, k = D.shape
    G[:, :] = 0.0
    for i in range(n):
        r = rows[i]
        for p in range(indptr[r], indptr[r + 1]):
            v = data[p]
            c = indices[p]
            for j in range(k):
                G[c, j] += v * D[i, j]
