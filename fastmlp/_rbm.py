"""BernoulliRBM: scikit-learn's Restricted Boltzmann Machine, trained by compiled PCD.

The estimator validates, allocates the scratch of one minibatch once, and
hands each epoch to :func:`fastmlp._rbm_kernels.cd_epoch` in chunks of
batches, each on the threads that pay at that moment
(:class:`fastmlp._threads.ThreadChooser`). The uniforms
come from the same ``RandomState`` as scikit-learn's, advanced in compiled
code (:class:`fastmlp._mt19937.MTStream`), so the same ``random_state``
gives the same model.
"""

import time
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import validate_data

from . import _rbm_kernels as R
from ._activations import IDENTITY, LOGISTIC, affine, csr_affine
from ._threads import ThreadChooser, blas_for, thread_budget
from ._mt19937 import MTStream
from ._validation import KernelInput, check_fitted
from ._callbacks import CallbackSupportMixin, FitTasks
from .convert import SklearnConvertible


# The dtypes the kernels are compiled for; others (np.longdouble) are
# computed in float64 and returned in the dtype scikit-learn returns.
_KERNEL_DTYPES = (np.float64, np.float32)


def _kernel_dtype(dtype):
    return dtype if dtype in _KERNEL_DTYPES else np.dtype(np.float64)


