"""``python -m fastmlp bench``: fastmlp against scikit-learn, workload by workload.

Every workload of :data:`fastmlp._workloads.WORKLOADS` runs with both
libraries on the same data and seed, alternately, so that drift in the
machine's speed touches both alike. The table gives both times, the speedup,
both scores (a speedup never hides a worse model) and, for minibatch MLP
training, each library's time per epoch over the *BLAS floor*: the time of
only the matrix products that epoch must do, same shapes, same dtype, same
BLAS, measured in this run. Numba's compile (or cache-load) time is spent
before any timing and reported on its own line.
"""

import argparse
import json
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from ._profile import epoch_phases, floor_epoch_runner, floor_flops, time_best
from ._startup import first_fit_overheads, format_startup, import_times
from ._workloads import BY_NAME, WORKLOADS, estimator_class, layer_units

LIBRARIES = ("sklearn", "fastmlp")
# Not a workload: import and first-fit times in new processes (fastmlp._startup).
# Part of the full run; --quick leaves it out (the cold compiles alone take
# about a minute), --only startup runs it alone.
STARTUP = "startup"
# Alternating rounds per fit (the minimum is kept); --quick takes fewer so
# that a newcomer's first run, Numba's compile included, stays near a minute.
ROUNDS = {False: 3, True: 2}


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kwargs)


def _score(est, workload, X, y):
    if workload.estimator == "BernoulliRBM":
        return float(np.mean(est.score_samples(X)))
    return float(est.score(X, y))


def warm_up(workloads, quick):
    """Compile (or load from Numba's cache) every kernel the workloads use.

    Fits each distinct configuration once on a few rows of its own data, so
    the same dtype, sparsity and solver are compiled. Returns the seconds.
    """
    start = time.perf_counter()
    seen = set()
    for w in workloads:
        X, y, X_test, _ = w.data(True)
        key = (w.estimator, getattr(X, "dtype", None), sp.issparse(X),
               w.params.get("solver", "adam"))
        if key in seen:
            continue
        seen.add(key)
        params = dict(w.estimator_params(True))
        params.update(max_iter=1) if w.estimator != "BernoulliRBM" else params.update(n_iter=1)
        est = estimator_class("fastmlp", w.estimator)(**params)
        _quiet(est.fit, X[:64], y[:64])
        if w.estimator == "BernoulliRBM":
            est.transform(X_test[:2])
            est.score_samples(X_test[:2])
        else:
            est.predict(X_test[:1])
            est.predict(X_test[:2])
    return time.perf_counter() - start


# OpenBLAS worker threads spin for about 0.1 s after a call before sleeping;
# NumPy (scikit-learn) and SciPy (fastmlp's kernels) each load their own
# OpenBLAS, so the first timing after switching library would share the
# cores with the other's spinning threads. A pause lets them go to sleep.
_SETTLE_S = 0.2


def _settle():
    time.sleep(_SETTLE_S)


def _time_fit(cls, params, X, y, repeats):
    best, est = np.inf, None
    for _ in range(repeats):
        _settle()
        est = cls(**params)
        start = time.perf_counter()
        _quiet(est.fit, X, y)
        best = min(best, time.perf_counter() - start)
    return best, est


