"""``python -m fastmlp bench --load N``: the workloads on a busy machine.

Real machines are rarely idle: another notebook, tests running in parallel,
a container with fewer cores than it sees. This module starts ``N`` busy
processes (one per usable core by default), and times every workload with
scikit-learn, with fastmlp as it comes, and with fastmlp on one thread
(Numba's and BLAS's), alternately in the same rounds, so that the three
columns saw the same load. ``--load 0`` gives the same table on an idle
machine.
"""

import contextlib
import subprocess
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from ._threads import numba_threads, usable_cores
from ._workloads import estimator_class

# Each busy process is a Python loop that never sleeps: CPU-bound, no memory
# traffic to speak of, like another process's compute.
_SPIN = "while True:\n    pass\n"

# Fastmlp as it comes, and pinned to one thread of its own and of BLAS.
VARIANTS = ("sklearn", "fastmlp", "fastmlp_1t")


@contextlib.contextmanager
def busy_processes(n):
    """``n`` CPU-bound processes running while the block runs, ended after it."""
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(max(0, n))]
    try:
        # Let the scheduler see them running before anything is timed.
        time.sleep(0.5 if procs else 0.0)
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def default_load():
    """One busy process per core this process may use."""
    return usable_cores()


@contextlib.contextmanager
def _variant(name):
    if name == "fastmlp_1t":
        with numba_threads(1), threadpool_limits(limits=1, user_api="blas"):
            yield
    else:
        yield


# Large predictions timed in each round of the contended mode.
_PREDICT_CALLS = 5


def _run_once(workload, name, params, X, y, X_test):
    """Seconds of one fit (or the workload's prediction) of variant ``name``, and the model.

    For a single-row ``predict`` the seconds are None: the calls of the
    variants are timed together (:func:`_single_row_latencies`).
    """
    from .bench import _quiet, _settle

    _settle()
    library = "sklearn" if name == "sklearn" else "fastmlp"
    cls = estimator_class(library, workload.estimator)
    with _variant(name):
        if workload.task == "fit":
            est = cls(**params)
            start = time.perf_counter()
            _quiet(est.fit, X, y)
            return time.perf_counter() - start, est
        est = _quiet(cls(**params).fit, X, y)
        if workload.task == "predict_one":
            return None, est
        est.predict_proba(X_test[:10])
        # The median of a few calls: one call of 0.1 s under load is mostly
        # where the scheduler happened to put the busy processes.
        samples = []
        for _ in range(_PREDICT_CALLS):
            start = time.perf_counter()
            est.predict_proba(X_test)
            samples.append(time.perf_counter() - start)
        return float(np.median(samples)), est


def _single_row_latencies(models, X_test, calls=200, run=20):
    """Median seconds of a single-row ``predict`` of each variant's model, the variants interleaved.

    ``run`` calls of one variant, then of the next, until each has made
    ``calls``: a single row takes tens of microseconds, and all the calls
    of one variant then all of the next measured the load's changes
    between them (the same code on one thread and on the default's threads
    differed by up to 1.8x). Not one call each in turn: entering a
    variant's thread limits between every two calls slowed the next call.
    """
    samples = {name: [] for name in models}
    for first in range(0, calls, run):
        for name, est in models.items():
            with _variant(name):
                for i in range(first, first + run):
                    x = X_test[i % X_test.shape[0] : i % X_test.shape[0] + 1]
                    start = time.perf_counter()
                    est.predict(x)
                    samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in samples.items()}


def run_contended(workload, quick, rounds=3):
    """One workload's row: the median seconds of each variant over ``rounds`` rounds.

    The median rather than the minimum: under load the minimum is the one
    round the other processes happened to leave a core free, while the
    median is what a user waits.
    """
    from .bench import _score

    X, y, X_test, y_test = workload.data(quick)
    params = workload.estimator_params(quick)
    times = {name: [] for name in VARIANTS}
    models = {}
    for _ in range(rounds):
        for name in VARIANTS:
            seconds, models[name] = _run_once(workload, name, params, X, y, X_test)
            times[name].append(seconds)
        if workload.task == "predict_one":
            for name, seconds in _single_row_latencies(models, X_test).items():
                times[name][-1] = seconds
    row = {"workload": workload.name, "task": workload.task}
    for name in VARIANTS:
        row[name + "_s"] = float(np.median(times[name]))
        row[name + "_all_s"] = times[name]
        row[name + "_score"] = _score(models[name], workload, X_test, y_test)
    row["speedup"] = row["sklearn_s"] / row["fastmlp_s"]
    row["over_one_thread"] = row["fastmlp_s"] / row["fastmlp_1t_s"]
    return row