class BernoulliRBM(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, SklearnConvertible,
    CallbackSupportMixin, BaseEstimator
):
    """Bernoulli Restricted Boltzmann Machine (RBM), trained by compiled kernels.

    A drop-in replacement for :class:`sklearn.neural_network.BernoulliRBM`:
    binary visible and hidden units, parameters estimated by Stochastic
    Maximum Likelihood (persistent contrastive divergence), with the same
    parameters, attributes and, for the same ``random_state``, the same
    results; every minibatch runs in compiled code.

    Parameters
    ----------
    n_components : int, default=256
        Number of binary hidden units.

    learning_rate : float, default=0.1
        The learning rate for weight updates.

    batch_size : int, default=10
        Number of examples per minibatch.

    n_iter : int, default=10
        Number of iterations/sweeps over the training dataset.

    verbose : int, default=0
        The verbosity level; non-zero prints the pseudo-likelihood after each
        iteration.

    random_state : int, RandomState instance or None, default=None
        Determines the initial weights, the Gibbs sampling and the corruption
        in :meth:`score_samples`.

    Attributes
    ----------
    intercept_hidden_ : array-like of shape (n_components,)
        Biases of the hidden units.

    intercept_visible_ : array-like of shape (n_features,)
        Biases of the visible units.

    components_ : array-like of shape (n_components, n_features)
        Weight matrix (Fortran-ordered, like scikit-learn's).

    h_samples_ : array-like of shape (batch_size, n_components)
        Hidden activation sampled from the model distribution.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`, when X has string feature
        names.

    See Also
    --------
    MLPClassifier : Multi-layer Perceptron classifier.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import BernoulliRBM
    >>> X = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    >>> model = BernoulliRBM(n_components=2, random_state=0).fit(X)
    >>> model.transform(X).shape
    (4, 2)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components=256,
        *,
        learning_rate=0.1,
        batch_size=10,
        n_iter=10,
        verbose=0,
        random_state=None,
    ):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------------
    def _Wt(self):
        """The weights as the kernels want them: C-ordered (n_features, n_components)."""
        return np.ascontiguousarray(self.components_.T)

    def _set_weights(self, Wt):
        # components_ is a Fortran-ordered view of the kernels' C-ordered Wt,
        # exactly the memory layout scikit-learn gives it.
        self.components_ = Wt.T

    def _fitted_shape(self, n_features=None):
        """``(n_components, n_features)`` of the fitted ``components_``.

        Every shape the kernels rely on comes from here: it checks that the
        fitted biases (and ``h_samples_``, when training) agree with
        ``components_``, and an input's width ``n_features`` with it, so a
        replaced attribute or a ``set_params`` after fitting (which
        scikit-learn's model ignores too) never reaches compiled code.
        """
        k, d = self.components_.shape
        if self.intercept_hidden_.shape != (k,) or self.intercept_visible_.shape != (d,):
            raise ValueError(
                "The fitted arrays disagree: components_ has shape %s, "
                "intercept_hidden_ %s and intercept_visible_ %s."
                % (self.components_.shape, self.intercept_hidden_.shape,
                   self.intercept_visible_.shape)
            )
        if n_features is not None and n_features != d:
            raise ValueError(
                "X has %d features, but %s is expecting %d features as input."
                % (n_features, type(self).__name__, d)
            )
        return k, d

    def _linear(self, X, kind):
        """``kind(X @ components_.T + intercept_hidden_)`` through the shared layer.

        ``X`` is 2-D and validated; the result has the dtype of
        ``X @ components_.T``, computed in float64 for a dtype the kernels
        do not take.
        """
        k, _ = self._fitted_shape(X.shape[1])
        Wt = self._Wt()
        dtype = _kernel_dtype(np.result_type(X.dtype, Wt.dtype))
        Wt = Wt.astype(dtype, copy=False)
        c = self.intercept_hidden_.astype(dtype, copy=False)
        rows = KernelInput(X, dtype)
        out = np.empty((rows.n, k), dtype=dtype)
        if rows.sparse:
            csr_affine(rows.data, rows.indices, rows.indptr, rows.rows(), Wt, c, out, kind)
        else:
            affine(rows.X, Wt, c, out, kind)
        return out

    def transform(self, X):
        """Compute the hidden layer activation probabilities, P(h=1|v=X).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data to be transformed.

        Returns
        -------
        h : ndarray of shape (n_samples, n_components)
            Latent representations of the data.
        """
        check_fitted(self, "components_")
        X = validate_data(
            self, X, accept_sparse="csr", reset=False, dtype=(np.float64, np.float32)
        )
        return self._linear(X, LOGISTIC)

    def _mean_hiddens(self, v):
        return self._linear(v, LOGISTIC)

    def _sample_hiddens(self, v, rng):
        p = self._mean_hiddens(v)
        return rng.uniform(size=p.shape) < p

    def _sample_visibles(self, h, rng):
        k, d = self._fitted_shape()
        Wt = self._Wt()
        h = np.ascontiguousarray(h, dtype=np.result_type(Wt.dtype, np.float32))
        dtype = _kernel_dtype(np.result_type(h.dtype, Wt.dtype))
        if h.ndim != 2 or h.shape[1] != k:
            raise ValueError("h has shape %s; %s has %d components."
                             % (h.shape, type(self).__name__, k))
        p = np.empty((h.shape[0], d), dtype=dtype)
        affine(h.astype(dtype, copy=False), Wt.T.astype(dtype, copy=False),
               self.intercept_visible_.astype(dtype, copy=False), p, LOGISTIC)
        return rng.uniform(size=p.shape) < p

    def _gibbs_input(self, v):
        """``v`` as 2-D rows of the fitted width, and the shape to give the result.

        Takes what scikit-learn's ``gibbs`` takes: an array of any number
        of dimensions (the last one the features) or a sparse matrix, of
        real numbers; raises the types of error its arithmetic raises.
        """
        if not sp.issparse(v):
            if not hasattr(v, "ndim"):
                raise AttributeError(
                    "gibbs takes a NumPy array or a sparse matrix of shape "
                    "(n_samples, n_features), not a %s object (it has no 'ndim')"
                    % type(v).__name__
                )
            v = np.asarray(v)
        if v.dtype.kind not in "biuf":
            raise TypeError("gibbs needs real numbers; v has dtype %s." % v.dtype)
        if v.ndim == 0:
            raise ValueError("gibbs needs at least one dimension (the features); "
                             "v is a scalar.")
        self._fitted_shape(v.shape[-1])
        if sp.issparse(v):
            return v, v.shape
        return v.reshape(-1, v.shape[-1]), v.shape

    def gibbs(self, v):
        """Perform one Gibbs sampling step.

        Parameters
        ----------
        v : ndarray of shape (n_samples, n_features)
            Values of the visible layer to start from.

        Returns
        -------
        v_new : ndarray of shape (n_samples, n_features)
            Values of the visible layer after one Gibbs step.
        """
        check_fitted(self, "components_")
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        rows, shape = self._gibbs_input(v)
        h_ = self._sample_hiddens(rows, self.random_state_)
        return self._sample_visibles(h_, self.random_state_).reshape(shape)

    # ------------------------------------------------------------------
    def _epoch_buffers(self, n_features, batch_rows, dtype, threads):
        m, k = self.h_samples_.shape
        # One block of features a thread, each on the rows of the weights it steps.
        blocks = max(R.MIN_FEATURE_BLOCKS, threads)
        return dict(
            sums=np.empty((threads, k), dtype=dtype),
            HH=np.empty((batch_rows + m, k), dtype=dtype),
            Pv=np.empty((m, n_features), dtype=dtype),
            U=np.empty(m * (n_features + k), dtype=np.float64),
            S=np.empty((blocks, batch_rows + m, k), dtype=dtype),
            lists=R.list_buffers(batch_rows + m, n_features, blocks, dtype),
            rows=np.empty(batch_rows, dtype=np.intp),
            blas=True if m >= R.BLAS_MIN_ROWS else None,
        )

    def _train(self, X, rng, batch_size, n_iter, on_iteration=None):
        """Run ``n_iter`` compiled epochs over ``X`` by minibatches of ``batch_size``."""
        k, _ = self._fitted_shape(X.shape[1])
        if self.h_samples_.ndim != 2 or self.h_samples_.shape[1] != k:
            raise ValueError(
                "The fitted arrays disagree: h_samples_ has shape %s and "
                "components_ %s." % (self.h_samples_.shape, self.components_.shape)
            )
        dtype = self.components_.dtype
        rows = KernelInput(X, dtype)
        Wt = self._Wt()
        b = np.ascontiguousarray(self.intercept_visible_, dtype=dtype)
        c = np.ascontiguousarray(self.intercept_hidden_, dtype=dtype)
        Hs = np.ascontiguousarray(self.h_samples_, dtype=dtype)
        threads = thread_budget()
        bufs = self._epoch_buffers(X.shape[1], min(batch_size, rows.n), dtype, threads)
        # The split of the work is fixed by the buffers (``threads`` blocks),
        # whatever number of threads runs it, so the chooser's choices never
        # change the result.
        n_batches = -(-rows.n // batch_size)
        chooser = ThreadChooser(threads, batches=n_batches * n_iter)
        lr = float(self.learning_rate)

        def batches(first, stop):
            R.cd_epoch(
                rows.X, rows.data, rows.indices, rows.indptr, first * batch_size,
                min(stop * batch_size, rows.n), batch_size, lr, Wt, b, c, Hs,
                stream.key, stream.pos, n_blocks=threads, **bufs,
            )

        # Long chains call BLAS inside the threads, where BLAS threads of
        # its own would compete with them for the cores.
        with MTStream(rng) as stream, blas_for(threads):
            for iteration in range(1, n_iter + 1):
                chooser.run(n_batches, batches)
                self._set_weights(Wt)
                self.intercept_visible_, self.intercept_hidden_, self.h_samples_ = b, c, Hs
                if on_iteration is not None:
                    # Python code may draw from the same RandomState.
                    stream.sync()
                    on_iteration(iteration)
                    stream.reload()

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Fit the model to the partial segment of the data X.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Training data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Target values (None for unsupervised transformations).

        Returns
        -------
        self : BernoulliRBM
            The fitted model.
        """
        first_pass = not hasattr(self, "components_")
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=first_pass)
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        if not hasattr(self, "components_"):
            self.components_ = np.asarray(
                self.random_state_.normal(0, 0.01, (self.n_components, X.shape[1])),
                order="F",
            )
            self._n_features_out = self.components_.shape[0]
        if not hasattr(self, "intercept_hidden_"):
            self.intercept_hidden_ = np.zeros(self.n_components)
        if not hasattr(self, "intercept_visible_"):
            self.intercept_visible_ = np.zeros(X.shape[1])
        if not hasattr(self, "h_samples_"):
            self.h_samples_ = np.zeros((self.batch_size, self.n_components))
        # One CD step on the whole of X, as scikit-learn does.
        self._train(X, self.random_state_, max(X.shape[0], 1), 1)
        return self

    def score_samples(self, X):
        """Compute the pseudo-likelihood of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Values of the visible layer. Must be all-boolean (not checked).

        Returns
        -------
        pseudo_likelihood : ndarray of shape (n_samples,)
            Value of the pseudo-likelihood (proxy for likelihood).

        Notes
        -----
        This method is not deterministic: it computes a quantity called the
        free energy on X, then on a randomly corrupted version of X, and
        returns the log of the logistic function of the difference.
        """
        check_fitted(self, "components_")
        v = validate_data(self, X, accept_sparse="csr", reset=False)
        rng = check_random_state(self.random_state)
        n, d = v.shape
        flip = rng.randint(0, d, n)
        Z = self._linear(v, IDENTITY)
        dtype = Z.dtype
        b = self.intercept_visible_.astype(dtype, copy=False)
        if sp.issparse(v):
            vb = np.asarray(v @ b).ravel().astype(dtype)
            flipped = np.asarray(v[np.arange(n), flip]).ravel()
            # What the flip adds, in v's dtype as scikit-learn adds it.
            delta = -2 * flipped + 1
        else:
            vb = (v @ b).astype(dtype, copy=False)
            flipped = v[np.arange(n), flip]
            # scikit-learn stores 1 - v in a copy of v, so the flipped value
            # is rounded (float16) or wrapped (unsigned) to v's dtype.
            new = np.empty_like(flipped)
            new[...] = 1 - flipped
            delta = new.astype(dtype) - flipped.astype(dtype)
        out = np.ascontiguousarray(delta, dtype=dtype)
        R.pseudo_likelihood(Z, vb, self._Wt().astype(dtype, copy=False), b, flip, out)
        # scikit-learn's result has the dtype of its arithmetic: float64 for
        # any sparse input (SciPy's products promote float32 there).
        result = np.float64 if sp.issparse(v) else np.result_type(v.dtype, self.components_.dtype)
        return out.astype(result, copy=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model to the data X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Target values (None for unsupervised transformations).

        Returns
        -------
        self : BernoulliRBM
            The fitted model.
        """
        X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32))
        rng = check_random_state(self.random_state)
        Wt = np.empty((X.shape[1], self.n_components), dtype=X.dtype)
        # Drawn as scikit-learn draws it: (n_components, n_features), C order.
        Wt.T[...] = rng.normal(0, 0.01, (self.n_components, X.shape[1]))
        self._set_weights(Wt)
        self._n_features_out = self.n_components
        self.intercept_hidden_ = np.zeros(self.n_components, dtype=X.dtype)
        self.intercept_visible_ = np.zeros(X.shape[1], dtype=X.dtype)
        self.h_samples_ = np.zeros((self.batch_size, self.n_components), dtype=X.dtype)

        on_iteration = None
        if self.verbose:
            begin = [time.time()]

            def on_iteration(iteration):
                end = time.time()
                print(
                    "[%s] Iteration %d, pseudo-likelihood = %.2f, time = %.2fs"
                    % (type(self).__name__, iteration, self.score_samples(X).mean(),
                       end - begin[0])
                )
                begin[0] = end

        # One callback task an epoch (fastmlp._callbacks).
        tasks = FitTasks(self, X, y, None, self.n_iter, "epoch")
        if tasks.active:
            report = on_iteration

            def on_iteration(iteration):
                if report is not None:
                    report(iteration)
                tasks.end()
                if iteration < self.n_iter:
                    tasks.begin()

            if self.n_iter:
                tasks.begin()
        self._train(X, rng, self.batch_size, self.n_iter, on_iteration)
        tasks.close()
        return self

    def _callback_snapshot(self):
        """Copies of the fitted parameters, for a callback's ``fitted_estimator``."""
        return {name: np.copy(getattr(self, name))
                for name in ("components_", "intercept_hidden_", "intercept_visible_",
                             "h_samples_")}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

