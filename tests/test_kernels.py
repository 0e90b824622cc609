"""Every compiled kernel against its plain NumPy reference in tests/naive.py."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from fastmlp import _mlp_kernels as K
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
    activate,
    affine,
    bias_activate,
    copy_into,
    csr_affine,
    csr_transpose_dot,
    deltas_per_unit,
    derivative,
)
from fastmlp._losses import (
    BINARY_LOG_LOSS,
    LOG_LOSS,
    POISSON,
    SQUARED_ERROR,
    loss_value,
    output_delta,
)
from fastmlp._optimizers import (
    ADAM,
    BETA_1,
    BETA_2,
    EPSILON,
    LR,
    MOMENTUM,
    N_HYPER,
    NESTEROV,
    SGD,
    apply_step,
    begin_step,
)

ALL_KINDS = [IDENTITY, LOGISTIC, TANH, RELU, SOFTMAX, EXP]
HIDDEN_KINDS = [IDENTITY, LOGISTIC, TANH, RELU]
# Each loss with the output activation scikit-learn pairs it with.
OUTPUTS = [
    (IDENTITY, SQUARED_ERROR),
    (EXP, POISSON),
    (SOFTMAX, LOG_LOSS),
    (LOGISTIC, BINARY_LOG_LOSS),
]
DTYPES = [(np.float64, 1e-12), (np.float32, 1e-5)]


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_affine_matches_numpy(kind, dtype, rtol):
    rng = np.random.RandomState(kind)
    A = rng.randn(7, 5).astype(dtype)
    W = rng.randn(5, 3).astype(dtype)
    b = rng.randn(3).astype(dtype)
    Z = np.empty((7, 3), dtype=dtype)
    affine(A, W, b, Z, kind)
    np.testing.assert_allclose(Z, naive.activation(A @ W + b, kind), rtol=rtol, atol=rtol)

    Z2 = A @ W
    bias_activate(Z2, b, kind)
    np.testing.assert_allclose(Z2, Z, rtol=rtol, atol=rtol)
    Z3 = A @ W + b
    activate(Z3, kind)
    np.testing.assert_allclose(Z3, Z, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_copy_into_matches_numpy_slice_assignment(dtype):
    rng = np.random.RandomState(3)
    src = rng.randn(6, 5).astype(dtype)
    dst = np.zeros((10, 5), dtype=dtype)
    copy_into(src, dst[2:8])  # a row block of a larger array, as predict uses it
    want = np.zeros_like(dst)
    want[2:8] = src
    np.testing.assert_array_equal(dst, want)



@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_cols", [3, 63, 64, 100])  # both sides of the four-row path
@pytest.mark.parametrize("n_rows", [1, 4, 7, 9])
def test_gather_rows_matches_numpy_take(n_rows, n_cols, dtype):
    rng = np.random.RandomState(n_rows * n_cols)
    # Enough rows that the wide cases take the path for arrays in memory.
    n_src = K._FROM_MEMORY // n_cols + 1
    src = rng.randn(n_src, n_cols).astype(dtype)
    rows = rng.randint(0, n_src, n_rows)  # shuffled, repeats allowed
    dst = np.full((10, n_cols), np.nan, dtype=dtype)  # batch buffer larger than the batch
    K._gather_rows(src, rows, dst)
    np.testing.assert_array_equal(dst[:n_rows], src[rows])
    assert np.isnan(dst[n_rows:]).all()

@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_csr_affine_and_transpose_dot_match_numpy(kind, dtype, rtol):
    rng = np.random.RandomState(10 + kind)
    X = sp.random(20, 9, density=0.3, format="csr", random_state=rng, dtype=dtype)
    rows = rng.permutation(20)[:8]
    W = rng.randn(9, 4).astype(dtype)
    b = rng.randn(4).astype(dtype)
    Z = np.empty((8, 4), dtype=dtype)
    csr_affine(X.data, X.indices, X.indptr, rows, W, b, Z, kind)
    Xd = X.toarray()[rows]
    np.testing.assert_allclose(Z, naive.activation(Xd @ W + b, kind), rtol=rtol, atol=rtol)

    D = rng.randn(8, 4).astype(dtype)
    G = np.full((9, 4), np.nan, dtype=dtype)
    csr_transpose_dot(X.data, X.indices, X.indptr, rows, D, G)
    np.testing.assert_allclose(G, Xd.T @ D, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("kind", HIDDEN_KINDS)
def test_derivative_matches_numpy(kind):
    rng = np.random.RandomState(kind)
    A = naive.activation(rng.randn(6, 4), kind)
    A[0, 0] = 0.0  # relu's flat side
    delta = rng.randn(6, 4)
    expected = delta * naive.derivative_from_output(A, kind)
    derivative(A, delta, kind)
    np.testing.assert_allclose(delta, expected, rtol=1e-14)


@given(
    n=st.integers(1, 6),
    k=st.integers(1, 5),
    scale=st.floats(0.01, 50),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_softmax_is_stable_and_normalised(n, k, scale, seed):
    rng = np.random.RandomState(seed)
    Z = rng.randn(n, k) * scale
    expected = naive.activation(Z, SOFTMAX)
    activate(Z, SOFTMAX)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(Z.sum(axis=1), 1.0, rtol=1e-12)


def _targets(loss_kind, rng, n, k):
    if loss_kind == SQUARED_ERROR:
        return rng.randn(n, k)
    if loss_kind == POISSON:
        Y = rng.poisson(2.0, size=(n, k)).astype(float)
        Y[0, 0] = 0.0
        return Y
    if loss_kind == LOG_LOSS:
        return np.eye(k)[rng.randint(k, size=n)]
    return (rng.rand(n, k) < 0.5).astype(float)


@pytest.mark.parametrize("with_sw", [False, True])
@pytest.mark.parametrize("out, loss_kind", OUTPUTS)
def test_loss_and_output_delta_match_numpy(out, loss_kind, with_sw):
    rng = np.random.RandomState(loss_kind)
    n, k = 12, 3
    P = naive.activation(rng.randn(n, k), out)
    P[1, 0] = 0.0 if loss_kind != POISSON else P[1, 0]  # exercises the clipping
    Y = _targets(loss_kind, rng, n, k)
    sw = rng.rand(n) + 0.1 if with_sw else None
    got = loss_value(P, Y, sw if with_sw else np.empty(0), with_sw,
                     naive.kernel_loss(loss_kind))
    np.testing.assert_allclose(got, naive.loss(P, Y, sw, loss_kind), rtol=1e-12)

    D = np.empty_like(P)
    output_delta(P, Y, sw if with_sw else np.empty(0), with_sw, D,
                 naive.kernel_loss(loss_kind))
    expected = (P - Y) * (sw[:, None] if with_sw else 1.0)
    np.testing.assert_allclose(D, expected, rtol=1e-14)


def _raw_sums(rng, theta, n_parts, alpha, l2, s):
    """Parts of a raw gradient sum, and the gradient they finish to."""
    G = rng.randn(max(n_parts, 2), theta.shape[0])
    g = G[0].copy()
    for q in range(1, n_parts):
        g = g + G[q]
    return G, (g + alpha * theta if l2 else g) / s


@pytest.mark.parametrize("n_parts", [1, 2, 3])
@pytest.mark.parametrize("l2", [False, True])
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_step_matches_closed_form(nesterov, l2, n_parts):
    rng = np.random.RandomState(0)
    theta, vel = rng.randn(2, 50)
    G, grad = _raw_sums(rng, theta, n_parts, 1e-2, l2, 7.0)
    expected_theta, expected_vel = naive.sgd(theta, grad, vel, 0.1, 0.9, nesterov)
    hyper = np.zeros(N_HYPER)
    hyper[MOMENTUM], hyper[NESTEROV] = 0.9, nesterov
    apply_step(SGD, theta, G, n_parts, 1e-2, l2, 7.0, vel, vel[:0], hyper, 0.1, 0, 50)
    np.testing.assert_allclose(theta, expected_theta, rtol=1e-14)
    np.testing.assert_allclose(vel, expected_vel, rtol=1e-14)


@pytest.mark.parametrize("n_parts", [1, 2, 3])
@pytest.mark.parametrize("l2", [False, True])
def test_adam_steps_match_closed_form(l2, n_parts):
    rng = np.random.RandomState(1)
    theta = rng.randn(40)
    m, v = np.zeros(40), np.zeros(40)
    ref = (theta.copy(), m.copy(), v.copy())
    hyper = np.zeros(N_HYPER)
    hyper[LR], hyper[BETA_1], hyper[BETA_2], hyper[EPSILON] = 1e-3, 0.9, 0.999, 1e-8
    for t in range(1, 4):
        G, grad = _raw_sums(rng, theta, n_parts, 1e-2, l2, 3.0)
        ref = naive.adam(ref[0], grad, ref[1], ref[2], t, 1e-3, 0.9, 0.999, 1e-8)
        t_after, lr_t = begin_step(ADAM, hyper, t - 1)
        assert t_after == t
        # Only a slice steps: the entries around it must stay as they were.
        before = theta.copy()
        apply_step(ADAM, theta, G, n_parts, 1e-2, l2, 3.0, m, v, hyper, lr_t, 5, 35)
        np.testing.assert_allclose(theta[5:35], ref[0][5:35], rtol=1e-13)
        np.testing.assert_allclose(m[5:35], ref[1][5:35], rtol=1e-13)
        np.testing.assert_allclose(v[5:35], ref[2][5:35], rtol=1e-13)
        np.testing.assert_array_equal(theta[:5], before[:5])
        np.testing.assert_array_equal(theta[35:], before[35:])
        ref = (theta.copy(), m.copy(), v.copy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_parts", [1, 2, 3])
def test_step_from_raw_sums_is_the_step_from_the_finished_gradient(dtype, n_parts):
    """To the last bit: the fused pass must do scikit-learn's arithmetic, in its order."""
    rng = np.random.RandomState(2)
    n_weights, size = 30, 40
    theta0 = rng.randn(size).astype(dtype)
    G0 = rng.randn(n_parts, size).astype(dtype)
    hyper = np.zeros(N_HYPER)
    hyper[LR], hyper[MOMENTUM], hyper[BETA_1], hyper[BETA_2], hyper[EPSILON] = (
        1e-3, 0.9, 0.9, 0.999, 1e-8)
    for solver in (SGD, ADAM):
        state = rng.rand(2, size).astype(dtype)
        G = G0.copy()
        finished_theta = theta0.copy()
        finished_state = state.copy()
        sq1 = K.finish_gradient(G, n_parts, finished_theta, n_weights, 1e-2, 9.0, 0, size)
        apply_step(solver, finished_theta, G, 1, 0.0, False, 1.0, finished_state[0],
                   finished_state[1], hyper, 1e-3, 0, size)
        G = G0.copy()
        fused_theta = theta0.copy()
        sq2 = K.finish_step(G, n_parts, fused_theta, n_weights, 1e-2, 9.0, solver, state[0],
                            state[1], hyper, 1e-3, 0, size)
        np.testing.assert_array_equal(fused_theta, finished_theta)
        np.testing.assert_array_equal(state, finished_state)
        assert sq1 == sq2


