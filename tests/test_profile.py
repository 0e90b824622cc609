import numpy as np
import pytest
import scipy.sparse as sp

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp._profile import PHASES, epoch_phases


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
