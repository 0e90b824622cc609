"""Read-only installs: fastmlp imports and fits where nothing can be written.

Each case copies the package into a directory, makes the copy, HOME and the
cache directory read-only and runs a child process on the copy. Root ignores
permission bits, so as root the child runs without CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH (``setpriv``), which makes it obey them like any user;
the child itself checks that it cannot write to any of those places.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from numba.core import caching

import fastmlp

_DROP = "-dac_override,-dac_read_search"

_CHILD = r"""
import json, os, sys, warnings
from fastmlp._compile_profile import CompileRecorder
rec = CompileRecorder().install()
unwritable = []
for path in sys.argv[1:]:
    try:
        open(os.path.join(path, "probe"), "w").close()
    except OSError:
        unwritable.append(path)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import fastmlp
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    y = y[:300]
    # The cheapest fit to compile: L-BFGS's one loss-and-gradient kernel.
    est = fastmlp.MLPClassifier(solver="lbfgs", max_iter=5, random_state=0).fit(X, y)
print(json.dumps({
    "file": fastmlp.__file__, "unwritable": unwritable, "compiles": len(rec.records),
    "loss": repr(est.loss_),
    "warnings": [str(w.category.__name__) + ": " + str(w.message) for w in caught],
}))
"""


def _prefix():
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a directory read-only")
    return [setpriv, "--bounding-set", _DROP, "--inh-caps", _DROP]


def _read_only(path):
    for root, dirs, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o555)
    os.chmod(path, 0o555)


def _writable(path):
    os.chmod(path, 0o755)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


@pytest.fixture
def install():
    """A copy of the package in a fresh directory, and a HOME; removed afterwards."""
    # Not pytest's tmp_path: its parents are private to the user who made them.
    root = tempfile.mkdtemp(prefix="fastmlp-readonly-")
    os.chmod(root, 0o755)
    site = os.path.join(root, "site")
    src = os.path.dirname(fastmlp.__file__)
    shutil.copytree(src, os.path.join(site, "fastmlp"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    home = os.path.join(root, "home")
    os.makedirs(home)
    try:
        yield root, site, home
    finally:
        _writable(root)
        shutil.rmtree(root)


def _run(site, home, cache_dir, prefix, check=()):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NUMBA_CACHE_DIR", "XDG_", "PYTHONPATH"))}
    env.update(HOME=home, PYTHONPATH=site, PYTHONDONTWRITEBYTECODE="1")
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run(prefix + [sys.executable, "-c", _CHILD, *check], capture_output=True,
                         text=True, env=env, cwd=home)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["file"].startswith(site)
    return result


def _cache_warnings(result):
    return [w for w in result["warnings"] if w.startswith("CacheNotWritableWarning")]


def test_read_only_install_compiles_in_memory_with_one_warning(install):
    root, site, home = install
    pkg = os.path.join(site, "fastmlp")
    cache = os.path.join(root, "cache")
    os.makedirs(cache)
    for path in (site, home, cache):
        _read_only(path)
    result = _run(site, home, cache, _prefix(), check=(pkg, home, cache))
    assert sorted(result["unwritable"]) == sorted([pkg, home, cache])
    assert result["compiles"] > 0
    (warning,) = _cache_warnings(result)
    assert "NUMBA_CACHE_DIR" in warning and "python -m fastmlp compile" in warning
    # Nothing was written anywhere.
    assert not [f for _, _, files in os.walk(root) for f in files if f.endswith(".nbi")]


def test_warm_read_only_caches_are_loaded_without_compiling(install):
    root, site, home = install
    pkg = os.path.join(site, "fastmlp")
    # A cache baked into the package's __pycache__ (a writable run of the
    # same code at the same place, as an image build would do).
    cold = _run(site, home, None, [])
    assert cold["compiles"] > 0 and not _cache_warnings(cold)
    pycache = os.path.join(pkg, "__pycache__")
    assert any(f.endswith(".nbi") for f in os.listdir(pycache))
    # The same files in a NUMBA_CACHE_DIR laid out as Numba lays it out.
    cache = os.path.join(root, "cache")
    sub = os.path.join(cache, caching._CacheLocator.get_suitable_cache_subpath(
        os.path.join(pkg, "_config.py")))
    shutil.copytree(pycache, sub, ignore=shutil.ignore_patterns("*.pyc"))
    for path in (site, home, cache):
        _read_only(path)

    in_tree = _run(site, home, None, _prefix(), check=(pycache, home))
    assert sorted(in_tree["unwritable"]) == sorted([pycache, home])
    assert in_tree["compiles"] == 0 and not _cache_warnings(in_tree)
    assert in_tree["loss"] == cold["loss"]

    # With the in-tree copy gone, the read-only NUMBA_CACHE_DIR is used.
    _writable(pkg)
    shutil.rmtree(pycache)
    _read_only(pkg)
    cache_dir = _run(site, home, cache, _prefix(), check=(pkg, sub, home))
    assert sorted(cache_dir["unwritable"]) == sorted([pkg, sub, home])
    assert cache_dir["compiles"] == 0 and not _cache_warnings(cache_dir)
    assert cache_dir["loss"] == cold["loss"]


_GRID = r"""
import json, warnings
warnings.simplefilter("ignore")
from fastmlp._compile_profile import CompileRecorder
rec = CompileRecorder().install()
import fastmlp
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
X, y = load_digits(return_X_y=True)
X = X[:300] / 16.0
y = y[:300]
est = fastmlp.MLPClassifier(solver="lbfgs", max_iter=5, random_state=0)
scores = {}
for n_jobs in (2, 1):
    grid = GridSearchCV(est, {"alpha": [1e-4, 1e-2]}, cv=2, n_jobs=n_jobs).fit(X, y)
    scores[n_jobs] = list(grid.cv_results_["mean_test_score"])