class _Net:
    """A small network in the flat layout the kernels use."""

    def __init__(self, units, seed, dtype=np.float64):
        rng = np.random.RandomState(seed)
        self.units = np.asarray(units, dtype=np.int64)
        self.coef_ptr = np.concatenate([[0], np.cumsum(self.units[:-1] * self.units[1:])])
        self.icpt_ptr = self.coef_ptr[-1] + np.concatenate([[0], np.cumsum(self.units[1:])])
        self.theta = (rng.randn(self.icpt_ptr[-1]) * 0.5).astype(dtype)
        self.grad = np.empty_like(self.theta)

    def unpack(self, theta):
        L = len(self.units) - 1
        coefs = [
            theta[self.coef_ptr[i] : self.coef_ptr[i + 1]].reshape(self.units[i], self.units[i + 1])
            for i in range(L)
        ]
        icpts = [theta[self.icpt_ptr[i] : self.icpt_ptr[i + 1]] for i in range(L)]
        return coefs, icpts

    def loss_grad(self, X, Y, sw, hidden, out, loss_kind, alpha, theta=None):
        theta = self.theta if theta is None else theta
        n = X.shape[0]
        width = int(self.units[1:].sum())
        acts = np.empty(n * width, dtype=theta.dtype)
        deltas = np.empty(n * width * deltas_per_unit(hidden), dtype=theta.dtype)
        has_sw = sw is not None
        swa = sw if has_sw else np.empty(0, dtype=theta.dtype)
        if sp.issparse(X):
            args = (np.empty((0, 0), theta.dtype), X.data, X.indices, X.indptr, np.arange(n))
        else:
            args = (X, None, None, None, np.empty(0, np.intp))
        return K.loss_grad(*args, n, Y, swa, has_sw, theta, self.grad, self.coef_ptr,
                           self.icpt_ptr, self.units, acts, deltas, hidden, out,
                           naive.kernel_loss(loss_kind), alpha)


