import numpy as np
import pytest
import scipy.sparse as sp

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp._profile import PHASES, epoch_phases, floor_epoch_runner, time_best


@pytest.mark.parametrize("sparse", [False, True])
def test_epoch_phases_account_for_the_epoch(sparse):
    rng = np.random.RandomState(0)
    X = rng.rand(600, 30)
    y = rng.randint(3, size=600)
    if sparse:
        X = sp.csr_matrix(X * (X > 0.7))
    phases = epoch_phases(MLPClassifier(hidden_layer_sizes=(20,)), X, y, repeats=2)
    assert set(phases) == set(PHASES) | {"total"}
    assert all(v >= 0 for v in phases.values())
    assert phases["total"] > 0
    # Each phase is a difference of prefixes of the total, so they cannot exceed it
    # by more than the clipping of noise-driven negative differences allows.
    assert sum(phases[p] for p in PHASES) >= phases["total"] * 0.999


def test_epoch_phases_regressor_and_solver_check():
    rng = np.random.RandomState(1)
    X, y = rng.rand(300, 5), rng.rand(300)
    assert epoch_phases(MLPRegressor(hidden_layer_sizes=(8,), solver="sgd"), X, y)["total"] > 0
    with pytest.raises(ValueError, match="solver"):
        epoch_phases(MLPRegressor(solver="lbfgs"), X, y)


def test_epoch_phases_times_other_work_in_the_same_rounds():
    rng = np.random.RandomState(2)
    X, y = rng.rand(300, 6), rng.randint(2, size=300)
    calls = []
    phases = epoch_phases(MLPClassifier(hidden_layer_sizes=(5,)), X, y, repeats=3,
                          also={"floor": floor_epoch_runner([6, 5, 1], 300, 200),
                                "count": lambda: calls.append(1)})
    assert set(phases) == set(PHASES) | {"total", "floor", "count"}
    assert len(calls) == 3  # once per round
    assert 0 < phases["floor"] < 1.0


def test_time_best_keeps_the_fastest_call_within_its_budget(monkeypatch):
    import fastmlp._profile as P

    calls = []
    durations = iter([0.02, 0.005, 0.01, 0.0, 0.0])
    monkeypatch.setattr(P, "time_once", lambda work: (calls.append(1), next(durations))[1])
    assert time_best(None, budget_s=0.03, max_calls=5) == 0.005
    assert len(calls) == 3  # 0.02 + 0.005 + 0.01 passes the 0.03 s budget
    durations = iter([0.0] * 10)
    calls.clear()
    assert time_best(None, budget_s=1.0, max_calls=4) == 0.0
    assert len(calls) == 4  # never more than max_calls
