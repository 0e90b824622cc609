"""skl2onnx shape calculators and converters for fastmlp's estimators.

An MLP's graph is its forward pass, ``a <- f(a @ W + b)`` layer by layer,
in the input's float type (float32 input gives a float graph, float64 a
double one), then what ``predict`` / ``predict_proba`` make of the output.
Written for fastmlp rather than reused from skl2onnx's MLP converter, which
reshapes every regression output to one column (multi-output regression
comes out flattened), has no ``exp`` output activation (``loss='poisson'``
fails), and treats a two-label multilabel classifier as binary (four
probability columns instead of two). skl2onnx's parser (ZipMap and the
classifier options) is reused as it is.
"""

import numbers

import numpy as np
from onnx import TensorProto
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
    guess_proto_type,
)
from skl2onnx.common.utils import check_input_and_output_numbers

# fastmlp's activation names -> ONNX operators (``exp`` is the Poisson output).
_ACTIVATIONS = {"identity": "Identity", "logistic": "Sigmoid", "tanh": "Tanh", "relu": "Relu",
                "softmax": "Softmax", "exp": "Exp"}
_CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False],
                       "output_class_labels": [False, True]}


def _float_type(operator):
    """The tensor type, proto type and NumPy dtype of the graph: the input's float type."""
    if guess_proto_type(operator.inputs[0].type) == TensorProto.DOUBLE:
        return DoubleTensorType, TensorProto.DOUBLE, np.float64
    return FloatTensorType, TensorProto.FLOAT, np.float32


def _constant(scope, container, prefix, array, proto, dtype):
    name = scope.get_unique_variable_name(prefix)
    array = np.asarray(array, dtype=dtype)
    container.add_initializer(name, proto, list(array.shape), array.ravel().tolist())
    return name


def _node(scope, container, op_type, inputs, prefix, **attrs):
    """One node of ``op_type``; returns the name of its (single) output."""
    out = scope.get_unique_variable_name(prefix)
    domain = "ai.onnx.ml" if op_type in ("ArrayFeatureExtractor",) else ""
    container.add_node(op_type, inputs, out, op_domain=domain,
                       name=scope.get_unique_operator_name(op_type), **attrs)
    return out


def _affine(scope, container, x, W, b, activation, proto, dtype):
    """``activation(x @ W + b)`` as MatMul, Add and the activation's node."""
    z = _node(scope, container, "MatMul",
              [x, _constant(scope, container, "W", W, proto, dtype)], "matmul")
    z = _node(scope, container, "Add",
              [z, _constant(scope, container, "b", np.reshape(b, (1, -1)), proto, dtype)],
              "add")
    if activation in _GATED:
        return _gated(scope, container, z, activation, proto, dtype)
    if activation in _COMPOSED:
        return _composed(scope, container, z, activation, proto, dtype)
    op_type = _ACTIVATIONS[activation]
    return z if op_type == "Identity" else _node(scope, container, op_type, [z], activation)


# fastmlp's activations beyond scikit-learn's, from elementary nodes:
# onnxruntime has no double kernels for LeakyRelu, Elu or Softplus.
_GATED = ("silu", "gelu")
_COMPOSED = ("leaky_relu", "elu", "softplus")


def _composed(scope, container, z, activation, proto, dtype):
    """leaky_relu ``max(z, 0.01 z)``, elu ``relu(z) + exp(min(z, 0)) - 1``,
    softplus ``relu(z) + log(1 + exp(-|z|))``."""
    from .._activations import LEAKY_SLOPE

    def const(name, value):
        return _constant(scope, container, name, value, proto, dtype)

    def node(op, inputs, name):
        return _node(scope, container, op, inputs, name)

    if activation == "leaky_relu":
        return node("Max", [z, node("Mul", [z, const("slope", LEAKY_SLOPE)], "leak")],
                    activation)
    relu = node("Relu", [z], "relu")
    if activation == "elu":
        below = node("Sub", [node("Exp", [node("Min", [z, const("zero", 0.0)], "neg")],
                                  "exp"), const("one", 1.0)], "expm1")
        return node("Add", [relu, below], activation)
    tail = node("Exp", [node("Neg", [node("Abs", [z], "abs")], "negabs")], "exp")
    return node("Add", [relu, node("Log", [node("Add", [tail, const("one", 1.0)], "onep")],
                                   "log1p")], activation)