def _forward_reference(net, X, hidden, out):
    coefs, icpts = net.unpack(net.theta)
    A = X
    for i, (W, b) in enumerate(zip(coefs, icpts)):
        A = naive.activation(A @ W + b, out if i == len(coefs) - 1 else hidden)
    return A


@pytest.mark.parametrize("slots", [1, 2, 3])
@pytest.mark.parametrize("units", [(7, 5), (7, 6, 5, 3)])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_parallel_predict_matches_predict_block_for_block(sparse, transposed, units, slots):
    """Blocks shared between slots, in chunks of blocks: predict's result to the bit."""
    from fastmlp._threads import single_threaded_blas

    if sparse and transposed:
        pytest.skip("the transposed product is for dense input")
    net = _Net(units, seed=3)
    rng = np.random.RandomState(4)
    X = rng.randn(53, units[0])
    X[rng.rand(*X.shape) < 0.4] = 0.0
    inputs = ((np.empty((0, 0)), *(lambda c: (c.data, c.indices, c.indptr))(sp.csr_matrix(X)))
              if sparse else (X, None, None, None))
    width = int(net.units[1:].sum())
    block = 10  # 53 rows: five whole blocks and a short one
    ZT_size = block * units[1] if transposed else 0
    want = np.full((53, units[-1]), np.nan)
    with single_threaded_blas():
        assert K.predict(*inputs, net.theta, net.coef_ptr, net.icpt_ptr, net.units,
                         np.empty(block * width), np.empty(ZT_size), TANH, SOFTMAX, want, True)
        got = np.full_like(want, np.nan)
        acts, ZT = np.empty((slots, block * width)), np.empty((slots, ZT_size))
        rows = np.empty((slots, block if sparse else 0), dtype=np.intp)
        ok = np.zeros(slots, dtype=bool)
        for first, stop in ((0, 2), (2, 3), (3, 6)):  # chunks of blocks, as the estimator
            K.parallel_predict(*inputs, first, stop, net.theta, net.coef_ptr, net.icpt_ptr,
                               net.units, acts, ZT, rows, TANH, SOFTMAX, got, True, ok)
            assert ok.all()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, _forward_reference(net, X, TANH, SOFTMAX), rtol=1e-12)
    if not sparse:
        X[44, 1] = np.nan  # block 4
        K.parallel_predict(*inputs, 0, 6, net.theta, net.coef_ptr, net.icpt_ptr, net.units,
                           acts, ZT, rows, TANH, SOFTMAX, got, True, ok)
        assert not ok.all()


