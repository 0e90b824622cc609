"""NumPy's legacy ``RandomState`` stream (MT19937), drawn inside compiled code.

scikit-learn's ``BernoulliRBM`` draws its uniforms with
``RandomState.uniform``; drawing the same numbers from a Numba kernel, with
no Python per draw, needs the same generator. :class:`MTStream` reads the
state out of a ``RandomState``, lends it to kernels as two small arrays
(``key``: the 624-word state, ``pos``: a one-element position), and writes
it back, so that the ``RandomState`` continues exactly as if NumPy had made
the draws.

A double is made as NumPy makes it: from two 32-bit outputs ``a >> 5`` and
``b >> 6`` as ``(a * 2**26 + b) / 2**53``.
"""

import numpy as np

from ._config import jit

_N = 624
_M = 397
_MATRIX_A = 0x9908B0DF
_UPPER = 0x80000000
_LOWER = 0x7FFFFFFF


@jit
def _mix(key, i, j, k):
    y = (np.uint64(key[i]) & _UPPER) | (np.uint64(key[j]) & _LOWER)
    v = np.uint64(key[k]) ^ (y >> np.uint64(1))
    if y & np.uint64(1):
        v ^= np.uint64(_MATRIX_A)
    key[i] = np.uint32(v)


@jit
def _twist(key):
    # Three loops instead of index arithmetic modulo N, as the reference
    # implementation does, so the body has no division.
    for i in range(_N - _M):
        _mix(key, i, i + 1, i + _M)
    for i in range(_N - _M, _N - 1):
        _mix(key, i, i + 1, i + _M - _N)
    _mix(key, _N - 1, np.intp(0), _M - 1)  # not a literal 0: one compile of _mix


@jit
def _temper(x):
    y = np.uint64(x)
    y ^= y >> np.uint64(11)
    y ^= (y << np.uint64(7)) & np.uint64(0x9D2C5680)
    y ^= (y << np.uint64(15)) & np.uint64(0xEFC60000)
    y ^= y >> np.uint64(18)
    return y & np.uint64(0xFFFFFFFF)


@jit
def _next_word(key, pos):
    if pos[0] >= _N:
        _twist(key)
        pos[0] = 0
    w = _temper(key[pos[0]])
    pos[0] += 1
    return w


@jit
def _double(a, b):
    return (float(a >> np.uint64(5)) * 67108864.0 + float(b >> np.uint64(6))) / 9007199254740992.0


@jit
def fill_uniform(key, pos, out):
    """Fill the 1-D array ``out`` with the stream's next doubles in [0, 1).

    Each double is what ``RandomState.random_sample`` makes of the next two
    32-bit outputs; ``pos`` (a one-element array) is advanced.
    """
    n = out.shape[0]
    i = 0
    # The position lives in a local: read and written through ``pos`` in
    # the loop, it could alias ``out`` as far as the compiler knew, and the
    # loop below stayed scalar (2.4 instead of 0.5 ns a double).
    p = pos[0]
    while i < n:
        if p >= _N:
            _twist(key)
            p = 0
        # Pairs that lie wholly in the current state block: a branch-free
        # loop the compiler vectorises.
        k = min(n - i, (_N - p) // 2)
        block = out[i : i + k]
        words = key[p : p + 2 * k]
        for t in range(k):
            block[t] = _double(_temper(words[2 * t]), _temper(words[2 * t + 1]))
        i += k
        p += 2 * k
        if i < n and p == _N - 1:
            # A pair straddling a twist.
            pos[0] = p
            a = _next_word(key, pos)
            b = _next_word(key, pos)
            out[i] = _double(a, b)
            p = pos[0]
            i += 1
    pos[0] = p


class MTStream:
    """A ``RandomState``'s MT19937 state, lent to compiled kernels.

    Use as a context manager; on exit the (advanced) state is written back
    into the ``RandomState``, including its cached Gaussian, which the
    uniform stream does not touch.

    Parameters
    ----------
    random_state : numpy.random.RandomState
        The generator to draw from (scikit-learn's ``check_random_state``
        output; ``None`` there means NumPy's global ``RandomState``).
    """

    def __init__(self, random_state):
        if not isinstance(random_state, np.random.RandomState):
            raise TypeError("MTStream needs a numpy.random.RandomState")
        self.random_state = random_state

    def __enter__(self):
        state = self.random_state.get_state(legacy=True)
        if state[0] != "MT19937":
            raise ValueError("unsupported bit generator %r" % (state[0],))
        self._gauss = state[3:]
        self.key = np.array(state[1], dtype=np.uint32)
        self.pos = np.array([state[2]], dtype=np.int64)
        return self

    def sync(self):
        """Write the advanced state back into the ``RandomState`` now."""
        self.random_state.set_state(("MT19937", self.key, int(self.pos[0])) + self._gauss)

    def reload(self):
        """Read the state again (after Python code drew from the ``RandomState``)."""
        self.__enter__()

    def __exit__(self, *exc):
        self.sync()
        return False