def _gated(scope, container, z, activation, proto, dtype):
    """silu ``z / (1 + exp(-z))`` and gelu's tanh form ``z * sigmoid(2c (z + k z^3))``."""
    from .._activations import _GELU_C, _GELU_K

    gate = z
    if activation == "gelu":
        cube = _node(scope, container, "Mul",
                     [z, _node(scope, container, "Mul", [z, z], "square")], "cube")
        inner = _node(scope, container, "Add", [z, _node(
            scope, container, "Mul", [cube, _constant(scope, container, "k", _GELU_K, proto,
                                                      dtype)], "kcube")], "inner")
        gate = _node(scope, container, "Mul",
                     [inner, _constant(scope, container, "c2", 2 * _GELU_C, proto, dtype)],
                     "gate")
    if activation == "silu":
        # z / (1 + exp(-z)), not z * Sigmoid(z): onnxruntime fuses the latter
        # into its QuickGelu kernel, which 1.23 has for float only, so a
        # float64 model failed to load there (1.32 has a double kernel too).
        one = _constant(scope, container, "one", 1.0, proto, dtype)
        tail = _node(scope, container, "Exp", [_node(scope, container, "Neg", [z], "neg")],
                     "exp")
        return _node(scope, container, "Div",
                     [z, _node(scope, container, "Add", [tail, one], "onep")], activation)
    sig = _node(scope, container, "Sigmoid", [gate], "sigmoid")
    return _node(scope, container, "Mul", [z, sig], activation)


