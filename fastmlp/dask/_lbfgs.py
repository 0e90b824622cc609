"""Full-batch L-BFGS over the blocks of a Dask array, where the blocks live.

Each block of rows is prepared once on its worker (cast to float64, targets
binarized, scratch buffers allocated) and stays there. Every evaluation of
the loss sends the parameters to the workers (one broadcast), runs
:func:`fastmlp._mlp_kernels.batch_gradient` on every block, which returns
the block's *raw* sums (``A.T @ D`` and ``D.sum(0)`` per layer, the loss
times the rows' weight), and adds the parts on the client, where
:func:`fastmlp._mlp_kernels.finish_gradient` adds the L2 term and divides
by the total weight, as the in-memory fit does over one block. SciPy steps
on the client. Only the order of the sums differs from the in-memory fit,
so the models agree to rounding.

Without a ``distributed`` client the blocks are computed into this process
and the same arithmetic runs here, block by block.
"""

import numpy as np
from sklearn.base import is_classifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from .. import _mlp_kernels as K
from .._activations import deltas_per_unit
from .._mlp import _binarize
from .._validation import KernelInput
from .._optimizers import N_HYPER, NO


# Parameters up to this size travel inside each block's task, which saves
# the broadcast's own round trip to every worker; larger ones are sent once
# per worker by a broadcast.
_SCATTER_ABOVE = 1 << 20


def _as_dask_arrays(X, y, sample_weight):
    """X, y and sample_weight as Dask arrays split into the same row blocks."""
    import dask.array as da

    def as_array(a):
        if hasattr(a, "to_dask_array"):  # DataFrame or Series
            return a.to_dask_array(lengths=True)
        if isinstance(a, da.Array):
            return a
        return da.from_array(np.asarray(a), chunks=-1)

    X = as_array(X)
    if X.ndim != 2:
        raise ValueError("Expected a 2-D Dask array for X, got %d dimension(s)." % X.ndim)
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    X = X.rechunk({1: -1})
    rows = X.chunks[0]
    y = as_array(y)
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: [%d, %d]"
            % (X.shape[0], y.shape[0])
        )
    y = y.rechunk({0: rows, **{axis: -1 for axis in range(1, y.ndim)}})
    if sample_weight is not None:
        sample_weight = as_array(sample_weight).rechunk((rows,))
    return X, y, sample_weight


class _Spec:
    """What every block's evaluation needs besides the parameters (pickled once)."""

    def __init__(self, est, label_binarizer, dtype):
        self.dtype = dtype
        self.units, self.coef_ptr, self.icpt_ptr = est._units, est._coef_ptr, est._icpt_ptr
        self.hidden, self.out, self.loss_kind = est._kernel_codes()
        self.label_binarizer = label_binarizer
        self.size = int(est._icpt_ptr[-1])


class _Block:
    """One block of rows on its worker, in the form the kernel reads, with its buffers."""

    def __init__(self, X, y, sample_weight, spec):
        self.inp = KernelInput(X, np.float64)
        if spec.label_binarizer is not None:
            y = _binarize(spec.label_binarizer, np.asarray(y))
        # Through X's dtype first, as the in-memory fit rounds its targets.
        y = np.asarray(y, dtype=spec.dtype).astype(np.float64)
        self.Y = np.ascontiguousarray(y.reshape(y.shape[0], -1))
        self.has_sw = sample_weight is not None
        self.sw = (np.asarray(sample_weight, dtype=spec.dtype).astype(np.float64)
                   if self.has_sw else np.empty(0))
        n = self.inp.n
        width = int(spec.units[1:].sum())
        self.acts = np.empty(n * width)
        self.deltas = np.empty(n * width * deltas_per_unit(spec.hidden))
        self.rows = np.arange(n) if self.inp.sparse else np.empty(0, dtype=np.intp)


def _prepare(X, y, sample_weight, spec):
    return _Block(X, y, sample_weight, spec)


def _raw_sums(block, theta, spec):
    """``(loss x weight, weight, raw gradient sums)`` of one block at ``theta``."""
    inp = block.inp
    G = np.empty(spec.size)
    # Raw sums (NO) and solver None, as split_loss_grad passes them: the same
    # specialisation, compiled without the optimizer steps.
    loss, sw_sum, _ = K.batch_gradient(
        inp.X, inp.data, inp.indices, inp.indptr, block.rows, inp.n, block.Y, block.sw,
        block.has_sw, theta, G, spec.coef_ptr, spec.icpt_ptr, spec.units, block.acts,
        block.deltas, spec.hidden, spec.out, spec.loss_kind, NO, 0.0, None, G[:0],
        G[:0], np.zeros(N_HYPER), 0.0, block.rows[:0],
    )
    return loss * sw_sum, sw_sum, G


def _summary(X, y, classifier):
    """One pass over the data on the cluster: finiteness, the labels or the targets' minimum."""
    import dask
    import dask.array as da

    finite = da.isfinite(X).all()
    labels = da.unique(y) if classifier and y.ndim == 1 else None
    y_min = None if classifier else y.min()
    return dask.compute(finite, labels, y_min)


