"""How many threads a fit runs on: the cores it may use, and what pays now.

Three questions, answered here and nowhere else:

* **How many cores may this process use?** :func:`usable_cores`: the CPUs
  of its affinity mask (``taskset``, ``os.sched_setaffinity``), and no more
  than its cgroup's CPU quota (``cpu.max`` in cgroup v2,
  ``cpu.cfs_quota_us / cpu.cfs_period_us`` in v1), which is how Docker's
  ``--cpus`` and Kubernetes' CPU limits are enforced while every core stays
  visible.
* **How many threads may a fit use?** :func:`thread_budget`: the usable
  cores, Numba's thread count (``NUMBA_NUM_THREADS``,
  ``numba.set_num_threads``) and the BLAS limit (``threadpoolctl``), so
  that a limit set on any of them is obeyed, shared between the fits that
  run at once in this process.
* **Do the threads pay, now?** :class:`ThreadChooser`. A minibatch split
  between threads meets at a barrier every batch. On an idle machine that
  costs microseconds; when another process holds a core, each meeting waits
  for the scheduler (milliseconds), hundreds of times an epoch. The chooser
  runs an epoch in chunks of batches, times each, and keeps to whichever of
  "all the budget" and "one thread" is faster per batch, trying the other
  now and then with a bounded share of the time. The kernels give the same
  result on any number of threads for a fixed split of the work (the split
  is set by the buffers, allocated once per fit), so the choice never
  changes the model.
"""

import contextlib
import math
import os
import threading
import time

import numba

# A chunk of an epoch aims at this long: long enough that the Python between
# chunks (about 20 us) is noise, short enough that Ctrl-C is answered and a
# change of load is seen within a fraction of a second.
CHUNK_SECONDS = 0.05

# The share of a fit's time that may go to trying the mode that is not the
# faster one. Idle, trying one thread where two are faster costs this share
# times their difference (about 1% for 0.03 and a 1.4x gap); under load,
# trying two threads costs at most this share.
PROBE_SHARE = 0.03

# At most this many batches a chunk on several threads: if the machine gets
# busy during a chunk, each of its batches waits at the barrier for the
# scheduler (up to about 10 ms), and the chooser sees it only at the end.
_MAX_SHARED_BATCHES = 32

# A probe of a mode whose batches are shorter than this runs several of
# them, so that what a call costs beyond its batches (tens of microseconds)
# and the first batch after a change of mode (see ThreadChooser.run) do
# not decide.
_MIN_PROBE_SECONDS = 1e-3

# What a first chunk on all the threads is guessed to cost when the machine
# looked busy at the start (see ThreadChooser.next_chunk).
_BUSY_PROBE_GUESS = 0.01

