"""The ``slurm`` worker: batches of states as sbatch job arrays, watched by one thread.

Few sbatch calls, by design. A SLURM job costs the controller the same
whatever it runs, and sites throttle users who submit thousands, so:

* :meth:`SlurmWorker.batch_size` spreads the states of one node over at most
  ``array_tasks`` batches, and :meth:`~SlurmWorker.max_in_flight` is high
  enough that the submitter hands every batch over at once;
* :meth:`~SlurmWorker.submit` only queues a batch (cloudpickled at once, in
  the caller's thread). The worker's thread waits until no batch has come for
  ``gather_window`` seconds (never more than ten windows after the first),
  then writes the queued batches into one submission folder and calls
  ``sbatch --array=0-(k-1)`` once: element ``i`` runs batch ``i`` with
  :mod:`pydra_lite.workers.slurm.run`. A split of 200 states is one sbatch
  call; a workflow is one per wave of nodes that become ready together.

Watching, at a bounded rate. Every ``poll_interval`` seconds the same thread
lists each outstanding submission folder for new outcome files (no SLURM
call), then, if any element is still unaccounted for, calls ``squeue`` once
for all outstanding arrays. An element that SLURM ended without an outcome
(cancelled, timed out, out of memory, failed) errors every state of its batch
with SLURM's state and reason and its stderr tail; see
:mod:`pydra_lite.workers.slurm.array` for the folder layout.

Assumptions: the compute nodes see the cache directory at the same path and
run the same Python environment (``python``, by default this interpreter;
sbatch's default ``--export=ALL`` passes the environment on).
"""

from __future__ import annotations

import pickle
import shlex
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import cloudpickle

from pydra_lite.engine.job import JobBatch, Outcome
from pydra_lite.engine.worker import Worker
from pydra_lite.errors import SlurmError, WorkerError
from pydra_lite.workers.slurm.array import ArraySubmission, Element
from pydra_lite.workers.slurm.queue import (
    cancel,
    has_slurm,
    query_states,
)

__all__ = ["SlurmWorker", "has_slurm"]

_MAX_SQUEUE_FAILURES = 10
"""Consecutive failed squeue calls after which outstanding batches fail."""


