"""``python -m fastmlp.dask.bench``: seconds per L-BFGS iteration, in process and on Dask.

For each row count, fits ``MLPClassifier(solver="lbfgs")`` on the same
float64 data in this process and over Dask blocks on a
``distributed.LocalCluster`` of 1 and 2 worker processes (one thread
each). Seconds per iteration are ``(t(long) - t(short)) / (its(long) -
its(short))`` for a short and a long fit (each time the minimum over the
rounds), which cancels the fixed costs (validation, the blocks'
preparation on the workers); one untimed fit of each kind comes first. The in-process
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



def _timed_fits(fit, short, long):
    """``[(seconds, iterations)]`` of a short and a long fit."""
    out = []
    for max_iter in (short, long):
        start = time.perf_counter()
        est = fit(max_iter)
        out.append((time.perf_counter() - start, est.n_iter_))
    return out


def _per_iteration(rounds):
    """(min t_long - min t_short) / (iterations_long - iterations_short) over the rounds.

    The minimum of each fit's time separately, so that one slow short fit
    (a load spike) cannot make the difference small or negative.
    """
    t_short = min(r[0][0] for r in rounds)
    t_long = min(r[1][0] for r in rounds)
    return (t_long - t_short) / max(rounds[0][1][1] - rounds[0][0][1], 1)


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
    for X, y in data.values():  # untimed: the first fit of each size in this process
        fastmlp.MLPClassifier(max_iter=1, **params).fit(X, y)

    def in_process(X, y):
        # One BLAS thread: the compute of one single-threaded worker.
        with threadpool_limits(1):
            return _timed_fits(
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
                    def on_dask(it):
                        return fastmlp.MLPClassifier(max_iter=it, **params).fit(Xd, yd)

                    on_dask(1)  # untimed: the first fit's one-off costs on the workers
                    # Alternately, in the same minutes: the machine's load drifts.
                    timed = {"local": [], "dask": []}
                    for _ in range(args.rounds):
                        timed["local"].append(in_process(X, y))
                        timed["dask"].append(_timed_fits(on_dask, short, long))
                    for where, rounds in timed.items():
                        table[rows, workers, where] = _per_iteration(rounds)
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
