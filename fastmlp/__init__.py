"""fastmlp: scikit-learn's neural networks, trained by Numba-compiled kernels."""

__version__ = "0.1.0"

from ._mlp import MLPClassifier, MLPRegressor  # noqa: E402
from ._rbm import BernoulliRBM  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor", "BernoulliRBM"]
