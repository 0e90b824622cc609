"""Differential bad-input suite: every case on scikit-learn and on fastmlp.

Each case runs on scikit-learn's estimator here and on fastmlp's in a worker
process (tests/differential.py), so a crash fails its test and the run goes
on. The outcomes must agree: the same exception type (fastmlp's message
non-empty and not from inside compiled code), or equal results, dtypes,
fitted attributes and warning categories. Cases where fastmlp deliberately
differs (README, "Where fastmlp deliberately differs") are listed in
DELIBERATE with what fastmlp does instead.
"""

import collections

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bad_input_cases as C
from differential import Worker, compare, outcome

CLF, REG, RBM = "MLPClassifier", "MLPRegressor", "BernoulliRBM"
MLP_FAST = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
RBM_FAST = dict(n_components=3, n_iter=2, batch_size=10, random_state=0)

_rng = np.random.RandomState(0)
X = _rng.rand(30, 4)
Y_CLF = np.arange(30) % 3
Y_BIN = np.arange(30) % 2
Y_REG = _rng.randn(30)
SW = _rng.rand(30) + 0.5


def fit_args(name):
    return (X, Y_REG) if name == REG else (X,) if name == RBM else (X, Y_CLF)


def params(name, **extra):
    return {**(RBM_FAST if name == RBM else MLP_FAST), **extra}


def call(method, *args, **kwargs):
    return (method, args, kwargs)


# Every case: (id, category, name, params, calls, options). options may set
# rtol/atol or same_message (the exact text must match scikit-learn's).
CASES = []


def case(category, ident, name, prm, calls, **options):
    CASES.append((ident, category, name, prm, calls, options))


def tol32(*arrays):
    """Tolerances for a case whose inputs include float32 arrays."""
    if any(getattr(a, "dtype", None) == np.float32 for a in arrays):
        return dict(rtol=2e-4, atol=1e-5)
    return {}


def containers(A):
    """``A`` as dense float64, dense float32 and CSR (float64)."""
    return {"f64": A, "f32": A.astype(np.float32), "csr": sp.csr_matrix(A)}


# --- NaN and infinity in X, y, sample_weight -----------------------------
for bad in ("nan", "inf", "-inf"):
    v = float(bad)
    Xb = X.copy()
    Xb[3, 1] = v
    for kind, A in containers(Xb).items():
        for name in (CLF, REG, RBM):
            y = fit_args(name)[1:]
            case("nan_inf", f"fit-X-{bad}-{kind}-{name}", name, params(name),
                 [call("fit", A, *y)])
            case("nan_inf", f"partial_fit-X-{bad}-{kind}-{name}", name,
                 params(name), [call("partial_fit", A, *y,
                                     **({"classes": [0, 1, 2]} if name == CLF else {}))])
            if name == RBM:
                methods = ("transform", "score_samples", "gibbs")
            elif name == CLF:
                methods = ("predict", "predict_proba", "predict_log_proba", "score")
            else:
                methods = ("predict", "score")
            for m in methods:
                args = (A, Y_CLF if name == CLF else Y_REG) if m == "score" else (A,)
                case("nan_inf", f"{m}-X-{bad}-{kind}-{name}", name, params(name),
                     [call("fit", *fit_args(name)), call(m, *args)], state=False)
    for name in (CLF, REG):
        yb = (Y_REG if name == REG else Y_CLF).astype(float)
        yb[4] = v
        case("nan_inf", f"fit-y-{bad}-{name}", name, params(name), [call("fit", X, yb)])
        swb = SW.copy()
        swb[5] = v
        for kind, A in containers(X).items():
            case("nan_inf", f"fit-sw-{bad}-{kind}-{name}", name, params(name),
                 [call("fit", A, fit_args(name)[1], sample_weight=swb)], **tol32(A))
        case("nan_inf", f"lbfgs-fit-X-{bad}-{name}", name, params(name, solver="lbfgs"),
             [call("fit", Xb, fit_args(name)[1])])

