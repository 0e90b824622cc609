"""The one table of benchmark workloads.

``python -m fastmlp bench``, the asv suite (``benchmarks/``) and the
pytest-benchmark module (``benchmarks_pytest/``) all read :data:`WORKLOADS`,
so they measure the same estimators on the same data. Every data set is
generated or ships with scikit-learn; nothing is downloaded.

Each workload has a full size and a ``quick`` size (the whole quick run of
both libraries stays under a minute on 2 cores). Large training workloads
time a fixed number of epochs (``tol=0`` and a large ``n_iter_no_change``
so that neither library stops early), which is what the BLAS-floor ratio is
computed per.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Workload:
    """One benchmark: an estimator, its parameters and how to make its data.

    Attributes
    ----------
    name : str
        Short identifier, used by ``--only`` and as the asv parameter.
    estimator : str
        ``"MLPClassifier"``, ``"MLPRegressor"`` or ``"BernoulliRBM"``.
    params : dict
        Constructor parameters (the same for both libraries).
    data : callable
        ``data(quick) -> (X_train, y_train, X_test, y_test)``.
    task : str
        ``"fit"`` (time the fit), ``"predict_one"`` (median latency of a
        single-row predict) or ``"predict_proba"`` (one large call).
    quick_params : dict
        Parameter overrides for ``--quick``.
    description : str
        One line for the README and the table.
    """

    name: str
    estimator: str
    params: dict
    data: object
    task: str = "fit"
    quick_params: dict = field(default_factory=dict)
    description: str = ""

    def estimator_params(self, quick):
        return {**self.params, **(self.quick_params if quick else {})}


def _split(X, y, n_test):
    return X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:]


def digits(quick):
    """scikit-learn's 8x8 digits, scaled to [0, 1], last 20% held out."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return _split(X / 16.0, y, len(y) // 5)


def _blobs(n, p, n_classes, dtype, seed):
    """Class means plus noise: separable enough to score, cheap to make."""
    rng = np.random.RandomState(seed)
    centers = rng.rand(n_classes, p)
    y = rng.randint(n_classes, size=n)
    X = centers[y] + 0.5 * rng.rand(n, p)
    return X.astype(dtype), y