def format_contended(rows, load):
    """The rows as a Markdown table, with the targets' two ratios."""

    def fmt(row, name):
        s = row[name + "_s"]
        return "%.1f us" % (s * 1e6) if row["task"] == "predict_one" else "%.3f s" % s

    lines = ["Under load: %d busy process(es) on %d usable core(s); median of the rounds."
             % (load, usable_cores()), "",
             "| workload | scikit-learn | fastmlp | fastmlp, 1 thread | speedup "
             "| fastmlp / 1 thread | scores (sklearn, fastmlp, 1 thread) |",
             "|" + "---|" * 7]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %.2fx | %.2fx | %.4f, %.4f, %.4f |" % (
            r["workload"], fmt(r, "sklearn"), fmt(r, "fastmlp"), fmt(r, "fastmlp_1t"),
            r["speedup"], r["over_one_thread"], r["sklearn_score"], r["fastmlp_score"],
            r["fastmlp_1t_score"]))
    return "\n".join(lines)


# The fits of the concurrency measurement: the small models, where a
# parallel region has the least work to pay for its meetings.
CONCURRENT_WORKLOADS = ("digits_adam", "rbm_digits")


def concurrent_fits(workload, quick, n_fits=4, pool_threads=(4, 2)):
    """Seconds for ``n_fits`` fits of ``workload``: one after another on one thread, and at once.

    "At once" is ``n`` Python threads of this process each fitting a model
    (as ``GridSearchCV`` with a threading backend, or a Dask worker with
    ``n`` threads, runs them), for each ``n`` of ``pool_threads``. Returns a
    dict ``{"sequential_1t": s, "threads_4": s, ...}``, the best of two
    rounds each.
    """
    from concurrent.futures import ThreadPoolExecutor

    from .bench import _quiet, _settle

    X, y, _, _ = workload.data(quick)
    params = workload.estimator_params(quick)
    cls = estimator_class("fastmlp", workload.estimator)

    def fit(seed):
        return _quiet(cls(**{**params, "random_state": seed}).fit, X, y)

    result = {}
    for _ in range(2):
        _settle()
        with _variant("fastmlp_1t"):
            start = time.perf_counter()
            for seed in range(n_fits):
                fit(seed)
            seconds = time.perf_counter() - start
        result["sequential_1t"] = min(result.get("sequential_1t", np.inf), seconds)
        for n in pool_threads:
            _settle()
            start = time.perf_counter()
            with ThreadPoolExecutor(n) as pool:
                list(pool.map(fit, range(n_fits)))
            seconds = time.perf_counter() - start
            key = "threads_%d" % n
            result[key] = min(result.get(key, np.inf), seconds)
    return result


def format_concurrent(results, n_fits=4):
    """``{workload: concurrent_fits(...)}`` as a Markdown table."""
    keys = sorted({k for r in results.values() for k in r if k.startswith("threads_")},
                  key=lambda k: -int(k.split("_")[1]))
    lines = ["%d fits of each workload in one process: one after another on one thread, "
             "and at once in Python threads (best of 2)." % n_fits, "",
             "| workload | one after another, 1 thread | "
             + " | ".join("%s Python threads" % k.split("_")[1] for k in keys)
             + " | at once / one after another |",
             "|" + "---|" * (len(keys) + 3)]
    for name, r in results.items():
        worst = max(r[k] for k in keys)
        lines.append("| %s | %.3f s | %s | %.2fx |" % (
            name, r["sequential_1t"], " | ".join("%.3f s" % r[k] for k in keys),
            worst / r["sequential_1t"]))
    return "\n".join(lines)
