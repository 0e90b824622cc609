"""``python -m fastmlp COMMAND [...]``: fastmlp's command line.

Each command is a function of its own module that takes the arguments after
its name (a list of str), parses them itself (so ``--help`` after a command
is that command's) and returns the exit code. The front end only lists and
dispatches: adding a command is one line in :data:`COMMANDS`.
"""

import argparse
import importlib
import sys

#: name -> ("module:function", one-line help)
COMMANDS = {
    "bench": ("fastmlp.bench:main", "time fastmlp against scikit-learn"),
    "run": ("fastmlp.patching:run_main",
            "run a script (or -m module) with scikit-learn patched to fastmlp"),
    "patch": ("fastmlp._autopatch:main",
              "patch scikit-learn in every new process of this environment, or undo it"),
    "compile": ("fastmlp._warmup:main",
                "fill the Numba cache for every solver, dtype and input kind"),
}


def _parser():
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="python -m fastmlp",
        description="fastmlp: scikit-learn's neural networks, trained by compiled kernels. "
        "`python -m fastmlp COMMAND --help` describes a command.",
    )
    parser.add_argument("--version", action="version", version="fastmlp " + __version__)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command",
                                     required=True)
    for name, (_, help_text) in COMMANDS.items():
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv=None):
    """Run the command named by ``argv[0]`` on the rest; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        module, function = COMMANDS[argv[0]][0].split(":")
        return getattr(importlib.import_module(module), function)(argv[1:])
    # --help and --version exit 0; no command, or an unknown one, exits 2 with usage.
    _parser().parse_args(argv)
    return 2


if __name__ == "__main__":
    sys.exit(main())
