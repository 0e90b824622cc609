"""Serve scikit-learn's neural networks with fastmlp's, without editing the code.

After :func:`patch_sklearn`, ``from sklearn.neural_network import MLPClassifier``
(also through ``sklearn.neural_network._multilayer_perceptron`` and
``sklearn.neural_network._rbm``) gives :class:`fastmlp.MLPClassifier`, and
likewise for ``MLPRegressor`` and ``BernoulliRBM``; :func:`unpatch_sklearn`
puts scikit-learn's own classes back. Code that imported a class before the
patch keeps the class it got, as with any rebinding of a module attribute:
patch first (or use ``python -m fastmlp run``, or the every-process patch of
:mod:`fastmlp._autopatch`).

While patched, every public method of a patched class logs, at ``INFO`` on
the ``fastmlp.patching`` logger (silent unless logging is configured), which
class served the call, e.g. ``sklearn.neural_network.MLPClassifier.fit:
served by fastmlp.MLPClassifier``.
"""

import contextlib
import copy
import functools
import importlib
import importlib.machinery
import logging
import sys
import zipfile

logger = logging.getLogger(__name__)

#: The estimators fastmlp can stand in for, and scikit-learn's modules that
#: expose each of them.
ESTIMATORS = ("MLPClassifier", "MLPRegressor", "BernoulliRBM")
_MODULES = {
    "MLPClassifier": ("sklearn.neural_network",
                      "sklearn.neural_network._multilayer_perceptron"),
    "MLPRegressor": ("sklearn.neural_network",
                     "sklearn.neural_network._multilayer_perceptron"),
    "BernoulliRBM": ("sklearn.neural_network", "sklearn.neural_network._rbm"),
}
# The methods that log which class served them (those a class defines).
_SERVED_METHODS = ("fit", "partial_fit", "predict", "predict_proba", "predict_log_proba",
                   "score", "transform", "fit_transform", "score_samples", "gibbs")

# scikit-learn's classes, read once before anything is patched:
# {name: class}.
_ORIGINALS = {}
# The methods given logging wrappers while patched:
# {name: {method: (defined on the class itself, original attribute)}}.
_WRAPPED = {}


def _fastmlp_class(name):
    import fastmlp

    return getattr(fastmlp, name)


def _check_names(estimators):
    names = ESTIMATORS if estimators is None else tuple(
        [estimators] if isinstance(estimators, str) else estimators)
    unknown = sorted(set(names) - set(ESTIMATORS))
    if unknown:
        raise ValueError(
            "fastmlp cannot patch %s; it patches %s." % (unknown, list(ESTIMATORS)))
    return names


def sklearn_class(name):
    """scikit-learn's own class ``name``, whether or not it is patched now.

    Parameters
    ----------
    name : {'MLPClassifier', 'MLPRegressor', 'BernoulliRBM'}
        The estimator.

    Returns
    -------
    cls : type
        The class defined by scikit-learn.
    """
    (name,) = _check_names([name])
    if name not in _ORIGINALS:
        module = importlib.import_module(_MODULES[name][-1])
        cls = getattr(module, name)
        if cls is _fastmlp_class(name):  # patched by someone else's hand
            raise RuntimeError(
                "%s.%s is fastmlp's class, and scikit-learn's was not recorded"
                % (module.__name__, name))
        _ORIGINALS[name] = cls
    return _ORIGINALS[name]


def _logged(cls_name, method_name, attribute):
    """``attribute`` (a function or an ``available_if`` descriptor), logging each call."""
    served = "sklearn.neural_network.%s.%s: served by fastmlp.%s" % (
        cls_name, method_name, cls_name)
    fn = getattr(attribute, "fn", attribute)  # available_if keeps the function in .fn

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if logger.isEnabledFor(logging.INFO):
            logger.info(served)
        return fn(*args, **kwargs)

    if fn is attribute:
        return call
    # A copy of the descriptor around the logging function keeps its check
    # (partial_fit exists only for the stochastic solvers).
    descriptor = copy.copy(attribute)
    descriptor.fn = call
    return descriptor


def _wrap_methods(name):
    """Put logging wrappers on ``name``'s public methods; remember what they replaced."""
    cls = _fastmlp_class(name)
    replaced = {}
    for method in _SERVED_METHODS:
        owner = next((k for k in cls.__mro__ if method in vars(k)), None)
        if owner is None:
            continue
        attribute = vars(owner)[method]
        # An inherited method (fit from the shared base, score from
        # scikit-learn's mixin) gets its wrapper on the class itself, deleted
        # again on unpatching, so that the base class stays untouched.
        replaced[method] = (owner is cls, attribute)
        setattr(cls, method, _logged(name, method, attribute))
    _WRAPPED[name] = replaced


def _unwrap_methods(name):
    cls = _fastmlp_class(name)
    for method, (own, attribute) in _WRAPPED.pop(name, {}).items():
        if own:
            setattr(cls, method, attribute)
        else:
            delattr(cls, method)


def patch_sklearn(estimators=None):
    """Make scikit-learn's neural-network classes fastmlp's.

    Parameters
    ----------
    estimators : str or list of str, default=None
        Which of ``'MLPClassifier'``, ``'MLPRegressor'`` and ``'BernoulliRBM'``
        to patch; all three by default. Patching a patched class does nothing.

    Examples
    --------
    >>> import fastmlp
    >>> fastmlp.patch_sklearn()
    >>> from sklearn.neural_network import MLPClassifier
    >>> MLPClassifier is fastmlp.MLPClassifier
    True
    >>> fastmlp.unpatch_sklearn()
    """
    for name in _check_names(estimators):
        sklearn_class(name)  # recorded before it is replaced
        if name in _WRAPPED:
            continue
        fast = _fastmlp_class(name)
        _wrap_methods(name)
        for module_name in _MODULES[name]:
            setattr(importlib.import_module(module_name), name, fast)
        logger.info("patched sklearn.neural_network.%s with fastmlp.%s", name, name)


