import os
import sys

# tests/naive.py holds the NumPy references; make it importable as `naive`.
sys.path.insert(0, os.path.dirname(__file__))

# FASTMLP_COMPILE_REPORT=1: sum Numba's compile events of this pytest process
# (not of the subprocesses some tests start) and print them at the end, to
# see what a cold-cache test run spends compiling.
_compile_recorder = None
if os.environ.get("FASTMLP_COMPILE_REPORT"):
    from fastmlp._compile_profile import CompileRecorder, top_functions

    _compile_recorder = CompileRecorder().install()


def pytest_terminal_summary(terminalreporter):
    if _compile_recorder is None:
        return
    rec = _compile_recorder
    write = terminalreporter.write_line
    write("Numba compile events: %.1f s in %d compilations of %d functions"
          % (rec.total(), len(rec.records), len({r[0] for r in rec.records})))
    for name, n, seconds in top_functions(rec.records, 15):
        write("  %6.2f s  %3dx  %s" % (seconds, n, name))