class SlurmWorker(Worker):
    """Runs batches as SLURM job arrays; see the module docstring for the design.

    Args:
        sbatch_args: extra sbatch options, e.g. ``["--partition=short",
            "--time=30", "--mem=4G"]`` (a string is split like a shell line).
            They come after the worker's own, so ``--job-name``, ``--output``
            and ``--error`` may be overridden.
        poll_interval: seconds between two looks at the outstanding arrays
            (one folder listing each, and at most one squeue call).
        python: the interpreter the jobs run; the same environment must be
            visible on the compute nodes.
        array_tasks: how many array elements the states of one node are spread
            over, at most (so how many of them may run at once).
        gather_window: seconds without a new batch after which queued batches
            are submitted together as one array.
        max_array_size: the most elements in one array (SLURM's MaxArraySize
            is 1001 by default).
    """

    name = "slurm"

    def __init__(
        self,
        sbatch_args: Sequence[str] | str = (),
        poll_interval: float = 2.0,
        python: str = sys.executable,
        array_tasks: int = 32,
        gather_window: float = 0.2,
        max_array_size: int = 1000,
    ) -> None:
        if isinstance(sbatch_args, str):
            sbatch_args = shlex.split(sbatch_args)
        self.sbatch_args = [str(arg) for arg in sbatch_args]
        self.poll_interval = _positive("poll_interval", poll_interval)
        self.gather_window = _positive("gather_window", gather_window)
        self.array_tasks = int(_positive("array_tasks", array_tasks))
        self.max_array_size = int(_positive("max_array_size", max_array_size))
        self.python = python
        self._wake = threading.Condition()
        self._queued: list[Element] = []
        self._first_queued = self._last_queued = 0.0
        self._arrays: list[ArraySubmission] = []
        self._closing = False
        self._thread: threading.Thread | None = None
        self._size, self._left = 1, 0

    # -- the Worker contract ---------------------------------------------------------
    def submit(self, batch: JobBatch) -> Future[list[Outcome]]:
        payload = pickle.dumps(
            {"sys_path": _import_path(), "batch": cloudpickle.dumps(batch)}
        )
        future: Future[list[Outcome]] = Future()
        with self._wake:
            if self._closing:
                msg = "slurm worker: submit() after close(); use a new Submitter"
                raise WorkerError(msg)
            now = time.monotonic()
            if not self._queued:
                self._first_queued = now
            self._last_queued = now
            self._queued.append(Element(batch, payload, future))
            self._start()
            self._wake.notify()
        return future

    def batch_size(self, n_jobs: int) -> int:
        """One size for all the batches of a node: at most ``array_tasks`` of them.

        The submitter asks again after each batch with the states still to
        come; dividing those by ``array_tasks`` each time would shrink the
        batches towards one state and make a 200-state split some 80 array
        elements, each a scheduling cycle. So the size is kept while the count
        only goes down (the same node), and set afresh when it grows.
        """
        with self._wake:
            if n_jobs > self._left:
                self._size = max(1, -(-n_jobs // self.array_tasks))
            self._left = n_jobs
            return self._size

    def max_in_flight(self) -> int:
        return 4 * self.array_tasks

    def close(self) -> None:
        """Stop watching; scancel the arrays that are still running."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._abandon("the worker was closed before they finished")

    # -- the thread ------------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._serve, name="pydra-lite-slurm", daemon=True
            )
            self._thread.start()

    def _serve(self) -> None:
        """Launch gathered batches and poll outstanding arrays until closed."""
        try:
            self._loop()
        except BaseException as exc:  # never leave a future hanging
            self._abandon(f"the slurm worker's thread failed: {exc!r}")
            raise

    def _loop(self) -> None:
        next_poll, failures = 0.0, 0
        while True:
            with self._wake:
                # Test before waiting: a close() that came while this thread was
                # polling (outside the lock) has already notified, and nobody would
                # wake a wait without a timeout again.
                if not self._closing:
                    self._wake.wait(self._sleep_time(next_poll))
                if self._closing:
                    return
                gathered = self._take_gathered()
            if gathered:
                self._launch(gathered)
            if self._arrays and time.monotonic() >= next_poll:
                failures = self._poll(failures)
                next_poll = time.monotonic() + self.poll_interval

    def _sleep_time(self, next_poll: float) -> float | None:
        now = time.monotonic()
        times = [next_poll - now] if self._arrays else []
        if self._queued:
            times.append(self._gather_deadline() - now)
        return max(0.0, min(times)) if times else None

    def _gather_deadline(self) -> float:
        window = self.gather_window
        return min(self._last_queued + window, self._first_queued + 10 * window)

    def _take_gathered(self) -> list[Element]:
        """The queued batches due now, one cache root and one array's worth."""
        if not self._queued or time.monotonic() < self._gather_deadline():
            return []
        root = self._queued[0].batch.cache.root
        taken = [e for e in self._queued if e.batch.cache.root == root]
        taken = taken[: self.max_array_size]
        self._queued = [e for e in self._queued if e not in taken]
        self._first_queued = time.monotonic()
        return taken

    def _launch(self, elements: list[Element]) -> None:
        root = Path(elements[0].batch.cache.root) / ".slurm"
        try:
            array = ArraySubmission.write(root, elements, self.python)
            array.submit(self.sbatch_args)
        except Exception as exc:  # a refused array fails its batches, not the thread
            for element in elements:
                element.future.set_exception(exc)
            return
        self._arrays.append(array)

    def _poll(self, failures: int) -> int:
        """One look at every outstanding array; return the squeue failure count."""
        for array in self._arrays:
            array.collect()
        waiting = [array for array in self._arrays if not array.done]
        if waiting:
            try:
                states = query_states(array.job_id for array in waiting)
            except SlurmError as exc:
                failures += 1
                if failures >= _MAX_SQUEUE_FAILURES:
                    for array in waiting:
                        array.abandon(exc)
            else:
                failures = 0
                for array in waiting:
                    array.settle(states)
        self._arrays = [array for array in self._arrays if not array.done]
        return failures

    def _abandon(self, why: str) -> None:
        """scancel what is outstanding and fail its futures, saying ``why``."""
        with self._wake:
            queued, self._queued = self._queued, []
            arrays, self._arrays = self._arrays, []
        msg = f"slurm worker: {why}"
        for element in queued:
            element.future.set_exception(WorkerError(msg))
        if arrays:
            cancel(array.job_id for array in arrays)
            msg += f"; cancelled SLURM job(s) {', '.join(a.job_id for a in arrays)}"
        for array in arrays:
            array.abandon(WorkerError(msg))


def _positive(name: str, value: float) -> float:
    if not value > 0:
        msg = f"slurm worker: {name} must be positive, got {value!r} ({type(value).__name__})"
        raise WorkerError(msg)
    return value


def _import_path() -> list[str]:
    """This process's import path, absolute, for the jobs to extend theirs with."""
    return [str(Path(entry or ".").absolute()) for entry in sys.path]
