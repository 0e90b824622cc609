"""scikit-learn 1.9's callback API (sklearn.callback) on fastmlp's estimators."""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp

callback = pytest.importorskip("sklearn.callback")


class Recorder:
    """A FitCallback that records every hook call (the protocol, implemented for real)."""

    def __init__(self, stop_after=None):
        self.events = []
        self.stop_after = stop_after

    def setup(self, estimator, context):
        self.events.append(("setup", None, None))

    def teardown(self, estimator, context):
        self.events.append(("teardown", None, None))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None,
                          fitted_estimator=None):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None,
                        fitted_estimator=None):
        score = None
        if fitted_estimator is not None and X is not None:
            score = accuracy_score(y, fitted_estimator.predict(X)) if hasattr(
                fitted_estimator, "classes_") else None
        self.events.append(("end", context.task_name, context.task_id, score, metadata))
        ends = sum(1 for e in self.events if e[0] == "end" and e[1] == "epoch")
        return self.stop_after is not None and ends >= self.stop_after


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


PARAMS = dict(hidden_layer_sizes=(10,), max_iter=5, random_state=0)


def test_one_task_per_epoch_and_the_model_of_each_epoch(digits):
    X, y = digits
    rec = Recorder()
    est = quiet(fastmlp.MLPClassifier(**PARAMS).set_callbacks(rec).fit, X, y,
                sample_weight=np.ones(len(y)))
    kinds = [e[:3] for e in rec.events]
    assert kinds[0] == ("setup", None, None) and kinds[-1] == ("teardown", None, None)
    assert kinds[1] == ("begin", "fit", 0) and kinds[-2][:2] == ("end", "fit")
    epochs = [e for e in rec.events if e[1] == "epoch"]
    assert [e[0] for e in epochs] == ["begin", "end"] * 5
    assert [e[2] for e in epochs if e[0] == "end"] == list(range(5))
    # Each epoch's fitted_estimator predicts as a fit stopped after that epoch.
    for i, e in enumerate(e for e in epochs if e[0] == "end"):
        ref = quiet(fastmlp.MLPClassifier(**dict(PARAMS, max_iter=i + 1)).fit, X, y)
        assert e[3] == accuracy_score(y, ref.predict(X))
        assert e[4] is not None and "sample_weight" in e[4]
    # And the callbacks change nothing of the model.
    plain = quiet(fastmlp.MLPClassifier(**PARAMS).fit, X, y)
    for a, b in zip(est.coefs_, plain.coefs_):
        np.testing.assert_array_equal(a, b)


def test_a_callback_stops_the_fit(digits):
    X, y = digits
    est = quiet(fastmlp.MLPClassifier(**dict(PARAMS, max_iter=50))
                .set_callbacks(Recorder(stop_after=3)).fit, X, y)
    assert est.n_iter_ == 3


def test_lbfgs_one_task_per_iteration(digits):
    X, y = digits
    rec = Recorder()
    est = quiet(fastmlp.MLPClassifier(**dict(PARAMS, solver="lbfgs", max_iter=6))
                .set_callbacks(rec).fit, X, y)
    iters = [e for e in rec.events if e[1] == "lbfgs-iter" and e[0] == "end"]
    # One per iteration, and the empty one left over at the end.
    assert len(iters) == est.n_iter_ + 1
    assert iters[-1][3] is None
    plain = quiet(fastmlp.MLPClassifier(**dict(PARAMS, solver="lbfgs", max_iter=6)).fit, X, y)
    for a, b in zip(est.coefs_, plain.coefs_):
        np.testing.assert_array_equal(a, b)
    # The last iteration's model is the fitted one.
    assert iters[-2][3] == accuracy_score(y, est.predict(X))


def test_rbm_one_task_per_epoch(digits):
    X, _ = digits
    rec = Recorder()
    fastmlp.BernoulliRBM(n_components=8, n_iter=4, random_state=0).set_callbacks(rec).fit(X)
    epochs = [e for e in rec.events if e[1] == "epoch" and e[0] == "end"]
    assert len(epochs) == 4


def test_scoring_monitor_in_a_pipeline(digits):
    X, y = digits
    monitor = callback.ScoringMonitor(scoring="accuracy")
    clf = fastmlp.MLPClassifier(**PARAMS).set_callbacks(monitor)
    pipe = make_pipeline(StandardScaler(), clf)
    quiet(pipe.fit, X, y)
    rows = [r for r in monitor.get_logs().data if r["task_name"] == "epoch"]
    assert len(rows) == 5
    Xs = StandardScaler().fit_transform(X)
    last = quiet(fastmlp.MLPClassifier(**PARAMS).fit, Xs, y)
    assert rows[-1]["accuracy"] == pytest.approx(accuracy_score(y, last.predict(Xs)))


def test_progress_bar_in_grid_search(digits, capsys):
    pytest.importorskip("rich")
    X, y = digits
    search = GridSearchCV(fastmlp.MLPClassifier(**PARAMS), {"alpha": [1e-4, 1e-2]}, cv=2)
    search.set_callbacks(callback.ProgressBar(max_propagation_depth=None))
    quiet(search.fit, X, y)
    out = capsys.readouterr().out
    assert re.search(r"MLPClassifier - fit", out)
    assert re.search(r"100%", out)


def test_progress_bar_on_the_estimator(digits, capsys):
    pytest.importorskip("rich")
    X, y = digits
    clf = fastmlp.MLPRegressor(**PARAMS).set_callbacks(callback.ProgressBar())
    quiet(clf.fit, X, y.astype(float))
    out = capsys.readouterr().out
    assert re.search(r"MLPRegressor - fit", out) and re.search(r"100%", out)


def test_no_callbacks_no_context(digits):
    X, y = digits
    est = quiet(fastmlp.MLPClassifier(**PARAMS).fit, X, y)
    assert not hasattr(est, "_callback_fit_ctx")
    assert not hasattr(est, "_skl_callbacks")