def _forward(scope, operator, container):
    """The network's output for the operator's input; returns its variable name."""
    model = operator.raw_operator
    _, proto, dtype = _float_type(operator)
    a = _node(scope, container, "Cast", [operator.inputs[0].full_name], "input", to=proto)
    last = len(model.coefs_) - 1
    for i, (W, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        activation = model.out_activation_ if i == last else model.activation
        a = _affine(scope, container, a, W, b, activation, proto, dtype)
    return a


def _copy(container, scope, source, target):
    container.add_node("Identity", [source], target,
                       name=scope.get_unique_operator_name("Identity"))


# ----------------------------------------------------------------------
# MLPRegressor
# ----------------------------------------------------------------------
def regressor_shape(operator):
    """``[N, n_features] -> [N, n_outputs_]`` in the input's float type."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    tensor, _, _ = _float_type(operator)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = tensor([n, operator.raw_operator.n_outputs_])


def convert_regressor(scope, operator, container):
    """``predict``: the output layer itself, one column an output (``[N, 1]`` for one)."""
    _copy(container, scope, _forward(scope, operator, container),
          operator.outputs[0].full_name)


# ----------------------------------------------------------------------
# MLPClassifier
# ----------------------------------------------------------------------
def _classes(model):
    """The class labels as ONNX stores them: ``(array, label tensor type, proto)``."""
    classes = np.asarray(model.classes_)
    # scikit-learn's classifiers take only integral float labels (others are
    # "continuous").
    if classes.dtype.kind in "biuf" or all(isinstance(c, numbers.Integral) for c in classes):
        return classes.astype(np.int64), Int64TensorType, TensorProto.INT64
    if all(isinstance(c, str) for c in classes):
        return classes, StringTensorType, TensorProto.STRING
    raise NotImplementedError(
        "ONNX labels are int64 or strings; classes %r are neither" % (list(classes[:5]),))


def _multilabel(model):
    return model._label_binarizer.y_type_ == "multilabel-indicator"


def classifier_shape(operator):
    """``[N, n_features] -> label [N] (or [N, n_labels]), probabilities [N, n_classes]``."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=[2, 3])
    model = operator.raw_operator
    tensor, _, _ = _float_type(operator)
    n = operator.inputs[0].get_first_dimension()
    _, label_type, _ = _classes(model)
    n_classes = len(model.classes_)
    operator.outputs[0].type = label_type([n, n_classes] if _multilabel(model) else [n])
    operator.outputs[1].type = tensor([n, n_classes])
    if len(operator.outputs) == 3:  # option output_class_labels: the labels again
        operator.outputs[2].type = label_type([n_classes])


def convert_classifier(scope, operator, container):
    """``predict`` and ``predict_proba``, decoded as LabelBinarizer decodes them."""
    model = operator.raw_operator
    _, proto, dtype = _float_type(operator)
    label_out, proba_out = operator.outputs[0].full_name, operator.outputs[1].full_name
    y = _forward(scope, operator, container)
    classes, _, class_proto = _classes(model)
    if _multilabel(model):
        # One sigmoid a label; a label is on above 0.5.
        _copy(container, scope, y, proba_out)
        half = _constant(scope, container, "half", 0.5, proto, dtype)
        on = _node(scope, container, "Greater", [y, half], "on")
        container.add_node("Cast", [on], label_out, to=TensorProto.INT64,
                           name=scope.get_unique_operator_name("Cast"))
    else:
        if model.out_activation_ == "logistic":
            # Binary: one sigmoid column p; the probabilities are [1 - p, p].
            one = _constant(scope, container, "one", 1.0, proto, dtype)
            q = _node(scope, container, "Sub", [one, y], "negative")
            container.add_node("Concat", [q, y], proba_out, axis=1,
                               name=scope.get_unique_operator_name("Concat"))
        else:
            _copy(container, scope, y, proba_out)
        # The first class of the highest probability, as predict decodes: for
        # binary, the arg-max of [1 - p, p] is class 1 exactly when p > 0.5.
        best = _node(scope, container, "ArgMax", [proba_out], "argmax", axis=1,
                     keepdims=0)
        if class_proto == TensorProto.STRING:
            table = _constant(scope, container, "classes", classes, TensorProto.STRING, object)
        else:
            table = _constant(scope, container, "classes", classes, TensorProto.INT64,
                              np.int64)
        picked = _node(scope, container, "ArrayFeatureExtractor", [table, best], "picked")
        shape = _constant(scope, container, "shape", [-1], TensorProto.INT64, np.int64)
        container.add_node("Reshape", [picked, shape], label_out,
                           name=scope.get_unique_operator_name("Reshape"))
    if len(operator.outputs) == 3:
        table = _constant(scope, container, "class_labels", classes, class_proto,
                          object if class_proto == TensorProto.STRING else np.int64)
        _copy(container, scope, table, operator.outputs[2].full_name)


# ----------------------------------------------------------------------
# BernoulliRBM
# ----------------------------------------------------------------------
def rbm_shape(operator):
    """``[N, n_features] -> [N, n_components]`` in the input's float type."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    tensor, _, _ = _float_type(operator)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = tensor([n, operator.raw_operator.components_.shape[0]])


def convert_rbm(scope, operator, container):
    """``transform``: P(h=1|v) = sigmoid(v @ components_.T + intercept_hidden_)."""
    model = operator.raw_operator
    _, proto, dtype = _float_type(operator)
    v = _node(scope, container, "Cast", [operator.inputs[0].full_name], "input", to=proto)
    h = _affine(scope, container, v, model.components_.T, model.intercept_hidden_,
                "logistic", proto, dtype)
    _copy(container, scope, h, operator.outputs[0].full_name)


def register():
    """Register the converters of fastmlp's three estimators with skl2onnx."""
    import fastmlp

    update_registered_converter(fastmlp.MLPClassifier, "FastmlpMLPClassifier",
                                classifier_shape, convert_classifier,
                                options=_CLASSIFIER_OPTIONS)
    update_registered_converter(fastmlp.MLPRegressor, "FastmlpMLPRegressor",
                                regressor_shape, convert_regressor)
    update_registered_converter(fastmlp.BernoulliRBM, "FastmlpBernoulliRBM",
                                rbm_shape, convert_rbm)
