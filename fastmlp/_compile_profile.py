"""Where a cold first fit's time goes: Numba's compile events, function by function.

``python -m fastmlp._compile_profile [--cases NAME ...] [--repeats N] [--top K]``
``python -m fastmlp._compile_profile --import-time [--repeats N]``
``python -m fastmlp._compile_profile --warm-first-fit [--repeats N]``
``python -m fastmlp._compile_profile --pytest [--source DIR] PYTEST_ARGS ...``

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

The other modes measure the rest of issue 14's targets, each in fresh
processes:

* ``--import-time``: ``import fastmlp``, and the import of the estimators'
  module that ``from fastmlp import MLPClassifier`` makes (Numba and the
  kernels' definitions), against ``import sklearn.neural_network`` (median
  of ``--repeats``, default 5, alternated);
* ``--warm-first-fit``: on a warm cache, the first digits adam fit of a
  process against its fastest later one (median of ``--repeats``
  processes);
* ``--pytest``: a pytest run (of the tree ``--source``, this checkout by
  default) on an empty ``NUMBA_CACHE_DIR`` with a listener plugin that
  needs no conftest and no fastmlp (so it measures any revision the same
  way); it prints the sum of the outermost compile events of the pytest
  process (not of the subprocesses some tests start) and the costliest
  functions.
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
    # A read-only memmap (np.load(..., mmap_mode="r")) after a writeable
    # float32 array: fastmlp._validation.KernelInput's alias makes it 0.
    "read-only on top": (
        "import tempfile, numpy as np; X32 = X.astype('float32'); "
        "fastmlp.MLPClassifier(random_state=0).fit(X32, y).predict(X32); "
        "d = tempfile.mkdtemp(); np.save(d + '/X.npy', X32); "
        "Xm = np.load(d + '/X.npy', mmap_mode='r')",
        "fastmlp.MLPClassifier(random_state=0).fit(Xm, y).predict(Xm)"),
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


# A pytest plugin of its own file, importable without fastmlp: the revision
# under test is whatever --source holds.
_PYTEST_PLUGIN = """
import time
from numba.core import event

class _Rec(event.Listener):
    def __init__(self):
        self.stack, self.total, self.n, self.own = [], 0.0, 0, {}
    def on_start(self, ev):
        self.stack.append([time.thread_time(), 0.0])
    def on_end(self, ev):
        start, children = self.stack.pop()
        took = time.thread_time() - start
        if self.stack:
            self.stack[-1][1] += took
        else:
            self.total += took
        self.n += 1
        d = ev.data["dispatcher"]
        name = "%s.%s" % (d.py_func.__module__, d.py_func.__qualname__)
        n, s = self.own.get(name, (0, 0.0))
        self.own[name] = (n + 1, s + took - children)

_rec = _Rec()
event.register("numba:compile", _rec)

def pytest_terminal_summary(terminalreporter):
    w = terminalreporter.write_line
    w("COMPILE-SUM %.1f s in %d compilations of %d functions"
      % (_rec.total, _rec.n, len(_rec.own)))
    for name, (n, s) in sorted(_rec.own.items(), key=lambda kv: -kv[1][1])[:15]:
        w("  %6.2f s  %3dx  %s" % (s, n, name))
"""


def pytest_compile_sum(pytest_args, source=None):
    """Run pytest on ``source`` with a cold cache; returns (summed compile seconds, output)."""
    import re

    source = source or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="fastmlp-numba-cache-") as cache, \
            tempfile.TemporaryDirectory(prefix="fastmlp-listener-") as plugin_dir:
        with open(os.path.join(plugin_dir, "_numba_compile_listener.py"), "w") as f:
            f.write(_PYTEST_PLUGIN)
        env = {**os.environ, "NUMBA_CACHE_DIR": cache,
               "PYTHONPATH": os.pathsep.join([source, plugin_dir])}
        env.pop("FASTMLP_COMPILE_REPORT", None)
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "-p", "_numba_compile_listener", *pytest_args],
                             cwd=source, env=env, capture_output=True, text=True)
    text = out.stdout + out.stderr
    found = re.search(r"COMPILE-SUM ([0-9.]+) s", text)
    return (float(found.group(1)) if found else None), text


# What is imported -> the Python import statement timed.
IMPORTS = {"import fastmlp": "fastmlp",
           # the estimators' module: what `from fastmlp import MLPClassifier` imports
           "from fastmlp import MLPClassifier": "fastmlp._mlp",
           "import sklearn.neural_network": "sklearn.neural_network"}


def import_times(repeats=5):
    """Seconds of each of :data:`IMPORTS` in fresh processes, ``repeats`` each, alternated."""
    from ._startup import _IMPORT_SCRIPT, _run

    times = {name: [] for name in IMPORTS}
    for _ in range(repeats):
        for name, module in IMPORTS.items():
            times[name].append(float(_run(_IMPORT_SCRIPT.format(module=module))))
    return times


def warm_first_fits(repeats=3):
    """``[(first fit s, fastest later fit s)]`` of default digits adam, warm cache.

    A process each (three fits and a predict each, as fastmlp._startup
    runs them), after one that fills an empty cache.
    """
    from ._startup import _FIRST_FIT_SCRIPT, _run

    script = _FIRST_FIT_SCRIPT.format(name="MLPClassifier", params=dict(random_state=0),
                                      after="predict")
    with tempfile.TemporaryDirectory(prefix="fastmlp-numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        _run(script, env)
        runs = [json.loads(_run(script, env)) for _ in range(repeats)]
    return [(t[0], min(t[1:])) for t in runs]


def _load():
    try:
        return "load average %.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        return "load average unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastmlp._compile_profile",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--json", help="also write the rows (events included) here")
    parser.add_argument("--import-time", action="store_true",
                        help="time import fastmlp against import sklearn.neural_network")
    parser.add_argument("--warm-first-fit", action="store_true",
                        help="first against second digits adam fit of a process, warm cache")
    parser.add_argument("--pytest", nargs=argparse.REMAINDER,
                        help="sum Numba's compile events of this cold-cache pytest run")
    parser.add_argument("--source", help="the checkout --pytest tests (default: this one)")
    args = parser.parse_args(argv)
    print(_load(), file=sys.stderr)
    if args.import_time:
        times = import_times(args.repeats if args.repeats != 3 else 5)
        base = times["import sklearn.neural_network"]
        for name, secs in times.items():
            extra = statistics.median([a - b for a, b in zip(secs, base)])
            print("%-36s %.3f s (median of %d), %+.3f s over sklearn.neural_network "
                  "(median of the alternated pairs; target +0.25 s)"
                  % (name, statistics.median(secs), len(secs), extra))
        return 0
    if args.warm_first_fit:
        pairs = warm_first_fits(args.repeats)
        diffs = [a - b for a, b in pairs]
        print("warm cache, digits adam: first fit %s s, later %s s; first - later %+.3f s "
              "(median of %d processes; target 0.3 s)"
              % (" ".join("%.3f" % a for a, _ in pairs), " ".join("%.3f" % b for _, b in pairs),
                 statistics.median(diffs), len(pairs)))
        return 0
    if args.pytest is not None:
        total, text = pytest_compile_sum(args.pytest, args.source)
        print(text[-4000:])
        print("compile events of the pytest process, cold cache: %s s (%s; %s)"
              % ("?" if total is None else "%.1f" % total, " ".join(args.pytest),
                 args.source or "this checkout"))
        print(_load(), file=sys.stderr)
        return 0 if total is not None else 1
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
