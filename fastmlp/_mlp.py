"""MLPClassifier and MLPRegressor: scikit-learn's multi-layer perceptron, compiled.

The estimators here only validate, allocate and orchestrate; every numerical
step runs in the kernels of :mod:`fastmlp._mlp_kernels`. All weights and
biases live in one flat vector (``self._theta``) of which ``coefs_`` and
``intercepts_`` are views, so the compiled optimizer updates the whole
network in one loop and L-BFGS works on the vector with no repacking.

The random state is consumed exactly as scikit-learn consumes it (weights
layer by layer, then the validation split, then one permutation per epoch),
so the same ``random_state`` gives the same model.
"""

import contextlib
import copy
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    _fit_context,
    is_classifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

from . import _mlp_kernels as K
from ._callbacks import CALLBACK_ATTRIBUTES, CallbackSupportMixin, FitTasks
from ._activations import ACTIVATION_CODES, EXTRA_HIDDEN, SKLEARN_HIDDEN, deltas_per_unit
from ._dropout import dropout_rates, dropout_state, scratch_per_unit
from ._losses import LOSS_CODES, loss_parameters, loss_value
from ._threads import (ThreadChooser, blas_for, fitting, share_of, single_threaded_blas,
                       thread_budget)
from ._optimizers import (
    ADAM,
    BETA_1,
    BETA_2,
    EPSILON,
    LR,
    MOMENTUM,
    N_HYPER,
    NESTEROV,
    SGD,
)
from ._split import validation_split
from ._validation import KernelInput, canonical_csr, check_fitted, check_sample_weight
from .convert import SklearnConvertible

_STOCHASTIC_SOLVERS = ("sgd", "adam")

# The dtypes the kernels are compiled for; a prediction for another
# (np.longdouble) is computed in float64 and returned in that dtype, as
# scikit-learn returns it.
_KERNEL_DTYPES = (np.float64, np.float32)

# SciPy 1.15 deprecated L-BFGS-B's ``iprint``; passing it there only warns.
_LBFGS_TAKES_IPRINT = tuple(int(p) for p in scipy.__version__.split(".")[:2]) < (1, 15)

# The most rows per block of a prediction: large enough for BLAS to run at
# full speed, small enough that a block's hidden activations stay in cache.
_PREDICT_BLOCK_ROWS = 2048
# A prediction of fewer rows than _PREDICT_BLOCK_ROWS is split in two from
# _PREDICT_SPLIT_ROWS rows if its widest product is at least _PREDICT_SPLIT_WORK
# multiply-adds (0.6 ms on one core here); below that one thread computes it
# in one block (1,797 digits rows of 64 -> 100 -> 10: 0.4 ms), which also
# spares a first predict the compile of the parallel path.
_PREDICT_SPLIT_ROWS = 512
_PREDICT_SPLIT_WORK = 1 << 24
# The most blocks a thread computes in one parallel call of a prediction:
# between calls a Ctrl-C is answered.
_PREDICT_BLOCKS_PER_CALL = 32
# A product of at least this many multiply-adds (m * n * k) may run on
# BLAS's own threads: OpenBLAS threads a GEMM from 262,144, and its threads
# then spin for about 0.1 s after every call (measured: 110 ms of CPU on
# the other core after a 10-row predict of 784 -> 100 -> 10, with 2 cores),
# slowing whatever runs next, fastmlp's own threads included. Half
# OpenBLAS's figure, for other builds' thresholds.
_BLAS_THREADING_MIN = 131_072
_NO_LIMIT = contextlib.nullcontext()


def _widest_product(units):
    """Multiply-adds a row costs in the network's widest layer, ``units[i] * units[i + 1]``."""
    return int((units[:-1] * units[1:]).max())


def _one_thread_blas(block, widest):
    """BLAS's threading for a prediction computed on one thread, in blocks of ``block`` rows.

    Products big enough for BLAS to thread (``block * widest`` from
    ``_BLAS_THREADING_MIN``) run on one BLAS thread: BLAS's threads gain
    little on a block of rows, spin afterwards, and group some sums
    otherwise (1e-16), where a row's output must not depend on the thread
    count; the threads of a shared prediction each run single-threaded
    BLAS too. Asking costs about 20 us; a single row never ran on BLAS's
    threads (measured up to 784 x 1,000 weights), so it does not ask.
    """
    if block < 2 or block * widest < _BLAS_THREADING_MIN:
        return _NO_LIMIT
    return single_threaded_blas()


