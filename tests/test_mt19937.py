import numpy as np
import pytest

from fastmlp._mt19937 import MTStream, fill_uniform


@pytest.mark.parametrize("seed", [0, 42, 2**31 - 1])
def test_stream_equals_randomstate_uniform(seed):
    ours, ref = np.random.RandomState(seed), np.random.RandomState(seed)
    # Chunk sizes that straddle the 624-word twist in every way.
    with MTStream(ours) as stream:
        for size in [1, 2, 311, 312, 313, 0, 624, 5, 10_007]:
            out = np.empty(size)
            fill_uniform(stream.key, stream.pos, out)
            np.testing.assert_array_equal(out, ref.uniform(size=size))
    # Written back: the RandomState continues as if NumPy had drawn.
    np.testing.assert_array_equal(ours.uniform(size=9), ref.uniform(size=9))
    np.testing.assert_array_equal(ours.randint(0, 100, 9), ref.randint(0, 100, 9))


def test_cached_gaussian_survives():
    ours, ref = np.random.RandomState(3), np.random.RandomState(3)
    ours.normal(), ref.normal()  # leaves a cached Gaussian behind
    with MTStream(ours) as stream:
        fill_uniform(stream.key, stream.pos, np.empty(100))
    ref.uniform(size=100)
    assert ours.normal() == ref.normal()


def test_sync_and_reload_interleave_with_python_draws():
    ours, ref = np.random.RandomState(5), np.random.RandomState(5)
    with MTStream(ours) as stream:
        a = np.empty(10)
        fill_uniform(stream.key, stream.pos, a)
        stream.sync()
        b = ours.randint(0, 50, 4)
        stream.reload()
        c = np.empty(10)
        fill_uniform(stream.key, stream.pos, c)
    np.testing.assert_array_equal(a, ref.uniform(size=10))
    np.testing.assert_array_equal(b, ref.randint(0, 50, 4))
    np.testing.assert_array_equal(c, ref.uniform(size=10))


def test_rejects_other_generators():
    with pytest.raises(TypeError):
        MTStream(np.random.default_rng(0))
