"""Every Numba setting of fastmlp, decided in one place.

Kernels import :func:`jit` from here instead of calling :func:`numba.njit`
directly, so caching, fastmath and the error model are the same everywhere.

``cache=True`` writes compiled machine code next to the sources (or in
``NUMBA_CACHE_DIR``) so that only the first process on a machine pays the
compile time. ``fastmath`` stays off: parity with scikit-learn is asserted to
a relative tolerance of 1e-6, and reassociated sums or flushed NaNs would
break both that and NaN propagation. ``error_model="numpy"`` makes a division
by zero give inf/nan like NumPy instead of raising inside a kernel.
"""

import contextlib
import threading

import numba
import numba.extending
import numpy as np

JIT_OPTIONS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")


def jit(*args, **kwargs):
    """``numba.njit`` with fastmlp's options; keyword arguments override them."""
    options = {**JIT_OPTIONS, **kwargs}
    if args and callable(args[0]) and len(args) == 1:
        return numba.njit(**options)(args[0])
    return numba.njit(*args, **options)


def pjit(*args, **kwargs):
    """:func:`jit` with ``parallel=True``, for kernels whose loops use ``prange``.

    Only kernels that call no BLAS use it (the RBM's): a parallel region and
    a multithreaded BLAS call back to back would fight for the same two cores.
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


_blas = None


def _blas_controller():
    # Made once: finding the loaded libraries takes milliseconds, asking one
    # of them its thread count microseconds. The BLAS Numba calls (SciPy's)
    # is loaded by then, since the kernel modules import it.
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas")
    return _blas


def worker_threads():
    """Threads fastmlp's own parallel loops may use now.

    Numba's thread count (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``),
    and no more than the BLAS may use (``threadpoolctl`` limits), so that a
    limit set on either is obeyed.
    """
    threads = numba.get_num_threads()
    for lib in _blas_controller().lib_controllers:
        threads = min(threads, lib.num_threads)
    return max(1, threads)


_limit_lock = threading.Lock()
_limit_users = 0
_limiter = None


@contextlib.contextmanager
def single_threaded_blas():
    """Context in which BLAS runs in the calling thread only.

    For kernels that call BLAS from inside their own parallel loops: BLAS
    threads of its own would compete with those loops for the cores. The
    limit is process-wide; fits running at once in several Python threads
    share it, and the last one out restores the limits found by the first
    one in (each restoring its own, in whatever order they end, could leave
    BLAS at one thread).
    """
    global _limit_users, _limiter
    with _limit_lock:
        if _limit_users == 0:
            _limiter = _blas_controller().limit(limits=1)
        _limit_users += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                _limiter.restore_original_limits()
                _limiter = None


def blas_for(threads):
    """The BLAS threading for a kernel run on ``threads`` of fastmlp's threads.

    BLAS keeps its own threads for one thread, and is limited to the calling
    thread when the kernel's threads call it from inside their own loops.
    """
    return single_threaded_blas() if threads > 1 else contextlib.nullcontext()
