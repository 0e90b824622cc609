"""fastmlp on Dask (``pip install "fastmlp[dask]"``).

* ``MLPClassifier(solver="lbfgs").fit(X, y)`` and the regressor's, with a
  ``dask.array`` or Dask DataFrame ``X``, train by full-batch L-BFGS where
  the blocks live (:mod:`fastmlp.dask._lbfgs`); this subpackage is imported
  only then.
* The stochastic solvers and the RBM stream through
  ``dask_ml.wrappers.Incremental`` (``partial_fit`` block by block), and
  predict in parallel through ``dask_ml.wrappers.ParallelPostFit``: both
  take fastmlp's estimators as they are.
* :func:`warm_up` fills Numba's cache once per machine before many fresh
  worker processes start (see :mod:`fastmlp.dask._workers`).
"""

from ._lbfgs import fit_blocks
from ._workers import warm_up, warm_up_workers

__all__ = ["fit_blocks", "warm_up", "warm_up_workers"]
