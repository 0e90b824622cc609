"""Cost of the options beyond scikit-learn, measured against fastmlp's own default path.

``python -m fastmlp bench --features`` (``--quick`` for smaller data) times
MLPClassifier epochs on the MNIST-shaped workload (``mnist_f64``/``mnist_f32``
of :data:`fastmlp._workloads.WORKLOADS`: 784 -> 100 -> 10, adam, batch 200)
with each hidden activation, and with dropout 0.2 against none, in one
process, the variants interleaved round by round so that a change in the
machine's load hits them alike, and reports each one's median epoch time as
a ratio to relu's (to no dropout's). scikit-learn has none of these options,
so the reference is fastmlp's default epoch (whose own ratio to scikit-learn
is in the main table).
"""

import time
import warnings

import numpy as np

from ._activations import EXTRA_HIDDEN, SKLEARN_HIDDEN
from ._workloads import BY_NAME

ACTIVATIONS = ("relu", "tanh") + tuple(a for a in SKLEARN_HIDDEN if a not in ("relu", "tanh")) \
    + EXTRA_HIDDEN


def _epoch_seconds(X, y, params, epochs):
    """Seconds per epoch of one fit of ``epochs`` epochs (kernels already compiled)."""
    from sklearn.exceptions import ConvergenceWarning

    import fastmlp

    est = fastmlp.MLPClassifier(**{**params, "max_iter": epochs})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(X, y)
        return (time.perf_counter() - start) / epochs


def _interleaved_epochs(quick, dtype_name, variants, rounds, epochs):
    """``{name: median seconds per epoch}`` of each variant's parameters, MNIST-shaped.

    Each round fits every variant once, in turn; the medians are over the
    rounds.
    """
    w = BY_NAME["mnist_" + dtype_name]
    X, y, _, _ = w.data(quick)
    params = dict(w.estimator_params(quick))
    rounds = rounds or 3
    epochs = epochs or 2
    # One short fit each first: compiles (or loads) the kernels, which are
    # shared by every variant (activation and dropout are run-time arguments).
    for extra in variants.values():
        _epoch_seconds(X[:400], y[:400], {**params, **extra}, 1)
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, extra in variants.items():
            times[name].append(_epoch_seconds(X, y, {**params, **extra}, epochs))
    return {name: float(np.median(t)) for name, t in times.items()}, (len(X), rounds, epochs)


def activation_epochs(quick, dtype_name="f64", rounds=None, epochs=None):
    """``{activation: median seconds per epoch}`` on the MNIST-shaped workload."""
    return _interleaved_epochs(quick, dtype_name, {a: {"activation": a} for a in ACTIVATIONS},
                               rounds, epochs)


# The figure: dropout 0.2 at most 1.15x the epoch without.
DROPOUT_RATE = 0.2


def dropout_epochs(quick, dtype_name="f64", rounds=None, epochs=None):
    """``{"none": s, "0.2": s}``: median seconds per epoch without and with dropout (relu)."""
    return _interleaved_epochs(quick, dtype_name,
                               {"none": {}, str(DROPOUT_RATE): {"dropout": DROPOUT_RATE}},
                               rounds or 5, epochs)


def format_dropout(medians, shape, dtype_name):
    n, rounds, epochs = shape
    base = medians["none"]
    lines = ["Dropout, MLPClassifier 784 -> 100 -> 10 (relu, adam, batch 200, %s), %d rows: "
             "median of %d rounds of %d epochs, interleaved" % (dtype_name, n, rounds, epochs),
             "%-12s %12s %10s" % ("dropout", "s / epoch", "vs none")]
    for name, s in medians.items():
        lines.append("%-12s %12.4f %9.3fx" % (name, s, s / base))
    return "\n".join(lines)


def format_activations(medians, shape, dtype_name):
    n, rounds, epochs = shape
    base = medians["relu"]
    lines = ["Hidden activations, MLPClassifier 784 -> 100 -> 10 (adam, batch 200, %s), "
             "%d rows: median of %d rounds of %d epochs, interleaved"
             % (dtype_name, n, rounds, epochs),
             "%-12s %12s %10s" % ("activation", "s / epoch", "vs relu")]
    for act, s in medians.items():
        lines.append("%-12s %12.4f %9.3fx" % (act, s, s / base))
    return "\n".join(lines)


