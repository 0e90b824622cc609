"""pytest-benchmark: fastmlp and scikit-learn side by side, one group per workload.

Not part of the default test run (``tests/`` is); run it with::

    python -m pytest benchmarks_pytest --benchmark-enable --benchmark-only

Workloads run at their quick sizes; ``--benchmark-group-by=group`` (the
default here) puts each workload's two libraries next to each other.
"""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

from fastmlp._workloads import WORKLOADS, estimator_class


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args)


@pytest.fixture(scope="module")
def datasets():
    cache = {}

    def get(w):
        if w.name not in cache:
            cache[w.name] = w.data(True)
        return cache[w.name]

    return get


@pytest.mark.parametrize("library", ["sklearn", "fastmlp"])
@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w.name)
def test_workload(benchmark, datasets, workload, library):
    X, y, X_test, y_test = datasets(workload)
    cls = estimator_class(library, workload.estimator)
    params = workload.estimator_params(True)
    benchmark.group = workload.name
    model = _quiet(cls(**params).fit, X, y)  # also compiles fastmlp's kernels
    if workload.task == "fit":
        benchmark.pedantic(lambda: _quiet(cls(**params).fit, X, y), rounds=3, iterations=1)
    elif workload.task == "predict_one":
        x = X_test[:1]
        benchmark(model.predict, x)
    else:
        benchmark(model.predict_proba, X_test)
