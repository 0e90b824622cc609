"""pytest plugin for running scikit-learn's own neural-network tests under the patch.

Loaded with ``-p sklearn_patch_plugin`` by tests/test_patching.py, in a run
started as ``python -m fastmlp run -m pytest --pyargs sklearn.neural_network.tests``.
It refuses to run unless scikit-learn is patched, deselects the tests listed in
``sklearn_deselected.txt`` (failing on an entry that matches nothing), and
checks that every collected test module got fastmlp's classes.
"""

import os

import pytest

import fastmlp

LIST = os.path.join(os.path.dirname(__file__), "sklearn_deselected.txt")


def deselected():
    """``{"file.py::test_name": reason}`` from the deselection file."""
    entries = {}
    with open(LIST) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                test, _, reason = line.partition("#")
                entries[test.strip()] = reason.strip()
    return entries


def pytest_configure(config):
    if not fastmlp.is_patched():
        raise pytest.UsageError("scikit-learn is not patched: run under `python -m fastmlp run`")


def pytest_collection_modifyitems(config, items):
    wanted = deselected()
    seen, keep, drop = set(), [], []
    for item in items:
        key = "%s::%s" % (os.path.basename(item.path), item.originalname)
        if key in wanted:
            seen.add(key)
            drop.append(item)
        else:
            keep.append(item)
    missing = sorted(set(wanted) - seen)
    if missing:
        raise pytest.UsageError("deselected tests not found: %s" % missing)
    for item in keep:
        for name in fastmlp.patching.ESTIMATORS:
            got = getattr(item.module, name, None)
            if got is not None and got is not getattr(fastmlp, name):
                raise pytest.UsageError("%s uses %r, not fastmlp's" % (item.nodeid, got))
    config.hook.pytest_deselected(items=drop)
    items[:] = keep
