"""How fastmlp picks its threads: usable cores, the chooser, and what never changes."""

import os
import signal
import subprocess
import sys
import textwrap
import warnings

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

import fastmlp._threads as T
from fastmlp import BernoulliRBM, MLPClassifier, MLPRegressor


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_is_read_at_the_process_cgroup_and_the_root(tmp_path):
    proc, root = tmp_path / "proc", tmp_path / "cg"
    _write(proc / "cgroup", "0::/app.slice/job\n")
    _write(root / "app.slice/job/cpu.max", "150000 100000\n")
    assert T.cgroup_cpu_limit(str(proc), str(root)) == pytest.approx(1.5)
    # Inside a container the limit sits at the root of the namespace.
    _write(proc / "cgroup", "0::/\n")
    _write(root / "cpu.max", "50000 100000\n")
    assert T.cgroup_cpu_limit(str(proc), str(root)) == pytest.approx(0.5)
    _write(root / "cpu.max", "max 100000\n")
    assert T.cgroup_cpu_limit(str(proc), str(root)) is None


def test_cgroup_v1_quota_and_no_quota(tmp_path):
    proc, root = tmp_path / "proc", tmp_path / "cg"
    _write(proc / "cgroup", "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n0::/\n")
    _write(root / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000\n")
    _write(root / "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
    assert T.cgroup_cpu_limit(str(proc), str(root)) == pytest.approx(2.5)
    _write(root / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n")
    assert T.cgroup_cpu_limit(str(proc), str(root)) is None
    assert T.cgroup_cpu_limit(str(tmp_path / "nowhere"), str(tmp_path / "none")) is None


_AFFINITY = """
import os, json
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
import numpy as np, fastmlp, numba
from fastmlp._threads import thread_budget, usable_cores
X = np.random.RandomState(0).rand(300, 8); y = (X[:, 0] > 0.5).astype(int)
est = fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)
print(json.dumps([usable_cores(), thread_budget(), numba.get_num_threads()]))
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_one_core_of_affinity_gives_a_budget_of_one():
    """Pinned after start-up (Numba's pool already sized for every core): one thread."""
    out = subprocess.run([sys.executable, "-c", _AFFINITY], capture_output=True, text=True,
                         check=True)
    usable, budget, _ = eval(out.stdout.strip().splitlines()[-1])
    assert (usable, budget) == (1, 1)


def test_usable_cores_within_the_quota(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    # Every call reads the quota again (it is kept for a second otherwise).
    monkeypatch.setattr(T, "_QUOTA_SECONDS", 0.0)
    monkeypatch.setattr(T, "cgroup_cpu_limit", lambda: None)
    assert T.usable_cores() == cores
    monkeypatch.setattr(T, "cgroup_cpu_limit", lambda: 0.5)
    assert T.usable_cores() == 1
    monkeypatch.setattr(T, "cgroup_cpu_limit", lambda: 1.2)
    assert T.usable_cores() == min(cores, 2)
    assert T.thread_budget() <= T.usable_cores()


def test_the_quota_is_kept_for_a_second(monkeypatch):
    reads = []
    monkeypatch.setattr(T, "cgroup_cpu_limit", lambda: reads.append(1) or 0.5)
    monkeypatch.setattr(T, "_quota", [None, -float("inf")])
    assert [T.usable_cores() for _ in range(5)] == [1] * 5
    assert len(reads) == 1
    T._quota[1] -= T._QUOTA_SECONDS
    assert T.usable_cores() == 1
    assert len(reads) == 2


def _simulate(chooser, cost, n_batches):
    """Drive ``chooser`` as run() does, with ``cost(threads, batch)`` seconds a batch."""
    used = {}
    spent = 0.0
    first = 0
    warm = False
    while first < n_batches:
        threads, n = chooser.next_chunk(n_batches - first)
        assert 1 <= n <= n_batches - first and threads in (1, chooser.budget)
        seconds = sum(cost(threads, b) for b in range(first, first + n))
        if warm:
            chooser.record(threads, n, seconds)
        warm = True
        used[threads] = used.get(threads, 0) + n
        spent += seconds
        first += n
    return used, spent


def test_chooser_keeps_to_the_threads_when_they_pay(monkeypatch):
    monkeypatch.setattr(T, "_runnable_elsewhere", lambda: 0)
    chooser = T.ThreadChooser(2)
    used, spent = _simulate(chooser, lambda t, b: 1e-4 if t == 2 else 1.4e-4, 20_000)
    ideal = 20_000 * 1e-4
    assert used[2] > 0.95 * 20_000
    assert spent < 1.02 * ideal


def test_chooser_leaves_the_threads_when_they_wait(monkeypatch):
    """Two threads 100x slower a batch (a busy machine): probing stays a few percent."""
    monkeypatch.setattr(T, "_runnable_elsewhere", lambda: 0)
    chooser = T.ThreadChooser(2)
    used, spent = _simulate(chooser, lambda t, b: 1e-2 if t == 2 else 1e-4, 20_000)
    ideal = 20_000 * 1e-4
    # The start on two threads (one batch unrecorded, one recorded) costs two
    # slow batches; after that, probes are held near PROBE_SHARE.
    assert spent < ideal * (1 + 2 * T.PROBE_SHARE) + 2 * 1e-2
    assert used[1] > 0.99 * 20_000


@pytest.mark.parametrize("batches, probed", [(12, False), (None, True), (34, True)])
def test_chooser_tries_one_thread_early_only_in_a_long_fit(monkeypatch, batches, probed):
    """Idle, a short fit of costly batches keeps to the threads that pay."""
    monkeypatch.setattr(T, "_runnable_elsewhere", lambda: 0)
    chooser = T.ThreadChooser(2, batches=batches)
    used, spent = _simulate(chooser, lambda t, b: 1e-2 if t == 2 else 1.8e-2, 12)
    assert (1 in used) is probed
    if not probed:
        assert spent == pytest.approx(12 * 1e-2)


def test_chooser_in_a_short_fit_still_leaves_threads_that_wait(monkeypatch):
    """The share rule still finds one thread when two wait, in a short fit too."""
    monkeypatch.setattr(T, "_runnable_elsewhere", lambda: 0)
    chooser = T.ThreadChooser(2, batches=20)
    used, _ = _simulate(chooser, lambda t, b: 1e-2 if t == 2 else 1e-4, 2_000)
    assert used[1] > 0.95 * 2_000


def test_chooser_keeps_its_mode_over_one_slow_chunk(monkeypatch):
    """One slow chunk (another process had the core a moment) does not move the fit."""
    monkeypatch.setattr(T, "_runnable_elsewhere", lambda: 0)
    chooser = T.ThreadChooser(2)
    # Two threads slow for 40 batches, which one 32-batch chunk and the
    # next share: without the second look, 1,000 batches went to one thread.
    used, _ = _simulate(
        chooser, lambda t, b: (3e-3 if 300 <= b < 340 else 1e-4) if t == 2 else 1.5e-4, 3_000)
    # Besides the probes (about PROBE_SHARE of the time), one thread never ran.
    assert used[1] * 1.5e-4 < 2 * T.PROBE_SHARE * 3_000 * 1e-4
    # Load that stays is left after its second chunk.
    chooser = T.ThreadChooser(2)
    used, _ = _simulate(chooser, lambda t, b: (3e-3 if b >= 300 else 1e-4) if t == 2 else 1.5e-4,
                        3_000)
    assert used[1] > 0.9 * 2_700


class _Clock:
    """A perf_counter that moves only when a simulated batch runs."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_chooser_does_not_time_the_first_batch_after_a_change_of_mode(monkeypatch):
    """Two threads' first batch after one thread's waits for a sleeping thread: not timed."""
    monkeypatch.setattr(T, "_runnable_elsewhere", lambda: 0)
    clock = _Clock()
    monkeypatch.setattr(T.time, "perf_counter", clock)
    chooser = T.ThreadChooser(2)
    modes = []
    last = [None]

    def call(first, stop):
        threads = chooser._probe_threads
        for _ in range(first, stop):
            woke = threads == 2 and last[0] == 1
            clock.now += (2e-4 + (2e-3 if woke else 0.0)) if threads == 2 else 3e-4
            last[0] = threads
            modes.append(threads)

    real = chooser.next_chunk

    def next_chunk(remaining):
        threads, n = real(remaining)
        chooser._probe_threads = threads
        return threads, n

    chooser.next_chunk = next_chunk
    for _ in range(200):
        chooser.run(9, call)
    # Every batch on two threads after one thread's costs 2.2 ms where the
    # rest cost 0.2 ms: timed, the probes would keep the fit on one thread.
    assert modes.count(2) > 0.95 * len(modes)
    assert chooser._per_batch[2] == pytest.approx(2e-4)


def test_chooser_started_busy_waits_before_trying_the_threads(monkeypatch):
    monkeypatch.setattr(T, "_runnable_elsewhere", lambda: 10)
    chooser = T.ThreadChooser(2)
    assert chooser.next_chunk(100) == (1, 1)
    used, spent = _simulate(chooser, lambda t, b: 2e-2 if t == 2 else 1e-4, 300)
    # 300 batches of 0.1 ms never earn a first try of two threads.
    assert used == {1: 300}


def test_chooser_follows_a_change_of_load(monkeypatch):
    monkeypatch.setattr(T, "_runnable_elsewhere", lambda: 0)
    chooser = T.ThreadChooser(2)

    def cost(t, b):
        busy = 5_000 <= b < 15_000
        if t == 2:
            return 1e-2 if busy else 1e-4
        return 1.5e-4

    used, spent = _simulate(chooser, cost, 20_000)
    # Idle for the first and last 5,000 batches, busy in between. Back on
    # one thread, a try of two threads (last seen at 1e-2 s a batch) waits
    # until PROBE_SHARE of the time covers it: 1e-2 / (0.03 * 1.5e-4), about
    # 2,200 batches. So 5,000 + 2,800 batches or more on two threads.
    assert 7_500 < used[2] < 10_500
    ideal = 10_000 * 1e-4 + 10_000 * 1.5e-4
    # Beyond the ideal: the chunk on two threads that the load falls on
    # (_MAX_SHARED_BATCHES slow batches), the wait before two threads are
    # tried again (2,200 batches at 0.5e-4 s more), and the probes.
    late = T._MAX_SHARED_BATCHES * 1e-2 + 2_300 * 0.5e-4
    assert spent < ideal * (1 + T.PROBE_SHARE) + late


def test_chooser_shares_the_budget_with_other_fits(monkeypatch):
    monkeypatch.setattr(T, "_runnable_elsewhere", lambda: 0)
    chooser = T.ThreadChooser(2)
    with T.fitting(), T.fitting():
        assert chooser.next_chunk(10)[0] == 1
    assert T.fits_running() == 0


def test_numba_threads_is_per_python_thread_and_restored():
    from concurrent.futures import ThreadPoolExecutor

    before = numba.get_num_threads()
    with T.numba_threads(1):
        assert numba.get_num_threads() == 1
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(numba.get_num_threads).result() == numba.config.NUMBA_NUM_THREADS
    assert numba.get_num_threads() == before


class _Alternating(T.ThreadChooser):
    """Every chunk one batch, on one thread and on all of them in turn."""

    def next_chunk(self, remaining):
        self._turn = not getattr(self, "_turn", False)
        return (self.budget if self._turn else 1), 1


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
@pytest.mark.parametrize("make", [
    lambda: (MLPClassifier(hidden_layer_sizes=(12,), batch_size=16, max_iter=3,
                           random_state=0), False),
    lambda: (MLPClassifier(hidden_layer_sizes=(12,), batch_size=16, max_iter=3,
                           random_state=0), True),
    lambda: (MLPRegressor(hidden_layer_sizes=(7, 5), solver="sgd", batch_size=10,
                          max_iter=3, random_state=1), False),
    lambda: (MLPClassifier(hidden_layer_sizes=(12,), solver="lbfgs", max_iter=15,
                           random_state=0), False),
    lambda: (MLPRegressor(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=15,
                          random_state=0), True),
    lambda: (BernoulliRBM(n_components=9, batch_size=7, n_iter=3, random_state=0), False),
    lambda: (BernoulliRBM(n_components=9, batch_size=40, n_iter=2, random_state=0), True),
], ids=["mlp", "mlp-csr", "regressor-sgd", "lbfgs", "lbfgs-regressor-csr", "rbm",
        "rbm-blas-csr"])
def test_the_chooser_never_changes_the_model(monkeypatch, make):
    """Chunks of one batch on alternating thread counts: the same bits as the default."""
    rng = np.random.RandomState(0)
    X = (rng.rand(150, 10) > 0.6).astype(float)
    est, sparse = make()
    y = X[:, 0] + X[:, 1] if isinstance(est, MLPRegressor) else (X[:, 0] > 0).astype(int)
    if sparse:
        X = sp.csr_matrix(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = est.fit(X, y)
        plain = [a.copy() for a in _fitted(plain)]
        monkeypatch.setattr("fastmlp._mlp.ThreadChooser", _Alternating)
        monkeypatch.setattr("fastmlp._rbm.ThreadChooser", _Alternating)
        again = _fitted(make()[0].fit(X, y))
    for a, b in zip(plain, again):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
@pytest.mark.parametrize("sparse", [False, True])
def test_the_thread_count_never_changes_a_prediction(sparse):
    """Over two blocks, the threads take the blocks as they come: the same bits on one thread."""
    from fastmlp._mlp import _PREDICT_BLOCK_ROWS, _prediction_block

    rng = np.random.RandomState(0)
    X = rng.rand(300, 12)
    y = rng.randint(3, size=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_layer_sizes=(9, 4), max_iter=2, random_state=0).fit(X, y)
    n = 5 * _PREDICT_BLOCK_ROWS + 17
    assert -(-n // _prediction_block(n, 12 * 9)) == 6  # an even number of blocks
    Xt = rng.rand(n, 12)
    if sparse:
        Xt[Xt < 0.5] = 0.0
        Xt = sp.csr_matrix(Xt)
    shared = [est.predict_proba(Xt) for _ in range(3)]
    with T.numba_threads(1):
        alone = est.predict_proba(Xt)
    for got in shared:
        np.testing.assert_array_equal(got, alone)


def test_prediction_blocks_depend_on_the_rows_and_the_work():
    from fastmlp._mlp import (_PREDICT_BLOCK_ROWS, _PREDICT_SPLIT_ROWS, _PREDICT_SPLIT_WORK,
                              _prediction_block)

    wide, narrow = 784 * 100, 64 * 100
    assert _prediction_block(1, wide) == 1
    assert _prediction_block(_PREDICT_SPLIT_ROWS - 1, wide) == _PREDICT_SPLIT_ROWS - 1
    # Up to a block's rows, a narrow network stays in one block (digits).
    assert _PREDICT_BLOCK_ROWS * narrow < _PREDICT_SPLIT_WORK
    assert _prediction_block(1797, narrow) == 1797
    for n, widest in ((_PREDICT_SPLIT_ROWS, wide), (1000, wide), (_PREDICT_BLOCK_ROWS, wide),
                      (_PREDICT_BLOCK_ROWS + 1, narrow), (2 * _PREDICT_BLOCK_ROWS + 1, wide),
                      (54_000, narrow)):
        block = _prediction_block(n, widest)
        blocks = -(-n // block)
        assert blocks >= 2 and blocks % 2 == 0 and block <= _PREDICT_BLOCK_ROWS
        # Equal blocks but the last, which is not empty.
        assert n - (blocks - 1) * block > 0


def _blas_counts():
    return [lib.num_threads for lib in T._blas_controller().lib_controllers]


def test_a_one_thread_prediction_holds_blas_to_one_thread_where_blas_would_thread():
    """Rows x widest layer from OpenBLAS's threading size: BLAS at one thread, then given back."""
    from fastmlp._mlp import _BLAS_THREADING_MIN, _one_thread_blas

    widest = 784 * 100
    before = _blas_counts()
    if max(before) < 2:
        pytest.skip("needs a BLAS of two threads")
    rows = -(-_BLAS_THREADING_MIN // widest)
    with _one_thread_blas(rows, widest):
        assert set(_blas_counts()) == {1}
    assert _blas_counts() == before
    # A single row, or a product below the size, leaves BLAS alone.
    for block, layer in ((1, widest), (rows, 8 * 4)):
        with _one_thread_blas(block, layer):
            assert _blas_counts() == before


_SPIN = """
import os, threading, time, warnings
import numpy as np, fastmlp
from threadpoolctl import threadpool_info
def others():
    me, ticks = threading.get_native_id(), 0
    for t in os.listdir("/proc/self/task"):
        if int(t) != me:
            fields = open("/proc/self/task/%s/stat" % t).read().rsplit(") ", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks
rng = np.random.RandomState(0)
X = rng.rand(600, 784)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    est = fastmlp.MLPClassifier(hidden_layer_sizes=(100,), max_iter=1, random_state=0).fit(
        X, rng.randint(10, size=600))
pthreads = [i for i in threadpool_info() if i["user_api"] == "blas"
            and i.get("threading_layer") == "pthreads" and i["num_threads"] > 1]
spent = []
for rows in (10, 100):
    time.sleep(0.3)
    before = others()
    est.predict_proba(X[:rows])
    time.sleep(0.3)
    spent.append(others() - before)
print(len(pthreads), max(spent))
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc")
def test_a_small_prediction_leaves_no_blas_thread_spinning():
    """OpenBLAS's threads spin about 0.1 s after a call they ran: 10 CPU ticks a predict here.

    A 10- or 100-row predict of 784 -> 100 -> 10 (one block, one thread)
    now keeps BLAS to the calling thread, so no other thread of the
    process runs in the 0.3 s after it (a tick is 10 ms; 3 allow for
    Numba's and the interpreter's own housekeeping).
    """
    out = subprocess.run([sys.executable, "-c", _SPIN], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    pthreads, ticks = map(int, out.stdout.split())
    if not pthreads:
        pytest.skip("no multi-threaded pthreads BLAS to spin")
    assert ticks <= 3


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
def test_a_split_prediction_under_a_block_is_the_same_on_one_thread():
    """1,000 rows of a wide network: two blocks shared by the threads, the bits of one thread."""
    from fastmlp._mlp import _prediction_block

    rng = np.random.RandomState(1)
    X = rng.rand(1000, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_layer_sizes=(200,), max_iter=1, random_state=0).fit(
            X[:300], rng.randint(3, size=300))
    assert _prediction_block(1000, 100 * 200) == 500
    shared = est.predict_proba(X)
    with T.numba_threads(1):
        np.testing.assert_array_equal(est.predict_proba(X), shared)
    # Each block as the one-block prediction of its own rows.
    np.testing.assert_array_equal(np.vstack([est.predict_proba(X[:500]),
                                             est.predict_proba(X[500:])]), shared)


def _fitted(est):
    if isinstance(est, BernoulliRBM):
        return [est.components_, est.intercept_hidden_, est.intercept_visible_, est.h_samples_]
    curve = est.loss_curve_ if hasattr(est, "loss_curve_") else [est.loss_]
    return list(est.coefs_) + list(est.intercepts_) + [np.array(curve)]


def test_blas_is_single_threaded_on_one_usable_core(monkeypatch):
    from threadpoolctl import threadpool_info

    monkeypatch.setattr(T, "usable_cores", lambda: 1)
    blas = lambda: [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    before = blas()
    with T.blas_for(1):
        assert set(blas()) == {1}
    assert blas() == before


_INTERRUPTED = """
import signal, sys, time, warnings
# A terminal's Ctrl-C. A child inherits an ignored or blocked SIGINT from its
# parent, and Python installs its SIGINT handler only where the signal was
# not ignored at start-up: in the full test run the child never saw the
# signal (the fit ran on, to its end or past the timeout), alone it did.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np, fastmlp
rng = np.random.RandomState(0)
X = rng.rand(40_000, 784).astype(np.float32)
y = rng.randint(10, size=len(X))
# 1,024 units: an epoch of several seconds; 1,000 epochs: a fit that cannot
# end before the signal, however late it comes.
est = fastmlp.MLPClassifier(hidden_layer_sizes=(1024,), max_iter=1000, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    est.fit(X[:300], y[:300])
print("ready", flush=True)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    est.fit(X, y)
print([str(w.message) for w in caught if "interrupted" in str(w.message)])
print(est.n_iter_, len(est.loss_curve_), (est.predict(X[:50]) >= 0).all())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals")
def test_ctrl_c_stops_inside_the_first_epoch_and_leaves_a_usable_model():
    """SIGINT 0.3 s into a fit whose first epoch takes seconds ends it mid-epoch.

    An epoch of 40,000 x 784 -> 1,024 rows takes several seconds on this
    project's machines, so a fit that has done no epoch when it returns was
    interrupted inside one (before, the compiled epoch ran to its end).
    """
    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPTED], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        import time

        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    messages, state = out.strip().splitlines()[-2:]
    assert "Training interrupted by user." in messages
    assert state == "0 0 True"


_IN_QUOTA = """
import os, sys, json
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
import numpy as np, fastmlp
from fastmlp._threads import cgroup_cpu_limit, thread_budget, usable_cores
X = np.random.RandomState(0).rand(300, 8); y = (X[:, 0] > 0.5).astype(int)
fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)
print(json.dumps([cgroup_cpu_limit(), usable_cores(), thread_budget(), len(os.sched_getaffinity(0))]))
"""


def _cpu_cgroup_parent():
    """A cgroup directory this test may make a child in (v1 cpu or v2), or None."""
    for parent, quota_file in (("/sys/fs/cgroup/cpu", "cpu.cfs_quota_us"),
                               ("/sys/fs/cgroup", "cpu.max")):
        if os.path.exists(os.path.join(parent, quota_file if parent.endswith("cpu")
                                       else "cgroup.controllers")) and os.access(parent, os.W_OK):
            return parent, quota_file
    return None


@pytest.mark.skipif(os.geteuid() != 0 or _cpu_cgroup_parent() is None
                    or len(os.sched_getaffinity(0)) < 2,
                    reason="needs root, a writable CPU cgroup and two cores")
def test_a_real_cgroup_quota_of_one_core_gives_one_thread(tmp_path):
    """A real CPU quota (as Docker's --cpus=1 sets it) below the visible cores."""
    parent, quota_file = _cpu_cgroup_parent()
    group = os.path.join(parent, "fastmlp-test-%d" % os.getpid())
    try:
        os.mkdir(group)
    except OSError as exc:
        pytest.skip("cannot make a cgroup here: %s" % exc)
    try:
        with open(os.path.join(group, quota_file), "w") as f:
            f.write("100000" if quota_file == "cpu.cfs_quota_us" else "100000 100000")
        out = subprocess.run([sys.executable, "-c", _IN_QUOTA, group], capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        quota, usable, budget, visible = eval(out.stdout.strip().splitlines()[-1])
        assert visible >= 2
        assert quota == pytest.approx(1.0)
        assert (usable, budget) == (1, 1)
    finally:
        os.rmdir(group)
