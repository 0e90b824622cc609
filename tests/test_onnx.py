"""ONNX export: skl2onnx.to_onnx on fastmlp's estimators, run in a real onnxruntime session."""

import warnings

import numpy as np
import pytest

pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from skl2onnx import to_onnx  # noqa: E402

import fastmlp  # noqa: E402
import fastmlp.onnx  # noqa: E402,F401  (registers the converters)

rng = np.random.RandomState(0)
X = rng.rand(120, 6)
LABELS = {
    "binary": np.array(["no", "yes"])[(X[:, 0] + X[:, 1] > 1).astype(int)],
    "multiclass": np.digitize(X[:, 2], [0.3, 0.6]) + 10,
    "multilabel2": np.c_[X[:, 0] > 0.5, X[:, 1] > 0.4].astype(int),
    "multilabel3": np.c_[X[:, 0] > 0.5, X[:, 1] > 0.4, X[:, 3] < 0.6].astype(int),
    "float_labels": np.digitize(X[:, 2], [0.5]).astype(float),
}
TARGETS = {
    "single": X @ [1.0, -2, 3, 0.5, 1, 0],
    "multioutput": np.c_[X @ [1.0, -2, 3, 0.5, 1, 0], X[:, 0] * X[:, 1], X[:, 4]],
    "poisson": np.exp(X @ [0.5, -0.3, 0.2, 0.1, 0.4, 0.0]),
}
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
# float32 graphs against fastmlp's float32 predictions: 1e-5 (issue 15);
# float64 ones agree to rounding.
ATOL = {np.float32: 1e-5, np.float64: 1e-12}


def fitted(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def session(model, Xd, **kw):
    onx = to_onnx(model, Xd[:1], **kw)
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda data: sess.run(None, {sess.get_inputs()[0].name: data})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", sorted(LABELS))
def test_classifier(kind, activation, dtype):
    Xd = X.astype(dtype)
    clf = fitted(fastmlp.MLPClassifier((8, 5), activation=activation, max_iter=60,
                                       random_state=0), Xd, LABELS[kind])
    labels, proba = session(clf, Xd, options={"zipmap": False})(Xd)
    expected = clf.predict_proba(Xd)
    assert proba.dtype == dtype and proba.shape == expected.shape
    np.testing.assert_allclose(proba, expected, rtol=0, atol=ATOL[dtype])
    predicted = clf.predict(Xd)
    assert labels.shape == predicted.shape
    # A float32 graph may round a probability within 1e-5 of the threshold
    # the other way; away from it the labels are the same.
    if kind.startswith("multilabel"):
        clear = (np.abs(expected - 0.5) > 1e-5).all(axis=1)
    else:
        top2 = np.sort(expected, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 1e-5
    assert clear.mean() > 0.9
    if kind == "float_labels":
        predicted = predicted.astype(np.int64)
    np.testing.assert_array_equal(labels[clear], predicted[clear])


def test_classifier_zipmap_default():
    # ONNX's ZipMap takes float tensors only: float32 data.
    X32 = X.astype(np.float32)
    clf = fitted(fastmlp.MLPClassifier((5,), max_iter=30, random_state=0), X32,
                 LABELS["multiclass"])
    labels, maps = session(clf, X32)(X32[:3])
    assert [sorted(m) for m in maps] == [[10, 11, 12]] * 3
    np.testing.assert_allclose([[m[c] for c in (10, 11, 12)] for m in maps],
                               clf.predict_proba(X32[:3]), atol=1e-5)
    np.testing.assert_array_equal(labels, clf.predict(X32[:3]))


def test_labels_onnx_cannot_hold_raise():
    mixed = fitted(fastmlp.MLPClassifier((5,), max_iter=5, random_state=0), X,
                   np.array(["a", "b"], dtype=object)[(X[:, 0] > 0.5).astype(int)])
    mixed.classes_ = np.array(["a", 1], dtype=object)  # no ONNX label type holds both
    with pytest.raises(NotImplementedError, match="int64 or strings"):
        to_onnx(mixed, X[:1], options={"zipmap": False})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_regressor(kind, activation, dtype):
    Xd = X.astype(dtype)
    loss = "poisson" if kind == "poisson" else "squared_error"
    reg = fitted(fastmlp.MLPRegressor(loss=loss, hidden_layer_sizes=(8, 5),
                                      activation=activation, max_iter=60, random_state=0),
                 Xd, TARGETS[kind])
    (out,) = session(reg, Xd)(Xd)
    expected = reg.predict(Xd)
    assert out.dtype == dtype and out.shape == (len(Xd), reg.n_outputs_)
    np.testing.assert_allclose(out.reshape(expected.shape), expected, rtol=ATOL[dtype],
                               atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rbm_transform(dtype):
    Xd = (X > 0.5).astype(dtype)
    rbm = fastmlp.BernoulliRBM(n_components=7, n_iter=3, random_state=0).fit(Xd)
    (out,) = session(rbm, Xd)(Xd)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, rbm.transform(Xd), rtol=0, atol=ATOL[dtype])


def test_in_a_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = fitted(make_pipeline(StandardScaler(), fastmlp.MLPRegressor(
        hidden_layer_sizes=(5,), max_iter=30, random_state=0)), X, TARGETS["multioutput"])
    (out,) = session(pipe, X)(X)
    np.testing.assert_allclose(out, pipe.predict(X), atol=1e-10)
