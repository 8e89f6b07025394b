"""The ``cf`` worker: a process pool from ``concurrent.futures``.

Batches are cloudpickled once in the submitter (so tasks defined in
``__main__`` or in a notebook travel by value) and their outcomes come back
cloudpickled too. Batches are sized so that every process gets several, which
keeps trivial states about as cheap as in serial while long ones still spread
over all processes.

The pool starts on first use with the ``forkserver`` method where the platform
has it: workers are forked from a clean server that has imported pydra_lite
already, so they start fast and never inherit the submitter's threads.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

import cloudpickle

from pydra_lite.engine.job import JobBatch, Outcome, run_batch
from pydra_lite.workers.base import Worker

_BATCHES_PER_PROCESS = 4


class ConcurrentFuturesWorker(Worker):
    """Runs batches on a pool of ``n_procs`` processes."""

    name = "cf"

    def __init__(self, n_procs: int | None = None) -> None:
        self.n_procs = n_procs or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, batch: JobBatch) -> Future[list[Outcome]]:
        payload = cloudpickle.dumps(batch)
        inner = self._get_pool().submit(_run_pickled, payload)
        outer: Future[list[Outcome]] = Future()
        inner.add_done_callback(lambda done: _unpickle_into(done, outer))
        return outer

    def batch_size(self, n_jobs: int) -> int:
        per_batch = n_jobs // (self.n_procs * _BATCHES_PER_PROCESS)
        return max(1, min(256, per_batch))

    def max_in_flight(self) -> int:
        return self.n_procs * 2

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.n_procs, mp_context=_context())
        return self._pool


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["pydra_lite.engine.job", "cloudpickle"])
        return context
    return multiprocessing.get_context("spawn")


def _run_pickled(payload: bytes) -> bytes:
    """Run a cloudpickled batch in a pool process; return cloudpickled outcomes."""
    return cloudpickle.dumps(run_batch(cloudpickle.loads(payload)))


def _unpickle_into(done: Future[bytes], outer: Future[list[Outcome]]) -> None:
    try:
        outer.set_result(cloudpickle.loads(done.result()))
    except BaseException as exc:  # a crashed pool process, handed to the scheduler
        outer.set_exception(exc)
