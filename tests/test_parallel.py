"""fastmlp._parallel.run_parts: the one parallel region, calling its kernel by address."""

import warnings

import numba
import numpy as np
import pytest

from fastmlp._config import jit
from fastmlp._parallel import Kernel, call, call_lazily, fetch_add, run_parts
from fastmlp._threads import numba_threads


@jit
def _fill(q, n_parts, out, scale, extra):
    # Part q writes its rows of out, so parts never share an element.
    n = out.shape[0]
    for i in range(q * n // n_parts, (q + 1) * n // n_parts):
        out[i] = scale * i + q
        if extra is not None:
            out[i] += extra[0]


_FILL = Kernel(_fill)


@jit
def _driver(n_parts, out, scale, extra):
    # Called from compiled code, as the epoch kernels call it.
    run_parts(n_parts, _FILL, (n_parts, out, scale, extra))


def _expected(n, n_parts, scale, extra):
    out = np.empty(n)
    for q in range(n_parts):
        for i in range(q * n // n_parts, (q + 1) * n // n_parts):
            out[i] = scale * i + q + (0.0 if extra is None else extra[0])
    return out


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("extra", [None, np.array([0.25])])
@pytest.mark.parametrize("n_parts", [1, 2, 5])
def test_every_part_runs_once_with_its_own_arguments(threads, extra, n_parts):
    out = np.full(11, np.nan)
    with numba_threads(threads):
        _driver(n_parts, out, 2.0, extra)
    np.testing.assert_array_equal(out, _expected(11, n_parts, 2.0, extra))


def test_another_signature_gets_its_own_kernel():
    """float32 output and an int scale compile the kernel again, at the right address."""
    out64 = np.zeros(6)
    out32 = np.zeros(6, dtype=np.float32)
    _driver(3, out64, 1.5, None)
    _driver(3, out32, 2, None)
    np.testing.assert_array_equal(out64, _expected(6, 3, 1.5, None))
    np.testing.assert_array_equal(out32, _expected(6, 3, 2, None).astype(np.float32))


def test_regions_are_cacheable():
    """No dynamic globals: a Kernel is a type, not the address of a Python object."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", numba.NumbaWarning)
        _driver(2, np.zeros(4, dtype=np.float32), 1.0, np.array([1.0]))


@jit
def _returns(q, out):
    out[q] = q
    return q


_RETURNS = Kernel(_returns)


@jit
def _runs_returning(out):
    run_parts(2, _RETURNS, (out,))


def test_a_kernel_that_returns_a_value_is_refused():
    # Numba 0.59 wraps the intrinsic's TypeError in its TypingError.
    with pytest.raises((TypeError, numba.core.errors.TypingError), match="returns nothing"):
        _runs_returning(np.zeros(2))


@jit
def _scaled_sum(x, scale):
    if x.shape[0] == 0:
        raise ValueError("empty input")
    s = 0.0
    for v in x:
        s += v
    return s * scale, x.shape[0]


_SCALED_SUM = Kernel(_scaled_sum)


@jit
def _calls(x, scale):
    return call(_SCALED_SUM, (x, scale))


def test_call_returns_the_kernels_value_and_raises_its_errors():
    """fastmlp._parallel.call: a kernel by address, its result and its exceptions."""
    x = np.arange(5.0)
    assert _calls(x, 2.0) == (20.0, 5)
    assert _calls(x.astype(np.float32), 0.5) == (5.0, 5)
    with pytest.raises(ValueError, match="empty input"):
        _calls(x[:0], 1.0)
    # The kernel was compiled in its own library, for each signature called.
    assert len(_scaled_sum.overloads) == 2


@jit
def _lazy_fill(out, value):
    out[:] = value


_LAZY_FILL = Kernel(_lazy_fill)


@jit
def _maybe_fill(out, value, go):
    if go:
        call_lazily(_LAZY_FILL, (out, value))


def test_call_lazily_compiles_the_kernel_when_first_reached():
    out = np.zeros(3, dtype=np.int32)
    _maybe_fill(out, 7, False)
    # Typing and compiling the caller did not compile the kernel.
    assert len(_lazy_fill.overloads) == 0
    np.testing.assert_array_equal(out, 0)
    _maybe_fill(out, 7, True)
    assert len(_lazy_fill.overloads) == 1
    np.testing.assert_array_equal(out, 7)


@jit
def _take(q, counter, owner, spin):
    # Each part takes items until none is left; a slow part (spin) takes fewer.
    while True:
        item = fetch_add(counter, 0, 1)
        if item >= owner.shape[0]:
            break
        acc = 0.0
        for k in range(spin[q]):
            acc += k * 1e-9
        owner[item] = q + (acc < 0)


_TAKE = Kernel(_take)


@jit
def _take_all(n_parts, counter, owner, spin):
    run_parts(n_parts, _TAKE, (counter, owner, spin))


@pytest.mark.parametrize("threads", [1, 2])
def test_fetch_add_hands_every_item_to_exactly_one_part(threads):
    """Parts racing on one counter: each item taken once, the counter counts every take."""
    owner = np.full(20_000, -1, dtype=np.int64)
    counter = np.zeros(1, dtype=np.intp)
    spin = np.array([0, 200], dtype=np.int64)
    with numba_threads(threads):
        _take_all(2, counter, owner, spin)
    assert owner.min() >= 0 and owner.max() <= 1  # every item taken, by part 0 or 1
    # Each part's last take finds the counter past the end: items + one a part.
    assert counter[0] == owner.shape[0] + 2
    if threads == 1:
        assert (owner == 0).all()  # part 0 runs first and takes everything


def test_one_parallel_region_serves_every_kernel():
    """Kernels of other signatures run in the same compiled region (compiled once)."""
    from fastmlp._parallel import _run_packed

    _driver(2, np.zeros(4), 1.0, None)
    _driver(2, np.zeros(4, dtype=np.float32), 1.0, np.array([1.0]))
    _take_all(2, np.zeros(1, dtype=np.intp), np.zeros(3, dtype=np.int64),
              np.zeros(2, dtype=np.int64))
    assert len(_run_packed.overloads) == 1


def test_a_compiled_only_kernel_refuses_a_call_from_python():
    """No Python entry (fastmlp._config.jit(from_python=False)): a TypeError, not a jump to nothing."""
    from fastmlp._parallel import _run_packed

    with pytest.raises(TypeError, match="compiled code only"):
        _run_packed(1, 0, 0)
