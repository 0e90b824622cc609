"""Conversion between fastmlp's estimators and scikit-learn's, both ways.

``est.to_sklearn()`` gives the scikit-learn estimator of the same class name
with the same parameters and fitted state; :func:`from_sklearn` does the
reverse. The state carried includes what training needs to go on exactly
as it would have: the optimizer's moments (SGD velocities, Adam's ``ms``,
``vs`` and step count), its current learning rate, the early-stopping
bookkeeping and the random state. The result holds no reference to the
source (every array is copied), and a ``to_sklearn()`` result pickles with
no trace of fastmlp.

The two libraries keep the same state in different shapes:

* scikit-learn keeps ``coefs_``/``intercepts_`` as separate arrays, the best
  parameters seen as ``_best_coefs``/``_best_intercepts``, and its optimizer
  as an ``SGDOptimizer``/``AdamOptimizer`` holding one array a layer;
* fastmlp keeps every parameter in one flat vector (``coefs_`` then
  ``intercepts_``, layer by layer: scikit-learn's order of ``params``), the
  best ones as ``_best_theta`` and its optimizer as a dict of flat vectors
  (see :mod:`fastmlp._optimizers`).
"""

import copy

import numpy as np

from ._optimizers import ADAM, BETA_1, BETA_2, EPSILON, LR, MOMENTUM, N_HYPER, NESTEROV, SGD

# Fitted attributes translated, not copied (the parameters, and what only
# one side has).
_FASTMLP_ONLY = ("coefs_", "intercepts_", "_theta", "_units", "_coef_ptr", "_icpt_ptr",
                 "_best_theta", "_optimizer")
_SKLEARN_ONLY = ("coefs_", "intercepts_", "_best_coefs", "_best_intercepts", "_coef_indptr",
                 "_intercept_indptr", "_optimizer")


class SklearnConvertible:
    """Mixin giving a fastmlp estimator its :meth:`to_sklearn`."""

    def to_sklearn(self):
        """The equivalent scikit-learn estimator: same parameters, same fitted state.

        Returns
        -------
        estimator : sklearn.neural_network estimator
            A new estimator of scikit-learn's class of the same name, whose
            predictions equal this one's and which trains on from here
            (``partial_fit``, ``warm_start``) as this one would. It shares no
            array with ``self``, and its pickle needs only scikit-learn.
        """
        return to_sklearn(self)


def _fitted_state(est, skip):
    """A deep copy of ``est``'s attributes that are not parameters, less ``skip``."""
    params = est.get_params(deep=False)
    return {k: copy.deepcopy(v) for k, v in vars(est).items()
            if k not in params and k not in skip}


def _split(flat, shapes):
    """``flat`` cut into fresh arrays of ``shapes`` (consecutive, C order)."""
    parts, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        parts.append(flat[start : start + size].reshape(shape).copy())
        start += size
    return parts


def _param_shapes(est):
    return [c.shape for c in est.coefs_] + [b.shape for b in est.intercepts_]


def _sklearn_optimizer(est, opt):
    """scikit-learn's optimizer object holding the state of fastmlp's ``opt`` dict."""
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

    shapes = _param_shapes(est)
    params = est.coefs_ + est.intercepts_
    hyper = opt["hyper"]
    if opt["solver"] == SGD:
        new = SGDOptimizer(params, est.learning_rate_init, est.learning_rate,
                           float(hyper[MOMENTUM]), bool(hyper[NESTEROV]), est.power_t)
        new.velocities = _split(opt["state1"], shapes)
        # The rate now in force (after invscaling or adaptive divisions).
        new.learning_rate = float(hyper[LR])
        return new
    new = AdamOptimizer(params, float(hyper[LR]), float(hyper[BETA_1]),
                        float(hyper[BETA_2]), float(hyper[EPSILON]))
    new.ms = _split(opt["state1"], shapes)
    new.vs = _split(opt["state2"], shapes)
    new.t = int(opt["t"])
    if new.t:
        # What scikit-learn's last step left there (each step recomputes it).
        new.learning_rate = (new.learning_rate_init * np.sqrt(1 - new.beta_2**new.t)
                             / (1 - new.beta_1**new.t))
    return new


def _fastmlp_optimizer(est, opt, dtype):
    """fastmlp's optimizer dict holding the state of scikit-learn's ``opt``."""
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

    def flat(arrays):
        return np.concatenate([np.ravel(a) for a in arrays]).astype(dtype)

    hyper = np.zeros(N_HYPER)
    hyper[BETA_1], hyper[BETA_2], hyper[EPSILON] = est.beta_1, est.beta_2, est.epsilon
    hyper[MOMENTUM], hyper[NESTEROV] = est.momentum, float(est.nesterovs_momentum)
    if isinstance(opt, SGDOptimizer):
        hyper[LR], hyper[MOMENTUM], hyper[NESTEROV] = (
            opt.learning_rate, opt.momentum, float(opt.nesterov))
        state1 = flat(opt.velocities)
        return {"solver": SGD, "state1": state1, "state2": state1[:0].copy(),
                "hyper": hyper, "t": 0}
    if isinstance(opt, AdamOptimizer):
        hyper[LR], hyper[BETA_1], hyper[BETA_2], hyper[EPSILON] = (
            opt.learning_rate_init, opt.beta_1, opt.beta_2, opt.epsilon)
        return {"solver": ADAM, "state1": flat(opt.ms), "state2": flat(opt.vs),
                "hyper": hyper, "t": int(opt.t)}
    raise TypeError("unknown scikit-learn optimizer %r" % type(opt).__name__)