@pytest.mark.parametrize("out", [IDENTITY, LOGISTIC, SOFTMAX])
@pytest.mark.parametrize("units", [(7, 5), (7, 5, 3), (7, 6, 5, 3)])
@pytest.mark.parametrize("hidden", HIDDEN_KINDS)
@pytest.mark.parametrize("transposed", [False, True])
def test_predict_matches_reference(transposed, hidden, units, out):
    """Both orientations of the first product, blocks of rows, and the finite check."""
    net = _Net(units, seed=3)
    rng = np.random.RandomState(4)
    X = rng.randn(23, units[0])
    width = int(net.units[1:].sum())
    block = 10  # 23 rows: two whole blocks and a short one
    acts = np.empty(block * width)
    ZT = np.empty(block * units[1] if transposed else 0)
    result = np.full((23, units[-1]), np.nan)
    args = (X, None, None, None, net.theta, net.coef_ptr, net.icpt_ptr, net.units, acts, ZT,
            hidden, out)
    assert K.predict(*args, result, True)
    np.testing.assert_allclose(result, _forward_reference(net, X, hidden, out),
                               rtol=1e-12)
    for bad in (np.nan, np.inf, -np.inf):
        X[17, 2] = bad  # in the third block: the first two go through first
        assert not K.predict(*args, result, True)
    X[17, 2] = 0.0
    result[:] = np.nan
    assert K.predict(*args, result, False)
    np.testing.assert_allclose(result, _forward_reference(net, X, hidden, out),
                               rtol=1e-12)


