"""Before/after in one process: this fastmlp against another checkout's, alternating.

``python -m fastmlp.bench_ab --before PATH [--rounds N] [--only NAME ...]``

``PATH`` is a checkout of fastmlp (the directory holding ``fastmlp/``). Its
package is copied once as ``fastmlp_before`` (into a directory of the
user's cache named after ``PATH``, without Numba cache files) and imported
next to this one, so both run in the same process on the same data: each
round fits (or predicts with) the "before" and the "now" model in turns,
the order swapped every round, and the row gives the median of the rounds'
now / before ratios. On a shared machine the load changes between two runs
of a bench by more than most changes of code; here both sides see the
same changes. A first, untimed call of each side compiles or loads its
kernels (the copy's are cached in the copy, the first run compiles them).

Training workloads are timed as ``python -m fastmlp bench --quick`` times
them (one fit); ``predict_one`` workloads as the median latency of 100
single-row predicts a round; ``predict_proba`` workloads as one call.
The copy works for trees whose modules import each other relatively, as
fastmlp's do.
"""

import argparse
import importlib
import os
import shutil
import sys
import time
import warnings
import zlib

import numpy as np

from ._workloads import WORKLOADS, estimator_class


def _read(path):
    with open(path) as f:
        return f.read()


def _before_package(path):
    """Import ``path``'s fastmlp package as ``fastmlp_before`` (copied once)."""
    source = os.path.join(os.path.abspath(path), "fastmlp")
    if not os.path.isfile(os.path.join(source, "__init__.py")):
        raise SystemExit("%s holds no fastmlp package" % path)
    root = os.path.join(os.path.expanduser("~"), ".cache", "fastmlp-ab",
                        "%08x" % zlib.crc32(source.encode()))
    target = os.path.join(root, "fastmlp_before")
    stamp = os.path.join(root, "source-mtime")
    mtime = str(max(os.path.getmtime(os.path.join(d, f))
                    for d, _, files in os.walk(source) for f in files if f.endswith(".py")))
    if not (os.path.isfile(stamp) and _read(stamp) == mtime):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.nbi", "*.nbc"))
        with open(stamp, "w") as f:
            f.write(mtime)
    sys.path.insert(0, root)
    return importlib.import_module("fastmlp_before")


def _timer(workload, cls, X, y, X_test):
    """A function timing one measurement of ``workload`` with class ``cls`` (seconds)."""
    params = workload.estimator_params(True)
    if workload.task == "fit":
        def once():
            est = cls(**params)
            start = time.perf_counter()
            est.fit(X) if workload.estimator == "BernoulliRBM" else est.fit(X, y)
            return time.perf_counter() - start
        return once
    est = cls(**params).fit(X, y)
    if workload.task == "predict_one":
        def once():
            samples = []
            for i in range(100):
                x = X_test[i % X_test.shape[0] : i % X_test.shape[0] + 1]
                start = time.perf_counter()
                est.predict(x)
                samples.append(time.perf_counter() - start)
            return float(np.median(samples))
        return once

    def once():
        start = time.perf_counter()
        est.predict_proba(X_test)
        return time.perf_counter() - start
    return once


def compare(before, workload, rounds):
    """``(before seconds, now seconds, ratios)`` of ``workload``, the medians and every round's."""
    X, y, X_test, _ = workload.data(True)
    sides = {"before": getattr(before, workload.estimator),
             "now": estimator_class("fastmlp", workload.estimator)}
    timers = {}
    for side, cls in sides.items():
        timers[side] = _timer(workload, cls, X, y, X_test)
        timers[side]()  # compiles or loads the kernels
    times = {side: [] for side in sides}
    for r in range(rounds):
        for side in (("before", "now") if r % 2 == 0 else ("now", "before")):
            time.sleep(0.05)
            times[side].append(timers[side]())
    b, n = np.array(times["before"]), np.array(times["now"])
    return float(np.median(b)), float(np.median(n)), n / b


def _fmt(task, seconds):
    return "%.1f us" % (seconds * 1e6) if task == "predict_one" else "%.3f s" % seconds


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastmlp.bench_ab", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--before", required=True, help="a checkout of fastmlp to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", nargs="+", metavar="NAME")
    args = parser.parse_args(argv)
    before = _before_package(args.before)
    print("before: %s; now: %s; %d rounds, order swapped every round; load average %s"
          % (os.path.dirname(before.__file__), os.path.dirname(
              sys.modules["fastmlp"].__file__), args.rounds,
             " ".join(_read("/proc/loadavg").split()[:3])
             if os.path.exists("/proc/loadavg") else "n/a"), flush=True)
    print("| workload | before | now | now / before (median of rounds) | interquartile |")
    print("|---|---|---|---|---|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for w in WORKLOADS:
            if args.only and w.name not in args.only:
                continue
            b, n, ratios = compare(before, w, args.rounds)
            print("| %s | %s | %s | %.2fx | %.2fx-%.2fx |" % (
                w.name, _fmt(w.task, b), _fmt(w.task, n), np.median(ratios),
                *np.percentile(ratios, [25, 75])), flush=True)


if __name__ == "__main__":
    main()
