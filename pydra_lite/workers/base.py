"""The worker contract and the registry of workers by name.

A worker runs batches of jobs somewhere and knows nothing else: one method,
:meth:`Worker.submit`, takes a :class:`JobBatch` and returns a
``concurrent.futures.Future`` of the batch's outcomes. The submitter does the
scheduling (what is ready, what is cached, what to gather); a worker only
decides where :func:`pydra_lite.engine.job.run_batch` is called.

Workers are found by name (``"serial"``, ``"cf"``, ...), by dotted path
(``"mypkg.workers:MyWorker"``), as a class, or as an instance. Built-in
workers are registered as dotted paths and imported only when named, so the
submitter never imports a concrete worker.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from concurrent.futures import Future
from typing import Any, ClassVar

from pydra_lite.engine.job import JobBatch, Outcome
from pydra_lite.errors import WorkerError


class Worker(ABC):
    """Runs batches of jobs; subclasses choose where."""

    name: ClassVar[str] = ""

    @abstractmethod
    def submit(self, batch: JobBatch) -> Future[list[Outcome]]:
        """Start running ``batch``; the future resolves to its outcomes in order."""

    def run_inline(self, batch: JobBatch) -> list[Outcome] | None:
        """Run ``batch`` here and now if this worker runs batches in the caller.

        Returns the outcomes, or None (the default) for a worker that runs
        batches elsewhere and must be given them by :meth:`submit`. A workflow
        runs a batch per node, so a serial run skips a future per node this way.
        """
        return None

    def batch_size(self, n_jobs: int) -> int:
        """How many states to send in one batch when ``n_jobs`` are to run."""
        return max(1, min(256, n_jobs))

    def max_in_flight(self) -> int:
        """How many batches may be submitted and not finished at once."""
        return 2

    def close(self) -> None:  # noqa: B027 - optional hook, most workers hold nothing
        """Release what the worker holds (processes, clusters)."""

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_REGISTRY: dict[str, str | type[Worker]] = {
    "serial": "pydra_lite.workers.serial:SerialWorker",
    "debug": "pydra_lite.workers.serial:SerialWorker",
    "cf": "pydra_lite.workers.cf:ConcurrentFuturesWorker",
    "dask": "pydra_lite.workers.dask:DaskWorker",
    "slurm": "pydra_lite.workers.slurm:SlurmWorker",
}


def register_worker(name: str, worker: str | type[Worker]) -> None:
    """Make ``worker`` (a Worker subclass or ``"module:Class"``) known as ``name``."""
    _REGISTRY[name] = worker


def get_worker(spec: str | type[Worker] | Worker, **options: Any) -> Worker:
    """A ready Worker for a name, a dotted path, a class or an instance."""
    if isinstance(spec, Worker):
        return spec
    if isinstance(spec, type) and issubclass(spec, Worker):
        return spec(**options)
    if not isinstance(spec, str):
        msg = f"worker must be a name, a Worker subclass or instance, not {spec!r} ({type(spec).__name__})"
        raise WorkerError(msg)
    target = _REGISTRY.get(spec, spec if ":" in spec else None)
    if target is None:
        msg = (
            f"unknown worker {spec!r}; registered workers: {', '.join(sorted(_REGISTRY))}. "
            "Add one with pydra_lite.register_worker(name, WorkerClass) or name it "
            "by dotted path, 'package.module:WorkerClass'"
        )
        raise WorkerError(msg)
    return _resolve(spec, target)(**options)


def _resolve(spec: str, target: str | type[Worker]) -> type[Worker]:
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"worker {spec!r} needs {exc.name!r}, which is not installed: {exc}"
        if spec == "dask":
            msg += "; install it with: pip install 'pydra-lite[dask]'"
        raise WorkerError(msg) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        msg = f"worker {spec!r}: module {module_name!r} has no {attr!r}"
        raise WorkerError(msg) from None
