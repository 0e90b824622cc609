"""Where a cold first fit's time goes: Numba's compile events, function by function.

``python -m fastmlp._compile_profile [--cases NAME ...] [--repeats N] [--top K]``

Each case is a fit (and a predict or transform) on digits in a new Python
process, as a user's first script would run it:

* **cold**: an empty ``NUMBA_CACHE_DIR``, so every kernel the fit needs is
  compiled; a listener on Numba's ``"numba:compile"`` events records which
  function was compiled, for which argument types, and for how long;
* **warm**: a second process on the cache the cold one wrote, which only
  loads the compiled kernels.

The *extra* seconds of a case are the cold process's timed call minus the
warm process's, the median over ``--repeats`` pairs, in wall-clock time and
in CPU time of the process. On a shared machine the wall-clock time of a
compile grows with the load (each compile waits for a core), its CPU time
much less: compare CPU times between runs made at different loads. Cases marked "on top"
first fit the float64 dense classifier (not timed, its compiles not
counted), so they show what float32 input, CSR input or the regressor add
to a process that has that one already. The user's own Numba cache is
neither read nor changed.

Compile events nest (compiling a function compiles its callees inside its
event), so each function gets its *self* time, its event's duration less
its callees' events, and the total of a process is the sum of the outermost
events. Event durations are CPU time of the compiling thread (Numba
compiles in the thread that calls the kernel).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from numba.core import event

# name -> (code run first, untimed and uncounted, or None; code timed).
# The code sees ``X, y`` (digits / 16) and ``fastmlp``.
_BASE = "fastmlp.MLPClassifier(random_state=0).fit(X, y).predict(X)"
CASES = {
    "adam": (None, _BASE),
    "lbfgs": (None, "fastmlp.MLPClassifier(solver='lbfgs', random_state=0).fit(X, y)"
                    ".predict(X)"),
    "sgd": (None, "fastmlp.MLPClassifier(solver='sgd', random_state=0).fit(X, y).predict(X)"),
    "rbm": (None, "fastmlp.BernoulliRBM(random_state=0).fit(X).transform(X)"),
    "float32 on top": (_BASE, "X32 = X.astype('float32'); "
                              "fastmlp.MLPClassifier(random_state=0).fit(X32, y).predict(X32)"),
    "csr on top": (_BASE, "import scipy.sparse as sp; Xs = sp.csr_matrix(X); "
                          "fastmlp.MLPClassifier(random_state=0).fit(Xs, y).predict(Xs)"),
    "regressor on top": (_BASE, "fastmlp.MLPRegressor(random_state=0).fit(X, y / 9.0)"
                                ".predict(X)"),
}

# Seconds of each target (issue 14), for the table.
TARGETS = {"adam": 5, "lbfgs": 3, "sgd": 5, "rbm": 4, "float32 on top": 3,
           "csr on top": 3, "regressor on top": 3}


class CompileRecorder(event.Listener):
    """Collects Numba's ``"numba:compile"`` events of this process.

    ``records`` is a list of ``(qualified name, argument types, inclusive
    seconds, self seconds, outermost)``, one per compilation, in the order
    they end; seconds of CPU time of the compiling thread.
    Compiles in several threads at once are not separated (Numba compiles
    under one global lock, so they do not overlap).
    """

    def __init__(self):
        self.records = []
        self._stack = []

    def on_start(self, ev):
        self._stack.append([time.thread_time(), 0.0])

    def on_end(self, ev):
        start, children = self._stack.pop()
        took = time.thread_time() - start
        if self._stack:
            self._stack[-1][1] += took
        d = ev.data["dispatcher"]
        name = "%s.%s" % (d.py_func.__module__, d.py_func.__qualname__)
        self.records.append((name, str(ev.data["args"]), took,
                             took - children, not self._stack))

    def total(self):
        """Seconds of the outermost compile events: all compile time, counted once."""
        return sum(r[2] for r in self.records if r[4])

    def install(self):
        """Start listening; returns self."""
        event.register("numba:compile", self)
        return self

    def uninstall(self):
        event.unregister("numba:compile", self)


_CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from fastmlp._compile_profile import CompileRecorder
rec = CompileRecorder().install()
import fastmlp
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
X = X / 16.0
setup, timed = json.loads(sys.argv[1])
if setup:
    exec(setup)
rec.records.clear()
start, cpu = time.perf_counter(), time.process_time()
exec(timed)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu": cpu, "records": rec.records}))
"""