def _prediction_block(n, widest):
    """Rows per block of an ``n``-row prediction: one block, or an even number of equal blocks.

    ``widest`` is :func:`_widest_product` of the network. One block up to
    ``_PREDICT_BLOCK_ROWS`` rows, unless from ``_PREDICT_SPLIT_ROWS`` rows
    its widest product holds ``_PREDICT_SPLIT_WORK`` multiply-adds; else at
    most ``_PREDICT_BLOCK_ROWS`` rows a block, and an even number of blocks
    so that two threads get equal shares (10,000 rows: six blocks of 1,667
    rows, where blocks of 2,048 left the fifth to one thread while the other
    waited). The blocks depend on ``n`` and the network only: a row's
    output never depends on the thread count, and ``_forward_rows``
    reproduces a prediction's blocks.
    """
    blocks = -(-n // _PREDICT_BLOCK_ROWS)
    if blocks == 1:
        if n < _PREDICT_SPLIT_ROWS or n * widest < _PREDICT_SPLIT_WORK:
            return n
        blocks = 2
    blocks += blocks % 2
    return -(-n // blocks)


# Rows from which a float64 prediction's first product is transposed (see
# fastmlp._mlp_kernels.predict): 128 rows took 1.2x the time transposed, 256
# and 512 the same, 1,000 0.95x, 4,096 0.9x, 54,000 0.86x (784 -> 100 -> 10).
_TRANSPOSE_MIN_ROWS = 512


class BaseMultilayerPerceptron(SklearnConvertible, CallbackSupportMixin, BaseEstimator,
                               metaclass=ABCMeta):
    """Shared machinery of :class:`MLPClassifier` and :class:`MLPRegressor`.

    Warning: this class should not be used directly; use the derived classes.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(SKLEARN_HIDDEN + EXTRA_HIDDEN))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        # Each rate of an array-like is checked at fit (fastmlp._dropout).
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        loss,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
        dropout=0.0,
    ):
        self.dropout = dropout
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # ------------------------------------------------------------------
    # Flat parameter storage
    # ------------------------------------------------------------------
    def _layout(self, layer_units):
        """Offsets of every layer's weights and biases in the flat vector."""
        units = np.asarray(layer_units, dtype=np.int64)
        sizes_w = units[:-1] * units[1:]
        coef_ptr = np.concatenate([[0], np.cumsum(sizes_w)]).astype(np.int64)
        icpt_ptr = (coef_ptr[-1] + np.concatenate([[0], np.cumsum(units[1:])])).astype(
            np.int64
        )
        return units, coef_ptr, icpt_ptr

    def _bind(self, theta):
        """Make ``coefs_`` and ``intercepts_`` views of the flat vector ``theta``."""
        units, coef_ptr, icpt_ptr = self._units, self._coef_ptr, self._icpt_ptr
        self._theta = theta
        self.coefs_ = [
            theta[coef_ptr[i] : coef_ptr[i + 1]].reshape(units[i], units[i + 1])
            for i in range(len(units) - 1)
        ]
        self.intercepts_ = [
            theta[icpt_ptr[i] : icpt_ptr[i + 1]] for i in range(len(units) - 1)
        ]

    def _params(self):
        """The flat vector, repacked first if ``coefs_``/``intercepts_`` were replaced.

        A user (or pickle) may have swapped the views for plain arrays; the
        kernels read only ``_theta``, so it must hold what the attributes say.
        """
        theta = getattr(self, "_theta", None)
        parts = self.coefs_ + self.intercepts_
        if theta is not None and all(p.base is theta for p in parts):
            return theta
        dtype = np.result_type(*parts)
        if dtype not in _KERNEL_DTYPES:
            dtype = np.dtype(np.float64)
        units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        # The kernels take every layer's shape from these units: the arrays
        # must chain (and each bias fit its layer) before they are trusted.
        if len(self.intercepts_) != len(self.coefs_) or any(
            c.ndim != 2 or c.shape[0] != units[i] or np.shape(b) != (units[i + 1],)
            for i, (c, b) in enumerate(zip(self.coefs_, self.intercepts_))
        ):
            raise ValueError(
                "coefs_ %s and intercepts_ %s do not form a network."
                % ([np.shape(c) for c in self.coefs_], [np.shape(b) for b in self.intercepts_])
            )
        self._units, self._coef_ptr, self._icpt_ptr = self._layout(units)
        theta = np.concatenate([np.ravel(p) for p in parts]).astype(dtype, copy=False)
        self._bind(theta)
        return theta

    def __getstate__(self):
        # A copy: object.__getstate__ returns the instance's own __dict__, and
        # popping from it took _theta off the live estimator (copy.copy, as
        # scikit-learn's callbacks make, or pickling it mid-fit).
        state = dict(super().__getstate__())
        # coefs_/intercepts_ pickle as separate arrays; the flat vector is
        # rebuilt from them on load, so it is not stored twice.
        state.pop("_theta", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "coefs_" in state:
            self._params()

    # ------------------------------------------------------------------
    # Initialisation
    # ------------------------------------------------------------------
    def _out_activation(self):
        if not is_classifier(self):
            return "exp" if self.loss == "poisson" else "identity"
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _initialize(self, y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()
        self._units, self._coef_ptr, self._icpt_ptr = self._layout(layer_units)

        # Glorot-style uniform init, drawn in float64 layer by layer (weights,
        # then biases) so that the stream matches scikit-learn's.
        factor = 2.0 if self.activation == "logistic" else 6.0
        theta = np.empty(self._icpt_ptr[-1], dtype=dtype)
        for i in range(self.n_layers_ - 1):
            fan_in, fan_out = layer_units[i], layer_units[i + 1]
            bound = np.sqrt(factor / (fan_in + fan_out))
            w = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            b = self._random_state.uniform(-bound, bound, fan_out)
            theta[self._coef_ptr[i] : self._coef_ptr[i + 1]] = w.ravel()
            theta[self._icpt_ptr[i] : self._icpt_ptr[i + 1]] = b
        self._bind(theta)
        self._best_theta = theta.copy()

        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.validation_loss_curve_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.validation_loss_curve_ = None
                self.best_validation_score_ = None

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False, validation=None):
        """Fit, leaving the estimator exactly as it was if anything raises.

        ``validation`` is ``(X_val, y_val, sample_weight_val)`` as given to
        :meth:`fit`, or None.
        """
        return self._all_or_nothing(self._fit_unsafe, X, y, sample_weight, incremental,
                                    validation)

    def _all_or_nothing(self, fit, *args):
        """``fit(*args)``, the estimator restored as it was if that raises."""
        # The callbacks and their contexts (sklearn.callback) are shared with
        # the caller, not state of the model: kept as they are.
        saved = {k: v if k in CALLBACK_ATTRIBUTES else copy.deepcopy(v)
                 for k, v in self.__dict__.items()}
        try:
            return fit(*args)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit_unsafe(self, X, y, sample_weight, incremental, validation=None):
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(
                "hidden_layer_sizes must be > 0, got %s." % hidden_layer_sizes
            )
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        rates = dropout_rates(self.dropout, len(hidden_layer_sizes), type(self).__name__)
        if rates.shape[0] and self.solver not in _STOCHASTIC_SOLVERS:
            # L-BFGS's line search compares losses of one objective; a new
            # mask at every evaluation would change the objective under it.
            raise ValueError("dropout needs solver='sgd' or 'adam', got solver=%r."
                             % self.solver)

        y_given = y
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X, X.dtype)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        sample_weight = self._weigh_classes(y, sample_weight, incremental, X.dtype)
        if getattr(self, "loss", None) == "poisson" and np.any(y < 0):
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for "
                "Poisson regression."
            )
        layer_units = [n_features] + hidden_layer_sizes + [y.shape[1]]
        if not first_pass:
            self._params()
            if list(self._units) != layer_units:
                raise ValueError(
                    "The layer sizes %s of the data and hidden_layer_sizes do not "
                    "match the fitted network %s; warm_start and partial_fit need "
                    "the same architecture."
                    % (layer_units, [int(u) for u in self._units])
                )
        self.n_outputs_ = y.shape[1]

        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
        # Later partial_fit and warm-started fits keep the first fit's dtype
        # and optimizer state, as scikit-learn's do; the input is cast to it
        # (exactly, for float32 input to a float64 model).
        Y = np.ascontiguousarray(y, dtype=self._theta.dtype)
        if validation is not None:
            validation = self._validation_set(*validation, self._theta.dtype)
        stochastic = self.solver in _STOCHASTIC_SOLVERS
        # One callback task an epoch, or an L-BFGS iteration (and one left
        # over at its end, as scikit-learn's LogisticRegression reports it).
        tasks = FitTasks(self, X, y_given, sample_weight,
                         (1 if incremental else self.max_iter) + (0 if stochastic else 1),
                         "epoch" if stochastic else "lbfgs-iter")
        if stochastic:
            self._fit_stochastic(X, Y, sample_weight, incremental, validation, tasks, rates)
        else:
            self._fit_lbfgs(X, Y, sample_weight, tasks)
        tasks.close()
        self._check_finite_weights()
        return self

    def _callback_snapshot(self):
        """Copies of the fitted parameters, for a callback's ``fitted_estimator``.

        ``coefs_`` are views of the flat vector that training keeps
        changing; the shallow copy scikit-learn makes of the estimator, with
        these set, repacks a vector of its own when it first predicts.
        """
        return {"coefs_": [c.copy() for c in self.coefs_],
                "intercepts_": [b.copy() for b in self.intercepts_], "_theta": None}

    def _weigh_classes(self, Y, sample_weight, incremental, dtype):
        """``sample_weight`` with the class weights multiplied in (classifiers only)."""
        return sample_weight

    def _check_validation_request(self, X_val, y_val, sample_weight_val):
        """Errors for a validation set :meth:`fit` cannot use (HistGradientBoosting's)."""
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError("sample_weight_val is provided, but X_val and y_val were "
                                 "not provided.")
            return None
        if y_val is None:
            raise ValueError("X_val is provided, but y_val was not provided.")
        if X_val is None:
            raise ValueError("y_val is provided, but X_val was not provided.")
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise ValueError(
                "X_val and y_val are passed to fit, but solver=%r does not stop early; "
                "an explicit validation set needs solver='sgd' or 'adam' and "
                "early_stopping=True." % self.solver)
        if not self.early_stopping:
            raise ValueError(
                "X_val and y_val are passed to fit while at the same time early_stopping "
                "is False. When passing X_val and y_val to fit, early_stopping should be "
                "set to True.")
        return X_val, y_val, sample_weight_val

    def _validation_set(self, X_val, y_val, sample_weight_val, dtype):
        """``(X_val, Y_val, y_val, sample_weight_val)`` validated like the training data.

        ``Y_val`` is the network's target (``dtype``), ``y_val`` what the
        score compares predictions with; the class weights multiply
        ``sample_weight_val`` as they multiply ``sample_weight``.
        """
        X_val = validate_data(self, X_val, accept_sparse=["csr", "csc"],
                              dtype=(np.float64, np.float32), reset=False)
        y_val = self._validation_targets(y_val)
        check_consistent_length(X_val, y_val)
        if sample_weight_val is not None:
            sample_weight_val = check_sample_weight(sample_weight_val, X_val, X_val.dtype)
        Y_val = self._network_targets(y_val)
        if Y_val.ndim == 1:
            Y_val = Y_val.reshape((-1, 1))
        if Y_val.shape[1] != self.n_outputs_:
            raise ValueError("y_val has %d outputs, but y has %d."
                             % (Y_val.shape[1], self.n_outputs_))
        if getattr(self, "loss", None) == "poisson" and np.any(Y_val < 0):
            raise ValueError(
                "Some value(s) of y_val are negative which is not allowed for "
                "Poisson regression."
            )
        sample_weight_val = self._weigh_classes(Y_val, sample_weight_val, False, X_val.dtype)
        return X_val, np.ascontiguousarray(Y_val, dtype=dtype), y_val, sample_weight_val

    def _check_finite_weights(self):
        if not np.isfinite(self._theta).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )

    def _kernel_codes(self):
        loss = self.loss
        if loss == "log_loss" and self.out_activation_ == "logistic":
            loss = "binary_log_loss"
        return (
            ACTIVATION_CODES[self.activation],
            ACTIVATION_CODES[self.out_activation_],
            # [code, Huber threshold]: see fastmlp._losses.loss_spec.
            loss_parameters(LOSS_CODES[loss], float(getattr(self, "huber_delta", 0.0))),
        )

    def _fit_lbfgs(self, X, Y, sample_weight, tasks=None):
        # L-BFGS-B iterates, and compares losses in its line search, in
        # float64; the objective is evaluated in float64 too (as scikit-learn
        # does), and only the fitted parameters return to the input's dtype.
        dtype = np.float64
        inp = KernelInput(X, dtype)
        n = inp.n
        Y = np.ascontiguousarray(Y, dtype=dtype)
        hidden, out, loss_kind = self._kernel_codes()
        units, coef_ptr, icpt_ptr = self._units, self._coef_ptr, self._icpt_ptr
        width = int(units[1:].sum())
        # With several threads, every evaluation is split into ``threads``
        # blocks of rows (K.split_loss_grad), each block's products in
        # single-threaded BLAS, run on the threads or on one thread as the
        # chooser finds faster: the blocks, and so the result, are the same
        # either way. With one, BLAS's own threads split the products.
        threads = min(thread_budget(), max(1, n))
        part_rows = -(-n // threads)
        acts = np.empty((threads, part_rows * width), dtype=dtype)
        deltas = np.empty((threads, part_rows * width * deltas_per_unit(hidden)), dtype=dtype)
        G = np.empty((threads, self._theta.shape[0]), dtype=dtype)
        grad = G[0]
        has_sw = sample_weight is not None
        sw = np.ascontiguousarray(sample_weight, dtype=dtype) if has_sw else grad[:0]
        rows = inp.rows()
        alpha = float(self.alpha)
        part = np.empty((threads, 3))
        # One chunk an evaluation, at most max_fun of them.
        chooser = ThreadChooser(threads, batches=self.max_fun)
        loss = [0.0]

        def evaluate(theta):
            if threads == 1:
                loss[0] = K.loss_grad(
                    inp.X, inp.data, inp.indices, inp.indptr, rows, n, Y, sw,
                    has_sw, theta, grad, coef_ptr, icpt_ptr, units, acts[0], deltas[0],
                    hidden, out, loss_kind, alpha,
                )
            else:
                loss[0] = K.split_loss_grad(
                    inp.X, inp.data, inp.indices, inp.indptr, rows, Y, sw, has_sw,
                    theta, G, coef_ptr, icpt_ptr, units, acts, deltas, hidden, out,
                    loss_kind, alpha, part,
                )

        def loss_and_grad(theta):
            # SciPy's iterate is used as the flat parameter vector directly;
            # the chooser runs one evaluation as one chunk.
            chooser.run(1, lambda first, stop: evaluate(theta))
            # SciPy may keep the returned gradient, so it gets its own array.
            return loss[0], grad.copy()

        with blas_for(threads):
            self._run_lbfgs(loss_and_grad, tasks)

    def _run_lbfgs(self, loss_and_grad, tasks=None):
        """Minimize ``loss_and_grad`` (float64 theta -> loss, gradient) from ``_theta``.

        Shared by the in-memory fit and the one over Dask blocks
        (fastmlp.dask), which differ only in where the loss is evaluated.
        With callbacks (``tasks``, see fastmlp._callbacks), each iteration is
        a task, and ``_theta`` follows the iterate so that they see it.
        """
        callback = None
        if tasks is not None and tasks.active:
            def callback(xk):
                self._theta[:] = xk
                tasks.end()
                tasks.begin()

            tasks.begin()
        options = {"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol}
        if _LBFGS_TAKES_IPRINT:
            options["iprint"] = 1 if (self.verbose is True or self.verbose >= 1) else -1
        res = scipy.optimize.minimize(
            loss_and_grad,
            self._theta.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            options=options,
            callback=callback,
        )
        self.n_iter_ = _lbfgs_iterations(res, self.max_iter)
        self.loss_ = float(res.fun)
        self._theta[:] = res.x

    def _new_optimizer(self, size, dtype):
        hyper = np.zeros(N_HYPER)
        hyper[LR] = self.learning_rate_init
        hyper[MOMENTUM] = self.momentum
        hyper[NESTEROV] = float(self.nesterovs_momentum)
        hyper[BETA_1] = self.beta_1
        hyper[BETA_2] = self.beta_2
        hyper[EPSILON] = self.epsilon
        return {
            "solver": SGD if self.solver == "sgd" else ADAM,
            "state1": np.zeros(size, dtype=dtype),
            "state2": np.zeros(size if self.solver == "adam" else 0, dtype=dtype),
            "hyper": hyper,
            "t": 0,
        }

    def _fit_stochastic(self, X, Y, sample_weight, incremental, validation=None, tasks=None,
                        rates=None):
        theta = self._theta
        opt = getattr(self, "_optimizer", None)
        if (
            not incremental
            or opt is None
            or opt["state1"].dtype != theta.dtype
            or opt["state1"].shape != theta.shape
        ):
            opt = self._new_optimizer(theta.shape[0], theta.dtype)
            self._optimizer = opt

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if sp.issparse(X):
            # Once, so that the epoch and the validation scores share one CSR.
            X = canonical_csr(X)
        # The validation scores read rows val_rows of X_score.
        X_score = X
        if validation is not None:
            # An explicit validation set: every row of X trains, none is split off
            # (and the split draws nothing from the random state).
            X_score, Y_val, y_val, sw_val = validation
            if sp.issparse(X_score):
                X_score = canonical_csr(X_score)
            train_rows = np.arange(X.shape[0], dtype=np.intp)
            val_rows = np.arange(X_score.shape[0], dtype=np.intp)
        elif early_stopping:
            # Row numbers, not copies: the epoch gathers its batches from X
            # by row number anyway, and the validation rows are read a block
            # at a time (see _forward_rows).
            # scikit-learn stratifies on its one boolean column Y (as the
            # strings 'False'/'True'); the same column, one byte a row, draws
            # the same split and names the classes the same way (see _split).
            stratify = (Y[:, :1] > 0) if (is_classifier(self) and self.n_outputs_ == 1) else None
            train_rows, val_rows = _validation_split(
                X.shape[0], stratify, self.validation_fraction, self._random_state
            )
            if val_rows.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            Y_val = Y[val_rows]
            sw_val = None if sample_weight is None else sample_weight[val_rows]
            y_val = Y_val
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(Y_val)
            elif y_val.shape[1] == 1:
                y_val = y_val.ravel()
        else:
            train_rows = np.arange(X.shape[0], dtype=np.intp)
            val_rows = y_val = sw_val = Y_val = None

        n_samples = train_rows.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        run_epoch = self._epoch_runner(X, Y, sample_weight, batch_size, opt, rates,
                                       epochs=1 if incremental else self.max_iter,
                                       n_rows=n_samples)
        hyper = opt["hyper"]

        # The rows of X this fit trains on, in this epoch's order.
        sample_idx = train_rows
        # BLAS stays single-threaded between the epochs too (the validation
        # score): a BLAS thread left spinning after a call held a core that
        # the next epoch's threads wait for, which made a 0.7 ms epoch take
        # up to 100 ms.
        with blas_for(run_epoch.threads):
            try:
                self.n_iter_ = 0
                for it in range(self.max_iter):
                    if tasks is not None:
                        tasks.begin()
                    if self.shuffle:
                        _shuffle(sample_idx, self._random_state)
                    accumulated = run_epoch(sample_idx)
                    self.n_iter_ += 1
                    self.loss_ = accumulated / n_samples
                    self.t_ += n_samples
                    self.loss_curve_.append(self.loss_)
                    if self.verbose:
                        print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

                    self._update_no_improvement_count(early_stopping, X_score, val_rows,
                                                      y_val, sw_val, Y_val)
                    if self.solver == "sgd" and self.learning_rate == "invscaling":
                        hyper[LR] = self.learning_rate_init / (self.t_ + 1) ** self.power_t

                    # A callback may ask to stop after any epoch.
                    if tasks is not None and tasks.end():
                        break
                    if self._no_improvement_count > self.n_iter_no_change:
                        what = "Validation score" if early_stopping else "Training loss"
                        msg = (
                            "%s did not improve more than tol=%f for %d consecutive epochs."
                            % (what, self.tol, self.n_iter_no_change)
                        )
                        if self._trigger_stopping(msg, hyper):
                            break
                        self._no_improvement_count = 0

                    if incremental:
                        break
                    if self.n_iter_ == self.max_iter:
                        warnings.warn(
                            "Stochastic Optimizer: Maximum iterations (%d) reached and "
                            "the optimization hasn't converged yet." % self.max_iter,
                            ConvergenceWarning,
                        )
            except KeyboardInterrupt:
                warnings.warn("Training interrupted by user.")

        if early_stopping:
            theta[:] = self._best_theta

    def _epoch_runner(self, X, Y, sample_weight, batch_size, opt, rates=None, epochs=None,
                      n_rows=None):
        """Allocate one epoch's buffers once; return ``run(order, upto)``.

        ``run`` makes one compiled pass over the rows in ``order`` (advancing
        the optimizer state ``opt``) and returns the summed batch losses.
        ``rates`` are the dropout rates (fastmlp._dropout.dropout_rates; None:
        from ``self.dropout``); with dropout on, the masks' seed is drawn here
        from the random state, and nothing is drawn without. ``epochs`` (at
        most, None: many) of ``n_rows`` rows each tell the thread chooser how
        long the fit may run.
        """
        theta = self._theta
        dtype = theta.dtype
        inp = KernelInput(X, dtype)
        Y = np.ascontiguousarray(Y, dtype=dtype)
        units, coef_ptr, icpt_ptr = self._units, self._coef_ptr, self._icpt_ptr
        width = int(units[1:].sum())
        # Batches split between the threads took 0.6x (regressor) to 0.94x
        # (256 -> 3 x 512 -> 3) the time of one thread with BLAS threads, on
        # 2 idle cores (fastmlp._mlp_kernels.parallel_epoch); when the cores
        # are busy, the chooser runs the same split on one thread.
        threads = thread_budget()
        # Each thread's buffers for its share of a batch's rows.
        rows = -(-batch_size // threads)
        hidden, out, loss_kind = self._kernel_codes()
        if rates is None:
            rates = dropout_rates(self.dropout, len(units) - 2, type(self).__name__)
        drop = dropout_state(rates)
        if rates.shape[0]:
            drop[:2] = np.array([
                self._random_state.randint(np.iinfo(np.uint64).max, dtype=np.uint64),
                # The batch count goes on over partial_fit calls.
                opt.get("dropout_batches", 0)], dtype=np.uint64).view(np.int64)
        acts = np.empty((threads, rows * width), dtype=dtype)
        deltas = np.empty((threads, rows * width * scratch_per_unit(hidden, drop)), dtype=dtype)
        G = np.empty((threads, theta.shape[0]), dtype=dtype)
        Xb = np.empty((threads, 0 if inp.sparse else rows, inp.X.shape[1]), dtype=dtype)
        Yb = np.empty((threads, rows, Y.shape[1]), dtype=dtype)
        has_sw = sample_weight is not None
        sw = np.ascontiguousarray(sample_weight, dtype=dtype) if has_sw else Y[:0, 0]
        swb = np.empty((threads, rows if has_sw else 0), dtype=dtype)
        part = np.empty((threads, 3))
        alpha = float(self.alpha)
        epoch = K.parallel_epoch if threads > 1 else K.stochastic_epoch
        # The split of each batch is fixed by the buffers (``threads``
        # parts), whatever number of threads runs it, so the chooser's
        # choices never change the result.
        chooser = ThreadChooser(
            threads, batches=None if epochs is None else epochs * -(-n_rows // batch_size))

        def run(order, upto=K.UPDATE):
            accumulated = [0.0]

            def batches(first, stop):
                accumulated[0], opt["t"] = epoch(
                    inp.X, inp.data, inp.indices, inp.indptr, Y, sw, has_sw,
                    order[first * batch_size : stop * batch_size], batch_size, theta, G,
                    coef_ptr, icpt_ptr, units, hidden, out, loss_kind, alpha, Xb, Yb, swb,
                    acts, deltas, part, opt["solver"], opt["state1"], opt["state2"],
                    opt["hyper"], opt["t"], accumulated[0], drop, upto,
                )
                if drop.shape[0]:
                    opt["dropout_batches"] = int(drop[1])

            with blas_for(threads):
                chooser.run(-(-order.shape[0] // batch_size), batches)
            return accumulated[0]

        run.threads = threads
        return run

    def _trigger_stopping(self, msg, hyper):
        """Stop, or for adaptive SGD divide the learning rate by 5 and go on."""
        if not (self.solver == "sgd" and self.learning_rate == "adaptive"):
            if self.verbose:
                print(msg + " Stopping.")
            return True
        if hyper[LR] <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        hyper[LR] /= 5.0
        if self.verbose:
            print(msg + " Setting learning rate to %f" % hyper[LR])
        return False

    def _update_no_improvement_count(self, early_stopping, X, val_rows, y_val, sw_val,
                                     Y_val=None):
        if early_stopping:
            P = self._forward_rows(X, val_rows)
            score = self._score_prediction(y_val, self._decode(P), sw_val,
                                           self._score_function)
            self.validation_scores_.append(score)
            self._record_validation_loss(P, Y_val, sw_val)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_theta = self._theta.copy()
        else:
            last = self.loss_curve_[-1]
            if last > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last < self.best_loss_:
                self.best_loss_ = last

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def _skips_validation(self, X):
        """True for an ``X`` that ``validate_data(reset=False)`` returns unchanged if finite.

        Single-row prediction is dominated by validation: a C-ordered float
        ndarray with the fitted width and no feature names to compare needs
        only its finiteness checked, and the prediction kernel checks that
        on the first layer's products (see :func:`fastmlp._mlp_kernels.predict`).
        Anything else takes validate_data, which also raises scikit-learn's errors.
        """
        return (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in (np.float64, np.float32)
            and X.flags.c_contiguous
            and X.shape[0] > 0
            and X.shape[1] == self.n_features_in_
            and not hasattr(self, "feature_names_in_")
        )

    def _forward_pass_fast(self, X, check_input=True):
        """Network output for ``X``: a new ``(n_samples, n_outputs_)`` array.

        Its dtype is that of ``X @ coefs_[0]``, as scikit-learn's: float64
        for a float32 model and float64 (or integer) input.
        """
        check_finite = check_input and self._skips_validation(X)
        if check_input and not check_finite:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        theta = self._params()
        if X.ndim != 2 or X.shape[1] != self._units[0]:
            raise ValueError(
                "X has %s features, but %s is expecting %d features as input."
                % (X.shape[1] if X.ndim == 2 else X.shape, type(self).__name__,
                   self._units[0])
            )
        result_dtype = np.result_type(X.dtype, theta.dtype)
        dtype = result_dtype if result_dtype in _KERNEL_DTYPES else np.dtype(np.float64)
        theta = theta.astype(dtype, copy=False)
        inp = KernelInput(X, dtype)
        width = self._activation_width()
        widest = _widest_product(self._units) if inp.n > 1 else 0
        block = _prediction_block(inp.n, widest)
        transposed = dtype == np.float64 and not inp.sparse and block >= _TRANSPOSE_MIN_ROWS
        result = np.empty((inp.n, int(self._units[-1])), dtype=dtype)
        codes = (ACTIVATION_CODES[self.activation], ACTIVATION_CODES[self.out_activation_])
        n_blocks = -(-inp.n // block)
        # Two blocks or more: the threads take the blocks one at a time,
        # each in single-threaded BLAS (BLAS's threads would meet at every
        # product, which on a busy machine made 54,000 rows take 3x one
        # thread). One block runs on one thread whatever the budget (and
        # asking for the budget costs more than predicting a row).
        threads = min(thread_budget(), n_blocks) if n_blocks > 1 else 1
        args = (inp, theta, block, width, transposed, codes, result, widest)
        run = self._predict_blocks if threads > 1 else self._predict_on_one_thread
        if not run(args, threads, check_finite):
            # X holds a NaN or infinity (validate_data raises scikit-learn's
            # error for it), or a finite X overflowed in the products.
            validate_data(self, X, reset=False)
            run(args, threads, False)
        return result.astype(result_dtype, copy=False)

    def _activation_width(self):
        """Units of all layers but the input: a row's activations, its intercepts' count.

        From the intercepts' offsets in ``_theta``: ``_units[1:].sum()``
        costs 3 us, a tenth of a single-row predict.
        """
        return int(self._icpt_ptr[-1] - self._icpt_ptr[0])

    def _predict_on_one_thread(self, args, threads, check):
        """:meth:`_forward_pass_fast`'s blocks one after the other on the calling thread.

        ``threads`` is not used: the signature is :meth:`_predict_blocks`'s.
        """
        inp, theta, block, width, transposed, (hidden, out), result, widest = args
        units = self._units
        acts = np.empty(block * width, dtype=theta.dtype)
        ZT = np.empty(block * int(units[1]) if transposed else 0, dtype=theta.dtype)
        with _one_thread_blas(block, widest):
            return K.predict(inp.X, inp.data, inp.indices, inp.indptr, theta, self._coef_ptr,
                             self._icpt_ptr, units, acts, ZT, hidden, out, result, check)

    def _predict_blocks(self, args, threads, check):
        """:meth:`_forward_pass_fast`'s blocks shared between ``threads`` threads.

        Returns False where :func:`fastmlp._mlp_kernels.predict` would.
        """
        inp, theta, block, width, transposed, codes, result, _ = args
        with fitting():
            # Fits and predictions running in other Python threads of the
            # process share the budget.
            slots = share_of(threads)
            if slots == 1:
                return self._predict_on_one_thread(args, threads, check)
            dtype = theta.dtype
            acts = np.empty((slots, block * width), dtype=dtype)
            ZT = np.empty((slots, block * int(self._units[1]) if transposed else 0),
                          dtype=dtype)
            rows = np.empty((slots, block if inp.sparse else 0), dtype=np.intp)
            ok = np.empty(slots, dtype=bool)
            per_call = slots * _PREDICT_BLOCKS_PER_CALL
            n_blocks = -(-inp.n // block)
            with blas_for(slots):
                for first in range(0, n_blocks, per_call):
                    K.parallel_predict(inp.X, inp.data, inp.indices, inp.indptr, first,
                                       min(first + per_call, n_blocks), theta,
                                       self._coef_ptr, self._icpt_ptr, self._units, acts,
                                       ZT, rows, *codes, result, check, ok)
                    if not ok.all():
                        return False
            return True

    def _forward_rows(self, X, rows):
        """Network output for rows ``rows`` of a fitted-width ``X``, gathered a block at a time.

        Scores the early-stopping validation rows where they are: only one
        block of rows (:func:`_prediction_block`) is ever copied out of ``X``.
        The blocks, their buffers and so every product are the ones
        :meth:`_forward_pass_fast` would use on ``X[rows]``, so the outputs
        are the same to the last bit.
        """
        theta = self._theta
        dtype = theta.dtype
        sparse = sp.issparse(X)
        n = rows.shape[0]
        width = self._activation_width()
        widest = _widest_product(self._units)
        block = _prediction_block(n, widest)
        acts = np.empty(block * width, dtype=dtype)
        transposed = dtype == np.float64 and not sparse and block >= _TRANSPOSE_MIN_ROWS
        ZT = np.empty(block * int(self._units[1]) if transposed else 0, dtype=dtype)
        Xb = np.empty((0 if sparse else block, X.shape[1]), dtype=dtype)
        result = np.empty((n, self.n_outputs_), dtype=dtype)
        for start in range(0, n, block):
            chunk = rows[start : start + block]
            if sparse:
                inp = KernelInput(X[chunk], dtype)
            else:
                # mode="clip" (the rows are valid): "raise" buffers the output.
                inp = KernelInput(
                    np.take(X, chunk, axis=0, out=Xb[: chunk.shape[0]], mode="clip"), dtype)
            with _one_thread_blas(block, widest):
                K.predict(inp.X, inp.data, inp.indices, inp.indptr, theta, self._coef_ptr,
                          self._icpt_ptr, self._units, acts, ZT,
                          ACTIVATION_CODES[self.activation],
                          ACTIVATION_CODES[self.out_activation_],
                          result[start : start + chunk.shape[0]], False)
        return result

    def _record_validation_loss(self, P, Y_val, sw_val):
        """Append the loss of the validation outputs ``P`` to ``validation_loss_curve_``.

        The loss the network trains on (weighted by ``sw_val``), without the
        L2 penalty: ``loss_curve_``'s data term, on the validation rows.
        """
        curve = getattr(self, "validation_loss_curve_", None)
        if curve is None or Y_val is None:
            return
        has_sw = sw_val is not None
        sw = np.ascontiguousarray(sw_val, dtype=P.dtype) if has_sw else P[:0, 0]
        curve.append(float(loss_value(P, Y_val.astype(P.dtype, copy=False), sw, has_sw,
                                      self._kernel_codes()[2])))

    def _score_rows(self, X, rows, y, sample_weight):
        """:meth:`_score` of rows ``rows`` of ``X``, which are not copied (see _forward_rows)."""
        y_pred = self._decode(self._forward_rows(X, rows))
        return self._score_prediction(y, y_pred, sample_weight, self._score_function)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, self._score_function)

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        return self._score_prediction(y, y_pred, sample_weight, score_function)

    @staticmethod
    def _score_prediction(y, y_pred, sample_weight, score_function):
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None, sample_weight_val=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            The input data. A ``np.memmap`` (or C-ordered array, or CSR
            matrix) of the working dtype is not copied. With
            ``solver="lbfgs"``, a Dask array or DataFrame trains on its
            workers (see :mod:`fastmlp.dask`).

        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression); a Dask array or Series with a Dask X.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        X_val : {ndarray, sparse matrix} of shape (n_val, n_features), default=None
            A validation set for early stopping (``early_stopping=True``,
            solver 'sgd' or 'adam'): scored after every epoch instead of a
            ``validation_fraction`` split off ``X``, which then trains on all
            its rows. Not in scikit-learn's MLPs; the convention of its
            HistGradientBoosting estimators (1.7). In a ``Pipeline``,
            ``Pipeline(..., transform_input=["X_val"])`` transforms it as ``X``.

        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            The targets of ``X_val``.

        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation rows (times the class weights, for a
            classifier with ``class_weight``).

        Returns
        -------
        self : object
            Returns a trained MLP model.
        """
        validation = self._check_validation_request(X_val, y_val, sample_weight_val)
        if _is_dask_collection(X):
            if validation is not None or getattr(self, "class_weight", None) is not None:
                raise ValueError("X_val and class_weight are not supported with Dask input.")
            # Trained where the blocks live (solver="lbfgs"); see fastmlp.dask.
            from .dask._lbfgs import fit_blocks

            return self._all_or_nothing(fit_blocks, self, X, y, sample_weight)
        return self._fit(X, y, sample_weight=sample_weight, incremental=False,
                         validation=validation)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                "%s is not stochastic." % self.solver
            )
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _is_dask_collection(X):
    """True for a Dask array or DataFrame, without importing Dask."""
    return hasattr(type(X), "__dask_graph__") and type(X).__module__.startswith("dask")


def _shuffle(sample_idx, random_state):
    """Shuffle ``sample_idx`` in place as ``sklearn.utils.shuffle`` would reorder it.

    scikit-learn draws ``random_state.shuffle(arange(n))`` and indexes with
    that; shuffling the row numbers themselves makes the same swaps from the
    same draws, so the order and the random stream stay identical, without
    the two temporary arrays of 8 bytes a row (and ~0.1 ms an epoch of
    generic container handling, 6% of a small fit).
    """
    random_state.shuffle(sample_idx)


def _validation_split(n_samples, stratify, validation_fraction, random_state):
    """``(train_rows, validation_rows)``: the rows scikit-learn's early stopping splits off.

    scikit-learn calls ``train_test_split(X, y, random_state=...,
    test_size=validation_fraction, stratify=stratify)``; its permutation
    depends only on the number of rows (and on ``stratify``), so
    :func:`fastmlp._split.validation_split` draws the same rows, in the same
    order, from the same draws, as row numbers: no copy of X, and no per-row
    Python objects.
    """
    return validation_split(n_samples, stratify, validation_fraction, random_state)


def _lbfgs_iterations(result, max_iter):
    """Iterations L-BFGS-B ran; warns like scikit-learn when it did not converge."""
    n_iter = min(result.nit, max_iter)
    if result.status != 0:
        msg = "lbfgs failed to converge after %d iteration(s) (status=%d):\n%s\n" % (
            n_iter,
            result.status,
            result.message,
        )
        if n_iter == max_iter:
            msg += (
                "\nIncrease the number of iterations to improve the convergence "
                "(max_iter=%d)." % max_iter
            )
        msg += (
            "\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
        )
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    return n_iter


_COMMON_PARAMS_DOC = """
    hidden_layer_sizes : array-like of shape(n_layers - 2,), default=(100,)
        The ith element represents the number of neurons in the ith
        hidden layer.

    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', 'elu', \
            'gelu', 'silu', 'softplus'}, default='relu'
        Activation function for the hidden layer. Beyond scikit-learn's four:
        'leaky_relu', ``max(z, 0.01 z)`` (PyTorch's default slope); 'elu',
        ``z`` for z > 0 and ``exp(z) - 1`` below; 'gelu', PyTorch's
        ``approximate="tanh"`` form ``0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715
        z^3)))`` (not the exact erf form); 'silu' (swish), ``z sigmoid(z)``;
        'softplus', ``log(1 + exp(z))``. A model using them has no
        scikit-learn equivalent (:meth:`to_sklearn` raises).

    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The solver for weight optimization: quasi-Newton L-BFGS-B, stochastic
        gradient descent, or Adam.

    alpha : float, default=0.0001
        Strength of the L2 regularization term.

    batch_size : int, default='auto'
        Size of minibatches for stochastic optimizers; 'auto' is
        ``min(200, n_samples)``.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule for weight updates (``solver='sgd'`` only).

    learning_rate_init : float, default=0.001
        The initial learning rate (``solver='sgd'`` or ``'adam'``).

    power_t : float, default=0.5
        The exponent for inverse scaling learning rate.

    max_iter : int, default=200
        Maximum number of iterations (epochs for the stochastic solvers).

    shuffle : bool, default=True
        Whether to shuffle samples in each iteration (stochastic solvers).

    random_state : int, RandomState instance, default=None
        Determines weight and bias initialization, the train-validation split
        with early stopping, and batch sampling.

    tol : float, default=1e-4
        Tolerance for the optimization.

    verbose : bool, default=False
        Whether to print progress messages to stdout.

    warm_start : bool, default=False
        Reuse the solution of the previous call to fit as initialization.

    momentum : float, default=0.9
        Momentum for gradient descent update (``solver='sgd'``).

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum (``solver='sgd'``, momentum > 0).

    early_stopping : bool, default=False
        Whether to stop training when the validation score stops improving.

    validation_fraction : float, default=0.1
        The proportion of training data set aside for early stopping.

    beta_1 : float, default=0.9
        Exponential decay rate for the first moment estimates in adam.

    beta_2 : float, default=0.999
        Exponential decay rate for the second moment estimates in adam.

    epsilon : float, default=1e-8
        Value for numerical stability in adam.

    n_iter_no_change : int, default=10
        Maximum number of epochs that do not improve by ``tol``.

    max_fun : int, default=15000
        Maximum number of loss function calls (``solver='lbfgs'``).
"""

_DROPOUT_DOC = """
    dropout : float or array-like of shape (n_layers - 2,), default=0.0
        Inverted dropout of hidden units in training (``solver='sgd'`` or
        ``'adam'``): in every batch each unit of a hidden layer is dropped
        (its output set to 0, no gradient through it) with this probability,
        and the kept units' outputs are scaled by ``1 / (1 - dropout)``. One
        float in [0, 1) for every hidden layer, or one per hidden layer. The
        input and output layers are never dropped, and prediction (including
        the early-stopping score and ``validation_loss_curve_``) uses the
        whole network, unscaled. The masks are drawn inside the compiled
        epoch from a seed drawn from ``random_state``: the same seed gives
        the same model, on any number of threads; ``dropout=0`` (the
        default) draws nothing and trains scikit-learn's model. Not in
        scikit-learn; ``solver='lbfgs'`` raises ValueError, since its line
        search needs one deterministic objective.
"""

_COMMON_ATTRS_DOC = """
    loss_ : float
        The current loss computed with the loss function.

    best_loss_ : float or None
        The minimum loss reached by the solver throughout fitting (stochastic
        solvers without early stopping).

    loss_curve_ : list of shape (`n_iter_`,)
        Loss value at the end of each training step (stochastic solvers).

    validation_scores_ : list of shape (`n_iter_`,) or None
        The score on the validation set at each iteration (early stopping).

    validation_loss_curve_ : list of shape (`n_iter_`,) or None
        The loss on the validation set (the ``validation_fraction`` split or
        ``X_val``) after each epoch, without the L2 penalty; None without
        early stopping. Not in scikit-learn's MLPs.

    best_validation_score_ : float or None
        The best validation score (early stopping).

    t_ : int
        The number of training samples seen by the solver during fitting.

    coefs_ : list of shape (n_layers - 1,)
        The ith element is the weight matrix of layer i.

    intercepts_ : list of shape (n_layers - 1,)
        The ith element is the bias vector of layer i + 1.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    n_iter_ : int
        The number of iterations the solver has run.

    n_layers_ : int
        Number of layers.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation function.
"""


class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    """Multi-layer Perceptron classifier, trained by compiled kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`:
    same parameters, attributes and results for the same ``random_state``.
    It optimizes the log-loss function using LBFGS or stochastic gradient
    descent.

    Parameters
    ----------
    {params}
    class_weight : dict, list of dict or "balanced", default=None
        Weights associated with classes in the form ``{{class_label: weight}}``
        (a list of such dicts, one per output, for multilabel targets);
        classes not listed weigh 1. "balanced" weighs each class by
        ``n_samples / (n_classes * np.bincount(y))`` (not available in
        ``partial_fit``). The class weight of each row multiplies its
        ``sample_weight`` in the loss, its gradient and the early-stopping
        score. Not in scikit-learn's MLPClassifier; None (the default)
        trains the same model as scikit-learn's.

    {dropout}

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels for each output.
    {attrs}
    See Also
    --------
    MLPRegressor : Multi-layer Perceptron regressor.
    BernoulliRBM : Bernoulli Restricted Boltzmann Machine (RBM).

    Examples
    --------
    >>> from fastmlp import MLPClassifier
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.model_selection import train_test_split
    >>> X, y = make_classification(n_samples=100, random_state=1)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y,
    ...                                                     random_state=1)
    >>> clf = MLPClassifier(random_state=1, max_iter=300).fit(X_train, y_train)
    >>> clf.predict_proba(X_test[:1]).shape
    (1, 2)
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        class_weight=None,
        dropout=0.0,
    ):
        self.class_weight = class_weight
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss="log_loss",
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
        )

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "class_weight": [StrOptions({"balanced"}), dict, list, None],
    }

    def _weigh_classes(self, Y, sample_weight, incremental, dtype):
        """``sample_weight`` times each row's class weight, as scikit-learn's classifiers weigh.

        The product enters the loss, its gradient and the early-stopping
        score exactly as a ``sample_weight`` of that value would.
        """
        if self.class_weight is None:
            return sample_weight
        if incremental and isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight 'balanced' is not supported by partial_fit: one batch "
                "does not show the class frequencies. Compute the weights once, e.g. "
                "with sklearn.utils.class_weight.compute_class_weight('balanced', "
                "classes=classes, y=y) on a large enough sample of the targets, and "
                "pass them as a dict."
            )
        labels = self._label_binarizer.inverse_transform(Y)
        weights = compute_sample_weight(self.class_weight, labels).astype(dtype, copy=False)
        return weights if sample_weight is None else sample_weight * weights

    def _validation_targets(self, y_val):
        """``y_val`` checked as ``y`` is; its classes must be among ``classes_``."""
        y_val = check_array(y_val, ensure_2d=False, dtype=None, input_name="y_val")
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        if len(np.setdiff1d(unique_labels(y_val), self.classes_, assume_unique=True)):
            raise ValueError(
                "`y_val` has classes not in `self.classes_`. `self.classes_` has "
                f"{self.classes_}. 'y_val' has {unique_labels(y_val)}."
            )
        return y_val

    def _network_targets(self, y_val):
        return _binarize(self._label_binarizer, y_val)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)

        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously got "
                        f"{self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        return X, _binarize(self._label_binarizer, y)

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray, shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        check_fitted(self, "coefs_")
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._decode(self._forward_pass_fast(X, check_input=check_input))

    def _decode(self, y_pred):
        """Class labels from the network output ``y_pred``."""
        classes = self.classes_
        y_type = self._label_binarizer.y_type_
        # The two common cases decoded directly, as LabelBinarizer would
        # (arg-max; threshold 0.5 between its 0/1 labels), which costs less
        # than its general inverse_transform on a single row.
        if y_type == "multiclass":
            return classes.take(y_pred.argmax(axis=1), mode="clip")
        if y_type == "binary" and len(classes) == 2:
            return classes[(y_pred.ravel() > 0.5).astype(np.intp)]
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    _score_function = staticmethod(accuracy_score)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit. Required on the first
            call, ignored after.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        if _partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_log_proba(self, X):
        """Return the log of probability estimates.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            The predicted log-probability of the sample for each class in the
            model, where classes are ordered as they are in `self.classes_`.
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The predicted probability of the sample for each class in the
            model, where classes are ordered as they are in `self.classes_`.
        """
        check_fitted(self, "coefs_")
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    """Multi-layer Perceptron regressor, trained by compiled kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`:
    same parameters, attributes and results for the same ``random_state``.
    It optimizes the squared error (or the Poisson deviance) using LBFGS or
    stochastic gradient descent.

    Parameters
    ----------
    loss : {{'squared_error', 'poisson', 'absolute_error', 'huber'}}, \
            default='squared_error'
        The loss function to use; 'poisson' uses an exponential output and
        requires non-negative targets. Beyond scikit-learn's MLPRegressor:
        'absolute_error', the mean absolute error ``mean |y - p|`` (its
        gradient ``sign(p - y)``), and 'huber', ``0.5 mean H(y - p)`` with
        HuberRegressor's ``H(r) = r^2`` for ``|r| <= huber_delta`` and
        ``2 huber_delta |r| - huber_delta^2`` beyond: squared error for small
        residuals, absolute error (times ``huber_delta``) for outliers.
        Means are over samples (weighted) and outputs.
    {params}
    huber_delta : float, default=1.35
        The residual beyond which 'huber' grows linearly (only with
        ``loss='huber'``). HuberRegressor's default ``epsilon``; unlike its
        ``epsilon`` it is in the units of ``y`` (no scale is estimated), so
        1.35 means what it does there for targets of unit noise scale:
        standardize ``y`` (e.g. ``TransformedTargetRegressor``) or set it to
        about 1.35 times the noise's standard deviation.

    {dropout}

    Attributes
    ----------
    {attrs}
    See Also
    --------
    MLPClassifier : Multi-layer Perceptron classifier.

    Examples
    --------
    >>> from fastmlp import MLPRegressor
    >>> from sklearn.datasets import make_regression
    >>> X, y = make_regression(n_samples=200, n_features=20, random_state=1)
    >>> regr = MLPRegressor(random_state=1, max_iter=2000, tol=0.1).fit(X, y)
    >>> regr.predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson", "absolute_error", "huber"})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        huber_delta=1.35,
        dropout=0.0,
    ):
        self.huber_delta = huber_delta
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss=loss,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
        )

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples, n_outputs)
            The predicted values.
        """
        check_fitted(self, "coefs_")
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._decode(self._forward_pass_fast(X, check_input=check_input))

    @staticmethod
    def _decode(y_pred):
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    _score_function = staticmethod(r2_score)

    def _validation_targets(self, y_val):
        """``y_val`` checked as ``y`` is: numeric and finite."""
        y_val = check_array(y_val, ensure_2d=False, dtype="numeric", input_name="y_val")
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        return y_val

    @staticmethod
    def _network_targets(y_val):
        return y_val

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.dtype.kind in "USV":
            # scikit-learn's loss fails on them with NumPy's TypeError.
            raise TypeError(
                "%s needs numeric targets; y has dtype %s." % (type(self).__name__, y.dtype)
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : ndarray of shape (n_samples,)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)


MLPClassifier.__doc__ = MLPClassifier.__doc__.format(
    params=_COMMON_PARAMS_DOC, attrs=_COMMON_ATTRS_DOC, dropout=_DROPOUT_DOC.strip("\n")[4:]
)
MLPRegressor.__doc__ = MLPRegressor.__doc__.format(
    params=_COMMON_PARAMS_DOC, attrs=_COMMON_ATTRS_DOC, dropout=_DROPOUT_DOC.strip("\n")[4:]
)


def _binarize(label_binarizer, y):
    """``label_binarizer.transform(y).astype(bool)``, without its O(n) temporaries.

    LabelBinarizer builds a sparse indicator matrix first: 57 bytes a row at
    its peak for a binary target, 7% of a 200-feature float32 X. A 1-D
    target compared with the classes directly gives the same columns
    (labels outside the classes get an all-False row, as there).
    """
    classes = label_binarizer.classes_
    if y.ndim != 1 or label_binarizer.y_type_ not in ("binary", "multiclass"):
        return label_binarizer.transform(y).astype(bool)
    if len(classes) == 1:
        return np.zeros((y.shape[0], 1), dtype=bool)
    if len(classes) == 2:
        return (y == classes[1]).reshape(-1, 1)
    return y.reshape(-1, 1) == classes.reshape(1, -1)


def _partial_fit_first_call(clf, classes):
    """Record ``classes`` on the first ``partial_fit``; True on that first call."""
    if getattr(clf, "classes_", None) is None and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if classes is None:
        return False
    if getattr(clf, "classes_", None) is not None:
        if not np.array_equal(clf.classes_, unique_labels(classes)):
            raise ValueError(
                "`classes=%r` is not the same as on last call "
                "to partial_fit, was: %r" % (classes, clf.classes_)
            )
        return False
    clf.classes_ = unique_labels(classes)
    return True
