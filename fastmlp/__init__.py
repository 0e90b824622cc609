"""fastmlp: scikit-learn's neural networks, trained by Numba-compiled kernels."""

__version__ = "0.1.0"

from ._mlp import MLPClassifier, MLPRegressor  # noqa: E402
from ._rbm import BernoulliRBM  # noqa: E402
from .convert import from_sklearn  # noqa: E402
from .patching import (  # noqa: E402
    is_patched,
    patch_sklearn,
    sklearn_patched,
    unpatch_sklearn,
)

__all__ = ["MLPClassifier", "MLPRegressor", "BernoulliRBM", "from_sklearn", "patch_sklearn",
           "unpatch_sklearn", "sklearn_patched", "is_patched"]
