"""Assertions that fastmlp behaves as scikit-learn does, shared by the test modules."""

import pytest


def assert_same_error(exc_type, ref, ours, method, *args):
    """``ours.method(*args)`` raises ``exc_type`` with the message ``ref.method`` raises.

    ``ref`` is scikit-learn's estimator and ``ours`` fastmlp's; both calls
    must raise ``exc_type`` (or a subclass), with the same text.
    """
    with pytest.raises(exc_type) as theirs:
        getattr(ref, method)(*args)
    with pytest.raises(exc_type) as got:
        getattr(ours, method)(*args)
    assert str(got.value) == str(theirs.value)