def run_workload(w, quick, phases=True):
    """Measure one workload with both libraries; return its result row."""
    X, y, X_test, y_test = w.data(quick)
    params = w.estimator_params(quick)
    classes = {lib: estimator_class(lib, w.estimator) for lib in LIBRARIES}
    row = {"workload": w.name, "description": w.description, "task": w.task}

    if w.task == "fit":
        units = layer_units(w, X, y)
        solver = params.get("solver", "adam")
        minibatch = units is not None and solver in ("sgd", "adam")
        floor = None
        if minibatch and not sp.issparse(X):
            batch = min(200, X.shape[0]) if params.get("batch_size", "auto") == "auto" \
                else params["batch_size"]
            floor = floor_epoch_runner(units, X.shape[0], batch, X.dtype)
        # Alternating rounds, minimum kept: on a shared machine the same fit
        # was seen to take anywhere from 1x to 2x its best time (both
        # libraries alike), and noise only ever adds time. The BLAS floor is
        # timed in the same rounds, so that a slow spell cannot fall on it
        # alone and skew the ratios to it.
        times = {lib: np.inf for lib in LIBRARIES}
        floor_s = np.inf
        models = {}
        for _ in range(ROUNDS[quick]):
            for lib in LIBRARIES:
                t, est = _time_fit(classes[lib], params, X, y, 1)
                times[lib] = min(times[lib], t)
                models[lib] = est
            if floor is not None:
                _settle()
                floor_s = min(floor_s, time_best(floor))
        for lib in LIBRARIES:
            row[lib + "_s"] = times[lib]
            row[lib + "_score"] = _score(models[lib], w, X_test, y_test)
        if minibatch:
            row["n_epochs"] = models["fastmlp"].n_iter_
            if floor is not None:
                row["floor_epoch_s"] = floor_s
                row["floor_gflops"] = floor_flops(units, X.shape[0]) / floor_s / 1e9
                for lib in LIBRARIES:
                    row[lib + "_epoch_s"] = row[lib + "_s"] / models[lib].n_iter_
                    row[lib + "_over_floor"] = row[lib + "_epoch_s"] / floor_s
            if phases:
                _settle()
                also = {"floor": floor} if floor is not None else None
                p = epoch_phases(classes["fastmlp"](**params), X, y, repeats=ROUNDS[quick],
                                 also=also)
                if floor is not None:
                    # The floor timed alongside the phases, for their ratio.
                    row["phases_floor_s"] = p.pop("floor")
                    row["fastmlp_kernel_over_floor"] = p["total"] / row["phases_floor_s"]
                row["fastmlp_phases_s"] = p
    else:
        models = {lib: _quiet(classes[lib](**params).fit, X, y) for lib in LIBRARIES}
        if w.task == "predict_one":
            n_calls, n_blocks = (300, 4) if quick else (2000, 10)
            samples = {lib: [] for lib in LIBRARIES}
            for block in range(n_blocks):
                for lib in LIBRARIES:
                    _settle()
                    predict = models[lib].predict
                    for i in range(n_calls // n_blocks):
                        x = X_test[i : i + 1]
                        start = time.perf_counter()
                        predict(x)
                        samples[lib].append(time.perf_counter() - start)
            for lib in LIBRARIES:
                row[lib + "_s"] = float(np.median(samples[lib]))
        else:
            for lib in LIBRARIES:
                models[lib].predict_proba(X_test[:10])
            best = {lib: np.inf for lib in LIBRARIES}
            for _ in range(3):
                for lib in LIBRARIES:
                    _settle()
                    start = time.perf_counter()
                    models[lib].predict_proba(X_test)
                    best[lib] = min(best[lib], time.perf_counter() - start)
            for lib in LIBRARIES:
                row[lib + "_s"] = best[lib]
        for lib in LIBRARIES:
            row[lib + "_score"] = float(models[lib].score(X_test, y_test))
    row["speedup"] = row["sklearn_s"] / row["fastmlp_s"]
    return row


def _fmt_time(row, lib):
    s = row[lib + "_s"]
    return "%.1f us" % (s * 1e6) if row["task"] == "predict_one" else "%.3f s" % s


def format_table(rows):
    """The results as a Markdown table (and a phase table for MLP training)."""
    head = ("| workload | scikit-learn | fastmlp | speedup | sklearn score | fastmlp score "
            "| fastmlp / floor | sklearn / floor |")
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        fl = lambda lib: ("%.2fx" % r[lib + "_over_floor"]) if lib + "_over_floor" in r else "-"
        lines.append(
            "| %s | %s | %s | %.2fx | %.4f | %.4f | %s | %s |"
            % (r["workload"], _fmt_time(r, "sklearn"), _fmt_time(r, "fastmlp"), r["speedup"],
               r["sklearn_score"], r["fastmlp_score"], fl("fastmlp"), fl("sklearn"))
        )
    with_phases = [r for r in rows if "fastmlp_phases_s" in r]
    if with_phases:
        lines += ["", "Where a fastmlp epoch goes (ms per epoch; floor = matrix products only):", "",
                  "| workload | gather | forward | backward | update | epoch | BLAS floor "
                  "| epoch / floor |",
                  "|" + "---|" * 8]
        for r in with_phases:
            p = r["fastmlp_phases_s"]
            floor = "%.1f" % (r["phases_floor_s"] * 1e3) if "phases_floor_s" in r else "-"
            ratio = ("%.2fx" % r["fastmlp_kernel_over_floor"]
                     if "fastmlp_kernel_over_floor" in r else "-")
            lines.append("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %s |" % (
                r["workload"], p["gather"] * 1e3, p["forward"] * 1e3, p["backward"] * 1e3,
                p["update"] * 1e3, p["total"] * 1e3, floor, ratio))
    return "\n".join(lines)


def _pyplot():
    """matplotlib's pyplot, or SystemExit saying how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit(
            "--plot needs matplotlib: pip install 'fastmlp[bench]' (%s)" % exc
        ) from None
    return plt


def plot(rows, path):
    """Bar chart of the speedups (needs matplotlib: ``pip install fastmlp[bench]``)."""
    plt = _pyplot()
    names = [r["workload"] for r in rows]
    speedups = [r["speedup"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    ax.barh(names[::-1], speedups[::-1], color="tab:blue")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlim(0, 1.15 * max(max(speedups), 1.0))  # room for the labels
    ax.set_xlabel("speedup over scikit-learn (higher is better)")
    for i, s in enumerate(speedups[::-1]):
        ax.text(s, i, " %.1fx" % s, va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def describe_machine():
    """One line on the CPU, cores and BLAS the numbers were measured with."""
    import os
    import platform

    from threadpoolctl import threadpool_info

    import numba
    import sklearn

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = sorted({"%s %s (%s, %s threads)" % (i.get("internal_api"), i.get("version"),
                                              i.get("architecture"), i.get("num_threads"))
                   for i in threadpool_info() if i["user_api"] == "blas"})
    # OpenBLAS picks its kernels by CPU unless OPENBLAS_CORETYPE forces a
    # type (some machines set an older one as a workaround); it changes
    # every absolute time and the floor, so the line says so.
    forced = ", ".join("%s=%s" % (k, os.environ[k]) for k in ("OPENBLAS_CORETYPE",)
                       if k in os.environ)
    return "%s, %d cores; numpy %s, scikit-learn %s, numba %s; BLAS: %s%s" % (
        cpu, os.cpu_count(), np.__version__, sklearn.__version__, numba.__version__,
        "; ".join(blas), " (forced by %s)" % forced if forced else "")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m fastmlp bench",
        description="Time fastmlp against scikit-learn on the shared workload table.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes and fewer epochs (about 35 s once compiled)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        choices=sorted(BY_NAME) + [STARTUP],
                        help="run only these workloads ('%s': the start-up measurements)"
                        % STARTUP)
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="bar chart of the speedups")
    parser.add_argument("--no-phases", action="store_true",
                        help="skip the per-phase breakdown of MLP epochs")
    parser.add_argument("--load", nargs="?", type=int, const=-1, metavar="N",
                        help="contended mode: start N busy processes (default: one per "
                        "usable core; 0: idle) and time scikit-learn, fastmlp and fastmlp "
                        "on one thread side by side")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--features", action="store_true",
                        help="instead: the options beyond scikit-learn (hidden activations, dropout) "
                        "timed against fastmlp's relu epoch (fastmlp.bench_features)")
    args = parser.parse_args(argv)
    if args.features:
        from .bench_features import main as features_main

        _log("machine: " + describe_machine())
        features_main(args.quick)
        print("Machine: " + describe_machine())
        return 0
    if args.plot:
        _pyplot()  # before any work: a missing matplotlib fails now, not after the run

    if args.list:
        for w in WORKLOADS:
            print("%-18s %s" % (w.name, w.description))
        return 0
    names = args.only or [w.name for w in WORKLOADS] + ([] if args.quick else [STARTUP])
    workloads = [BY_NAME[n] for n in names if n != STARTUP]
    _log("machine: " + describe_machine())
    _log("compiling / loading fastmlp's kernels ...")
    compile_s = warm_up(workloads, args.quick) if workloads else 0.0
    if args.load is not None:
        return _main_contended(args, workloads, compile_s)
    rows = []
    for i, w in enumerate(workloads, 1):
        _log("[%d/%d] %s: %s" % (i, len(workloads), w.name, w.description))
        start = time.perf_counter()
        row = run_workload(w, args.quick, phases=not args.no_phases)
        rows.append(row)
        _log("        sklearn %s, fastmlp %s, speedup %.2fx (%.1f s)" % (
            _fmt_time(row, "sklearn"), _fmt_time(row, "fastmlp"), row["speedup"],
            time.perf_counter() - start))
    if rows:
        print(format_table(rows))
        print()
        print("Numba compile/cache-load time before timing: %.2f s" % compile_s)
    if STARTUP in names:
        _log("start-up: imports and first fits in new processes (cold cache compiles) ...")
        print()
        print(format_startup(import_times(), first_fit_overheads()))
    print("Machine: " + describe_machine())
    if args.json:
        machine = describe_machine()
        for row in rows:
            row.update(compile_s=compile_s, quick=args.quick, machine=machine)
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    if args.plot:
        plot(rows, args.plot)
    return 0


def _main_contended(args, workloads, compile_s):
    """``--load N``: every workload under N busy processes, three variants side by side."""
    from ._contention import (
        CONCURRENT_WORKLOADS,
        busy_processes,
        concurrent_fits,
        default_load,
        format_concurrent,
        format_contended,
        run_contended,
    )

    load = default_load() if args.load < 0 else args.load
    rows = []
    with busy_processes(load):
        for i, w in enumerate(workloads, 1):
            _log("[%d/%d] %s under load %d" % (i, len(workloads), w.name, load))
            row = run_contended(w, args.quick)
            rows.append(row)
            _log("        sklearn %.3f s, fastmlp %.3f s, one thread %.3f s" % (
                row["sklearn_s"], row["fastmlp_s"], row["fastmlp_1t_s"]))
        concurrent = {}
        for name in CONCURRENT_WORKLOADS:
            if any(w.name == name for w in workloads):
                _log("        %s: fits in Python threads of one process" % name)
                concurrent[name] = concurrent_fits(BY_NAME[name], args.quick)
    print(format_contended(rows, load))
    print()
    if concurrent:
        print(format_concurrent(concurrent))
        print()
    print("Numba compile/cache-load time before timing: %.2f s" % compile_s)
    print("Machine: " + describe_machine())
    if args.json:
        machine = describe_machine()
        for row in rows:
            row.update(compile_s=compile_s, quick=args.quick, machine=machine, load=load)
            if row["workload"] in concurrent:
                row["concurrent_s"] = concurrent[row["workload"]]
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0
