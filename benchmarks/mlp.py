"""asv benchmarks of MLPClassifier and MLPRegressor (workloads of fastmlp._workloads)."""

from .common import _WorkloadBenchmark, parametrise


@parametrise
class MLPTraining(_WorkloadBenchmark):
    workloads = ["digits_adam", "digits_lbfgs", "mnist_f64", "mnist_f32", "deep_f32",
                 "sparse_csr", "regressor"]

    def time_predict(self, library, workload):
        self.model.predict(self.X_test)


@parametrise
class MLPPrediction(_WorkloadBenchmark):
    workloads = ["predict_one", "predict_one_784", "predict_proba_54k"]

    def time_predict_one_row(self, library, workload):
        self.model.predict(self.X_test[:1])

    def time_predict_proba(self, library, workload):
        self.model.predict_proba(self.X_test)