def per_element(dtype, rows=200, units=100, repeats=200):
    """``{activation: (forward ns, backward ns)}`` per element of one batch's hidden block.

    The forward pass (bias, activation and, for gelu/silu, the kept slope)
    and the backward multiply, on a ``rows x units`` block (the MNIST
    workload's batch and hidden layer): the minimum over ``repeats`` calls,
    which a loaded machine inflates least.
    """
    from ._activations import (
        ACTIVATION_CODES,
        backprop_activation,
        bias_activate_keeping,
    )

    rng = np.random.RandomState(0)
    Z0 = (rng.randn(rows, units) * 2).astype(dtype)
    b = np.zeros(units, dtype=dtype)
    S = np.empty_like(Z0)
    D = np.ones_like(Z0)
    Z = Z0.copy()
    out = {}
    for act in ACTIVATIONS:
        kind = ACTIVATION_CODES[act]
        bias_activate_keeping(Z, b, kind, S)  # compile
        backprop_activation(Z, S, D, kind)
        fwd, bwd = [], []
        for _ in range(repeats):
            Z[:] = Z0
            t0 = time.perf_counter()
            bias_activate_keeping(Z, b, kind, S)
            t1 = time.perf_counter()
            backprop_activation(Z, S, D, kind)
            t2 = time.perf_counter()
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
        out[act] = (min(fwd) / Z.size * 1e9, min(bwd) / Z.size * 1e9)
    return out


def dropout_per_element(dtype, rows=200, units=100, repeats=200):
    """``(forward ns, backward ns)`` per element of dropout 0.2 on a relu ``rows x units`` block.

    The forward pass's part (the unmasked output kept, then the masks) and
    the backward pass's (the masks again, on the gradient): the minimum
    over ``repeats`` calls, which a loaded machine inflates least. The
    epoch does ``n_samples x units`` of each.
    """
    from ._activations import RELU
    from ._dropout import drop_units, dropout_state, mask_gradient

    rng = np.random.RandomState(0)
    A0 = np.maximum(rng.randn(rows, units), 0).astype(dtype)
    A, S, D = A0.copy(), np.empty_like(A0), np.ones_like(A0)
    order = rng.permutation(60_000)[:rows]
    drop = dropout_state([DROPOUT_RATE], 1, 0)
    drop_units(A, S, RELU, drop, 0, order)  # compile
    mask_gradient(D, drop, 0, order)
    fwd, bwd = [], []
    for _ in range(repeats):
        A[:] = A0
        t0 = time.perf_counter()
        drop_units(A, S, RELU, drop, 0, order)
        t1 = time.perf_counter()
        mask_gradient(D, drop, 0, order)
        t2 = time.perf_counter()
        fwd.append(t1 - t0)
        bwd.append(t2 - t1)
    return min(fwd) / A.size * 1e9, min(bwd) / A.size * 1e9


def format_per_element(table, dtype_name):
    lines = ["Per element of a 200 x 100 hidden block (%s), minimum of 200 calls:" % dtype_name,
             "%-12s %12s %12s" % ("activation", "forward ns", "backward ns")]
    for act, (f, b) in table.items():
        lines.append("%-12s %12.2f %12.2f" % (act, f, b))
    return "\n".join(lines)


def main(quick=False, dtypes=("f64", "f32")):
    """Print the tables; returns ``{dtype: {activation: ratio to relu}}`` and
    ``{"dropout " + dtype: {"none": 1.0, "0.2": ratio}}``."""
    for dtype_name in dtypes:
        dtype = np.float64 if dtype_name == "f64" else np.float32
        print(format_per_element(per_element(dtype), dtype_name))
        print()
    out = {}
    for dtype_name in dtypes:
        medians, shape = activation_epochs(quick, dtype_name)
        print(format_activations(medians, shape, dtype_name))
        print()
        out[dtype_name] = {a: s / medians["relu"] for a, s in medians.items()}
    for dtype_name in dtypes:
        dtype = np.float64 if dtype_name == "f64" else np.float32
        f, b = dropout_per_element(dtype)
        print("Dropout %.1f per element of a 200 x 100 relu block (%s), minimum of 200 calls: "
              "forward %.2f ns, backward %.2f ns" % (DROPOUT_RATE, dtype_name, f, b))
    print()
    for dtype_name in dtypes:
        medians, shape = dropout_epochs(quick, dtype_name)
        print(format_dropout(medians, shape, dtype_name))
        print()
        out["dropout " + dtype_name] = {k: s / medians["none"] for k, s in medians.items()}
    return out