# --- shapes -----------------------------------------------------------------
SHAPES = {
    "1d": X[:, 0],
    "3d": X.reshape(30, 2, 2),
    "no-rows": X[:0],
    "no-columns": X[:, :0],
    "scalar": 1.5,
    "none": None,
    "list": X.tolist(),
    "one-row": X[:1],
    "fortran": np.asfortranarray(X),
    "strided": X[::2],
    "csc": sp.csc_matrix(X),
    "coo": sp.coo_matrix(X),
}
WRONG_WIDTH = {"wider": np.hstack([X, X[:, :1]]), "narrower": X[:, :3],
               "wider-csr": sp.csr_matrix(np.hstack([X, X[:, :1]])),
               "narrower-csr": sp.csr_matrix(X[:, :3]), "1d-wrong": X[:3, 0]}
for name in (CLF, REG, RBM):
    methods = {CLF: ("predict", "predict_proba"), REG: ("predict",),
               RBM: ("transform", "score_samples", "gibbs")}[name]
    for label, A in SHAPES.items():
        rows = {"no-rows": slice(0), "one-row": slice(1), "strided": slice(None, None, 2)}
        yy = tuple(t[rows.get(label, slice(None))] for t in fit_args(name)[1:])
        case("shapes", f"fit-{label}-{name}", name, params(name), [call("fit", A, *yy)])
        for m in methods:
            case("shapes", f"{m}-{label}-{name}", name, params(name),
                 [call("fit", *fit_args(name)), call(m, A)], state=False)
    for label, A in WRONG_WIDTH.items():
        for m in methods + ("partial_fit",):
            extra = () if name == RBM or m != "partial_fit" else (fit_args(name)[1][:A.shape[0]],)
            case("shapes", f"{m}-{label}-{name}", name, params(name),
                 [call("fit", *fit_args(name)), call(m, A, *extra)], state=False)
    if name != RBM:
        y = fit_args(name)[1]
        for label, yy in {"y-short": y[:-1], "y-long": np.r_[y, y[:1]], "y-empty": y[:0],
                          "y-3d": y.reshape(30, 1, 1), "y-2d-col": y.reshape(-1, 1),
                          "y-none": None, "y-scalar": 1}.items():
            case("shapes", f"fit-{label}-{name}", name, params(name), [call("fit", X, yy)])
        for label, sw in {"sw-short": SW[:-1], "sw-2d": SW.reshape(-1, 1),
                          "sw-scalar": 2.0, "sw-negative": -SW, "sw-zeros": 0 * SW}.items():
            case("shapes", f"fit-{label}-{name}", name, params(name),
                 [call("fit", X, y, sample_weight=sw)])

