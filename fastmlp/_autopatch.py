"""The opt-in patch of every new process: ``python -m fastmlp patch --install``.

It writes one ``.pth`` file into the environment's site-packages (or the user
site with ``--user``). Python runs a ``.pth`` file's ``import`` lines at every
start-up; this one only puts an import hook in ``sys.meta_path``, so that a
process which never imports ``sklearn.neural_network`` loads nothing more,
and one that does gets it patched (:func:`fastmlp.patch_sklearn`) as soon as
it is loaded, before any code can take a class from it. ``--uninstall``
deletes the file; ``FASTMLP_NO_PATCH=1`` turns the hook off in one process;
if fastmlp is uninstalled and the file left behind, the hook does nothing.

The hook cannot live in the fastmlp package: importing any of its modules
runs ``fastmlp/__init__.py``, which imports Numba, at start-up of every
process. Its source is therefore written into the ``.pth`` line itself.
"""

import argparse
import os
import site
import sysconfig

PTH_NAME = "fastmlp-patch.pth"

# Runs at interpreter start-up, before fastmlp (or anything) can be imported.
HOOK_SOURCE = '''
import os, sys


class FastmlpPatchLoader:
    """Loads sklearn.neural_network as usual, then patches it with fastmlp."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        # The module looks as if loaded without the hook.
        module.__loader__ = module.__spec__.loader = self.loader
        try:
            from fastmlp.patching import patch_sklearn
        except ImportError:
            return  # fastmlp was uninstalled: scikit-learn stays itself
        try:
            patch_sklearn()
        except Exception as exc:
            import warnings

            warnings.warn("fastmlp could not patch scikit-learn: %r" % (exc,))


class FastmlpPatchFinder:
    """Patch sklearn.neural_network with fastmlp when it is imported.

    Put here by the .pth file of `python -m fastmlp patch --install`.
    """

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "sklearn.neural_network":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is cls or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = FastmlpPatchLoader(spec.loader)
                return spec
        return None


# Once, though the .pth may be in both the environment and the user site.
if not os.environ.get("FASTMLP_NO_PATCH") and not any(
    getattr(f, "__name__", None) == "FastmlpPatchFinder" for f in sys.meta_path
):
    sys.meta_path.insert(0, FastmlpPatchFinder)
'''


def pth_line():
    """The one line of the ``.pth`` file (``.pth`` code must fit on one ``import`` line)."""
    # A namespace of its own: site runs the line inside a function, where
    # classes defined by a bare exec could not see each other.
    return "import sys; exec(%r, {'__name__': 'fastmlp_patch_hook'})\n" % HOOK_SOURCE


def site_dir(user=False):
    """The directory the ``.pth`` goes into: site-packages, or the user site."""
    return site.getusersitepackages() if user else sysconfig.get_paths()["purelib"]


def install(directory):
    """Write the ``.pth`` file into ``directory``; returns its path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, PTH_NAME)
    with open(path, "w") as f:
        f.write("# Written by `python -m fastmlp patch --install`: every new Python process\n"
                "# gets scikit-learn's neural networks patched with fastmlp's on import.\n"
                "# Remove with `python -m fastmlp patch --uninstall` (or delete this file).\n")
        f.write(pth_line())
    return path


def uninstall(directory):
    """Delete the ``.pth`` file from ``directory``; returns its path, or None if absent."""
    path = os.path.join(directory, PTH_NAME)
    if not os.path.exists(path):
        return None
    os.remove(path)
    return path


def main(argv):
    """``python -m fastmlp patch``: install, uninstall or report the every-process patch."""
    parser = argparse.ArgumentParser(
        prog="python -m fastmlp patch",
        description="Patch scikit-learn's neural networks with fastmlp's in every new "
        "Python process of this environment (a .pth file in site-packages), or undo it. "
        "FASTMLP_NO_PATCH=1 turns the patch off in one process.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--install", action="store_true", help="patch every new process")
    action.add_argument("--uninstall", action="store_true", help="undo --install")
    action.add_argument("--status", action="store_true",
                        help="say where the patch is installed, and whether this process is "
                        "patched")
    parser.add_argument("--user", action="store_true",
                        help="the user site-packages (%s) instead of the environment's"
                        % site.getusersitepackages())
    args = parser.parse_args(argv)
    directory = site_dir(args.user)
    if args.install:
        if args.user and not site.ENABLE_USER_SITE:
            parser.error("this Python does not read the user site-packages (a virtual "
                         "environment?); install without --user")
        print("installed %s" % install(directory))
    elif args.uninstall:
        path = uninstall(directory)
        print("removed %s" % path if path else "not installed in %s" % directory)
    else:
        for where, user in (("environment", False), ("user", True)):
            path = os.path.join(site_dir(user), PTH_NAME)
            print("%s: %s" % (where, path if os.path.exists(path) else "not installed"))
        # Asking imports scikit-learn's module, which the hook (if any) patches.
        import sklearn.neural_network  # noqa: F401

        from .patching import is_patched

        print("this process: %s" % ("patched" if is_patched() else "not patched"))
    return 0
