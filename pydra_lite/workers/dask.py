"""The ``dask`` worker: batches of jobs run on a ``distributed`` cluster.

Three ways to name the cluster, and what :meth:`DaskWorker.close` releases:

* nothing: a ``LocalCluster`` of worker *processes* (tasks are mostly
  pure-Python CPU work, which threads would serialise on the GIL) starts on
  first use and is shut down on close, with its client;
* an address (``"tcp://host:8786"``): a client connects on first use; close
  disconnects that client and leaves the cluster running;
* a ``distributed.Client``: used as it is; close releases only the batches
  this worker still has in flight.

A batch runs :func:`pydra_lite.engine.job.run_batch` on a dask worker, which
writes every result into the cache directory itself: the cache must be on a
filesystem that the dask workers see at the same path. Batches are
cloudpickled (so tasks defined in ``__main__`` or a notebook go by value),
but the task class travels apart from the jobs, as with the ``cf`` worker: it
is pickled once per worker and unpickled once per dask worker process (a
small cache keyed by its bytes); by value it costs about a millisecond each
way, paid by the submitting process and the dask worker on every batch
otherwise. Batches go through the client's ``concurrent.futures`` executor,
impure (``pure=False``, so dask never merges two batches that happen to look
alike); it hands each outcome over inside the client's event loop, with no
extra round trip.

Batch sizes: a dask batch costs about 4 ms of CPU on its way through the
client, the scheduler and a dask worker (measured on a 2-process
LocalCluster: 1.7 ms in the submitting process, which also runs the
scheduler, and 2.2 ms in the dask worker), several times a ``cf`` batch, and
on a small machine those CPUs are the ones the states run on. So batches are
a larger share of what is left than ``cf``'s (half a thread's share, then
smaller as the run ends, so that no thread idles behind a long last batch)
and, once batches have come back, never below 0.1 s of work.

This module is imported only when the ``"dask"`` worker is named, so
``distributed`` is imported at the top.
"""

from __future__ import annotations

import os
import pickle
import time
from concurrent.futures import Future
from functools import lru_cache
from typing import Any

import attrs
import cloudpickle
import distributed
from distributed.cfexecutor import ClientExecutor

from pydra_lite.compose.base import Task
from pydra_lite.engine.job import JobBatch, Outcome, run_batch
from pydra_lite.errors import WorkerError
from pydra_lite.workers.base import Worker

_BATCHES_PER_THREAD = 2
"""Each batch holds at most 1/this of a thread's share of what is left."""

_MIN_BATCH_SECONDS = 0.1
"""Batches run at least this long once state times are known, so that a
batch's own cost (about 4 ms, see the module docstring) stays a few percent."""

_IN_FLIGHT_PER_THREAD = 2
"""One batch running and one waiting on every thread: a dask worker starts its
next batch at once, while the submitter sends the one after."""


