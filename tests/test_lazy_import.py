"""``import fastmlp`` defers the estimators' modules (and Numba) to their first use."""

import subprocess
import sys

import pytest

import fastmlp


def _child(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.split()


def test_import_fastmlp_imports_neither_numba_nor_the_kernels():
    loaded = _child("import sys, fastmlp; print(fastmlp.__version__); "
                    "print('numba' in sys.modules, 'fastmlp._mlp_kernels' in sys.modules)")
    assert loaded == [fastmlp.__version__, "False", "False"]


def test_every_public_name_resolves_to_its_module():
    from fastmlp import _mlp, _rbm, convert, patching

    for name in fastmlp.__all__:
        assert name in dir(fastmlp)
    assert fastmlp.MLPClassifier is _mlp.MLPClassifier
    assert fastmlp.MLPRegressor is _mlp.MLPRegressor
    assert fastmlp.BernoulliRBM is _rbm.BernoulliRBM
    assert fastmlp.from_sklearn is convert.from_sklearn
    assert fastmlp.patch_sklearn is patching.patch_sklearn
    assert _child("from fastmlp import MLPClassifier, is_patched; print(is_patched())") == [
        "False"]


def test_an_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'MLPClassifer'"):
        fastmlp.MLPClassifer  # noqa: B018
