"""ONNX export of fastmlp's estimators through skl2onnx (``pip install 'fastmlp[onnx]'``).

Importing this subpackage registers fastmlp's ``MLPClassifier``,
``MLPRegressor`` and ``BernoulliRBM`` with skl2onnx, which looks converters
up by exact class and so does not know them otherwise::

    import fastmlp.onnx  # noqa: F401  (registers the converters)
    from skl2onnx import to_onnx
    onx = to_onnx(model, X[:1], options={"zipmap": False})

The converters are fastmlp's own (:mod:`fastmlp.onnx._converters`), on
skl2onnx's parser, ZipMap and options; skl2onnx's own MLP converter gets
several cases wrong that these get right (multi-output regression,
``loss='poisson'``, multilabel with two labels: see the README).
"""

from ._converters import register

register()

__all__ = ["register"]