_active_lock = threading.Lock()
_active_fits = 0


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def cgroup_cpu_limit(proc_root="/proc/self", cgroup_root="/sys/fs/cgroup"):
    """The CPU quota of this process's cgroup in cores, or None when it has none.

    Reads cgroup v2 (``cpu.max``: ``"quota period"`` or ``"max period"``)
    and v1 (``cpu.cfs_quota_us``, ``-1`` for none, over
    ``cpu.cfs_period_us``), at the process's own cgroup and at the mount's
    root (inside a container the process's path is often not visible and
    the limit is at the root). The smallest quota found wins.

    Parameters
    ----------
    proc_root : str
        Where ``cgroup`` (the process's membership) is read; a test points
        it at a directory of its own.
    cgroup_root : str
        The cgroup file system's mount point.

    Returns
    -------
    float or None
    """
    v2 = set()
    v1 = set()
    for line in (_read(os.path.join(proc_root, "cgroup")) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        path = path.lstrip("/")
        if controllers == "":
            v2.add(path)
        elif "cpu" in controllers.split(","):
            v1.add((controllers, path))
    limits = []
    for path in v2 | {""}:
        for base in (os.path.join(cgroup_root, path), os.path.join(cgroup_root, "unified", path)):
            text = _read(os.path.join(base, "cpu.max"))
            if text:
                quota, _, period = text.partition(" ")
                if quota != "max" and period:
                    limits.append(int(quota) / int(period))
    for controllers, path in v1 | {("cpu", "")}:
        for name in {controllers, "cpu", "cpu,cpuacct"}:
            base = os.path.join(cgroup_root, name, path)
            quota = _read(os.path.join(base, "cpu.cfs_quota_us"))
            period = _read(os.path.join(base, "cpu.cfs_period_us"))
            if quota and period and int(quota) > 0 and int(period) > 0:
                limits.append(int(quota) / int(period))
    return min(limits) if limits else None


# Reading the cgroup files took 0.34 ms a call, which made predict on one
# row 0.3 ms instead of 0.02. A quota is set by an administrator or a
# container runtime, not changed between two predictions: it is read again
# at most every _QUOTA_SECONDS. The affinity is asked every time (1 us).
_QUOTA_SECONDS = 1.0
_quota = [None, -math.inf]


def _cpu_quota():
    value, when = _quota
    now = time.monotonic()
    if now - when >= _QUOTA_SECONDS:
        value = cgroup_cpu_limit()
        _quota[:] = [value, now]
    return value


def usable_cores():
    """The cores this process may really use: its affinity, within its CPU quota.

    A quota of 1.5 cores gives 2 (the threads then share the quota; only
    below one core each would they wait on the throttle rather than on each
    other). The quota is read at most once a second.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cpu_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota - 1e-9)))
    return max(1, cores)


_blas = None


def _blas_controller():
    # Made once: finding the loaded libraries takes milliseconds, asking one
    # of them its thread count microseconds. The BLAS Numba calls (SciPy's)
    # is loaded by then, since the kernel modules import it.
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas")
    return _blas


def blas_threads():
    """The smallest thread count of the loaded BLAS libraries (None if none is found).

    While fastmlp's own fits hold BLAS at one thread (:func:`single_threaded_blas`),
    the count from before they did: a fit that starts while another one
    runs gets the same budget, so the same model, as one that starts alone
    (reading the limit fastmlp had set made it a one-thread fit, whose
    sums are grouped otherwise, by 1e-16).
    """
    with _limit_lock:
        if _limit_users:
            return _blas_outside
    return _blas_count()


def _blas_count():
    counts = [lib.num_threads for lib in _blas_controller().lib_controllers]
    return min(counts) if counts else None


def thread_budget():
    """Threads a fit that starts now may use.

    The usable cores (:func:`usable_cores`), Numba's thread count in the
    calling thread, and the BLAS limit, whichever is smallest; so
    ``NUMBA_NUM_THREADS=1``, ``numba.set_num_threads(1)`` or
    ``threadpoolctl.threadpool_limits(1)`` each make fastmlp run on one
    thread.
    """
    threads = min(numba.get_num_threads(), usable_cores())
    blas = blas_threads()
    if blas is not None:
        threads = min(threads, blas)
    return max(1, threads)


@contextlib.contextmanager
def fitting():
    """Count a fit as running while the block runs (see :func:`fits_running`).

    :meth:`ThreadChooser.run` counts itself: fits in other Python threads
    of the process then share the budget instead of each taking all of it.
    """
    _count_fit(1)
    try:
        yield
    finally:
        _count_fit(-1)


def _count_fit(step):
    """Add ``step`` (1 at a fit's start, -1 at its end) to the fits running."""
    global _active_fits
    with _active_lock:
        _active_fits += step


def fits_running():
    """How many fits of this process are inside :func:`fitting` now."""
    return _active_fits


def share_of(budget):
    """The threads of ``budget`` one of the fits running in :func:`fitting` may take.

    An equal share: the fits of this process that run at once in other
    Python threads share the usable cores instead of each taking all of them.
    """
    return max(1, min(budget, budget // max(1, fits_running())))


@contextlib.contextmanager
def numba_threads(n):
    """Numba's thread count for the calling thread set to ``n`` in the block.

    Numba keeps the count per Python thread, so fits in other threads are
    not affected; the caller's count comes back afterwards.
    """
    before = numba.get_num_threads()
    if n == before:
        yield
        return
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _runnable_elsewhere():
    # /proc/loadavg's fourth field is "runnable/total" scheduling entities at
    # this instant, this thread included.
    text = _read("/proc/loadavg")
    try:
        return int(text.split()[3].split("/")[0]) - 1
    except (AttributeError, IndexError, ValueError):
        return 0


class ThreadChooser:
    """Runs an epoch's batches in chunks, each on the threads that pay now.

    Two modes: the whole ``budget`` of threads and one thread. The chooser
    keeps the last measured seconds per batch of each, runs the faster, and
    spends up to :data:`PROBE_SHARE` of the time on the other so that a
    change of load is noticed. The first chunk is small and runs on one
    thread if the process's other fits or the machine's other runnable tasks
    already fill the usable cores.

    Parameters
    ----------
    budget : int
        The most threads a chunk may run on (:func:`thread_budget`).
    batches : int, optional
        How many batches the fit runs at most (its epochs times the batches
        an epoch), None for many. A fit too short for its probe share to
        pay for one batch on one thread (fewer than ``(budget - 1) /
        PROBE_SHARE`` batches) does not try one thread until that share is
        earned: idle, the one-thread batch of a 12-batch fit of 256 -> 3 x
        512 -> 3 was 7-9% of the fit.
    """

    def __init__(self, budget, batches=None):
        self.budget = max(1, int(budget))
        self._short = batches is not None and batches * PROBE_SHARE < self.budget - 1
        self._per_batch = {}
        self._probing = 0.0
        self._total = 0.0
        self._mode = self.budget
        self._probe = False
        self._steady = 0
        self._held = False
        self._ran = None
        self._warm = False
        self._started_busy = False
        if self.budget > 1:
            cores = usable_cores()
            # Made outside run(): every fit counted is another one.
            if fits_running() >= 1 or _runnable_elsewhere() >= cores:
                self._mode = 1
                self._started_busy = True

    def _widest(self):
        return share_of(self.budget)

    @staticmethod
    def _chunk(threads, per_batch, remaining):
        n = max(1, int(CHUNK_SECONDS / max(per_batch, 1e-9)))
        if threads > 1:
            n = min(n, _MAX_SHARED_BATCHES)
        return threads, min(remaining, n)

    def next_chunk(self, remaining):
        """``(threads, batches)`` for the next chunk of at most ``remaining`` batches."""
        self._probe = False
        wide = self._widest()
        modes = (wide, 1) if wide > 1 else (1,)
        known = {m: self._per_batch[m] for m in modes if m in self._per_batch}
        if not known:
            return (self._mode if self._mode in modes else modes[0]), 1
        # Ties go to the mode that ran last.
        best = min(known, key=lambda m: (known[m], m != self._mode))
        if best != self._mode and self._mode in known and self._steady >= 2:
            # The mode that has run for a while got slower than the other's
            # last time. One slow chunk is often another process taking the
            # core for a moment (idle, that sent some digits fits to one
            # thread for the rest of the fit, 1.5x slower); a load that stays
            # shows in a second chunk too, made short by the slow time. A
            # mode just taken (after a probe) is left at once: under load,
            # a second chunk on two threads made the RBM example 1.65x its
            # one-thread time.
            if not self._held:
                self._held = True
                return self._chunk(self._mode, known[self._mode], remaining)
        self._held = False
        other = next((m for m in modes if m != best), None)
        if other is not None:
            # What a probe really cost is counted after it, so a probe that
            # went badly is paid back before the next one: probing stays
            # near PROBE_SHARE of the time.
            allowance = PROBE_SHARE * self._total - self._probing
            n = 0
            if other not in known:
                # Started on all threads: try one thread straight away, it
                # costs about a batch (unless the fit is short, see
                # ``batches``). Started on one thread because the
                # machine looked busy: the first batch on two threads then
                # took 1.5-30 ms where one thread took 0.1 ms (the RBM
                # example under load), so it waits until that may be spent.
                if self._started_busy:
                    n = int(allowance >= _BUSY_PROBE_GUESS)
                elif self._short:
                    # One thread is guessed to take ``other`` times as
                    # long: the extra is ``other - 1`` batches' time.
                    n = int(allowance >= (best - 1) * known[best])
                else:
                    n = 1
            elif known[other] >= _MIN_PROBE_SECONDS:
                if allowance >= known[other]:
                    n = max(1, int(allowance / known[other]))
            elif allowance >= _MIN_PROBE_SECONDS + known[other]:
                # Short batches: the first is not timed (see run), the
                # rest last about _MIN_PROBE_SECONDS or more.
                n = max(2, int(allowance / known[other]))
            if n:
                self._probe = True
                return other, min(remaining, n, _MAX_SHARED_BATCHES if other > 1 else n)
        return self._chunk(best, known[best], remaining)

    def spent(self, seconds):
        """Count ``seconds`` of the fit that tell nothing of a mode's speed."""
        if self._probe:
            self._probing += seconds
        self._total += seconds

    def record(self, threads, batches, seconds):
        """Note that the last chunk, ``batches`` on ``threads`` threads, took ``seconds``."""
        self.spent(seconds)
        self._per_batch[threads] = seconds / batches
        self._steady = 0 if self._probe or threads != self._mode else self._steady + 1
        self._mode = threads

    def run(self, n_batches, call):
        """Run ``call(first, stop)`` over batches ``[0, n_batches)`` in chunks.

        ``call`` runs batches ``first`` to ``stop - 1`` on the calling
        thread's Numba thread count, which the chooser sets for each chunk.
        """
        first = 0
        # numba_threads and fitting, written out: with their context
        # managers an epoch of one chunk cost 29 us of Python, now 10 (a
        # digits epoch is about 2 ms).
        outside = numba.get_num_threads()
        now = outside
        _count_fit(1)
        try:
            while first < n_batches:
                threads, n = self.next_chunk(n_batches - first)
                if threads != now:
                    numba.set_num_threads(threads)
                    now = threads
                if self._warm and threads != self._ran and n > 1:
                    # The first batch after a change of mode waits for
                    # threads that went to sleep, on caches the other mode
                    # filled: two threads' first batch after one thread's
                    # took 0.4-1.1 ms where the next took 0.25 (digits),
                    # which kept such fits on one thread.
                    start = time.perf_counter()
                    call(first, first + 1)
                    self.spent(time.perf_counter() - start)
                    first += 1
                    n -= 1
                start = time.perf_counter()
                call(first, first + n)
                seconds = time.perf_counter() - start
                self._ran = threads
                if self._warm:
                    self.record(threads, n, seconds)
                # The first call of a fit may compile or load the kernel.
                self._warm = True
                first += n
        finally:
            if now != outside:
                numba.set_num_threads(outside)
            _count_fit(-1)


_limit_lock = threading.Lock()
_limit_users = 0
# (library controller, its thread count before the first user) for each
# BLAS that was not at one thread already.
_limited = []
_blas_outside = None


@contextlib.contextmanager
def single_threaded_blas():
    """Context in which BLAS runs in the calling thread only.

    For kernels that call BLAS from inside their own parallel loops: BLAS
    threads of its own would compete with those loops for the cores. The
    limit is process-wide; fits running at once in several Python threads
    share it, and the last one out restores the limits found by the first
    one in (each restoring its own, in whatever order they end, could leave
    BLAS at one thread).

    The libraries' counts are set through their controllers directly
    (about 20 us to enter and leave, against 45 us through
    ``threadpoolctl``'s ``limit``), so that a small prediction can afford
    the limit (see ``fastmlp._mlp``).
    """
    global _limit_users, _limited, _blas_outside
    with _limit_lock:
        if _limit_users == 0:
            counts = [(lib, lib.num_threads) for lib in _blas_controller().lib_controllers]
            _blas_outside = min((c for _, c in counts), default=None)
            _limited = [(lib, c) for lib, c in counts if c != 1]
            for lib, _ in _limited:
                lib.set_num_threads(1)
            _release_blas_control()
        _limit_users += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                for lib, count in _limited:
                    lib.set_num_threads(count)
                _limited = []
                _release_blas_control()


def _release_blas_control():
    # threadpoolctl 3.6+ lets only the thread that first set a pthreads
    # OpenBLAS's limit change it again; the fit that gives the limit back
    # may run in another Python thread than the one that set it, whose
    # restore then did nothing and left BLAS at one thread for good.
    from threadpoolctl import OpenBLASController

    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear()


def blas_for(threads):
    """The BLAS threading for a fit run on a budget of ``threads`` of fastmlp's threads.

    With a budget of one, BLAS keeps its own threads, unless the process
    may use only one core (affinity or CPU quota), where BLAS threads would
    only take turns on it. With more, BLAS is limited to the calling thread:
    the kernel's threads call it from inside their own loops.
    """
    if threads > 1:
        return single_threaded_blas()
    blas = blas_threads()
    if blas is not None and blas > 1 and usable_cores() == 1:
        return single_threaded_blas()
    return contextlib.nullcontext()