# --- dtypes -----------------------------------------------------------------
DTYPES = {
    "object-num": X.astype(object),
    "object-str": np.array([["a"] * 4] * 30, dtype=object),
    "str": np.array([["1.5"] * 4] * 30),
    "bool": X > 0.5,
    "int8": (X * 10).astype(np.int8),
    "int64": (X * 10).astype(np.int64),
    "uint8": (X * 10).astype(np.uint8),
    "complex": X.astype(complex),
    "float16": X.astype(np.float16),
    "float32": X.astype(np.float32),
    "longdouble": X.astype(np.longdouble),
}
for name in (CLF, REG, RBM):
    methods = {CLF: ("predict", "predict_proba"), REG: ("predict",),
               RBM: ("transform", "score_samples", "gibbs")}[name]
    for label, A in DTYPES.items():
        tol = tol32(A) if label != "float16" else dict(rtol=2e-4, atol=1e-5)
        case("dtypes", f"fit-{label}-{name}", name, params(name),
             [call("fit", A, *fit_args(name)[1:])], **tol)
        for m in methods:
            case("dtypes", f"{m}-{label}-{name}", name, params(name),
                 [call("fit", *fit_args(name)), call(m, A)], state=False)
            case("dtypes", f"{m}-{label}-f32model-{name}", name, params(name),
                 [call("fit", X.astype(np.float32), *fit_args(name)[1:]), call(m, A)],
                 state=False, rtol=2e-4, atol=1e-5)
    if name != RBM:
        y = fit_args(name)[1]
        ys = {"y-str": np.array(["a", "b", "c"])[Y_CLF], "y-object": Y_CLF.astype(object),
              "y-bool": Y_BIN.astype(bool), "y-float16": y.astype(np.float16),
              "y-complex": y.astype(complex), "y-float32": y.astype(np.float32),
              "y-object-str": np.array(["a", "b", "c"], dtype=object)[Y_CLF],
              "y-mixed": np.array([1, "a"] * 15, dtype=object)}
        for label, yy in ys.items():
            case("dtypes", f"fit-{label}-{name}", name, params(name), [call("fit", X, yy)])
        case("dtypes", f"fit-sw-int-{name}", name, params(name),
             [call("fit", X, y, sample_weight=np.ones(30, dtype=int))])
        case("dtypes", f"fit-sw-str-{name}", name, params(name),
             [call("fit", X, y, sample_weight=np.array(["1"] * 30))])

# --- invalid constructor values (scikit-learn's exact message) ------------
BAD_VALUES = {
    "hidden_layer_sizes": [0, -1, (5, 0), "a", 2.5, None],
    "activation": ["softmax", "Relu", None, 1],
    "solver": ["newton", 1, None],
    "alpha": [-1.0, "x", None],
    "batch_size": [0, -5, "big", 2.5, None],
    "learning_rate": ["fast", None],
    "learning_rate_init": [0.0, -1.0, "x"],
    "power_t": [-0.5, "x"],
    "max_iter": [0, -1, 1.5, None],
    "shuffle": ["yes", 2],
    "random_state": ["seed", 1.5],
    "tol": [-1e-3, "x"],
    "verbose": ["loud"],
    "warm_start": ["yes"],
    "momentum": [-0.1, 1.1],
    "nesterovs_momentum": [2],
    "early_stopping": ["no"],
    "validation_fraction": [1.0, -0.1, "x"],
    "beta_1": [1.0, -0.1],
    "beta_2": [1.0, 1.5],
    "epsilon": [0.0, -1.0],
    "n_iter_no_change": [0, -1, 1.5],
    "max_fun": [0, 2.5],
    "loss": ["quantile", None],
}
# Parameters whose options fastmlp extends (README "Beyond scikit-learn"):
# scikit-learn's error type, but the message lists the extra options.
EXTENDED_OPTIONS = ("activation", "loss")
RBM_BAD_VALUES = {
    "n_components": [0, -1, 2.5, None],
    "learning_rate": [0.0, -1.0, "x"],
    "batch_size": [0, 2.5],
    "n_iter": [-1, 1.5],
    "verbose": ["loud"],
    "random_state": ["seed"],
}
for name in (CLF, REG):
    for param, values in BAD_VALUES.items():
        if param == "loss" and name == CLF:
            continue
        for value in values:
            case("invalid_params", f"{param}={value!r}-{name}", name,
                 params(name, **{param: value}), [call("fit", *fit_args(name))],
                 same_message=param not in EXTENDED_OPTIONS)
for param, values in RBM_BAD_VALUES.items():
    for value in values:
        for m in ("fit", "partial_fit"):
            case("invalid_params", f"{m}-{param}={value!r}-{RBM}", RBM,
                 params(RBM, **{param: value}), [call(m, X)], same_message=True)

