"""Run one case on scikit-learn and on fastmlp, fastmlp's side in a worker process.

A case is a module-level function ``case(lib, *args)`` (so it pickles by
name) that builds estimators from ``lib`` ("sklearn" or "fastmlp", see
:func:`estimator`) and returns what should agree: arrays, numbers, strings,
or lists and dicts of them. :func:`outcome` runs it and records what it
returned or raised, and the warnings' categories.

fastmlp's side runs in :class:`Worker`, one long-lived Python process that
runs case after case (Numba's import and its cached kernels are loaded
once, not once a case). A case that kills it (a segfault, an abort) or
runs past the time limit comes back as a ``crash`` or ``hang`` outcome,
and the next case gets a new worker: the test that caused it fails, the
test run goes on.

Run as a script (``python differential.py``) it is the worker's loop.
"""

import importlib
import os
import pickle
import re
import select
import struct
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# A cold Numba cache compiles a fit's kernels in the worker: up to a minute
# each on this project's loaded 2-core machine.
CASE_TIMEOUT = float(os.environ.get("FASTMLP_CASE_TIMEOUT", 600))


def estimator(lib, name, **params):
    """``name`` (e.g. ``"MLPClassifier"``) from scikit-learn or fastmlp, with ``params``."""
    module = "sklearn.neural_network" if lib == "sklearn" else "fastmlp"
    return getattr(importlib.import_module(module), name)(**params)


class Outcome:
    """What one call did: ``kind`` is ``ok``, ``raise``, ``crash`` or ``hang``.

    ``value`` is the case's result (``ok``); ``types`` the qualified names of
    the exception's classes, its own first, and ``message`` its text
    (``raise``); ``warnings`` the qualified names of the warnings' categories.
    """

    def __init__(self, kind, value=None, types=(), message="", warns=()):
        self.kind = kind
        self.value = value
        self.types = list(types)
        self.message = message
        self.warnings = sorted(set(warns))

    @property
    def type(self):
        return self.types[0] if self.types else None

    def __repr__(self):
        if self.kind == "raise":
            return "raise %s(%r)" % (self.type, self.message[:300])
        if self.kind == "ok":
            return "ok %s" % _short(self.value)
        return "%s: %s" % (self.kind, self.message)


def _short(value):
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "..."


def _qualname(cls):
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def outcome(func, lib, *args):
    """Run ``func(lib, *args)`` and record its :class:`Outcome`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = func(lib, *args)
        except Exception as exc:  # noqa: BLE001 - every exception is an outcome
            kind, value = "raise", None
            types = [_qualname(c) for c in type(exc).__mro__]
            message = str(exc)
        else:
            kind, types, message = "ok", (), ""
    # NumPy's overflow and invalid-value warnings come from scikit-learn's
    # Python arithmetic; compiled code has no such warnings to give.
    warns = [_qualname(w.category) for w in caught
             if not issubclass(w.category, RuntimeWarning)]
    return Outcome(kind, value, types, message, warns)


class Worker:
    """A Python process that runs cases for the parent; replaced when it dies."""

    def __init__(self, timeout=CASE_TIMEOUT):
        self.timeout = timeout
        self.proc = None
        self.restarts = 0

    def _start(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (HERE, env.get("PYTHONPATH")) if p
        )
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "differential.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def _kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._kill()
            self.proc = None

    def run(self, func, lib, *args):
        """:func:`outcome` of ``func(lib, *args)`` computed in the worker."""
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self.restarts += 1
            self._start()
        payload = pickle.dumps((func, lib, args), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(struct.pack("<Q", len(payload)) + payload)
            self.proc.stdin.flush()
            header = self._read(8)
            if header is not None:
                (size,) = struct.unpack("<Q", header)
                body = self._read(size)
                if body is not None:
                    return pickle.loads(body)
        except BrokenPipeError:
            pass
        if self.proc.poll() is None:
            self._kill()
            return Outcome("hang", message="no answer within %.0f s" % self.timeout)
        code = self.proc.returncode
        self.proc = None
        return Outcome("crash", message="worker died with exit code %s" % code)

    def _read(self, size):
        """``size`` bytes from the worker, or None if it died or timed out."""
        out = self.proc.stdout
        chunks, got = [], 0
        deadline = time.monotonic() + self.timeout
        while got < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                return None
            chunk = os.read(out.fileno(), size - got)
            if not chunk:
                return None
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)


def _serve():
    """The worker's loop: read a pickled case from stdin, answer on stdout."""
    replies = os.fdopen(os.dup(1), "wb")
    # Whatever a case prints (verbose fits) goes to stderr, not into replies.
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    while True:
        header = requests.read(8)
        if len(header) < 8:
            return
        (size,) = struct.unpack("<Q", header)
        func, lib, args = pickle.loads(requests.read(size))
        result = outcome(func, lib, *args)
        try:
            body = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result is reported
            body = pickle.dumps(Outcome("raise", None, ["pickle.PicklingError"], str(exc)))
        replies.write(struct.pack("<Q", len(body)) + body)
        replies.flush()