class DaskWorker(Worker):
    """Runs batches on a dask cluster: its own LocalCluster, an address or a Client.

    Args:
        address: None to start a LocalCluster, a scheduler address such as
            ``"tcp://host:8786"``, or a connected ``distributed.Client``.
        n_workers: worker processes of the LocalCluster (default: one per CPU
            divided by ``threads_per_worker``); only without ``address``.
        threads_per_worker: threads in each LocalCluster process; only
            without ``address``.
        **cluster_options: passed to ``distributed.LocalCluster`` (or, with
            an address, to ``distributed.Client``, e.g. ``timeout`` or
            ``security``).
    """

    name = "dask"

    def __init__(
        self,
        address: str | distributed.Client | None = None,
        n_workers: int | None = None,
        threads_per_worker: int = 1,
        **cluster_options: Any,
    ) -> None:
        _check_options(address, n_workers, threads_per_worker, cluster_options)
        self.address = address
        self.threads_per_worker = threads_per_worker
        cpus = os.cpu_count() or 1
        self.n_workers = n_workers or max(1, cpus // threads_per_worker)
        self.cluster_options = cluster_options
        given = address if isinstance(address, distributed.Client) else None
        self._client: distributed.Client | None = given
        self._owns_client = given is None
        self._cluster: distributed.LocalCluster | None = None
        self._executor: ClientExecutor | None = None
        self._threads: int | None = None
        self._pickled_classes: dict[type[Task], bytes] = {}
        self._seconds_per_state: float | None = None  # see observe()

    @property
    def client(self) -> distributed.Client | None:
        """The client in use, or None before the first batch (or after close)."""
        return self._client

    @property
    def cluster(self) -> distributed.LocalCluster | None:
        """The LocalCluster this worker started, if it started one."""
        return self._cluster

    def submit(self, batch: JobBatch) -> Future[list[Outcome]]:
        task_class = self._pickled_class(batch.task_class)
        jobs = cloudpickle.dumps(
            attrs.asdict(batch, recurse=False) | {"task_class": None}
        )
        inner = self._get_executor().submit(_run_pickled, task_class, jobs)
        outer: Future[list[Outcome]] = Future()
        inner.add_done_callback(lambda done: self._unpickle_into(done, outer))
        return outer

    def observe(self, seconds: float, n_states: int) -> None:
        """Note that a batch of ``n_states`` took ``seconds`` on a dask worker.

        A moving average: the first batch on each dask worker also pays for
        unpickling its task class, and one slow batch should not shrink every
        other.
        """
        latest = seconds / max(1, n_states)
        known = self._seconds_per_state
        self._seconds_per_state = latest if known is None else (known + latest) / 2

    def batch_size(self, n_jobs: int) -> int:
        """A share of what is left, so batches shrink as the run ends, but
        never so small that a batch's own cost outweighs its states'."""
        per_batch = n_jobs // (self._total_threads() * _BATCHES_PER_THREAD)
        if self._seconds_per_state:
            per_batch = max(
                per_batch, int(_MIN_BATCH_SECONDS / self._seconds_per_state)
            )
        return max(1, min(256, per_batch, n_jobs))

    def max_in_flight(self) -> int:
        return self._total_threads() * _IN_FLIGHT_PER_THREAD

    def close(self) -> None:
        """Cancel batches in flight; shut down only what this worker started."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def _get_executor(self) -> ClientExecutor:
        """Dask futures as concurrent ones; ``pure=False``: no two batches merge."""
        if self._executor is None:
            self._executor = self._connect().get_executor(pure=False)
        return self._executor

    def _connect(self) -> distributed.Client:
        """The client, starting a LocalCluster or connecting on first use."""
        if self._client is None:
            if self.address is None:
                self._client = self._start_local_cluster()
            else:
                self._client = _connect_to(str(self.address), self.cluster_options)
        return self._client

    def _start_local_cluster(self) -> distributed.Client:
        self._cluster = distributed.LocalCluster(
            n_workers=self.n_workers,
            threads_per_worker=self.threads_per_worker,
            processes=True,
            **self.cluster_options,
        )
        try:
            return distributed.Client(self._cluster)
        except BaseException:
            self._cluster.close()
            self._cluster = None
            raise

    def _total_threads(self) -> int:
        """Threads of the cluster, asked once: a LocalCluster's are known unstarted."""
        if self._threads is None:
            if self.address is None:
                self._threads = self.n_workers * self.threads_per_worker
            else:
                self._threads = max(1, sum(self._connect().nthreads().values()))
        return self._threads

    def _unpickle_into(self, done: Future[bytes], outer: Future[list[Outcome]]) -> None:
        """Hand a batch's outcomes (or its failure, or its cancellation) to ``outer``."""
        if done.cancelled():
            outer.cancel()
            outer.set_running_or_notify_cancel()
            return
        try:
            seconds, outcomes = cloudpickle.loads(done.result())
        except BaseException as exc:  # a lost dask worker, handed to the scheduler
            outer.set_exception(exc)
            return
        self.observe(seconds, len(outcomes))
        outer.set_result(outcomes)

    def _pickled_class(self, task_class: type[Task]) -> bytes:
        pickled = self._pickled_classes.get(task_class)
        if pickled is None:
            pickled = cloudpickle.dumps(task_class, protocol=pickle.HIGHEST_PROTOCOL)
            self._pickled_classes[task_class] = pickled
        return pickled


def _run_pickled(task_class: bytes, fields: bytes) -> bytes:
    """Run a pickled batch on a dask worker; return its time and outcomes."""
    start = time.perf_counter()
    values: dict[str, Any] = cloudpickle.loads(fields)
    values["task_class"] = _unpickled_class(task_class)
    outcomes = run_batch(JobBatch(**values))
    return cloudpickle.dumps((time.perf_counter() - start, outcomes))


@lru_cache(maxsize=16)
def _unpickled_class(pickled: bytes) -> type[Task]:
    """The task class of these bytes, unpickled once per dask worker process."""
    return cloudpickle.loads(pickled)


def _connect_to(address: str, options: dict[str, Any]) -> distributed.Client:
    try:
        return distributed.Client(address, **options)
    except (OSError, TimeoutError) as exc:
        msg = (
            f"dask worker: cannot connect to the scheduler at {address!r}: {exc}. "
            "Check that a scheduler runs there (`dask scheduler`) and that the "
            "address is reachable, or pass address=None to start a LocalCluster"
        )
        raise WorkerError(msg) from exc


def _check_options(
    address: object,
    n_workers: int | None,
    threads_per_worker: int,
    options: dict[str, Any],
) -> None:
    """Refuse options that would be silently ignored for the cluster named."""
    if address is not None and not isinstance(address, str | distributed.Client):
        msg = (
            f"dask worker: address must be None, a scheduler address such as "
            f"'tcp://host:8786' or a distributed.Client, not {address!r} "
            f"({type(address).__name__})"
        )
        raise WorkerError(msg)
    sized = n_workers is not None or threads_per_worker != 1
    if address is not None and sized:
        msg = (
            f"dask worker: n_workers={n_workers!r} and threads_per_worker="
            f"{threads_per_worker!r} size a LocalCluster and cannot apply to the "
            f"existing cluster at {address!r}; drop them, or drop address"
        )
        raise WorkerError(msg)
    if isinstance(address, distributed.Client) and options:
        msg = (
            f"dask worker: options {sorted(options)} cannot apply to a Client "
            "that is already connected; configure the Client itself instead"
        )
        raise WorkerError(msg)