def run_child(case, cache_dir):
    """One process running ``case`` on Numba cache ``cache_dir``: its JSON result."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(CASES[case])],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError("case %r failed:\n%s" % (case, out.stderr[-3000:]))
    return json.loads(out.stdout.strip().splitlines()[-1])


def profile_case(case, repeats=3):
    """Cold and warm processes for ``case``, ``repeats`` pairs.

    Returns
    -------
    row : dict
        ``case``, ``extra_s`` (median of cold minus warm seconds),
        ``extras`` (each pair's), ``extra_cpu_s`` (the same in CPU time),
        ``warm_s`` (median warm seconds),
        ``compile_s`` (median summed compile events of the cold runs),
        ``compiles`` (compilations in the first cold run) and ``records``
        (the first cold run's events).
    """
    extras, cpus, warms, totals, first = [], [], [], [], None
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="fastmlp-numba-cache-") as cache:
            cold = run_child(case, cache)
            warm = run_child(case, cache)
        if warm["records"]:
            raise RuntimeError("case %r compiled with a warm cache: %s"
                               % (case, sorted({r[0] for r in warm["records"]})))
        rec = CompileRecorder()
        rec.records = [tuple(r) for r in cold["records"]]
        totals.append(rec.total())
        extras.append(cold["seconds"] - warm["seconds"])
        cpus.append(cold["cpu"] - warm["cpu"])
        warms.append(warm["seconds"])
        first = first or rec.records
    return dict(case=case, extra_s=statistics.median(extras), extras=extras,
                extra_cpu_s=statistics.median(cpus),
                warm_s=statistics.median(warms), compile_s=statistics.median(totals),
                compiles=len(first), records=first)


def top_functions(records, k=10):
    """``(name, compilations, self seconds)`` of the ``k`` costliest functions."""
    by_name = {}
    for name, _, _, own, _ in records:
        n, s = by_name.get(name, (0, 0.0))
        by_name[name] = (n + 1, s + own)
    rows = sorted(((name, n, s) for name, (n, s) in by_name.items()), key=lambda r: -r[2])
    return rows[:k]


def format_rows(rows, top=10):
    """The table of cases and, per case, its costliest functions, as text."""
    lines = ["| case | extra over warm, wall (median) | each run | extra, CPU | "
             "compile events, CPU | compilations (functions) | target |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        n_funcs = len({rec[0] for rec in r["records"]})
        lines.append("| %s | +%.1f s | %s | +%.1f s | %.1f s | %d (%d) | %s s |" % (
            r["case"], r["extra_s"], " ".join("%.1f" % e for e in r["extras"]),
            r["extra_cpu_s"], r["compile_s"], r["compiles"], n_funcs,
            TARGETS.get(r["case"], "?")))
    for r in rows:
        lines += ["", "%s: top functions by compile time (self, CPU, first cold run)"
                  % r["case"]]
        for name, n, s in top_functions(r["records"], top):
            lines.append("  %6.2f s  %2dx  %s" % (s, n, name))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastmlp._compile_profile",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--json", help="also write the rows (events included) here")
    args = parser.parse_args(argv)
    rows = []
    for case in args.cases:
        print("profiling %s ..." % case, file=sys.stderr, flush=True)
        rows.append(profile_case(case, args.repeats))
        # Each case as it ends: on a loaded machine a whole run takes an hour.
        r = rows[-1]
        print("  %s: extra +%.1f s wall, +%.1f s CPU, %d compilations (target %s s)"
              % (case, r["extra_s"], r["extra_cpu_s"], r["compiles"], TARGETS.get(case, "?")),
              file=sys.stderr, flush=True)
    print(format_rows(rows, args.top))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