# --- partial_fit sequences --------------------------------------------------
X32 = X.astype(np.float32)
PF = [
    ("no-classes", CLF, {}, [call("partial_fit", X, Y_CLF)]),
    ("unseen-class", CLF, {}, [call("partial_fit", X, Y_CLF, classes=[0, 1])]),
    ("classes-then-other", CLF, {},
     [call("partial_fit", X, Y_CLF, classes=[0, 1, 2]),
      call("partial_fit", X, Y_CLF, classes=[0, 1, 2, 3])]),
    ("later-unseen", CLF, {},
     [call("partial_fit", X, Y_CLF, classes=[0, 1, 2]), call("partial_fit", X, Y_CLF + 1)]),
    ("subset-later", CLF, {},
     [call("partial_fit", X, Y_CLF, classes=[0, 1, 2]), call("partial_fit", X[:10], Y_BIN[:10])]),
    ("extra-classes", CLF, {},
     [call("partial_fit", X, Y_BIN, classes=[0, 1, 2, 5]), call("predict_proba", X)]),
    ("str-classes", CLF, {},
     [call("partial_fit", X, np.array(["a", "b"])[Y_BIN], classes=["a", "b"]),
      call("partial_fit", X, np.array(["a", "b"])[Y_BIN])]),
    ("lbfgs", CLF, {"solver": "lbfgs"}, [call("partial_fit", X, Y_CLF, classes=[0, 1, 2])]),
    ("early-stopping", CLF, {"early_stopping": True},
     [call("partial_fit", X, Y_CLF, classes=[0, 1, 2])]),
    ("early-stopping-reg", REG, {"early_stopping": True}, [call("partial_fit", X, Y_REG)]),
    ("after-fit", CLF, {}, [call("fit", X, Y_CLF), call("partial_fit", X, Y_CLF)]),
    ("after-fit-reg", REG, {}, [call("fit", X, Y_REG), call("partial_fit", X, Y_REG)]),
    ("reg-outputs-change", REG, {},
     [call("partial_fit", X, Y_REG), call("partial_fit", X, np.c_[Y_REG, Y_REG])]),
    ("reg-width-change", REG, {},
     [call("partial_fit", X, Y_REG), call("partial_fit", X[:, :3], Y_REG)]),
    ("sgd-sequence", CLF, {"solver": "sgd"},
     [call("partial_fit", X, Y_CLF, classes=[0, 1, 2]), call("partial_fit", X, Y_CLF),
      call("partial_fit", X[:7], Y_CLF[:7])]),
    ("one-sample", REG, {},
     [call("partial_fit", X[:1], Y_REG[:1]), call("partial_fit", X, Y_REG)]),
    ("sample-weight", CLF, {},
     [call("partial_fit", X, Y_CLF, classes=[0, 1, 2], sample_weight=SW),
      call("partial_fit", X, Y_CLF)]),
    ("f64-f32-f64", CLF, {},
     [call("partial_fit", X, Y_CLF, classes=[0, 1, 2]), call("partial_fit", X32, Y_CLF),
      call("partial_fit", X, Y_CLF)]),
    ("f64-f32-f64-reg", REG, {},
     [call("partial_fit", X, Y_REG), call("partial_fit", X32, Y_REG),
      call("partial_fit", X, Y_REG)]),
    ("f64-f32-f64-sgd", REG, {"solver": "sgd"},
     [call("partial_fit", X, Y_REG), call("partial_fit", X32, Y_REG),
      call("partial_fit", X, Y_REG)]),
    ("f64-then-f32-predict", REG, {},
     [call("partial_fit", X, Y_REG), call("partial_fit", X32, Y_REG), call("predict", X32)]),
    ("rbm-f64-f32", RBM, {}, [call("partial_fit", X), call("partial_fit", X32)]),
    ("rbm-set-n_components", RBM, {},
     [call("fit", X), call("set_params", n_components=50)]
     + [call("partial_fit", X)] * 20 + [call("transform", X)]),
    ("rbm-set-n_components-5", RBM, {},
     [call("fit", X), call("set_params", n_components=5)] + [call("partial_fit", X)] * 5),
    ("rbm-set-batch_size", RBM, {},
     [call("fit", X), call("set_params", batch_size=25), call("partial_fit", X)]),
    ("rbm-partial-first", RBM, {}, [call("partial_fit", X), call("partial_fit", X[:3])]),
    ("rbm-partial-sparse", RBM, {}, [call("partial_fit", sp.csr_matrix(X)),
                                     call("partial_fit", X)]),
    ("rbm-partial-f32-model", RBM, {}, [call("fit", X32), call("partial_fit", X)]),
    ("rbm-partial-one-row", RBM, {}, [call("partial_fit", X[:1])]),
]
def first_fit_tol(calls):
    """float32 tolerances when the first fit is float32, and so the model."""
    return tol32(calls[0][1][0])