@pytest.mark.parametrize("with_sw", [False, True])
@pytest.mark.parametrize("out, loss_kind", OUTPUTS)
# scikit-learn's hidden activations and fastmlp's own (tests/test_features_activations.py).
@pytest.mark.parametrize("hidden", HIDDEN_KINDS + [LEAKY_RELU, ELU, GELU, SILU, SOFTPLUS])
def test_gradient_matches_finite_differences(hidden, out, loss_kind, with_sw):
    rng = np.random.RandomState(100 * hidden + loss_kind)
    n, k = 9, 3
    net = _Net([4, 5, 3, k], seed=int(hidden))
    X = rng.randn(n, 4)
    Y = _targets(loss_kind, rng, n, k)
    sw = rng.rand(n) + 0.5 if with_sw else None
    check_network_gradient(net, X, Y, sw, hidden, out, loss_kind, 0.1)


def check_network_gradient(net, X, Y, sw, hidden, out, loss_kind, alpha):
    """The compiled loss and gradient of ``net`` against NumPy and central differences."""
    loss = net.loss_grad(X, Y, sw, hidden, out, loss_kind, alpha)
    grad = net.grad.copy()

    scale = naive.gradient_scale(loss_kind, Y.shape[1])

    def ref(theta, data_scale=scale):
        coefs, icpts = net.unpack(theta)
        return naive.mlp_loss(X, Y, sw, coefs, icpts, hidden, out, loss_kind, alpha, data_scale)

    np.testing.assert_allclose(loss, ref(net.theta, 1.0), rtol=1e-12)
    np.testing.assert_allclose(grad, naive.central_differences(ref, net.theta), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_sparse_input_gives_dense_loss_and_gradient(dtype, rtol):
    rng = np.random.RandomState(3)
    X = sp.random(15, 6, density=0.4, format="csr", random_state=rng, dtype=dtype)
    Y = np.eye(3)[rng.randint(3, size=15)].astype(dtype)
    net = _Net([6, 4, 3], seed=2, dtype=dtype)
    dense = net.loss_grad(X.toarray(), Y, None, TANH, SOFTMAX, LOG_LOSS, 1e-2)
    g_dense = net.grad.copy()
    sparse = net.loss_grad(X, Y, None, TANH, SOFTMAX, LOG_LOSS, 1e-2)
    np.testing.assert_allclose(sparse, dense, rtol=rtol)
    np.testing.assert_allclose(net.grad, g_dense, rtol=rtol * 10, atol=rtol)


def _run_epoch(epoch, n_threads, X, Y, sw, order, bs, net, hyper, vel):
    """One call of ``epoch`` with per-thread buffers as the estimator makes them."""
    n_out = Y.shape[1]
    rows = -(-bs // n_threads)
    width = int(net.units[1:].sum())
    has_sw = sw is not None
    if sp.issparse(X):
        inputs = (np.empty((0, 0)), X.data, X.indices, X.indptr)
        Xb = np.empty((n_threads, 0, X.shape[1]))
    else:
        inputs = (X, None, None, None)
        Xb = np.empty((n_threads, rows, X.shape[1]))
    from fastmlp._optimizers import SGD

    return epoch(
        *inputs, Y, sw if has_sw else np.empty(0), has_sw, order, bs, net.theta,
        np.empty((n_threads, net.theta.size)), net.coef_ptr, net.icpt_ptr, net.units,
        TANH, IDENTITY, naive.kernel_loss(SQUARED_ERROR), 1e-3, Xb,
        np.empty((n_threads, rows, n_out)),
        np.empty((n_threads, rows if has_sw else 0)), np.empty((n_threads, rows * width)),
        np.empty((n_threads, rows * width)), np.empty((n_threads, 3)), SGD, vel,
        np.empty(0), hyper, 0, 0.0, np.empty(0, dtype=np.int64), K.UPDATE,
    )


@pytest.mark.parametrize(
    "epoch, n_threads",
    [(K.stochastic_epoch, 1), (K.parallel_epoch, 1), (K.parallel_epoch, 2),
     (K.parallel_epoch, 3)],
)
@pytest.mark.parametrize("with_sw", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_epoch_equals_batches_of_loss_grad_and_steps(epoch, n_threads, with_sw, sparse):
    """An epoch = gather + loss_grad + sgd step per batch, done by hand.

    23 rows by batches of 5 leave a last batch of 3: with three threads its
    rows split unevenly, and with more threads than rows some have none.
    """
    rng = np.random.RandomState(4)
    n, bs = 23, 5
    X = rng.randn(n, 4)
    if sparse:
        X[rng.rand(n, 4) < 0.5] = 0.0
        X = sp.csr_matrix(X)
    Y = rng.randn(n, 2)
    sw = rng.rand(n) + 0.5 if with_sw else None
    order = rng.permutation(n)
    net = _Net([4, 6, 2], seed=5)
    ref = _Net([4, 6, 2], seed=5)
    from fastmlp._optimizers import LR, MOMENTUM, N_HYPER, NESTEROV

    hyper = np.zeros(N_HYPER)
    hyper[LR], hyper[MOMENTUM], hyper[NESTEROV] = 0.05, 0.9, 1.0
    vel = np.zeros_like(net.theta)
    if n_threads > 1:
        from fastmlp._threads import single_threaded_blas

        with single_threaded_blas():
            acc, t = _run_epoch(epoch, n_threads, X, Y, sw, order, bs, net, hyper, vel)
    else:
        acc, t = _run_epoch(epoch, n_threads, X, Y, sw, order, bs, net, hyper, vel)
    ref_vel = np.zeros_like(ref.theta)
    expected = 0.0
    for start in range(0, n, bs):
        rows = order[start : start + bs]
        loss = ref.loss_grad(X[rows], Y[rows], None if sw is None else sw[rows], TANH,
                             IDENTITY, SQUARED_ERROR, 1e-3)
        expected += loss * len(rows)
        ref.theta, ref_vel = naive.sgd(ref.theta, ref.grad, ref_vel, 0.05, 0.9, True)
    assert t == 0
    # Threads add their row blocks' sums in another order than one pass
    # over the batch: last-bit differences, well inside 1e-12.
    np.testing.assert_allclose(acc, expected, rtol=1e-12)
    np.testing.assert_allclose(net.theta, ref.theta, rtol=1e-12)


def test_exp_within_one_ulp_of_the_exact_value_and_exact_at_the_ends():
    """Within 1 ulp of exp computed in x87 extended precision (measured: 0.87).

    The reference is not NumPy's float64 ``exp``: NumPy 1.25/1.26's was 1
    ulp from the exact value on the other side of fastmlp's at some points
    (0.506 ulp at most with NumPy 2.4), so "within 1 ulp of NumPy" depended
    on the NumPy version. Where ``np.longdouble`` is plain float64, NumPy's
    ``exp`` is the reference again.
    """
    from fastmlp._activations import EXP, activate

    rng = np.random.RandomState(0)
    x = np.concatenate([
        rng.uniform(-750, 712, 200_000),  # the whole range, subnormal results included
        rng.uniform(-1, 1, 100_000),
        np.array([0.0, -0.0, 1e-300, -1e-300, 709.78, 709.79, 710.0, -745.13, -745.14,
                  -708.4, -709.1, -740.0, np.inf, -np.inf, np.nan]),
    ])
    got = x.reshape(1, -1).copy()
    activate(got, EXP)
    got = got.ravel()
    with np.errstate(over="ignore"):
        want = np.exp(x)
        extended = np.finfo(np.longdouble).nmant >= 63
        exact = np.exp(x.astype(np.longdouble)) if extended else want
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    np.testing.assert_array_equal(got[want == 0], 0.0)
    exact = exact[finite]
    ulps = np.abs(got[finite].astype(exact.dtype) - exact) / np.spacing(exact.astype(np.float64))
    assert ulps.max() <= 1.0, ulps.max()


def test_tanh_within_three_ulp_of_numpy():
    # m / (m + 2) with m = expm1(2|x|): one rounding each in m, m + 2 and the
    # division, so 3 ulp is the analytic bound (measured: 3).
    rng = np.random.RandomState(1)
    x = np.concatenate([
        rng.uniform(-25, 25, 200_000),
        rng.uniform(-1.5, 1.5, 200_000),
        rng.uniform(-1e-3, 1e-3, 50_000),
        np.array([0.0, -0.0, 5e-324, -1e-300, 0.625, 0.6250001, 22.0, 22.5, -40.0,
                  np.inf, -np.inf, np.nan]),
    ])
    got = x.reshape(1, -1).copy()
    activate(got, TANH)
    got = got.ravel()
    want = np.tanh(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[ok]), np.signbit(want[ok]))
    ulps = np.abs(got[ok] - want[ok]) / np.spacing(np.abs(want[ok]))
    assert ulps.max() <= 3.0, ulps.max()


def test_float32_logistic_takes_scipys_float32_steps():
    """SciPy's float32 expit is 1 / (1 + expf(-x)) in float32; the RBM samples by it."""
    from scipy.special import expit

    x = np.random.RandomState(2).uniform(-20, 20, 200_000).astype(np.float32)
    got = x.reshape(1, -1).copy()
    activate(got, LOGISTIC)
    want = expit(x)
    # exp rounded to float32 is expf but for a last-bit rounding tie now and
    # then (measured: 99.97% bit-equal; computing in float64 gave 64%).
    assert np.mean(got.ravel() == want) > 0.999
    # An expf that differs by 1 ulp can move 1 / (1 + e) by 2 after rounding.
    np.testing.assert_array_max_ulp(got.ravel(), want, maxulp=2)
