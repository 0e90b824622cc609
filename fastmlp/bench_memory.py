"""``python -m fastmlp.bench_memory``: memory and epoch time of a fit on a memmap.

Fits one MLPClassifier (``--target binary``, the default: early stopping
draws a stratified split; ``multilabel``: three 0/1 columns, and
``regression``, an MLPRegressor: both a plain shuffled split) on the same
float32 ``rows x features`` array, read
either from an ``np.memmap`` of a ``.npy`` file (in the page cache: the file
is read through once first) or loaded into memory, with and without early
stopping. Each case runs in its own process, so the peaks do not mix, and
reports:

* ``extra anon``: the process's peak anonymous memory (``RssAnon`` of
  ``/proc/<pid>/status``, sampled every 5 ms by this parent process; file
  pages of the memmap are not anonymous) minus its level just before
  ``fit``, as a share of X's size. Goal: at most 5%.
* ``numpy peak``: the NumPy heap peak of the same fit under ``tracemalloc``
  (exact, not sampled), as a share of X's size.
* seconds per epoch (compile time excluded: a small fit compiles first),
  and the memmap epoch over the in-memory one, measured in one more
  process holding both, the four cases alternating over ``--rounds``
  rounds (the minimum is kept), so that the machine's drift touches all
  alike. Goal: at most 1.3x.

Linux only (``/proc``). The file goes to ``--dir`` (a temporary directory
by default) and is removed afterwards.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np

CASES = [
    ("memory", False),
    ("memmap", False),
    ("memory", True),
    ("memmap", True),
]


def _status_kb(pid, field):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


TARGETS = ("binary", "multilabel", "regression")


def _write_data(path, rows, features, target="binary", seed=0):
    """A float32 ``.npy`` of ``rows x features`` and a target of that kind; written in blocks."""
    rng = np.random.RandomState(seed)
    X = np.lib.format.open_memmap(path + "X.npy", mode="w+", dtype=np.float32,
                                  shape=(rows, features))
    w = rng.randn(features, 3).astype(np.float32)
    y = np.empty((rows, 3) if target == "multilabel" else rows,
                 dtype=np.float32 if target == "regression" else np.int64)
    for start in range(0, rows, 50_000):
        block = rng.rand(min(50_000, rows - start), features).astype(np.float32)
        X[start : start + block.shape[0]] = block
        score = block @ w - 0.5 * w.sum(axis=0)
        if target == "binary":
            score = score[:, 0] > 0
        elif target == "multilabel":
            score = score > 0
        else:
            score = score[:, 0] / np.abs(w[:, 0]).sum()
        y[start : start + block.shape[0]] = score
    X.flush()
    del X
    np.save(path + "y.npy", y)


def _load(path, source):
    X = np.load(path + "X.npy", mmap_mode="r" if source == "memmap" else None)
    if source == "memmap":
        # Into the page cache: every page read once.
        for start in range(0, X.shape[0], 100_000):
            float(X[start : start + 100_000].sum())
    return X


def _params(early_stopping, hidden):
    return dict(hidden_layer_sizes=(hidden,), early_stopping=early_stopping,
                random_state=0, tol=0.0, n_iter_no_change=10**6)


def _estimator(target):
    from . import MLPClassifier, MLPRegressor

    return MLPRegressor if target == "regression" else MLPClassifier


def _case(path, source, early_stopping, epochs, hidden, target):
    """One memory case, in this (child) process; prints JSON lines for the parent."""
    import tracemalloc

    from sklearn.exceptions import ConvergenceWarning

    Estimator = _estimator(target)
    warnings.simplefilter("ignore", ConvergenceWarning)
    y = np.load(path + "y.npy")
    X = _load(path, source)
    params = _params(early_stopping, hidden)
    Estimator(max_iter=1, **params).fit(X[:2000], y[:2000])  # compiles

    print(json.dumps({"before_kb": _status_kb("self", "RssAnon")}), flush=True)
    Estimator(max_iter=epochs, **params).fit(X, y)
    print(json.dumps({"fitted": True}), flush=True)

    tracemalloc.start()
    Estimator(max_iter=1, **params).fit(X, y)
    numpy_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"numpy_peak": numpy_peak, "x_bytes": int(X.nbytes),
                      "rss_file_kb": _status_kb("self", "RssFile")}), flush=True)


def _timing(path, epochs, hidden, rounds, target):
    """Seconds per epoch, memmap and in memory alternately in this one process."""
    from sklearn.exceptions import ConvergenceWarning

    Estimator = _estimator(target)
    warnings.simplefilter("ignore", ConvergenceWarning)
    y = np.load(path + "y.npy")
    sources = {"memory": _load(path, "memory"), "memmap": _load(path, "memmap")}
    start = time.perf_counter()
    Estimator(max_iter=1, **_params(True, hidden)).fit(sources["memory"][:2000], y[:2000])
    Estimator(max_iter=1, **_params(False, hidden)).fit(sources["memory"][:2000], y[:2000])
    best = {"compile_s": time.perf_counter() - start}
    for _ in range(rounds):
        for source, es in CASES:
            est = Estimator(max_iter=epochs, **_params(es, hidden))
            time.sleep(0.2)  # BLAS and Numba threads of the last fit stop spinning
            t0 = time.perf_counter()
            est.fit(sources[source], y)
            seconds = (time.perf_counter() - t0) / est.n_iter_
            key = "%s %d" % (source, es)
            best[key] = min(best.get(key, np.inf), seconds)
    print(json.dumps(best), flush=True)


def _child(args):
    cmd = [sys.executable, "-m", "fastmlp.bench_memory"] + [str(a) for a in args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def _run_case(path, source, early_stopping, epochs, hidden, target):
    """Run one memory case in a child process, sampling its RssAnon from here."""
    child = _child(["--case", source, int(early_stopping), path, epochs, hidden, target])
    lines = []

    def read():
        for line in child.stdout:
            lines.append(json.loads(line))

    reader = threading.Thread(target=read)
    reader.start()
    while not lines and child.poll() is None:
        time.sleep(0.005)
    peak = lines[0]["before_kb"] if lines else 0
    # Until the timed fit is over; the tracemalloc fit after it allocates
    # tracemalloc's own records too.
    while len(lines) < 2 and child.poll() is None:
        try:
            peak = max(peak, _status_kb(child.pid, "RssAnon"))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.005)
    reader.join()
    if child.wait() != 0 or len(lines) < 3:
        raise RuntimeError("case %s, early_stopping=%s failed" % (source, early_stopping))
    result = {**lines[0], **lines[2], "peak_kb": peak, "source": source,
              "early_stopping": early_stopping}
    return result


def _table(results, timing):
    lines = ["| X source | early stopping | extra anon (% of X) | NumPy heap peak (% of X) "
             "| s / epoch | vs in memory |", "|---|---|---|---|---|---|"]
    for r in results:
        extra = (r["peak_kb"] - r["before_kb"]) * 1024 / r["x_bytes"]
        es = int(r["early_stopping"])
        seconds = timing["%s %d" % (r["source"], es)]
        lines.append("| %s | %s | %.1f%% | %.1f%% | %.2f | %.2fx |" % (
            r["source"], bool(es), 100 * extra, 100 * r["numpy_peak"] / r["x_bytes"],
            seconds, seconds / timing["memory %d" % es]))
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--case":
        source, es, path, epochs, hidden, target = argv[1:7]
        _case(path, source, bool(int(es)), int(epochs), int(hidden), target)
        return 0
    if argv and argv[0] == "--timing":
        path, epochs, hidden, rounds, target = argv[1:6]
        _timing(path, int(epochs), int(hidden), int(rounds), target)
        return 0
    parser = argparse.ArgumentParser(prog="python -m fastmlp.bench_memory",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2,
                        help="timing rounds over the four cases (the minimum is kept)")
    parser.add_argument("--target", choices=TARGETS, default="binary",
                        help="binary: a stratified early-stopping split; multilabel and "
                             "regression: a shuffled one")
    parser.add_argument("--dir", default=None, help="where the .npy file goes")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "")
        t0 = time.perf_counter()
        _write_data(path, args.rows, args.features, args.target)
        print("data: %d x %d float32 (%.0f MB) written in %.1f s" % (
            args.rows, args.features, args.rows * args.features * 4 / 2**20,
            time.perf_counter() - t0), file=sys.stderr)
        results = []
        for source, es in CASES:
            results.append(_run_case(path, source, es, args.epochs, args.hidden,
                                     args.target))
            print("done: %s, early_stopping=%s" % (source, es), file=sys.stderr)
        timer = _child(["--timing", path, args.epochs, args.hidden, args.rounds,
                        args.target])
        timing = json.loads(timer.communicate()[0].strip().splitlines()[-1])
        if timer.returncode != 0:
            raise RuntimeError("the timing process failed")
    print("%s(hidden_layer_sizes=(%d,)), %d epochs, %d x %d float32 (%s target), load "
          "average %.1f at the start, %.1f at the end; compile %.1f s (not timed)" % (
              "MLPRegressor" if args.target == "regression" else "MLPClassifier",
              args.hidden, args.epochs, args.rows, args.features, args.target, load_before,
              os.getloadavg()[0], timing["compile_s"]))
    print(_table(results, timing))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"memory": results, "timing": timing}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