def unpatch_sklearn(estimators=None):
    """Give scikit-learn's modules their own classes back.

    Parameters
    ----------
    estimators : str or list of str, default=None
        The classes to restore; all three by default. Restoring a class that
        is not patched does nothing.
    """
    for name in _check_names(estimators):
        if name not in _WRAPPED:
            continue
        original = sklearn_class(name)
        for module_name in _MODULES[name]:
            setattr(importlib.import_module(module_name), name, original)
        _unwrap_methods(name)
        logger.info("restored scikit-learn's sklearn.neural_network.%s", name)


def is_patched(estimators=None):
    """True if every one of ``estimators`` (all three by default) is patched now.

    Parameters
    ----------
    estimators : str or list of str, default=None
        The classes to ask about.

    Returns
    -------
    patched : bool
        Whether scikit-learn's modules give fastmlp's class for each of them.
    """
    names = _check_names(estimators)
    for name in names:
        for module_name in _MODULES[name]:
            module = sys.modules.get(module_name)
            if module is None or getattr(module, name, None) is not _fastmlp_class(name):
                return False
    return True


@contextlib.contextmanager
def sklearn_patched(estimators=None):
    """Context manager: patched inside the ``with`` block, as before after it.

    Parameters
    ----------
    estimators : str or list of str, default=None
        The classes to patch; all three by default.

    Examples
    --------
    >>> import fastmlp
    >>> with fastmlp.sklearn_patched():
    ...     from sklearn.neural_network import MLPRegressor
    >>> MLPRegressor is fastmlp.MLPRegressor
    True
    """
    names = _check_names(estimators)
    before = [n for n in names if n in _WRAPPED]
    patch_sklearn(names)
    try:
        yield
    finally:
        unpatch_sklearn([n for n in names if n not in before])


def _program_frames(tb):
    """``tb`` less its leading frames of this module and of runpy.

    A program run by :func:`run_main` then shows the traceback it would show
    run directly, starting at its own code.
    """
    while tb is not None and tb.tb_frame.f_globals.get("__name__") in (__name__, "runpy"):
        tb = tb.tb_next
    return tb


def _run_source_file(path):
    """Run the script ``path`` as ``python path`` does: as ``__main__``, for good.

    Not ``runpy.run_path``, which rewrites ``sys.argv[0]`` and lends the
    program a ``__main__`` module only while it runs.
    """
    import builtins
    import types

    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = builtins
    main.__spec__ = None
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    sys.modules["__main__"] = main
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    exec(code, vars(main))


def run_main(argv):
    """``python -m fastmlp run``: run a script or module with scikit-learn patched.

    Parameters
    ----------
    argv : list of str
        ``[SCRIPT, ARG, ...]`` or ``['-m', MODULE, ARG, ...]``, as given to
        ``python`` itself.

    Returns
    -------
    code : int
        0, or 1 after printing the traceback of an exception the program did
        not catch; a ``SystemExit`` of the program passes through, so the exit
        code is the program's.
    """
    import argparse
    import os
    import runpy

    parser = argparse.ArgumentParser(
        prog="python -m fastmlp run",
        usage="%(prog)s [-h] (SCRIPT | -m MODULE) [ARG ...]",
        description="Run a Python script, or a module as `python -m MODULE` would, with "
        "scikit-learn's MLPClassifier, MLPRegressor and BernoulliRBM patched to fastmlp's. "
        "The program sees the sys.argv, and gives the exit code and tracebacks, it would "
        "run directly. Log which class served each call with "
        "logging.getLogger('fastmlp').setLevel(logging.INFO) and a handler.",
    )
    parser.add_argument("SCRIPT", nargs="?", help="path of the script to run")
    parser.add_argument("-m", metavar="MODULE", dest="module", help="module to run")
    parser.add_argument("ARG", nargs="*", help="arguments passed to the program")
    if argv[:1] in (["-h"], ["--help"]):
        parser.print_help()
        return 0
    if argv[:1] == ["-m"] and len(argv) > 1:
        module, script, args = argv[1], None, argv[2:]
    elif argv and argv[0].startswith("-m") and len(argv[0]) > 2:  # -mMODULE, as python takes
        module, script, args = argv[0][2:], None, argv[1:]
    elif argv and not argv[0].startswith("-"):
        module, script, args = None, argv[0], argv[1:]
    else:
        parser.error("give a SCRIPT or -m MODULE")

    patch_sklearn()
    # What `python SCRIPT` / `python -m MODULE` would give the program; runpy
    # puts the module's file in argv[0] for -m, as python does.
    sys.argv = [script or module] + list(args)
    try:
        if module is not None:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            path = os.path.abspath(script)
            if not os.path.exists(path):
                print("%s: can't open file %r: [Errno 2] No such file or directory"
                      % (sys.executable, path), file=sys.stderr)
                return 2
            sys.path[0] = os.path.dirname(path)
            if os.path.isfile(path) and not zipfile.is_zipfile(path):
                _run_source_file(path)
            else:  # a directory or zip file with a __main__.py
                runpy.run_path(path, run_name="__main__")
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        # The hook prints the exception's own __traceback__, so it is cut there.
        tb = _program_frames(exc.__traceback__)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        return 1
    return 0
