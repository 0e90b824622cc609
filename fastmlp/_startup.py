"""What a user pays before the first model: import time and Numba compile time.

Each measurement runs in a new Python process, as a user's script would:

* **import**: ``import fastmlp`` against ``import sklearn.neural_network``,
  each in its own process, alternately, the minimum kept;
* **first fit**: a fit (and one predict or transform) repeated three times
  in one process; the first call's extra time over the fastest later one is
  what compiling (cold cache) or loading the compiled kernels (warm cache)
  costs. The cold case gets an empty ``NUMBA_CACHE_DIR``; the warm case
  is a second process on the cache the cold one wrote, so the user's own
  cache is neither read nor changed.
"""

import json
import os
import subprocess
import sys
import tempfile

# Estimator, its parameters, and what to call after the fit; digits data.
FIRST_FIT_CASES = {
    "MLPClassifier(adam)": ("MLPClassifier", dict(max_iter=20, random_state=0), "predict"),
    "MLPClassifier(lbfgs)": ("MLPClassifier", dict(solver="lbfgs", max_iter=20,
                                                   random_state=0), "predict"),
    "BernoulliRBM": ("BernoulliRBM", dict(n_iter=2, random_state=0), "transform"),
}

_IMPORT_SCRIPT = """
import time
start = time.perf_counter()
import {module}
print(time.perf_counter() - start)
"""

_FIRST_FIT_SCRIPT = """
import json, time, warnings
import fastmlp
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
X = X / 16.0
warnings.simplefilter("ignore")
times = []
for _ in range(3):
    start = time.perf_counter()
    est = fastmlp.{name}(**{params!r}).fit(X, y)
    getattr(est, {after!r})(X[:1])
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def _run(script, env=None):
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, check=True)
    return out.stdout.strip().splitlines()[-1]


def import_times(repeats=5):
    """Minimum seconds to import ``sklearn.neural_network`` and ``fastmlp`` in new processes.

    Returns
    -------
    times : dict
        ``{"sklearn.neural_network": s, "fastmlp": s}``.
    """
    best = {"sklearn.neural_network": float("inf"), "fastmlp": float("inf")}
    for _ in range(repeats):
        for module in best:
            best[module] = min(best[module], float(_run(_IMPORT_SCRIPT.format(module=module))))
    return best


def first_fit_overheads(cases=None):
    """Extra seconds of a new process's first fit, with a cold and a warm Numba cache.

    Parameters
    ----------
    cases : list of str, default=None
        Keys of :data:`FIRST_FIT_CASES`; all of them when None.

    Returns
    -------
    rows : list of dict
        Per case: ``case``, ``later_s`` (a fit once compiled), ``cold_extra_s``
        and ``warm_extra_s`` (first fit minus ``later_s``).
    """
    rows = []
    for case in cases or FIRST_FIT_CASES:
        name, params, after = FIRST_FIT_CASES[case]
        script = _FIRST_FIT_SCRIPT.format(name=name, params=params, after=after)
        with tempfile.TemporaryDirectory(prefix="fastmlp-numba-cache-") as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            cold = json.loads(_run(script, env))
            warm = json.loads(_run(script, env))
        later = min(cold[1:] + warm[1:])
        rows.append(dict(case=case, later_s=later, cold_extra_s=cold[0] - later,
                         warm_extra_s=warm[0] - later))
    return rows


def format_startup(imports, first_fits):
    """The start-up measurements as Markdown."""
    extra = imports["fastmlp"] - imports["sklearn.neural_network"]
    lines = [
        "Start-up (new processes): import sklearn.neural_network %.2f s, import fastmlp "
        "%.2f s (+%.2f s)." % (imports["sklearn.neural_network"], imports["fastmlp"], extra),
        "",
        "| first fit + predict on digits | later fits | first, cold cache | "
        "first, warm cache |",
        "|---|---|---|---|",
    ]
    for r in first_fits:
        lines.append("| %s | %.3f s | +%.2f s | +%.2f s |" % (
            r["case"], r["later_s"], r["cold_extra_s"], r["warm_extra_s"]))
    return "\n".join(lines)
