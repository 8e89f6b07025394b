"""Batches sent as bytes to other processes: the base of the cf and dask workers.

Batches are cloudpickled in the submitter (so tasks defined in ``__main__``
or in a notebook travel by value) and their outcomes come back cloudpickled
too. A task class pickled by value (its code and what that reads) is the same
in every batch of a run and can outweigh a batch of trivial states, so it
travels apart from the jobs: pickled once per worker, unpickled once per
process (a small cache keyed by its bytes, :func:`unpickled_class`).

Batch sizes: a share of what is left (1/``batches_per_thread`` of a thread's
share), so batches start large, which spreads a batch's own cost over many
trivial states, and shrink as the run ends, so that no thread idles behind a
long last batch; once batches have come back, never below
``min_batch_seconds`` of work, so that a batch's own cost stays small. Each
worker sets both from what a batch costs on its way.
"""

from __future__ import annotations

import io
import pickle
import time
import types
from abc import abstractmethod
from collections import ChainMap
from concurrent.futures import Future
from functools import lru_cache
from typing import Any, ClassVar

import attrs
import cloudpickle

try:  # the code reducer whose file name we keep; absent: plain cloudpickle
    from cloudpickle.cloudpickle import _code_reduce
except ImportError:  # pragma: no cover - another cloudpickle layout
    _code_reduce = None

from pydra_lite.compose.base import Task
from pydra_lite.engine.job import JobBatch, Outcome, run_batch
from pydra_lite.engine.worker import Worker

_IN_FLIGHT_PER_THREAD = 2
"""One batch running and one waiting on every thread: a process starts its
next batch at once, while the submitter sends the one after."""


class PickledBatchWorker(Worker):
    """Sends each batch as bytes to :func:`run_pickled`, somewhere else."""

    batches_per_thread: ClassVar[int]  # each worker sets both (module docstring)
    min_batch_seconds: ClassVar[float]

    def __init__(self) -> None:
        self._pickled_classes: dict[type[Task], bytes] = {}
        self._seconds_per_state: float | None = None  # see observe()

    @abstractmethod
    def _send(self, pickled_class: bytes, jobs: bytes) -> Future[bytes]:
        """Start ``run_pickled(pickled_class, jobs)`` where batches run."""

    @abstractmethod
    def _total_threads(self) -> int:
        """How many batches can run at once."""

    def submit(self, batch: JobBatch) -> Future[list[Outcome]]:
        pickled_class = self._pickled_class(batch.task_class)
        jobs = cloudpickle.dumps(
            attrs.asdict(batch, recurse=False) | {"task_class": None}
        )
        inner = self._send(pickled_class, jobs)
        outer: Future[list[Outcome]] = Future()
        inner.add_done_callback(lambda done: self._unpickle_into(done, outer))
        return outer

    def batch_size(self, n_jobs: int) -> int:
        """A share of what is left, so batches shrink as the run ends, but
        never so small that a batch's own cost outweighs its states'."""
        per_batch = n_jobs // (self._total_threads() * self.batches_per_thread)
        if self._seconds_per_state:
            per_batch = max(
                per_batch, int(self.min_batch_seconds / self._seconds_per_state)
            )
        return max(1, min(256, per_batch, n_jobs))

    def max_in_flight(self) -> int:
        return self._total_threads() * _IN_FLIGHT_PER_THREAD

    def observe(self, seconds: float, n_states: int) -> None:
        """Note that a batch of ``n_states`` took ``seconds`` where it ran.

        A moving average: the first batch in each process also pays for
        unpickling its task class, and one slow batch should not shrink every
        other.
        """
        latest = seconds / max(1, n_states)
        known = self._seconds_per_state
        self._seconds_per_state = latest if known is None else (known + latest) / 2

    def _unpickle_into(self, done: Future[bytes], outer: Future[list[Outcome]]) -> None:
        """Hand a batch's outcomes (or its failure, or its cancellation) to ``outer``."""
        if done.cancelled():
            outer.cancel()
            outer.set_running_or_notify_cancel()
            return
        try:
            seconds, outcomes = cloudpickle.loads(done.result())
        except BaseException as exc:  # a crashed process, handed to the scheduler
            outer.set_exception(self._lost_batch_error(done, exc))
            return
        self.observe(seconds, len(outcomes))
        outer.set_result(outcomes)

    def _lost_batch_error(
        self, done: Future[bytes], exc: BaseException
    ) -> BaseException:
        """The error the states of a lost batch record: ``exc`` as it came.

        A worker may say better what happened (which process died, and how),
        in an error chained from ``exc``.
        """
        return exc

    def _pickled_class(self, task_class: type[Task]) -> bytes:
        pickled = self._pickled_classes.get(task_class)
        if pickled is None:
            pickled = dumps_keeping_file_names(task_class)
            self._pickled_classes[task_class] = pickled
        return pickled


def _code_reduce_keeping_file(code: types.CodeType) -> Any:
    rebuild, args = _code_reduce(code)
    if "<dynamic-code>" not in args:  # another cloudpickle: keep what it does
        return rebuild, args
    at = args.index("<dynamic-code>")
    return rebuild, (*args[:at], code.co_filename, *args[at + 1 :])


class _FileNamePickler(cloudpickle.Pickler):
    """cloudpickle, except that code sent by value keeps its file name.

    cloudpickle names every such code object's file ``<dynamic-code>`` (so
    that its bytes do not depend on where the code lives); a task defined in
    a script or notebook would then fail in a worker with a traceback that
    names no file and shows no source line. These bytes are only a cache key
    in the worker, never a digest, so the file name may count.
    """

    dispatch_table = ChainMap(
        {types.CodeType: _code_reduce_keeping_file},
        cloudpickle.Pickler.dispatch_table,
    )


def dumps_keeping_file_names(obj: Any) -> bytes:
    """``cloudpickle.dumps(obj)`` with the file names of its code kept."""
    if _code_reduce is None:
        return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    buffer = io.BytesIO()
    _FileNamePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def run_pickled(pickled_class: bytes, jobs: bytes) -> bytes:
    """Run a pickled batch in this process; return its time and outcomes."""
    start = time.perf_counter()
    values: dict[str, Any] = pickle.loads(jobs)
    values["task_class"] = unpickled_class(pickled_class)
    outcomes = run_batch(JobBatch(**values))
    return cloudpickle.dumps((time.perf_counter() - start, outcomes))


@lru_cache(maxsize=16)
def unpickled_class(pickled: bytes) -> type[Task]:
    """The task class of these bytes, unpickled once per process."""
    return pickle.loads(pickled)