def _mlp_to_sklearn(est, new):
    state = _fitted_state(est, _FASTMLP_ONLY)
    if "coefs_" in vars(est):
        est._params()  # coefs_/intercepts_ and the flat vector agree
        shapes = _param_shapes(est)
        n_coefs = len(est.coefs_)
        parts = _split(est._theta, shapes)
        state["coefs_"], state["intercepts_"] = parts[:n_coefs], parts[n_coefs:]
        best = getattr(est, "_best_theta", None)
        if best is not None and best.shape == est._theta.shape:
            best = _split(best, shapes)
            state["_best_coefs"], state["_best_intercepts"] = best[:n_coefs], best[n_coefs:]
        opt = getattr(est, "_optimizer", None)
        if opt is not None:
            state["_optimizer"] = _sklearn_optimizer(est, opt)
    vars(new).update(state)


def _mlp_from_sklearn(est, new):
    vars(new).update(_fitted_state(est, _SKLEARN_ONLY))
    if "coefs_" not in vars(est):
        return
    new.coefs_ = [np.array(c) for c in est.coefs_]
    new.intercepts_ = [np.array(b) for b in est.intercepts_]
    theta = new._params()  # packs the flat vector, and binds coefs_/intercepts_ to it
    best = getattr(est, "_best_coefs", None)
    if best is not None:
        parts = list(best) + list(est._best_intercepts)
        new._best_theta = np.concatenate([np.ravel(p) for p in parts]).astype(theta.dtype)
    else:
        new._best_theta = theta.copy()
    opt = getattr(est, "_optimizer", None)
    if opt is not None:
        new._optimizer = _fastmlp_optimizer(est, opt, theta.dtype)


def _convert(est, to_sklearn):
    """``est`` as the other library's estimator of the same class name."""
    import fastmlp

    from .patching import ESTIMATORS, sklearn_class

    name = type(est).__name__
    pair = (getattr(fastmlp, name), sklearn_class(name)) if name in ESTIMATORS else None
    if pair is None or not isinstance(est, pair[0 if to_sklearn else 1]):
        raise TypeError(
            "expected %s MLPClassifier, MLPRegressor or BernoulliRBM, got %s.%s"
            % ("a fastmlp" if to_sklearn else "a scikit-learn",
               type(est).__module__, type(est).__qualname__))
    target_cls = pair[1 if to_sklearn else 0]
    new = target_cls(**_target_params(est, target_cls))
    if name == "BernoulliRBM":
        # The two RBMs hold the same attributes in the same layouts.
        vars(new).update(_fitted_state(est, ()))
    elif to_sklearn:
        _mlp_to_sklearn(est, new)
    else:
        _mlp_from_sklearn(est, new)
    return new


def _target_params(est, target_cls):
    """``est``'s parameters for ``target_cls``, less fastmlp's own options left at their defaults.

    fastmlp's options beyond scikit-learn (``class_weight``, ``huber_delta`` ...)
    default to scikit-learn's behaviour; one set otherwise, or a value
    scikit-learn does not know (``activation="gelu"``), has no equivalent, and
    converting would give a model that predicts otherwise: that raises.
    """
    import inspect

    params = est.get_params(deep=False)
    known = inspect.signature(target_cls).parameters
    theirs = {k: v for k, v in params.items() if k in known}
    defaults = inspect.signature(type(est)).parameters
    changed = sorted(k for k, v in params.items()
                     if k not in known and v is not defaults[k].default
                     and not _equal(v, defaults[k].default))
    if changed:
        raise ValueError(
            "%s has no scikit-learn equivalent with %s; set %s back to the default "
            "before converting." % (type(est).__name__,
                                    ", ".join("%s=%r" % (k, params[k]) for k in changed),
                                    " and ".join(changed)))
    new = target_cls(**theirs)
    # Values that only fastmlp accepts (activation="gelu", loss="huber").
    new._validate_params()
    return theirs


def _equal(a, b):
    try:
        return bool(a == b)
    except Exception:
        return False


def to_sklearn(est):
    """scikit-learn's equivalent of the fastmlp estimator ``est``.

    Parameters
    ----------
    est : fastmlp.MLPClassifier, fastmlp.MLPRegressor or fastmlp.BernoulliRBM
        Fitted or not.

    Returns
    -------
    estimator : sklearn.neural_network estimator
        See :meth:`SklearnConvertible.to_sklearn`. The class is always
        scikit-learn's own, even while :func:`fastmlp.patch_sklearn` is in force.
    """
    return _convert(est, to_sklearn=True)


def from_sklearn(est):
    """fastmlp's equivalent of the scikit-learn estimator ``est``.

    Parameters
    ----------
    est : sklearn.neural_network.MLPClassifier, MLPRegressor or BernoulliRBM
        Fitted or not.

    Returns
    -------
    estimator : fastmlp.MLPClassifier, fastmlp.MLPRegressor or fastmlp.BernoulliRBM
        A new estimator with the same parameters and fitted state, whose
        predictions equal ``est``'s and whose further training (``partial_fit``,
        ``warm_start``) follows the same loss curve as ``est``'s would: the
        optimizer's state is carried over. It shares no array with ``est``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPRegressor
    >>> import fastmlp
    >>> X, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
    >>> sk = MLPRegressor(max_iter=5, random_state=0).partial_fit(X, y)
    >>> fast = fastmlp.from_sklearn(sk)
    >>> bool(np.allclose(fast.predict(X), sk.predict(X), rtol=1e-12))
    True
    """
    return _convert(est, to_sklearn=False)
