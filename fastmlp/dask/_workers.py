"""Numba's cache on Dask workers: compile once per machine, then load.

Every fastmlp kernel is compiled with ``cache=True``: the first process
that needs a kernel compiles it (tens of seconds for a fit's kernels) and
writes it to Numba's cache directory (``NUMBA_CACHE_DIR``, else
``__pycache__`` next to the sources); later processes load it in well under
a second. Many fresh workers started at once on a cold cache would each
compile the same kernels, and write the same cache files concurrently.
:func:`warm_up_workers` has one worker per machine compile first, then the
others load what it wrote.
"""

import warnings

import numpy as np

# (estimator, solver, dtype, sparse): what warm_up fits by default, the
# configurations a Dask job runs most (dense input; L-BFGS over blocks and
# the Incremental-streamed adam/sgd; predict).
DEFAULT_CASES = (
    ("MLPClassifier", "lbfgs", "float64", False),
    ("MLPClassifier", "adam", "float64", False),
    ("MLPRegressor", "adam", "float64", False),
    ("MLPClassifier", "adam", "float32", False),
)


def _dispatchers():
    from numba.core.registry import CPUDispatcher

    from .. import _mlp_kernels, _rbm_kernels

    for module in (_mlp_kernels, _rbm_kernels):
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher):
                yield value


def cache_stats():
    """``{"hits": ..., "misses": ...}``: Numba cache loads and compiles of this process.

    A miss is a kernel this process compiled (nothing in the cache for it);
    a hit, one it loaded from the cache.
    """
    hits = misses = 0
    for d in _dispatchers():
        hits += sum(d.stats.cache_hits.values())
        misses += sum(d.stats.cache_misses.values())
    return {"hits": hits, "misses": misses}


def warm_up(cases=DEFAULT_CASES):
    """Fit a tiny model of every case in this process (compiling or loading its kernels).

    Parameters
    ----------
    cases : iterable of (estimator name, solver, dtype name, sparse)
        What to compile; the RBM is named "BernoulliRBM" (solver ignored).

    Returns
    -------
    stats : dict
        :func:`cache_stats` after the fits.
    """
    import scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning

    import fastmlp

    rng = np.random.RandomState(0)
    for name, solver, dtype, sparse in cases:
        X = rng.rand(40, 5).astype(dtype)
        if sparse:
            X = sp.csr_matrix(X)
        y = np.arange(40) % 2 if name == "MLPClassifier" else rng.rand(40)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if name == "BernoulliRBM":
                fastmlp.BernoulliRBM(n_components=3, n_iter=1).fit(X).transform(X)
                continue
            est = getattr(fastmlp, name)(hidden_layer_sizes=(3,), solver=solver,
                                         max_iter=2).fit(X, y)
            est.predict(X)
    return cache_stats()


def warm_up_workers(client, cases=DEFAULT_CASES):
    """Compile on one worker per host, then load on every other worker.

    Call it after the workers start and before the work: the first worker
    of each host writes Numba's cache, the others then only load from it
    (workers on one host share the cache directory). Returns each worker's
    :func:`cache_stats`.
    """
    hosts = {}
    for address, info in client.scheduler_info()["workers"].items():
        hosts.setdefault(info["host"], []).append(address)
    first = [workers[0] for workers in hosts.values()]
    others = [w for workers in hosts.values() for w in workers[1:]]
    stats = client.run(warm_up, cases, workers=first)
    if others:
        stats.update(client.run(warm_up, cases, workers=others))
    return stats