for ident, name, extra, calls in PF:
    opts = first_fit_tol(calls)
    case("partial_fit", ident, name, params(name, **extra), calls, **opts)

# --- warm_start -------------------------------------------------------------
WS = [
    ("refit", CLF, {}, [call("fit", X, Y_CLF), call("fit", X, Y_CLF)]),
    ("other-classes", CLF, {}, [call("fit", X, Y_CLF), call("fit", X, Y_BIN)]),
    ("other-width", CLF, {}, [call("fit", X, Y_CLF), call("fit", X[:, :3], Y_CLF)]),
    ("reg-refit", REG, {}, [call("fit", X, Y_REG), call("fit", X, Y_REG)]),
    ("lbfgs", REG, {"solver": "lbfgs"}, [call("fit", X, Y_REG), call("fit", X, Y_REG)]),
    ("sgd", CLF, {"solver": "sgd"}, [call("fit", X, Y_CLF), call("fit", X, Y_CLF)]),
    ("f64-f32", CLF, {}, [call("fit", X, Y_CLF), call("fit", X32, Y_CLF)]),
    ("f64-f32-f64", REG, {},
     [call("fit", X, Y_REG), call("fit", X32, Y_REG), call("fit", X, Y_REG)]),
    ("f32-f64", REG, {}, [call("fit", X32, Y_REG), call("fit", X, Y_REG)]),
    ("early-stopping", CLF, {"early_stopping": True, "max_iter": 5},
     [call("fit", X, Y_CLF), call("fit", X, Y_CLF)]),
    ("then-partial", CLF, {}, [call("fit", X, Y_CLF), call("partial_fit", X, Y_CLF)]),
    ("set-max_iter", REG, {},
     [call("fit", X, Y_REG), call("set_params", max_iter=2), call("fit", X, Y_REG)]),
]
for ident, name, extra, calls in WS:
    opts = first_fit_tol(calls)
    case("warm_start", ident, name, params(name, warm_start=True, **extra), calls, **opts)

# --- divergence -------------------------------------------------------------
HUGE = X * 1e155
for name in (CLF, REG):
    y = fit_args(name)[1]
    for solver in ("sgd", "adam", "lbfgs"):
        case("divergence", f"huge-X-{solver}-{name}", name, params(name, solver=solver),
             [call("fit", HUGE, y)])
        case("divergence", f"huge-lr-{solver}-{name}", name,
             params(name, solver=solver, learning_rate_init=1e150), [call("fit", X * 1e5, y)])
    case("divergence", f"huge-X-f32-{name}", name, params(name),
         [call("fit", (X * 1e30).astype(np.float32), y)])
    case("divergence", f"sgd-huge-X-{name}", name, params(name, solver="sgd"),
         [call("fit", X * 1e200, y)])
    case("divergence", f"sgd-huge-lr-{name}", name,
         params(name, solver="sgd", learning_rate_init=1e300), [call("fit", X * 1e10, y)])
    case("divergence", f"partial-sgd-huge-X-{name}", name, params(name, solver="sgd"),
         [call("partial_fit", X, y, **({"classes": [0, 1, 2]} if name == CLF else {})),
          call("partial_fit", X * 1e200, y)], state=False)
