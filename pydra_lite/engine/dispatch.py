"""Sending batches to a worker: one loop for single tasks, splits and workflows.

Owns :class:`Dispatcher`, the only place where the engine meets a
:class:`~pydra_lite.engine.worker.Worker`, and so the only place of the
*lost-batch rule*: a batch whose future raises (its process died, its SLURM
job was cancelled, a ``sys.exit`` escaped a task) was lost as a whole, and
each of its states is settled here, under the state's lock, as a worker would
have: its entry if the state got as far as publishing one, otherwise an
``_error.json`` naming the exception. No worker writes to the cache for a
batch it lost, and no exception of a worker escapes a run.

Algorithm: a caller :meth:`~Dispatcher.send`\\ s a batch with a tag (what it
needs back to place the outcomes) while :meth:`~Dispatcher.has_room`; a
worker that runs batches where they are made (:meth:`Worker.run_inline`)
has them done at once, others give a future. :meth:`~Dispatcher.finished`
yields every batch done, waiting for the first when none is (at most
``worker.max_in_flight()`` outstanding).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Generic, TypeVar

from pydra_lite.engine.job import JobBatch, Outcome, emit_warnings, settle_lost_batch
from pydra_lite.engine.worker import Worker

Tag = TypeVar("Tag")


class Dispatcher(Generic[Tag]):
    """Batches in flight on one worker, each with its caller's tag."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._limit = worker.max_in_flight()
        self._in_flight: dict[Future[list[Outcome]], tuple[JobBatch, Tag]] = {}
        self._done: list[tuple[Tag, list[Outcome]]] = []

    def has_room(self) -> bool:
        """Whether one more batch may be sent now (done ones count until collected)."""
        return len(self._in_flight) + len(self._done) < self._limit

    def busy(self) -> bool:
        """Whether any batch sent is not yet collected by :meth:`finished`."""
        return bool(self._in_flight or self._done)

    def send(self, batch: JobBatch, tag: Tag) -> None:
        """Start ``batch`` on the worker; its outcomes come back with ``tag``."""
        try:
            outcomes = self.worker.run_inline(batch)
        except Exception as exc:  # a batch lost where it runs: settled as any other
            outcomes = settle_lost_batch(batch, exc)
        if outcomes is not None:
            self._done.append((tag, outcomes))
            return
        try:
            future = self.worker.submit(batch)
        except Exception as exc:  # the worker could not even take it
            self._done.append((tag, settle_lost_batch(batch, exc)))
            return
        self._in_flight[future] = (batch, tag)

    def finished(self) -> Iterator[tuple[Tag, list[Outcome]]]:
        """The batches done, each with its tag; waits for one if none is done."""
        if not self._done and self._in_flight:
            done, _ = wait(self._in_flight, return_when=FIRST_COMPLETED)
            self._done.extend(self._collect(future) for future in done)
        done_now, self._done = self._done, []
        for _, outcomes in done_now:  # warnings a task raised in another process
            emit_warnings(outcomes, stacklevel=4)
        yield from done_now

    def _collect(self, future: Future[list[Outcome]]) -> tuple[Tag, list[Outcome]]:
        batch, tag = self._in_flight.pop(future)
        try:
            return tag, future.result()
        except Exception as exc:  # lost as a whole: the rule of the module docstring
            return tag, settle_lost_batch(batch, exc)
