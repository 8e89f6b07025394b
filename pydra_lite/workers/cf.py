"""The ``cf`` worker: a process pool from ``concurrent.futures``.

Batches travel as bytes, as for every worker of
:class:`~pydra_lite.workers.pickled.PickledBatchWorker` (the task class apart
from the jobs). A batch has a cost of its own on its way (pickling, a round
trip between processes), whatever it holds, but a small one, so batches are
at most 1/``batches_per_thread`` of a process's share of what is left and,
once batches have come back, never below ``min_batch_seconds`` of work.

A pool process that dies (a segfault, the out-of-memory killer, ``os._exit``)
breaks the pool: every batch it had is lost (the engine settles their
states, each recording a :class:`~pydra_lite.errors.WorkerError` that names
the exit code or the signal of the process that died, and what it often
means), and the next batch starts a new pool. The other way round, a pool
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
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from typing import Any

from pydra_lite.errors import WorkerError
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
        # The processes of the pool each batch went to, to name the one that died.
        self._processes: weakref.WeakKeyDictionary[Future[bytes], Mapping[int, Any]]
        self._processes = weakref.WeakKeyDictionary()
        self._start()

    def _send(self, pickled_class: bytes, jobs: bytes) -> Future[bytes]:
        try:
            future = self._submit(pickled_class, jobs)
        except BrokenProcessPool:  # a process died: its batches are lost, not ours
            self._replace_pool()
            future = self._submit(pickled_class, jobs)
        return future

    def _submit(self, pickled_class: bytes, jobs: bytes) -> Future[bytes]:
        pool = self._get_pool()
        # The pool's own map of its processes (the same dict as it changes),
        # read if the future fails: the process that died is still in it.
        processes = getattr(pool, "_processes", None)
        future = pool.submit(run_pickled, pickled_class, jobs)
        if processes is None:  # another Python's pool: no process to name
            return future
        self._processes[future] = processes
        return future

    def _lost_batch_error(
        self, done: Future[bytes], exc: BaseException
    ) -> BaseException:
        """A broken pool's error, as a WorkerError naming the process that died."""
        if not isinstance(exc, BrokenProcessPool):
            return exc
        error = dead_process_error(self._processes.get(done) or {})
        error.__cause__ = exc
        return error

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


def dead_process_error(processes: Mapping[int, Any]) -> WorkerError:
    """The WorkerError of a broken pool: which of ``processes`` died, and how.

    ``processes`` is the pool's own map of pid to ``multiprocessing.Process``.
    Called when the pool breaks, before it terminates the processes still
    alive: a process whose sentinel is ready is one that died.
    """
    dead = _dead(list(processes.values()))
    if any(code != -signal.SIGTERM for _, code in dead):  # not the pool's own
        dead = [(pid, code) for pid, code in dead if code != -signal.SIGTERM]
    intro = (
        "a process of the cf pool died while this batch ran or waited for it, "
        "and the batch's unfinished states with it"
    )
    if not dead:
        return WorkerError(f"{intro} (its exit status could not be read)")
    described = "; ".join(_describe_exit(pid, code) for pid, code in dead)
    error = WorkerError(f"{intro}: {described}")
    error.details = {  # type: ignore[attr-defined]  # copied into _error.json
        "worker_processes": [
            {"pid": pid, "exitcode": code, **_signal_of(code)} for pid, code in dead
        ]
    }
    return error


def _dead(procs: list[Any]) -> list[tuple[int, int]]:
    """(pid, exit code) of each process that has ended, reading a dying pool."""
    dead = []
    with suppress(OSError, ValueError):  # a closed sentinel: nothing more to read
        by_sentinel = {proc.sentinel: proc for proc in procs}
        for sentinel in multiprocessing.connection.wait(list(by_sentinel), timeout=0):
            proc = by_sentinel[sentinel]
            proc.join(timeout=5)  # reaps it: its exit code is then known
            if proc.exitcode is not None:
                dead.append((proc.pid, proc.exitcode))
    return sorted(dead)


_HINTS = {
    "SIGKILL": ", often by the out-of-memory killer: give the state more memory or split it",
    "SIGSEGV": ": a crash in compiled code (a C extension, or a library it calls)",
    "SIGBUS": ": a crash in compiled code, or a memory-mapped file that shrank",
    "SIGABRT": ": compiled code aborted (a failed assertion in a C library)",
}


def _signal_of(code: int) -> dict[str, Any]:
    if code >= 0:
        return {}
    try:
        return {"signal": signal.Signals(-code).name}
    except ValueError:
        return {"signal": -code}


def _describe_exit(pid: int, code: int) -> str:
    if code >= 0:
        return f"process {pid} exited with code {code}: the process called os._exit({code})"
    name = _signal_of(code)["signal"]
    text = f"process {pid} was killed by {name} (signal {-code})"
    hint = _HINTS.get(str(name), "")
    return text + hint


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