for solver in ("sgd", "adam", "lbfgs"):
    case("divergence", f"huge-y-{solver}", REG, params(REG, solver=solver),
         [call("fit", X, Y_REG * 1e300)])
case("divergence", "poisson-huge-y", REG, params(REG, loss="poisson"),
     [call("fit", X, np.exp(Y_REG) * 1e300)])
case("divergence", "poisson-negative-y", REG, params(REG, loss="poisson"),
     [call("fit", X, Y_REG)])
# scikit-learn's RBM has no divergence check: both end on NaN and infinity,
# not the same ones.
case("divergence", f"huge-lr-{RBM}", RBM, params(RBM, learning_rate=1e300), [call("fit", HUGE)],
     values=False)


# Where fastmlp deliberately differs (README): the case, what fastmlp does
# instead (its exception type, or "ok"), and why.
DELIBERATE = {
    "poisson-negative-y": ("ValueError", "a negative Poisson target raises instead of "
                           "training on a NaN loss"),
    "huge-X-f32-MLPRegressor": ("ValueError", "a float32 fit computes its gradients in "
                                "float32, where scikit-learn's are float64 (its targets "
                                "stay float64), so they overflow sooner; the fit raises "
                                "scikit-learn's non-finite-weights error"),
}

# Differences from an older scikit-learn only, told apart by its outcome:
# case -> (scikit-learn's exception there, fastmlp's, why). With a
# scikit-learn that does not raise the first, the case is compared as any.
OLDER_SKLEARN = {
    f"fit-sw-zeros-{name}": ("ZeroDivisionError", "ValueError",
                             "scikit-learn 1.7 divides by the weights' zero sum in np.average; "
                             "fastmlp raises the ValueError 1.9 raises")
    for name in (CLF, REG)
}


def _ids():
    return [c[1] + ":" + c[0] for c in CASES]


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


TALLY = collections.Counter()


@pytest.mark.parametrize("ident, category, name, prm, calls, options", CASES, ids=_ids())
def test_case(worker, ident, category, name, prm, calls, options):
    options = dict(options)
    state = options.pop("state", True)
    ref = outcome(C.steps, "sklearn", name, prm, calls, state)
    ours = worker.run(C.steps, "fastmlp", name, prm, calls, state)
    older = OLDER_SKLEARN.get(ident)
    if ident in DELIBERATE or (older and ref.kind == "raise" and older[0] in ref.type):
        expected, why = DELIBERATE[ident] if ident in DELIBERATE else older[1:]
        assert ours.kind not in ("crash", "hang"), ours
        assert (ours.kind == "ok") if expected == "ok" else (expected in ours.type), (ours, why)
        TALLY[category, "deliberate"] += 1
        return
    TALLY[category, compare(ref, ours, **options)] += 1


def test_reproducers_do_not_crash(worker):
    """The issue's two reproducers, run in the worker: errors and training as scikit-learn's."""
    rng = np.random.RandomState(0)
    data = rng.rand(50, 6)
    calls = [call("fit", data), call("gibbs", sp.csr_matrix(np.ones((2, 7))))]
    prm = dict(n_components=3, random_state=0)
    compare(outcome(C.steps, "sklearn", RBM, prm, calls),
            worker.run(C.steps, "fastmlp", RBM, prm, calls))
    calls = [call("fit", data), call("set_params", n_components=500)] + [
        call("partial_fit", data)] * 20
    compare(outcome(C.steps, "sklearn", RBM, prm, calls),
            worker.run(C.steps, "fastmlp", RBM, prm, calls))


