"""``python -m fastmlp compile``: fill Numba's cache for the common variants, ahead of time.

For container images and CI caches: run it once where the cache will be
read later (the same Python, Numba and fastmlp, the package at the same
path), and new processes there load the compiled kernels instead of
compiling them. Each variant is a small real fit (and a predict or
transform), so exactly the kernels and types a user's fit needs are
compiled: float64 and float32, dense and CSR input, every solver of the
MLP on one thread and on several, the RBM's two ways of computing its
visible means (short and long minibatches).

Where the cache goes is Numba's choice (see :mod:`fastmlp._cache`):
``NUMBA_CACHE_DIR`` if set, else the package's ``__pycache__``, else
``~/.cache/numba``; the output says which.
"""

import argparse
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp

DTYPES = ("float64", "float32")
INPUTS = ("dense", "csr")
SOLVERS = ("adam", "sgd", "lbfgs")


def _data(dtype, kind, n=64, d=12, seed=0):
    rng = np.random.RandomState(seed)
    X = (rng.rand(n, d) < 0.3).astype(dtype)
    y = rng.randint(0, 3, n)
    return (sp.csr_matrix(X) if kind == "csr" else X), y


def variants():
    """``(name, work)`` pairs: each ``work()`` fits what the name says, on tiny data."""
    import fastmlp
    from ._threads import numba_threads

    out = []
    for dtype in DTYPES:
        for kind in INPUTS:
            X, y = _data(dtype, kind)
            for solver in SOLVERS:
                # One thread and the whole budget run different epoch kernels.
                for threads in ((None,) if solver == "lbfgs" else (1, None)):
                    def work(X=X, y=y, solver=solver, threads=threads):
                        est = fastmlp.MLPClassifier(hidden_layer_sizes=(8,), solver=solver,
                                                    max_iter=2, random_state=0)
                        if threads is None:
                            est.fit(X, y).predict(X)
                        else:
                            with numba_threads(threads):
                                est.fit(X, y).predict(X)
                    label = "" if threads is None else (", %d thread" % threads)
                    out.append(("MLP %s %s %s%s" % (solver, dtype, kind, label), work))
            for batch in (10, 64):
                def work(X=X, batch=batch):
                    fastmlp.BernoulliRBM(n_components=8, batch_size=batch, n_iter=1,
                                         random_state=0).fit(X).transform(X)
                out.append(("RBM %s %s, batches of %d" % (dtype, kind, batch), work))
    return out


def _cache_location():
    from ._activations import exp

    impl = exp._cache._impl
    return type(impl.locator).__name__, impl.locator.get_cache_path()


def main(argv=None):
    """Compile every variant (or load it from the cache), printing what and how long."""
    parser = argparse.ArgumentParser(prog="python -m fastmlp compile",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="list the variants and stop")
    args = parser.parse_args(argv)

    from ._compile_profile import CompileRecorder

    work = variants()
    if args.list:
        for name, _ in work:
            print(name)
        return 0
    locator, path = _cache_location()
    print("Numba cache: %s (%s)" % (path or "none: compiled kernels stay in memory", locator))
    total = time.perf_counter()
    compiled = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fit in work:
            rec = CompileRecorder().install()
            start = time.perf_counter()
            try:
                fit()
            finally:
                rec.uninstall()
            seconds = time.perf_counter() - start
            functions = len({r[0] for r in rec.records})
            compiled += len(rec.records)
            print("%-40s %6.1f s  %3d compilations of %d functions"
                  % (name, seconds, len(rec.records), functions), flush=True)
    print("%d variants, %d compilations, %.1f s" % (len(work), compiled,
                                                    time.perf_counter() - total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
