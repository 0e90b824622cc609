"""Shared asv machinery: every benchmark reads fastmlp's workload table.

Each class is parametrised over the library (``"sklearn"``, ``"fastmlp"``) and
the workload name, so asv shows the two libraries side by side. Workloads run
at their ``quick`` sizes to keep a full asv run affordable on 2 cores; the
CLI (``python -m fastmlp bench``) runs the full sizes.
"""

import warnings

from sklearn.exceptions import ConvergenceWarning

from fastmlp._workloads import BY_NAME, estimator_class

LIBRARIES = ["sklearn", "fastmlp"]
QUICK = True


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kwargs)


class _WorkloadBenchmark:
    """Base (asv skips names with a leading underscore): ``setup`` makes the workload's data and a fitted model."""

    workloads = []
    params = None
    param_names = ["library", "workload"]
    timeout = 300

    def setup(self, library, workload):
        self.workload = BY_NAME[workload]
        self.X, self.y, self.X_test, self.y_test = self.workload.data(QUICK)
        self.cls = estimator_class(library, self.workload.estimator)
        self.est_params = self.workload.estimator_params(QUICK)
        # Fitting once here also compiles (or loads) fastmlp's kernels, so
        # that compile time never lands inside a timed fit.
        self.model = quiet(self.cls(**self.est_params).fit, self.X, self.y)

    def time_fit(self, library, workload):
        quiet(self.cls(**self.est_params).fit, self.X, self.y)

    def peakmem_fit(self, library, workload):
        quiet(self.cls(**self.est_params).fit, self.X, self.y)

    def track_test_score(self, library, workload):
        if self.workload.estimator == "BernoulliRBM":
            return float(self.model.score_samples(self.X_test).mean())
        return float(self.model.score(self.X_test, self.y_test))


def parametrise(cls):
    cls.params = [LIBRARIES, cls.workloads]
    return cls
