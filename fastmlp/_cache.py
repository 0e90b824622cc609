"""Where fastmlp's compiled kernels are cached, including on read-only installs.

Numba looks for a place to cache each ``cache=True`` function, in order:
``NUMBA_CACHE_DIR`` if set, the ``__pycache__`` next to the source, the
user-wide cache (``~/.cache/numba``), and two special cases (IPython
cells, zipped packages); each only if it can write there. With none
writable (a read-only site-packages and HOME: a locked-down container, a
service account) it raises ``RuntimeError: cannot cache function ...: no
locator available`` when the module is imported, and a read-only
``NUMBA_CACHE_DIR`` holding a warm cache is passed over.

fastmlp adds three locators to Numba's list (every Numba function in the
process sees them, but only a function that would otherwise fail or miss a
read-only warm cache is affected):

* after Numba's ``NUMBA_CACHE_DIR`` locator, :class:`ReadOnlyCacheDirLocator`:
  ``NUMBA_CACHE_DIR`` is set but not writable and holds this function's
  index: the cache there is loaded;
* after the in-tree one, :class:`ReadOnlyInTreeLocator`: the source's
  ``__pycache__`` is not writable and holds this function's index (a cache
  baked into an image by ``python -m fastmlp compile``);
* last, :class:`InMemoryLocator`: nowhere to read or write.

Functions of the last two kinds never write: compiling one keeps the machine
code in memory for the process and warns once per process
(:class:`CacheNotWritableWarning`).
"""

import os
import warnings

from numba.core import caching, config


# Numba 0.60 made the locators public; 0.59 (the declared floor) has them
# under a leading underscore, with the same interface.
_UserProvidedCacheLocator = getattr(caching, "UserProvidedCacheLocator", None) or getattr(
    caching, "_UserProvidedCacheLocator")
_InTreeCacheLocator = getattr(caching, "InTreeCacheLocator", None) or getattr(
    caching, "_InTreeCacheLocator")


class CacheNotWritableWarning(UserWarning):
    """A kernel was compiled with nowhere to save it: the next process compiles it again."""


_warned = False


def _warn_once(path):
    global _warned
    if _warned:
        return
    _warned = True
    where = ("the read-only cache in %s lacks it" % path) if path else "no directory is writable"
    warnings.warn(
        "fastmlp: Numba compiled a kernel that it cannot cache (%s: NUMBA_CACHE_DIR, the "
        "package's __pycache__ and ~/.cache/numba were tried); compiled kernels stay in "
        "this process's memory and every new process compiles them again. Set "
        "NUMBA_CACHE_DIR to a writable directory, or fill a cache once with "
        "`python -m fastmlp compile` (see the README, 'Cold start and the Numba cache')."
        % where,
        CacheNotWritableWarning,
        stacklevel=2,
    )


class _ReadOnlyMixin:
    """A locator of a directory that is read and never written."""

    def ensure_cache_path(self):
        # Numba calls this before saving; fastmlp's caches on these locators
        # never save (see LoadOnlyCache), and a read needs no directory.
        pass

    def _has_index(self, py_func):
        # The index file is named after the module, the qualified name and
        # the first line, as Numba's CacheImpl names it.
        modname = os.path.splitext(os.path.basename(self._py_file))[0]
        base = "%s.%s-%d.py" % (modname, py_func.__qualname__.replace("<", "").replace(">", ""),
                                py_func.__code__.co_firstlineno)
        path = self.get_cache_path()
        try:
            return any(name.startswith(base) and name.endswith(".nbi")
                       for name in os.listdir(path))
        except OSError:
            return False


class ReadOnlyCacheDirLocator(_ReadOnlyMixin, _UserProvidedCacheLocator):
    """``NUMBA_CACHE_DIR``, not writable, holding this function's cache index."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if not config.CACHE_DIR or not os.path.exists(py_file):
            return None
        self = cls(py_func, py_file)
        return self if self._has_index(py_func) else None


class ReadOnlyInTreeLocator(_ReadOnlyMixin, _InTreeCacheLocator):
    """The source's ``__pycache__``, not writable, holding this function's cache index."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if not os.path.exists(py_file):
            return None
        self = cls(py_func, py_file)
        return self if self._has_index(py_func) else None


class InMemoryLocator(_ReadOnlyMixin, _InTreeCacheLocator):
    """The last resort: nothing to load, nowhere to save."""

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file) if os.path.exists(py_file) else None

    def get_cache_path(self):
        return ""


_READ_ONLY = (ReadOnlyCacheDirLocator, ReadOnlyInTreeLocator, InMemoryLocator)


class QuickLoadCache(caching.FunctionCache):
    """A function cache whose loads skip what only a compile needs.

    Numba's ``load_overload`` first refreshes the target context: it imports
    and registers the typing and lowering of everything Numba can compile
    (0.3-0.5 s, once a process), which a load does not use; a compile does
    it itself before typing. Of that, loaded machine code needs only Numba's
    runtime (allocation, reference counts), started here.
    """

    def load_overload(self, sig, target_context):
        from numba.core.runtime import rtsys

        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)


class LoadOnlyCache(QuickLoadCache):
    """A function cache that loads from its locator's directory and never saves."""

    def _save_overload(self, sig, data):
        locator = self._impl.locator
        _warn_once(None if isinstance(locator, InMemoryLocator) else locator.get_cache_path())

    def load_overload(self, sig, target_context):
        if isinstance(self._impl.locator, InMemoryLocator):
            return None
        return super().load_overload(sig, target_context)


def install():
    """Add fastmlp's locators to Numba's list (once; before any kernel is defined)."""
    classes = caching.CacheImpl._locator_classes
    if ReadOnlyCacheDirLocator in classes:
        return
    at = classes.index(_UserProvidedCacheLocator) + 1
    classes.insert(at, ReadOnlyCacheDirLocator)
    at = classes.index(_InTreeCacheLocator) + 1
    classes.insert(at, ReadOnlyInTreeLocator)
    classes.append(InMemoryLocator)


def adopt(dispatcher):
    """Give ``dispatcher`` (a cached Numba function) fastmlp's loading and saving.

    Its cache loads without Numba's compile-only set-up
    (:class:`QuickLoadCache`) and, if read-only, never saves
    (:class:`LoadOnlyCache`). Returns the dispatcher.
    """
    cache = getattr(dispatcher, "_cache", None)
    if type(cache) is caching.FunctionCache:
        # Same data, a subclass that only overrides saving and loading.
        read_only = isinstance(cache._impl.locator, _READ_ONLY)
        cache.__class__ = LoadOnlyCache if read_only else QuickLoadCache
    return dispatcher
