"""The cases of the differential bad-input suite, runnable on either library.

Each function takes ``lib`` ("sklearn" or "fastmlp") first and is called by
:func:`differential.outcome`, in the test process for scikit-learn and in
the worker for fastmlp; everything else it takes is plain data, so a case
pickles to the worker as a name and its arguments.
"""

import copy
import warnings

import numpy as np

from differential import estimator

# The fitted state that must agree after a sequence of calls.
MLP_STATE = ("coefs_", "intercepts_", "n_iter_", "t_", "loss_curve_", "classes_",
             "n_outputs_", "out_activation_", "n_features_in_", "best_loss_",
             "validation_scores_")
RBM_STATE = ("components_", "intercept_hidden_", "intercept_visible_", "h_samples_",
             "n_features_in_")


def _state(est):
    names = RBM_STATE if type(est).__name__ == "BernoulliRBM" else MLP_STATE
    out = {}
    for name in names:
        if hasattr(est, name):
            value = getattr(est, name)
            if isinstance(value, np.ndarray) and value.dtype.kind not in "fc":
                value = value.tolist()
            out[name] = value
    return out


def _value(est, method, result):
    # scikit-learn's BernoulliRBM.partial_fit returns None (its docstring
    # says self, as fastmlp's returns).
    if result is est or (method == "partial_fit" and result is None):
        return "self"
    if isinstance(result, np.ndarray) or not hasattr(result, "toarray"):
        return result
    return ("sparse", result.toarray())


def steps(lib, name, params, calls, state=True):
    """Build ``name(**params)``, run ``calls`` on it, return each call's result.

    ``calls`` is a list of ``(method, args, kwargs)``; the result is the
    list of the calls' return values (``"self"`` for the estimator itself)
    and, with ``state``, the fitted attributes after the last call.
    """
    est = estimator(lib, name, **params)
    results = [_value(est, method, getattr(est, method)(*args, **kwargs))
               for method, args, kwargs in calls]
    if state:
        results.append(_state(est))
    return results


def failed_fit_keeps_state(lib, name, params, good, bad):
    """Fit on ``good``, then a fit on ``bad`` that must raise; return the state after it.

    Only fastmlp promises that the failed call leaves the model as it was
    (scikit-learn may leave it half-changed), so this runs for fastmlp alone.
    """
    est = estimator(lib, name, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(est, good[0])(*good[1], **good[2])
    # A copy: the fitted arrays are updated in place while training.
    before = copy.deepcopy(_state(est))
    try:
        getattr(est, bad[0])(*bad[1], **bad[2])
    except Exception as exc:  # noqa: BLE001 - any error; compared by the test
        return {"raised": type(exc).__name__, "before": before, "after": _state(est)}
    return {"raised": None, "before": before, "after": _state(est)}
