"""Patching scikit-learn: in-process, ``python -m fastmlp run``, every new process,
and scikit-learn's own neural-network tests run under the patch."""

import logging
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sklearn.neural_network as sknn
import sklearn.neural_network._multilayer_perceptron as skmlp
import sklearn.neural_network._rbm as skrbm

import fastmlp
from fastmlp import _autopatch
from fastmlp.patching import ESTIMATORS, sklearn_class

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODULES = {"MLPClassifier": (sknn, skmlp), "MLPRegressor": (sknn, skmlp),
           "BernoulliRBM": (sknn, skrbm)}
ORIGINAL = {name: getattr(skmlp if name != "BernoulliRBM" else skrbm, name)
            for name in ESTIMATORS}


@pytest.fixture(autouse=True)
def never_left_patched():
    """Every test leaves scikit-learn as it found it (other tests compare against it)."""
    yield
    leaked = [n for n in ESTIMATORS for m in MODULES[n] if getattr(m, n) is not ORIGINAL[n]]
    fastmlp.unpatch_sklearn()
    assert not leaked


def env(path=(), **extra):
    """A subprocess environment importing this checkout's fastmlp (and ``path``)."""
    e = dict(os.environ, **extra)
    e["PYTHONPATH"] = os.pathsep.join(
        [ROOT, *path] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return e


def run(args, **kw):
    kw.setdefault("env", env())
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


def test_patch_and_unpatch_every_module():
    assert not fastmlp.is_patched()
    fastmlp.patch_sklearn()
    assert fastmlp.is_patched()
    for name in ESTIMATORS:
        for module in MODULES[name]:
            assert getattr(module, name) is getattr(fastmlp, name)
    from sklearn.neural_network import MLPClassifier  # the import a user writes

    assert MLPClassifier is fastmlp.MLPClassifier
    fastmlp.patch_sklearn()  # again: nothing changes
    fastmlp.unpatch_sklearn()
    assert not fastmlp.is_patched()
    for name in ESTIMATORS:
        for module in MODULES[name]:
            assert getattr(module, name) is ORIGINAL[name]
        assert sklearn_class(name) is ORIGINAL[name]
    fastmlp.unpatch_sklearn()  # again: nothing changes


def test_patch_some_and_bad_names():
    fastmlp.patch_sklearn("BernoulliRBM")
    assert fastmlp.is_patched("BernoulliRBM") and not fastmlp.is_patched()
    assert sknn.MLPClassifier is ORIGINAL["MLPClassifier"]
    assert skrbm.BernoulliRBM is fastmlp.BernoulliRBM
    fastmlp.unpatch_sklearn(["BernoulliRBM"])
    with pytest.raises(ValueError, match="cannot patch"):
        fastmlp.patch_sklearn(["MLPClassifier", "SVC"])
    assert not fastmlp.is_patched("MLPClassifier")  # nothing half-done


def test_context_manager_restores_the_state_before():
    with fastmlp.sklearn_patched():
        assert fastmlp.is_patched()
        with fastmlp.sklearn_patched("MLPRegressor"):
            assert fastmlp.is_patched()
        assert fastmlp.is_patched()  # the inner block leaves the outer patch
    assert not fastmlp.is_patched()
    with pytest.raises(KeyError):
        with fastmlp.sklearn_patched(["MLPRegressor"]):
            raise KeyError
    assert not fastmlp.is_patched("MLPRegressor")


def test_log_names_the_class_that_served_the_call(caplog):
    X = np.random.RandomState(0).rand(40, 3)
    y = (X[:, 0] > 0.5).astype(int)
    plain = {m: vars(fastmlp.MLPClassifier).get(m) for m in ("fit", "partial_fit", "score")}
    with caplog.at_level(logging.INFO, logger="fastmlp"):
        with fastmlp.sklearn_patched():
            from sklearn.neural_network import MLPClassifier

            clf = MLPClassifier((3,), solver="sgd", max_iter=2, random_state=0)
            clf.partial_fit(X, y, classes=[0, 1])
            clf.score(X, y)
            assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
        messages = [r.getMessage() for r in caplog.records]
        assert ("sklearn.neural_network.MLPClassifier.partial_fit: served by "
                "fastmlp.MLPClassifier") in messages
        assert ("sklearn.neural_network.MLPClassifier.score: served by "
                "fastmlp.MLPClassifier") in messages
        caplog.clear()
        fastmlp.MLPClassifier((3,), max_iter=2).partial_fit(X, y, classes=[0, 1])
        assert not caplog.records  # unpatched: no wrapper left
    # The classes' own methods are back (score was inherited, and is again).
    assert {m: vars(fastmlp.MLPClassifier).get(m) for m in plain} == plain


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_run_script_as_if_run_directly(tmp_path):
    script = write(tmp_path / "prog.py", """\
        import sys
        from sklearn.neural_network import MLPRegressor
        print(MLPRegressor.__module__, sys.argv, __name__, __file__, sys.path[0])
        def fail():
            raise ValueError("from the program")
        if sys.argv[1] == "raise":
            fail()
        sys.exit(int(sys.argv[1]))
        """)
    got = run([sys.executable, "-m", "fastmlp", "run", str(script), "7"], cwd=tmp_path)
    assert got.returncode == 7, got.stderr
    assert got.stderr == ""  # nothing logged unless logging is set up
    direct = run([sys.executable, str(script), "7"], cwd=tmp_path)
    assert got.stdout == direct.stdout.replace("sklearn.neural_network._multilayer_perceptron",
                                               "fastmlp._mlp")
    got = run([sys.executable, "-m", "fastmlp", "run", "prog.py", "raise"], cwd=tmp_path)
    direct = run([sys.executable, "prog.py", "raise"], cwd=tmp_path)
    assert got.returncode == direct.returncode == 1
    assert got.stderr == direct.stderr  # the same traceback, from the program's own frame
    assert "in fail" in got.stderr and "fastmlp" not in got.stderr
    assert "['prog.py', 'raise']" in got.stdout
    missing = run([sys.executable, "-m", "fastmlp", "run", "nothere.py"], cwd=tmp_path)
    assert missing.returncode == 2 and "nothere.py" in missing.stderr


def test_run_module(tmp_path):
    pkg = tmp_path / "prog_pkg"
    pkg.mkdir()
    write(pkg / "__init__.py", "")
    write(pkg / "__main__.py", """\
        import sys
        import sklearn.neural_network as nn
        print(nn.BernoulliRBM.__module__, sys.argv[1:], __name__)
        raise SystemExit(3)
        """)
    for argv in (["-m", "prog_pkg"], ["-mprog_pkg"]):
        got = run([sys.executable, "-m", "fastmlp", "run", *argv, "a", "--b"], cwd=tmp_path)
        assert got.returncode == 3, got.stderr
        assert got.stdout.split() == ["fastmlp._rbm", "['a',", "'--b']", "__main__"]


def user_site_env(base):
    """A subprocess environment whose user site-packages is under ``base``."""
    return env(PYTHONUSERBASE=str(base))


PROBE = ("import sys; print('fastmlp' in sys.modules); "
         "from sklearn.neural_network import MLPClassifier as C; print(C.__module__)")


@pytest.mark.skipif(not __import__("site").ENABLE_USER_SITE,
                    reason="this Python reads no user site-packages")
def test_every_process_patch_install_and_uninstall(tmp_path):
    e = user_site_env(tmp_path)
    cli = [sys.executable, "-m", "fastmlp", "patch"]
    got = run(cli + ["--install", "--user"], env=e)
    assert got.returncode == 0 and str(tmp_path) in got.stdout, got.stderr
    try:
        # A new process, which never calls fastmlp, gets fastmlp's class; it had
        # not imported fastmlp before it imported sklearn.neural_network.
        out = run([sys.executable, "-c", PROBE], env=e)
        assert out.stdout.split() == ["False", "fastmlp._mlp"], out.stderr
        off = run([sys.executable, "-c", PROBE], env=dict(e, FASTMLP_NO_PATCH="1"))
        assert off.stdout.split()[-1] == "sklearn.neural_network._multilayer_perceptron"
        status = run(cli + ["--status"], env=e)
        assert "user: " + str(tmp_path) in status.stdout
        assert "this process: patched" in status.stdout
    finally:
        got = run(cli + ["--uninstall", "--user"], env=e)
    assert got.returncode == 0 and "removed" in got.stdout
    out = run([sys.executable, "-c", PROBE], env=e)
    assert out.stdout.split() == ["False", "sklearn.neural_network._multilayer_perceptron"]
    assert "not installed" in run(cli + ["--uninstall", "--user"], env=e).stdout


def test_pth_file_read_by_site(tmp_path):
    """The .pth as Python's site module processes it (works in any environment)."""
    path = _autopatch.install(str(tmp_path))
    assert os.path.basename(path) == _autopatch.PTH_NAME
    probe = "import site; site.addsitedir(%r); import sklearn; " % str(tmp_path) + PROBE
    out = run([sys.executable, "-c", probe])
    assert out.stdout.split() == ["False", "fastmlp._mlp"], out.stderr
    # Left behind after fastmlp is gone, the hook leaves scikit-learn alone.
    gone = "import sys; sys.modules['fastmlp'] = None; " + probe
    out = run([sys.executable, "-c", gone])
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.split()[-1] == "sklearn.neural_network._multilayer_perceptron"
    assert _autopatch.uninstall(str(tmp_path)) == path and not os.path.exists(path)


def test_sklearn_neural_network_tests_pass_under_the_patch(tmp_path):
    """Acceptance: scikit-learn's installed tests, unmodified, with fastmlp's classes.

    ``tests/sklearn_patch_plugin.py`` refuses to run unpatched, deselects the
    tests of ``tests/sklearn_deselected.txt`` (each with its reason) and checks
    that the collected modules hold fastmlp's classes. About 50 s of CPU with
    compiled kernels cached (the rest of the suite fills the cache first).
    """
    got = run(
        [sys.executable, "-m", "fastmlp", "run", "-m", "pytest", "--pyargs",
         "sklearn.neural_network.tests", "-p", "sklearn_patch_plugin", "-p",
         "no:cacheprovider", "-q", "-o", "addopts=", "-W", "ignore::DeprecationWarning"],
        cwd=tmp_path, env=env([HERE]),
    )
    tail = got.stdout[-3000:]
    assert got.returncode == 0, tail + got.stderr[-2000:]
    summary = re.search(r"(\d+) passed.*?(\d+) deselected", tail)
    assert summary, tail
    passed, deselected = map(int, summary.groups())
    from sklearn_patch_plugin import deselected as listed

    assert deselected == len(listed()) and passed >= 85, tail
