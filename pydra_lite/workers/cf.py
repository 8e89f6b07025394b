"""The ``cf`` worker: a process pool from ``concurrent.futures``.

Batches are cloudpickled in the submitter (so tasks defined in ``__main__``
or in a notebook travel by value) and their outcomes come back cloudpickled
too. A task class pickled by value costs milliseconds to pickle and to
unpickle, more than a hundred trivial states, so it travels apart from the
jobs: pickled once per worker, unpickled once per pool process (a small cache
keyed by its bytes).

The submitter asks for batch sizes as states are sent
(:meth:`ConcurrentFuturesWorker.batch_size` of the states still to come), so
batches start large, which keeps trivial states about as cheap as in serial,
and shrink towards the end, so that no process idles while another finishes a
long last batch; once batches have come back, never below 10 ms of work.

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
import pickle
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from functools import lru_cache
from typing import Any

import attrs
import cloudpickle

from pydra_lite.compose.base import Task
from pydra_lite.engine.job import JobBatch, Outcome, run_batch
from pydra_lite.workers.base import Worker

_BATCHES_PER_PROCESS = 4
"""Each batch holds at most this fraction of a process's share of what is left."""

_MIN_BATCH_SECONDS = 0.01
"""Batches run at least this long once state times are known: a batch's own
cost (pickling, a round trip between processes) is about a millisecond."""

_PRELOAD = ["pydra_lite.engine.job", "pydra_lite.compose.python", "cloudpickle"]
"""What a forkserver imports once, before forking each pool process."""


class ConcurrentFuturesWorker(Worker):
    """Runs batches on a pool of ``n_procs`` processes, started at once."""

    name = "cf"

    def __init__(self, n_procs: int | None = None) -> None:
        self.n_procs = n_procs or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None
        self._pickled_classes: dict[type[Task], bytes] = {}
        self._seconds_per_state: float | None = None  # see observe()
        self._start()

    def submit(self, batch: JobBatch) -> Future[list[Outcome]]:
        task_class = self._pickled_class(batch.task_class)
        jobs = cloudpickle.dumps(
            attrs.asdict(batch, recurse=False) | {"task_class": None}
        )
        inner = self._get_pool().submit(_run_pickled, task_class, jobs)
        outer: Future[list[Outcome]] = Future()
        inner.add_done_callback(lambda done: self._unpickle_into(done, outer))
        return outer

    def _unpickle_into(self, done: Future[bytes], outer: Future[list[Outcome]]) -> None:
        try:
            seconds, outcomes = cloudpickle.loads(done.result())
        except BaseException as exc:  # a crashed pool process, handed on
            outer.set_exception(exc)
            return
        self.observe(seconds, len(outcomes))
        outer.set_result(outcomes)

    def observe(self, seconds: float, n_states: int) -> None:
        """Note that a batch of ``n_states`` took ``seconds`` in a pool process.

        A moving average: the first batch of a run also pays for unpickling
        its task class, and one slow batch should not shrink every other.
        """
        latest = seconds / max(1, n_states)
        known = self._seconds_per_state
        self._seconds_per_state = latest if known is None else (known + latest) / 2

    def _pickled_class(self, task_class: type[Task]) -> bytes:
        pickled = self._pickled_classes.get(task_class)
        if pickled is None:
            pickled = cloudpickle.dumps(task_class, protocol=pickle.HIGHEST_PROTOCOL)
            self._pickled_classes[task_class] = pickled
        return pickled

    def batch_size(self, n_jobs: int) -> int:
        """A share of what is left, so batches shrink as the run ends, but
        never so small that a batch's own cost outweighs its states'."""
        per_batch = n_jobs // (self.n_procs * _BATCHES_PER_PROCESS)
        if self._seconds_per_state:
            per_batch = max(
                per_batch, int(_MIN_BATCH_SECONDS / self._seconds_per_state)
            )
        return max(1, min(256, per_batch, n_jobs))

    def max_in_flight(self) -> int:
        return self.n_procs * 2

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
    pool = ProcessPoolExecutor(n_procs, mp_context=context)
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


def _run_pickled(task_class: bytes, fields: bytes) -> bytes:
    """Run a pickled batch in a pool process; return its time and outcomes."""
    start = time.perf_counter()
    values: dict[str, Any] = pickle.loads(fields)
    values["task_class"] = _unpickled_class(task_class)
    outcomes = run_batch(JobBatch(**values))
    return cloudpickle.dumps((time.perf_counter() - start, outcomes))


@lru_cache(maxsize=16)
def _unpickled_class(pickled: bytes) -> type[Task]:
    """The task class of these bytes, unpickled once per process."""
    return pickle.loads(pickled)
