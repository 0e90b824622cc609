"""Every Numba setting of fastmlp, decided in one place.

Kernels import :func:`jit` from here instead of calling :func:`numba.njit`
directly, so caching, fastmath and the error model are the same everywhere.

``cache=True`` writes compiled machine code next to the sources (or in
``NUMBA_CACHE_DIR``) so that only the first process on a machine pays the
compile time. ``fastmath`` stays off: parity with scikit-learn is asserted to
a relative tolerance of 1e-6, and reassociated sums or flushed NaNs would
break both that and NaN propagation. ``error_model="numpy"`` makes a division
by zero give inf/nan like NumPy instead of raising inside a kernel.

How many threads the kernels run on is decided in :mod:`fastmlp._threads`.
"""

import numba
import numba.extending
import numpy as np

from . import _cache

# Before any kernel is defined: a read-only install must still import.
_cache.install()

# no_cfunc_wrapper: Numba builds a C-callable wrapper of every function it
# compiles, for numba.cfunc and first-class function values, neither of which
# fastmlp uses; it was about 5% of a cold first fit's compile time.
JIT_OPTIONS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy",
                   no_cfunc_wrapper=True)


# Constant arguments for kernels called from compiled code: Numba compiles a
# function again for each Python constant it is passed (typed as a literal:
# ``Literal[int](0)``, ``Literal[bool](True)``) and for an omitted default,
# while NumPy scalars are typed ``int64`` and ``bool`` like values computed
# at run time. Each literal cost a second compile of the callee and of
# everything it calls (0.5-5 s of a cold first fit each).
YES = np.bool_(True)
NO = np.bool_(False)
LAYER = tuple(np.intp(i) for i in range(3))


def jit(*args, **kwargs):
    """``numba.njit`` with fastmlp's options; keyword arguments override them.

    ``from_python=False`` compiles a kernel that only compiled code calls,
    through its address (fastmlp._parallel), without the wrapper that
    unboxes Python arguments: for a per-part kernel of 15-35 arguments that
    wrapper cost 0.1-0.3 s of compile. It is then a :class:`CompiledOnly`.
    """
    from_python = kwargs.pop("from_python", True)
    options = {**JIT_OPTIONS, **kwargs}
    if not from_python:
        options["no_cpython_wrapper"] = True

    def finish(dispatcher):
        dispatcher = _cache.adopt(dispatcher)
        return dispatcher if from_python else CompiledOnly(dispatcher)

    if args and callable(args[0]) and len(args) == 1:
        return finish(numba.njit(**options)(args[0]))
    decorate = numba.njit(*args, **options)
    return lambda fn: finish(decorate(fn))


class CompiledOnly:
    """A dispatcher compiled without a Python entry: compiled code calls it by address.

    Every attribute is the dispatcher's (``py_func``, ``compile``,
    ``overloads`` ...), for fastmlp._parallel; a call from Python raises
    TypeError, where the dispatcher itself would jump to an entry that
    does not exist.
    """

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher

    def __getattr__(self, name):
        if name == "dispatcher":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.dispatcher, name)

    def __call__(self, *args, **kwargs):
        raise TypeError("%s is called from compiled code only (fastmlp._parallel)"
                        % self.dispatcher.py_func.__qualname__)


def pjit(*args, **kwargs):
    """:func:`jit` with ``parallel=True``, for kernels whose loops use ``prange``.

    Only :func:`fastmlp._parallel.run_parts` uses it: every parallel region of
    the kernels is that one thin loop over a per-part kernel, so Numba's
    parfor passes run on a loop of one call and the per-part kernel's code is
    compiled once, not again inside each region.
    """
    if args and callable(args[0]) and len(args) == 1:
        return jit(args[0], parallel=True, **kwargs)
    return jit(*args, parallel=True, **kwargs)


def cast_like(x, like):
    """``x`` converted to the dtype of array ``like``, or to the type of scalar ``like``.

    Usable inside kernels. NumPy computes ``python_float * float32_array``
    in float32; a kernel that multiplies by a float64 scalar instead promotes
    every element to float64 and halves its SIMD width. Kernels cast their
    scalars with this first.
    """
    return (like.dtype.type if isinstance(like, np.ndarray) else type(like))(x)


@numba.extending.overload(cast_like)
def _cast_like_overload(x, like):
    target = like.dtype if isinstance(like, numba.types.Array) else like

    def impl(x, like):
        return target(x)

    return impl
