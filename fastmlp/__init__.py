"""fastmlp: scikit-learn's neural networks, trained by Numba-compiled kernels.

The public names are imported on first use (PEP 562), so that ``import
fastmlp`` costs what a package of a version string costs: the estimators'
modules import Numba and define the kernels (about a second on a 2-core
machine), which a script that only imports fastmlp, or only asks its
version, should not pay.
"""

import importlib

__version__ = "0.1.0"

# public name -> module (relative to this package) that defines it
_EXPORTS = {
    "MLPClassifier": "._mlp",
    "MLPRegressor": "._mlp",
    "BernoulliRBM": "._rbm",
    "from_sklearn": ".convert",
    "patch_sklearn": ".patching",
    "unpatch_sklearn": ".patching",
    "sklearn_patched": ".patching",
    "is_patched": ".patching",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups do not come here
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
