"""asv benchmarks of BernoulliRBM (workloads of fastmlp._workloads)."""

from .common import _WorkloadBenchmark, parametrise


@parametrise
class RBMTraining(_WorkloadBenchmark):
    workloads = ["rbm_digits", "rbm_batch10", "rbm_batch100"]

    def time_transform(self, library, workload):
        self.model.transform(self.X_test)
