"""``python -m fastmlp.dask.bench``: seconds per L-BFGS iteration, in process and on Dask.

For each row count, fits ``MLPClassifier(solver="lbfgs")`` on the same
float64 data in this process and over Dask blocks on a
``distributed.LocalCluster`` of 1 and 2 worker processes (one thread
each). Seconds per iteration are ``(t(long) - t(short)) / (its(long) -
its(short))`` for a short and a long fit, which cancels the fixed costs
(validation, the blocks' preparation on the workers, compile). The in-process
fit runs with one BLAS thread (one worker's compute) and alternates with
the distributed one, in the same minutes. The difference column is the
distributed per-iteration time minus the in-process one:
the overhead a cluster adds (a broadcast of the parameters, a task per
block, the gather of one gradient per block), which does not grow with
the rows; the last column is their ratio.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np


def _seconds_per_iteration(fit, short, long):
    """(t_long - t_short) / (iterations_long - iterations_short)."""
    times, its = [], []
    for max_iter in (short, long):
        start = time.perf_counter()
        est = fit(max_iter)
        times.append(time.perf_counter() - start)
        its.append(est.n_iter_)
    return (times[1] - times[0]) / max(its[1] - its[0], 1)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastmlp.dask.bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--blocks-per-worker", type=int, default=2)
    parser.add_argument("--iterations", type=int, nargs=2, default=[5, 25])
    parser.add_argument("--rounds", type=int, default=2, help="the minimum is kept")
    args = parser.parse_args(argv)

    import dask.array as da
    import distributed
    from sklearn.datasets import make_classification
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    import fastmlp
    from fastmlp.dask import warm_up_workers

    warnings.simplefilter("ignore", ConvergenceWarning)
    load_before = os.getloadavg()[0]
    params = dict(solver="lbfgs", hidden_layer_sizes=(args.hidden,), random_state=0,
                  tol=0.0)
    short, long = args.iterations
    data = {}
    for rows in args.rows:
        data[rows] = make_classification(n_samples=rows, n_features=args.features,
                                         n_informative=10, random_state=0)
    fastmlp.MLPClassifier(max_iter=2, **params).fit(*[a[:100] for a in data[args.rows[0]]])

    def in_process(X, y):
        # One BLAS thread: the compute of one single-threaded worker.
        with threadpool_limits(1):
            return _seconds_per_iteration(
                lambda it: fastmlp.MLPClassifier(max_iter=it, **params).fit(X, y),
                short, long)

    table = {}
    for workers in args.workers:
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                      processes=True, dashboard_address=None) as cluster:
            with distributed.Client(cluster) as client:
                warm_up_workers(client, (("MLPClassifier", "lbfgs", "float64", False),))
                for rows, (X, y) in data.items():
                    chunk = -(-rows // (workers * args.blocks_per_worker))
                    Xd = da.from_array(X, chunks=(chunk, -1)).persist()
                    yd = da.from_array(y, chunks=chunk).persist()
                    # Alternately, in the same minutes: the machine's load drifts.
                    for _ in range(args.rounds):
                        for key, seconds in (
                            ((rows, workers, "local"), lambda: in_process(X, y)),
                            ((rows, workers, "dask"), lambda: _seconds_per_iteration(
                                lambda it: fastmlp.MLPClassifier(max_iter=it,
                                                                 **params).fit(Xd, yd),
                                short, long)),
                        ):
                            table[key] = min(table.get(key, np.inf), seconds())
                    print("%d workers, %d rows: %.4f s/it (in process %.4f)" % (
                        workers, rows, table[rows, workers, "dask"],
                        table[rows, workers, "local"]), file=sys.stderr)
    print("MLPClassifier(solver='lbfgs', hidden_layer_sizes=(%d,)), %d features, float64, "
          "%d blocks per worker, load average %.1f at the start, %.1f at the end" % (
              args.hidden, args.features, args.blocks_per_worker, load_before,
              os.getloadavg()[0]))
    print("| rows | workers | s / iteration on Dask | in process (1 thread) | difference "
          "| Dask / in process |")
    print("|---|---|---|---|---|---|")
    for rows in args.rows:
        for workers in args.workers:
            d, l = table[rows, workers, "dask"], table[rows, workers, "local"]
            print("| %d | %d | %.4f | %.4f | %+.4f | %.2fx |" % (rows, workers, d, l, d - l,
                                                                 d / l))
    return 0


if __name__ == "__main__":
    sys.exit(main())