class _Evaluator:
    """``loss_and_grad(theta)`` over the prepared blocks, on a client or in this process."""

    def __init__(self, X, y, sample_weight, spec, alpha, n_weights):
        import dask

        blocks = [
            dask.delayed(_prepare)(xb, yb, sb, spec)
            for xb, yb, sb in zip(
                X.to_delayed().ravel(),
                y.to_delayed().ravel(),
                (sample_weight.to_delayed().ravel() if sample_weight is not None
                 else [None] * X.numblocks[0]),
            )
        ]
        self.spec, self.alpha, self.n_weights = spec, alpha, n_weights
        self.client = _client()
        if self.client is None:
            self.blocks = dask.compute(*blocks)
        else:
            self.blocks = self.client.compute(blocks)
            self.spec_future = self.client.scatter(spec, broadcast=True, hash=False)

    def parts(self, theta):
        if self.client is None:
            return [_raw_sums(b, theta, self.spec) for b in self.blocks]
        if theta.nbytes > _SCATTER_ABOVE:
            theta = self.client.scatter(theta, broadcast=True, hash=False)
        futures = self.client.map(_raw_sums, self.blocks, theta=theta,
                                  spec=self.spec_future, pure=False)
        return self.client.gather(futures)

    def __call__(self, theta):
        parts = self.parts(theta)
        G = np.stack([g for _, _, g in parts])
        total = sum(w for _, w, _ in parts)
        squares = K.finish_gradient(G, len(parts), theta, self.n_weights, self.alpha,
                                    total, 0, theta.shape[0])
        loss = sum(lw for lw, _, _ in parts) / total + 0.5 * self.alpha * squares / total
        return loss, G[0].copy()

    def close(self):
        if self.client is not None:
            self.client.cancel(self.blocks)


def _client():
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client: dask's own scheduler computes the blocks here
        return None


def fit_blocks(est, X, y, sample_weight=None):
    """Fit ``est`` (an MLPClassifier or MLPRegressor, solver="lbfgs") on Dask collections.

    Called by ``fit`` when X is a Dask array or DataFrame: the same
    parameters, checks and initial weights as an in-memory fit, then
    L-BFGS with every loss evaluation spread over the blocks (see the
    module's docstring).
    """
    if est.solver != "lbfgs":
        raise ValueError(
            "fit on a Dask collection trains by full-batch L-BFGS (solver='lbfgs'); "
            "got solver=%r. Stream the stochastic solvers through "
            "dask_ml.wrappers.Incremental, which calls partial_fit block by block."
            % est.solver
        )
    # validate_data on the first rows: n_features_in_, feature names (a
    # DataFrame's) and scikit-learn's errors for what no block may hold.
    head = X.head(2, npartitions=-1) if hasattr(X, "columns") else None
    X, y, sample_weight = _as_dask_arrays(X, y, sample_weight)
    classifier = is_classifier(est)
    if head is None:
        head = X[: min(2, X.shape[0])].compute()
    first_pass = not hasattr(est, "coefs_") or not est.warm_start
    head = validate_data(est, head, accept_sparse=["csr", "csc"],
                         dtype=(np.float64, np.float32), reset=first_pass)
    dtype = head.dtype
    finite, labels, y_min = _summary(X, y, classifier)
    if not finite:
        raise ValueError("Input X contains NaN or infinity.")
    if getattr(est, "loss", None) == "poisson" and y_min < 0:
        raise ValueError(
            "Some value(s) of y are negative which is not allowed for Poisson regression."
        )
    label_binarizer = None
    if classifier:
        if first_pass or not hasattr(est, "_label_binarizer"):
            if labels is None:
                raise ValueError("fit on a Dask collection takes a 1-D y for classifiers.")
            label_binarizer = LabelBinarizer().fit(labels)
            est._label_binarizer = label_binarizer
            est.classes_ = label_binarizer.classes_
        label_binarizer = est._label_binarizer
        n_outputs = len(label_binarizer.classes_)
        n_outputs = 1 if n_outputs <= 2 else n_outputs
    else:
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
    hidden = est.hidden_layer_sizes
    hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
    layer_units = [X.shape[1]] + hidden + [n_outputs]
    est._random_state = check_random_state(est.random_state)
    if first_pass:
        est._initialize(np.empty((0, n_outputs)), layer_units, dtype)
    else:
        est._params()
        if list(est._units) != layer_units:
            raise ValueError("warm_start needs the same architecture as the fitted network.")
    est.n_outputs_ = n_outputs
    evaluate = _Evaluator(X, y, sample_weight, _Spec(est, label_binarizer, dtype),
                          float(est.alpha),
                          int(est._coef_ptr[-1]))
    try:
        est._run_lbfgs(evaluate)
    finally:
        evaluate.close()
    est._check_finite_weights()
    return est
