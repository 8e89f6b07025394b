"""The ``cf`` worker: a process pool from ``concurrent.futures``.

Batches travel as bytes, as for every worker of
:class:`~pydra_lite.workers.pickled.PickledBatchWorker` (the task class apart
from the jobs). A batch has a cost of its own on its way (pickling, a round
trip between processes), whatever it holds, but a small one, so batches are
at most 1/``batches_per_thread`` of a process's share of what is left and,
once batches have come back, never below ``min_batch_seconds`` of work.

A pool process that dies (a segfault, the out-of-memory killer, ``os._exit``)
breaks the pool: every batch it had is lost (the engine settles their
states), and the next batch starts a new pool. The other way round, a pool
process never outlives the program that made it: a watchdog thread in each
one exits it as soon as that program dies (killed, crashed), so no orphan keeps computing or holds the program's stdout open (a
``| tee log`` or a ``subprocess.communicate()`` waiting for its end).

The pool starts when the worker is made, not on the first batch, so that its
start-up overlaps the hashing of the inputs. How it starts:

* ``fork`` on Linux when this process has a single thread: the children are
  copies of a process that has imported everything already, so they are ready
  at once. Forking a process with other threads can deadlock the child (a
  lock held by a thread that does not exist there), so only then; macOS
  system libraries are not fork-safe at all;
* otherwise ``forkserver`` (started in a background thread, since the server
  imports pydra_lite first), or ``spawn`` where there is no forkserver.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from pydra_lite.workers.pickled import PickledBatchWorker, run_pickled

WATCH_SECONDS = 0.5
"""How often a pool process not made by multiprocessing checks its parent pid."""

_PRELOAD = ["pydra_lite.workers.pickled", "pydra_lite.compose.python", "cloudpickle"]
"""What a forkserver imports once, before forking each pool process."""


class ConcurrentFuturesWorker(PickledBatchWorker):
    """Runs batches on a pool of ``n_procs`` processes, started at once."""

    name = "cf"
    batches_per_thread = 4  # more, smaller batches than dask: each costs less
    min_batch_seconds = 0.01  # so that a batch's own cost stays a small share

    def __init__(self, n_procs: int | None = None) -> None:
        super().__init__()
        self.n_procs = n_procs or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None
        self._start()

    def _send(self, pickled_class: bytes, jobs: bytes) -> Future[bytes]:
        try:
            return self._get_pool().submit(run_pickled, pickled_class, jobs)
        except BrokenProcessPool:  # a process died: its batches are lost, not ours
            self._replace_pool()
            return self._get_pool().submit(run_pickled, pickled_class, jobs)

    def _replace_pool(self) -> None:
        """Drop a broken pool (its processes are gone or going) for a new one.

        The engine settles the batches the broken pool lost; the next ones
        run on fresh processes, so one state that kills its process fails
        alone, with the batches that shared the pool at that moment.
        """
        broken, self._pool = self._pool, None
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)

    def _total_threads(self) -> int:
        return self.n_procs

    def close(self) -> None:
        pool = self._get_pool() if self._starting or self._pool else None
        self._pool = None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _start(self) -> None:
        """Start the pool's processes now: at once by fork, else in a thread."""
        context = _context()
        if context.get_start_method() == "fork":
            self._pool = _started_pool(self.n_procs, context)
        else:
            self._starting = threading.Thread(
                target=self._start_in_thread, args=(context,), daemon=True
            )
            self._starting.start()

    def _start_in_thread(self, context: multiprocessing.context.BaseContext) -> None:
        try:
            self._pool = _started_pool(self.n_procs, context)
        except BaseException as exc:  # handed to the first submit()
            self._start_error = exc

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._starting is not None:
            self._starting.join()
            self._starting = None
            if self._start_error is not None:
                raise self._start_error
        if self._pool is None:  # closed, then used again
            self._pool = _started_pool(self.n_procs, _context())
        return self._pool


def _started_pool(
    n_procs: int, context: multiprocessing.context.BaseContext
) -> ProcessPoolExecutor:
    """A pool whose processes all exist (one no-op each makes them start)."""
    pool = ProcessPoolExecutor(
        n_procs,
        mp_context=context,
        initializer=_watch_parent,
    )
    for _ in range(n_procs):
        pool.submit(os.getpid)
    return pool


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and _is_single_threaded():
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def _is_single_threaded() -> bool:
    """True when this process runs one thread, Python's or any library's."""
    if threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no procfs: Python's own count is all there is
        return True


def _watch_parent() -> None:
    """Start, in a pool process, the thread that exits it when its maker dies.

    The maker is multiprocessing's parent process: the program that made the
    pool, however it started (fork, forkserver or spawn). Its sentinel, a
    pipe it holds open, reads EOF the moment it dies, even while it is a
    zombie no one reaped. Polling the pid would miss that, and Linux's
    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the process ends
    and never for a process forked by a forkserver.
    """
    thread = threading.Thread(
        target=_exit_when_orphaned,
        args=(multiprocessing.parent_process(),),
        name="pydra-lite-parent-watch",
        daemon=True,
    )
    thread.start()


def _exit_when_orphaned(parent: multiprocessing.process.BaseProcess | None) -> None:
    if parent is not None:
        parent.join()  # returns when the parent's sentinel reads EOF
    else:  # not started by multiprocessing: fall back to watching the pid
        ppid = os.getppid()
        while os.getppid() == ppid:
            time.sleep(WATCH_SECONDS)
    os._exit(1)  # no cleanup to run: the program that waits for us is gone
