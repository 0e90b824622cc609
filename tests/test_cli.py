"""``python -m fastmlp``: help at every level, usage errors, requirements checked first."""

import os
import subprocess
import sys

import pytest

from fastmlp.__main__ import COMMANDS, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, code=None):
    """Run ``python -m fastmlp ARGS`` (or ``code``) in a new process of this checkout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    argv = [sys.executable, "-c", code] if code else [sys.executable, "-m", "fastmlp", *args]
    return subprocess.run(argv + (list(args) if code else []), capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.mark.parametrize("args", [["--help"], ["-h"]] + [[c, "--help"] for c in COMMANDS])
def test_help_at_every_level_exits_0(args):
    got = cli(*args)
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("usage: python -m fastmlp"), got.stdout
    if args[0].startswith("-"):
        for command in COMMANDS:  # the top level lists every command
            assert command in got.stdout


@pytest.mark.parametrize("args", [[], ["nope"], ["--bogus"], ["run"], ["run", "-x"],
                                  ["patch"], ["patch", "--install", "--uninstall"],
                                  ["bench", "--only", "nope"]])
def test_bad_usage_exits_2_with_usage(args):
    got = cli(*args)
    assert got.returncode == 2
    assert "usage: python -m fastmlp" in got.stderr and "error" in got.stderr


def test_version_and_in_process_dispatch(capsys):
    assert cli("--version").stdout.strip().startswith("fastmlp ")
    # The front end hands the rest of argv to the command and returns its code.
    assert main(["bench", "--list"]) == 0
    assert "rbm_batch10" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["nope"])
    assert exc.value.code == 2


def test_every_command_resolves():
    import importlib

    for name, (target, help_text) in COMMANDS.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), name
        assert help_text


def test_bench_plot_without_matplotlib_fails_before_any_work(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from fastmlp.__main__ import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    got = cli("bench", "--quick", "--only", "digits_lbfgs", "--plot",
              str(tmp_path / "x.png"), code=code)
    assert got.returncode != 0
    assert "--plot needs matplotlib" in got.stderr
    # Nothing started: no machine line, no compiling, no workload.
    assert "compiling" not in got.stderr and "[1/1]" not in got.stderr, got.stderr
    assert not (tmp_path / "x.png").exists()
