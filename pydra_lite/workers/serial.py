"""The serial worker: runs each batch in this process, as soon as it is submitted.

The simplest and the one to debug with (``worker="debug"``): tasks run in the
submitter's own process, so a debugger's breakpoints in a task function work.
"""

from __future__ import annotations

from concurrent.futures import Future

from pydra_lite.engine.job import JobBatch, Outcome, run_batch
from pydra_lite.engine.worker import Worker


class SerialWorker(Worker):
    """Runs batches inline; the returned future is already done."""

    name = "serial"

    def submit(self, batch: JobBatch) -> Future[list[Outcome]]:
        future: Future[list[Outcome]] = Future()
        try:
            future.set_result(self.run_inline(batch))
        except BaseException as exc:  # an engine fault, handed to the scheduler
            future.set_exception(exc)
        return future

    def run_inline(self, batch: JobBatch) -> list[Outcome]:
        return run_batch(batch)

    def batch_size(self, n_jobs: int) -> int:
        return 64

    def max_in_flight(self) -> int:
        return 1