# ----------------------------------------------------------------------
# Comparing outcomes
# ----------------------------------------------------------------------
# Words that say an error came from inside the compiled code rather than
# from a check at the public edge.
_INTERNAL = ("nopython", "numba", "Failed in", "unreachable", "LLVM")


def assert_equal_results(ref, ours, rtol, atol, where="result"):
    """``ours`` has ``ref``'s structure, dtypes and values (within tolerance)."""
    if isinstance(ref, dict):
        assert isinstance(ours, dict) and sorted(ours) == sorted(ref), where
        for key in ref:
            assert_equal_results(ref[key], ours[key], rtol, atol, "%s[%r]" % (where, key))
    elif isinstance(ref, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(ref), where
        for i, (a, b) in enumerate(zip(ref, ours)):
            assert_equal_results(a, b, rtol, atol, "%s[%d]" % (where, i))
    elif isinstance(ref, np.ndarray):
        assert isinstance(ours, np.ndarray), "%s: %r" % (where, type(ours))
        assert ours.shape == ref.shape, "%s: shape %s != %s" % (where, ours.shape, ref.shape)
        assert ours.dtype == ref.dtype, "%s: dtype %s != %s" % (where, ours.dtype, ref.dtype)
        if ref.dtype.kind in "fc":
            np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, err_msg=where)
        else:
            np.testing.assert_array_equal(ours, ref, err_msg=where)
    elif isinstance(ref, float) or isinstance(ref, np.floating):
        assert isinstance(ours, (float, np.floating)), "%s: %r" % (where, ours)
        np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, err_msg=where)
    else:
        assert ours == ref, "%s: %r != %r" % (where, ours, ref)


def _public_type(types):
    """The first class of an exception's that a user can name: builtins or
    scikit-learn's, not private (NumPy's ``_UFuncNoLoopError`` is a TypeError)."""
    for name in types:
        module, _, qualname = name.rpartition(".")
        if (module == "builtins" or module.startswith("sklearn")) and not qualname.startswith("_"):
            return name
    return types[0]


def _normal_text(message):
    """``message`` with the items of each ``{...}`` sorted: a set's order depends
    on the process's string hashing, which differs between the two processes."""
    return re.sub(r"\{([^{}]*)\}",
                  lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", message)


def compare(ref, ours, rtol=1e-7, atol=1e-9, same_message=False, values=True):
    """Assert that fastmlp's outcome ``ours`` matches scikit-learn's ``ref``.

    Both raise: fastmlp's exception is scikit-learn's type (or a subclass;
    the first public class of scikit-learn's where that is a private one),
    with a message that is not empty and does not come from inside the
    compiled code (or is scikit-learn's exact text, with ``same_message``).
    Both return: equal results (without ``values``, only both ``ok``).
    Anything else fails, crashes and hangs first of all. Returns "same" or "reworded" (both raised, other words).
    """
    assert ours.kind not in ("crash", "hang"), "fastmlp %r (scikit-learn: %r)" % (ours, ref)
    assert ours.kind == ref.kind, "scikit-learn: %r; fastmlp: %r" % (ref, ours)
    if ref.kind == "raise":
        expected = _public_type(ref.types)
        assert expected in ours.types, "scikit-learn: %r; fastmlp: %r" % (ref, ours)
        if same_message:
            assert _normal_text(ours.message) == _normal_text(ref.message)
        assert ours.message.strip(), "fastmlp raised %s with no message" % ours.type
        assert not any(w in ours.message for w in _INTERNAL), ours.message
        return "same" if _normal_text(ours.message) == _normal_text(ref.message) else "reworded"
    if values:
        assert_equal_results(ref.value, ours.value, rtol, atol)
    assert ours.warnings == ref.warnings, (ref.warnings, ours.warnings)
    return "same"


if __name__ == "__main__":
    # Served from the imported module, so that Outcome pickles as
    # differential.Outcome, the class the parent knows.
    import differential

    differential._serve()