# A failed call leaves fastmlp's model exactly as it was (scikit-learn's may
# be half-changed, so this is fastmlp's alone).
KEEPS = [
    (CLF, {"solver": "sgd"}, call("fit", X, Y_CLF), call("fit", X * 1e200, Y_CLF)),
    (CLF, {"warm_start": True, "solver": "sgd"}, call("fit", X, Y_CLF),
     call("fit", X * 1e200, Y_CLF)),
    (REG, {"solver": "sgd"}, call("partial_fit", X, Y_REG),
     call("partial_fit", X * 1e200, Y_REG)),
    (REG, {}, call("fit", X, Y_REG), call("fit", X.astype(np.float32) * 1e30, Y_REG)),
    (REG, {}, call("fit", X, Y_REG), call("predict", X[:, :2])),
    (CLF, {}, call("partial_fit", X, Y_CLF, classes=[0, 1, 2]),
     call("partial_fit", X, Y_CLF + 5)),
    (RBM, {}, call("fit", X), call("partial_fit", X[:, :3])),
]


@pytest.mark.parametrize("name, extra, good, bad", KEEPS)
def test_failed_call_leaves_model_unchanged(worker, name, extra, good, bad):
    got = worker.run(C.failed_fit_keeps_state, "fastmlp", name, params(name, **extra), good, bad)
    assert got.kind == "ok", got
    assert got.value["raised"] is not None
    from differential import assert_equal_results
    assert_equal_results(got.value["before"], got.value["after"], 0, 0)
    TALLY["failed_call_keeps_state", "same"] += 1


# --- hypothesis: random shapes, dtypes and NaN masks -----------------------
H_DTYPES = [np.float64, np.float32, np.int64, np.bool_, np.float16]


@st.composite
def arrays(draw, min_rows=0):
    n = draw(st.integers(min_rows, 7))
    d = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(H_DTYPES))
    seed = draw(st.integers(0, 2**16))
    A = np.random.RandomState(seed).rand(n, d)
    if dtype == np.bool_:
        A = A > 0.5
    elif dtype == np.int64:
        A = (A * 5).astype(dtype)
    else:
        if draw(st.booleans()):
            mask = np.random.RandomState(seed + 1).rand(n, d) < draw(st.floats(0, 1))
            A[mask] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        A = A.astype(dtype)
    if draw(st.booleans()) and A.dtype.kind == "f" and A.dtype != np.float16:
        A = sp.csr_matrix(A)
    return A


HSET = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _loose(A):
    return dict(rtol=2e-4, atol=1e-5) if A.dtype in (np.float32, np.float16) else {}


@pytest.mark.parametrize("name", [CLF, REG, RBM])
@HSET
@given(A=arrays(), labels=st.integers(1, 3))
def test_random_fit_inputs(worker, name, A, labels):
    n = A.shape[0]
    y = () if name == RBM else ((np.arange(n) % labels) if name == CLF
                                else np.linspace(-1, 1, n),)
    calls = [call("fit", A, *y)]
    ref = outcome(C.steps, "sklearn", name, params(name), calls)
    TALLY["hypothesis", compare(ref, worker.run(C.steps, "fastmlp", name, params(name), calls),
                                **_loose(A))] += 1


@pytest.mark.parametrize("name, method", [(CLF, "predict_proba"), (REG, "predict"),
                                          (RBM, "transform"), (RBM, "score_samples"),
                                          (RBM, "gibbs")])
@HSET
@given(A=arrays(), f32=st.booleans())
def test_random_predict_inputs(worker, name, method, A, f32):
    Xf = X[:, : A.shape[1]]
    Xf = Xf.astype(np.float32) if f32 else Xf
    y = fit_args(name)[1:]
    calls = [call("fit", Xf, *y), call(method, A)]
    ref = outcome(C.steps, "sklearn", name, params(name), calls, False)
    ours = worker.run(C.steps, "fastmlp", name, params(name), calls, False)
    tol = dict(rtol=2e-4, atol=1e-5) if f32 else _loose(A)
    TALLY["hypothesis", compare(ref, ours, **tol)] += 1


def test_zz_tally(capsys):
    """Print the number of cases per category and outcome (run last in the module)."""
    with capsys.disabled():
        print("\nbad-input cases by category:", dict(sorted(TALLY.items())))