print(json.dumps({"scores": scores, "compiles": len(rec.records)}))
"""


def test_workers_starting_at_once_on_a_cold_cache():
    # GridSearchCV(n_jobs=2) starts two loky worker processes that compile
    # the same kernels into the same empty cache at once.
    with tempfile.TemporaryDirectory(prefix="fastmlp-numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", _GRID], capture_output=True,
                                 text=True, env=env)
            assert out.returncode == 0, out.stderr[-3000:]
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    cold, warm = runs
    # The workers' results are those of the sequential fits, and the cache
    # they wrote at once serves a later process whole.
    assert cold["scores"]["2"] == cold["scores"]["1"]
    assert warm["scores"] == cold["scores"]
    assert warm["compiles"] == 0


def test_compile_lists_every_common_variant(capsys):
    from fastmlp._warmup import main

    assert main(["--list"]) == 0
    names = capsys.readouterr().out.splitlines()
    for dtype in ("float64", "float32"):
        for kind in ("dense", "csr"):
            for solver in ("adam", "sgd", "lbfgs"):
                assert any(n.startswith("MLP %s %s %s" % (solver, dtype, kind)) for n in names)
            assert sum(n.startswith("RBM %s %s" % (dtype, kind)) for n in names) == 2


_AFTER_COMPILE = r"""
import json, warnings
warnings.simplefilter("ignore")
import numpy as np, scipy.sparse as sp
from fastmlp._compile_profile import CompileRecorder
rec = CompileRecorder().install()
import fastmlp
rng = np.random.RandomState(1)
X = (rng.rand(150, 20) < 0.2).astype(np.float32)
y = rng.randint(0, 2, 150)
for est in (fastmlp.MLPClassifier(max_iter=3), fastmlp.MLPRegressor(solver="sgd", max_iter=3),
            fastmlp.MLPClassifier(solver="lbfgs", max_iter=3)):
    est.fit(sp.csr_matrix(X), y).predict(sp.csr_matrix(X))
    est.fit(X.astype(np.float64), y).predict(X.astype(np.float64))
fastmlp.BernoulliRBM(n_iter=2).fit(X).transform(X)
print(json.dumps(sorted({r[0] for r in rec.records})))
"""


# Compiles every variant (minutes on a loaded 2-core machine): run with
# FASTMLP_SLOW=1 python -m pytest -m slow tests/test_cache.py
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("FASTMLP_SLOW"), reason="set FASTMLP_SLOW=1")
def test_compile_fills_the_cache_for_other_data_and_estimators():
    with tempfile.TemporaryDirectory(prefix="fastmlp-numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, "-m", "fastmlp", "compile"], capture_output=True,
                             text=True, env=env)
        assert out.returncode == 0, out.stderr[-3000:]
        assert cache in out.stdout and "compilations" in out.stdout
        out = subprocess.run([sys.executable, "-c", _AFTER_COMPILE], capture_output=True,
                             text=True, env=env)
        assert out.returncode == 0, out.stderr[-3000:]
        assert json.loads(out.stdout.strip().splitlines()[-1]) == []


_QUICK_LOAD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
from fastmlp._compile_profile import CompileRecorder
rec = CompileRecorder().install()
import fastmlp
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
est = fastmlp.MLPClassifier(solver="lbfgs", max_iter=5, random_state=0).fit(X[:300], y[:300])
proba = est.predict_proba(X[:50])
compiles = len(rec.records)
# Only Numba's compile-time set-up imports this module.
registered = "numba.np.polynomial.polynomial_core" in sys.modules
import numba
# A compile after the quick loads still has Numba's whole set-up.
user = numba.njit(lambda a: np.polynomial.polynomial.polyval(2.0, a))(np.array([1.0, 3.0]))
print(json.dumps({"compiles": compiles, "registered": registered, "user": float(user),
                  "loss": repr(est.loss_), "proba": proba.sum(axis=0).round(12).tolist()}))
"""


def test_a_warm_cache_loads_without_numbas_compile_set_up():
    """A warm first fit loads machine code without Numba's compile-only set-up (0.3-0.5 s)."""
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _QUICK_LOAD], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first, warm = runs
    assert warm["compiles"] == 0
    assert warm["registered"] is False
    assert warm["user"] == 7.0
    assert (warm["loss"], warm["proba"]) == (first["loss"], first["proba"])
