"""The ``dask`` worker: batches of jobs run on a ``distributed`` cluster.

Three ways to name the cluster, and what :meth:`DaskWorker.close` releases:

* nothing: a ``LocalCluster`` of worker *processes* (tasks are mostly
  pure-Python CPU work, which threads would serialise on the GIL) starts on
  first use and is shut down on close, with its client; a batch whose
  process dies is not retried elsewhere (the engine errors its states);
* an address (``"tcp://host:8786"``): a client connects on first use; close
  disconnects that client and leaves the cluster running;
* a ``distributed.Client``: used as it is; close releases only the batches
  this worker still has in flight.

A batch runs :func:`pydra_lite.engine.job.run_batch` on a dask worker, which
writes every result into the cache directory itself: the cache must be on a
filesystem that the dask workers see at the same path. Batches travel as
bytes, as for every worker of
:class:`~pydra_lite.workers.pickled.PickledBatchWorker` (the task class apart
from the jobs, unpickled once per dask worker process). They go through the
client's ``concurrent.futures`` executor,
impure (``pure=False``, so dask never merges two batches that happen to look
alike); it hands each outcome over inside the client's event loop, with no
extra round trip.

Batch sizes: a dask batch costs CPU in more places than a ``cf`` batch (the
client, the scheduler, which a LocalCluster runs in the submitting process,
and a dask worker), and on a small machine those CPUs are the ones the states
run on. So batches are a larger share of what is left than ``cf``'s
(1/``batches_per_thread`` of a thread's share, then smaller as the run ends,
so that no thread idles behind a long last batch) and, once batches have
come back, never below ``min_batch_seconds`` of work.

This module is imported only when the ``"dask"`` worker is named, so
``distributed`` is imported at the top.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from typing import Any

import dask
import distributed
from distributed.cfexecutor import ClientExecutor

from pydra_lite.errors import WorkerError
from pydra_lite.workers.pickled import PickledBatchWorker, run_pickled


class DaskWorker(PickledBatchWorker):
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
    batches_per_thread = 2  # fewer batches than cf: each costs more on its way
    min_batch_seconds = 0.1  # so that a batch's own cost stays a small share

    def __init__(
        self,
        address: str | distributed.Client | None = None,
        n_workers: int | None = None,
        threads_per_worker: int = 1,
        **cluster_options: Any,
    ) -> None:
        _check_options(address, n_workers, threads_per_worker, cluster_options)
        super().__init__()
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

    @property
    def client(self) -> distributed.Client | None:
        """The client in use, or None before the first batch (or after close)."""
        return self._client

    @property
    def cluster(self) -> distributed.LocalCluster | None:
        """The LocalCluster this worker started, if it started one."""
        return self._cluster

    def _send(self, pickled_class: bytes, jobs: bytes) -> Future[bytes]:
        return self._get_executor().submit(run_pickled, pickled_class, jobs)

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
        # A batch whose process dies is lost at once, not retried on the next
        # process (dask's default, three times): its states are settled by
        # the engine as errored, and a state that kills its process (out of
        # memory, a segfault) would kill every process it is retried on.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
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