def mnist_like(dtype):
    def make(quick):
        n = 6_000 if quick else 60_000
        X, y = _blobs(n + n // 10, 784, 10, dtype, seed=0)
        return _split(X, y, n // 10)

    make.__doc__ = "60,000 x 784 (6,000 quick), 10 classes, %s." % np.dtype(dtype).name
    return make


def deep(quick):
    """256 features, 3 classes, float32: 20,000 rows (3,000 quick)."""
    n = 3_000 if quick else 20_000
    X, y = _blobs(n + n // 10, 256, 3, np.float32, seed=1)
    return _split(X, y, n // 10)


def sparse_text(quick):
    """Text-like CSR: 20,000 x 20,000 at 0.5% density, 20 classes (4,000 x 5,000 quick)."""
    n, p = (4_000, 5_000) if quick else (20_000, 20_000)
    rng = np.random.RandomState(2)
    y = rng.randint(20, size=n + n // 10)
    X = sp.random(n + n // 10, p, density=0.005, format="csr", random_state=rng)
    # Give each class a few indicative "words" so the score means something.
    words = rng.randint(p, size=(20, 10))
    rows = np.repeat(np.arange(len(y)), 10)
    extra = sp.csr_matrix((np.ones(rows.size), (rows, words[y].ravel())), shape=X.shape)
    X = (X + extra).tocsr()
    return X[:n], y[:n], X[n:], y[n:]


def regression(quick):
    """50 features -> smooth nonlinear target: 50,000 rows (10,000 quick)."""
    n = 10_000 if quick else 50_000
    rng = np.random.RandomState(3)
    X = rng.randn(n + n // 10, 50)
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, 3:10].sum(axis=1)
    y += 0.1 * rng.randn(len(y))
    return _split(X, y, n // 10)


def binary_images(quick):
    """784 binary 'pixels', ~19% on as in binarised MNIST: 20,000 rows (2,000 quick)."""
    n = 2_000 if quick else 20_000
    X, y = _blobs(n + n // 10, 784, 10, np.float64, seed=4)
    X = (X > 1.05).astype(np.float64)
    return _split(X, y, n // 10)


_EPOCHS = dict(tol=0.0, n_iter_no_change=10**6)

WORKLOADS = [
    Workload(
        "digits_adam", "MLPClassifier", dict(random_state=0), digits,
        description="load_digits, default MLPClassifier (adam, 200 iterations)",
    ),
    Workload(
        "digits_lbfgs", "MLPClassifier", dict(solver="lbfgs", random_state=0), digits,
        description="load_digits, MLPClassifier(solver='lbfgs')",
    ),
    Workload(
        "mnist_f64", "MLPClassifier",
        dict(hidden_layer_sizes=(100,), batch_size=200, max_iter=3, random_state=0, **_EPOCHS),
        mnist_like(np.float64), quick_params=dict(max_iter=2),
        description="60,000 x 784 -> 100 -> 10, adam, batch 200, float64, 3 epochs",
    ),
    Workload(
        "mnist_f32", "MLPClassifier",
        dict(hidden_layer_sizes=(100,), batch_size=200, max_iter=3, random_state=0, **_EPOCHS),
        mnist_like(np.float32), quick_params=dict(max_iter=2),
        description="60,000 x 784 -> 100 -> 10, adam, batch 200, float32, 3 epochs",
    ),
    Workload(
        "deep_f32", "MLPClassifier",
        dict(hidden_layer_sizes=(512, 512, 512), batch_size=256, max_iter=2, random_state=0,
             **_EPOCHS),
        deep, quick_params=dict(max_iter=1),
        description="256 -> 512 -> 512 -> 512 -> 3, batch 256, float32, 2 epochs",
    ),
    Workload(
        "sparse_csr", "MLPClassifier",
        dict(hidden_layer_sizes=(100,), max_iter=2, random_state=0, **_EPOCHS),
        sparse_text, quick_params=dict(max_iter=1),
        description="CSR 20,000 x 20,000 at 0.5% -> 100 -> 20 classes, 2 epochs",
    ),
    Workload(
        "regressor", "MLPRegressor",
        dict(hidden_layer_sizes=(64, 64), max_iter=10, random_state=0, **_EPOCHS),
        regression, quick_params=dict(max_iter=3),
        description="MLPRegressor 50 -> 64 -> 64, 50,000 rows, 10 epochs",
    ),
    Workload(
        "rbm_digits", "BernoulliRBM",
        dict(n_components=100, learning_rate=0.06, n_iter=10, random_state=0), digits,
        description="scikit-learn's RBM example: load_digits / 16, 100 components, "
        "10 epochs of batch 10",
    ),
    Workload(
        "rbm_batch10", "BernoulliRBM",
        dict(n_components=256, batch_size=10, n_iter=1, random_state=0), binary_images,
        description="BernoulliRBM 784 -> 256, batch_size=10, 20,000 rows, 1 epoch",
    ),
    Workload(
        "rbm_batch100", "BernoulliRBM",
        dict(n_components=256, batch_size=100, n_iter=1, random_state=0), binary_images,
        description="BernoulliRBM 784 -> 256, batch_size=100, 20,000 rows, 1 epoch",
    ),
    Workload(
        "predict_one", "MLPClassifier", dict(max_iter=50, random_state=0), digits,
        task="predict_one",
        description="single-row predict latency (median), default MLPClassifier on digits",
    ),
    Workload(
        "predict_one_784", "MLPClassifier",
        dict(hidden_layer_sizes=(100,), max_iter=1, random_state=0), mnist_like(np.float64),
        task="predict_one",
        description="single-row predict latency (median), 784 -> 100 -> 10",
    ),
    Workload(
        "predict_proba_54k", "MLPClassifier",
        dict(hidden_layer_sizes=(100,), max_iter=1, random_state=0),
        lambda quick: _predict_set(54_000 if not quick else 10_000),
        task="predict_proba",
        description="predict_proba on 54,000 rows (10,000 quick), 784 -> 100 -> 10",
    ),
]


def _predict_set(n_test):
    X, y = _blobs(6_000 + n_test, 784, 10, np.float64, seed=5)
    return X[:6_000], y[:6_000], X[6_000:], y[6_000:]


BY_NAME = {w.name: w for w in WORKLOADS}


def estimator_class(library, name):
    """The class ``name`` of ``library`` (``"sklearn"`` or ``"fastmlp"``)."""
    if library == "sklearn":
        import sklearn.neural_network as module
    elif library == "fastmlp":
        import fastmlp as module
    else:
        raise ValueError("library must be 'sklearn' or 'fastmlp', got %r" % library)
    return getattr(module, name)


def layer_units(workload, X, y):
    """Widths of every layer of an MLP workload, input first (None for the RBM)."""
    if workload.estimator == "BernoulliRBM":
        return None
    hidden = list(workload.params.get("hidden_layer_sizes", (100,)))
    if workload.estimator == "MLPRegressor":
        n_out = 1 if np.ndim(y) == 1 else y.shape[1]
    else:
        n_classes = len(np.unique(y))
        n_out = 1 if n_classes == 2 else n_classes
    return [X.shape[1], *hidden, n_out]
