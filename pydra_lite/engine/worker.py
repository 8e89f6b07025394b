"""The worker contract and the registry of workers by name.

The engine owns this contract; ``pydra_lite/workers/`` holds implementations
of it, and the engine never imports one (the registry names them by dotted
path, imported when first asked for).

A worker runs batches of jobs somewhere and knows nothing else. The engine
decides what is ready, what is cached and what to gather
(:mod:`pydra_lite.engine.dispatch`); a worker only decides where
:func:`pydra_lite.engine.job.run_batch` is called on each batch.

Workers are found by name (``"serial"``, ``"cf"``, ...), by dotted path
(``"mypkg.workers:MyWorker"``), as a class, or as an instance.
"""

from __future__ import annotations

import difflib
import inspect
from abc import ABC, abstractmethod
from concurrent.futures import Future
from typing import Any, ClassVar

from pydra_lite.engine.dotted import load_dotted
from pydra_lite.engine.job import JobBatch, Outcome
from pydra_lite.errors import WorkerError


class Worker(ABC):
    """Runs batches of jobs; subclasses choose where.

    Subclass it, set ``name`` and implement :meth:`submit`; size batches with
    :meth:`batch_size` and :meth:`max_in_flight` and release resources in
    :meth:`close`. Example, a worker that runs each batch on a thread::

        class ThreadWorker(Worker):
            name = "thread"

            def __init__(self) -> None:
                self.pool = ThreadPoolExecutor(4)

            def submit(self, batch: JobBatch) -> Future[list[Outcome]]:
                return self.pool.submit(run_batch, batch)

            def close(self) -> None:
                self.pool.shutdown()
    """

    name: ClassVar[str] = ""

    @abstractmethod
    def submit(self, batch: JobBatch) -> Future[list[Outcome]]:
        """Start running ``batch`` somewhere; return a future of its outcomes.

        Args:
            batch: the states (:class:`~pydra_lite.engine.job.Job`) of one task
                class, with the cache's spec, to be run by calling
                :func:`~pydra_lite.engine.job.run_batch` on it, in any process
                that can import the task class (or unpickle it).

        Returns:
            A future that resolves to one :class:`~pydra_lite.engine.job.Outcome`
            per job, **in the batch's order**. ``run_batch`` gives exactly that
            list: it never raises for a task's failure, which is an errored
            outcome with its ``_error.json`` already written.

        A future that **raises** means the batch was lost as a whole: its
        process died, its scheduler job was cancelled, it could not be sent.
        The engine then settles each of its states under the state's lock, a
        state that published an entry keeping it and every other becoming
        errored with the exception (and its ``details`` dict, if it has one,
        e.g. a SLURM job's log tail) in its ``_error.json``. So a worker
        never writes to the cache for a lost batch: it raises, with a message
        saying what happened and what to do. A cancelled future (after
        :meth:`close`) is never waited for.

        ``submit`` itself may block (to apply back-pressure) but should return
        as soon as the batch is on its way; the engine keeps at most
        :meth:`max_in_flight` batches outstanding.
        """

    def run_inline(self, batch: JobBatch) -> list[Outcome] | None:
        """Run ``batch`` here and now if this worker runs batches in the caller.

        Returns the outcomes (as the future of :meth:`submit` would), or None
        (the default) for a worker that runs batches elsewhere and must be
        given them by :meth:`submit`. Raising means the batch was lost, as for
        a future of :meth:`submit`. A workflow runs a batch per node, so a
        serial run skips a future per node this way.
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
        if options:
            msg = (
                f"worker options {sorted(options)} were given with a ready worker "
                f"{spec!r}; pass them to its constructor instead"
            )
            raise WorkerError(msg)
        return spec
    if isinstance(spec, type) and issubclass(spec, Worker):
        return _construct(spec.__name__, spec, options)
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
    return _construct(spec, _resolve(spec, target), options)


_SUBMITTER_NAMES = {
    "cache_root": "cache_dir",  # Pydra's name
    "plugin": "worker",  # Pydra 0.x's name
    "cache_locations": "readonly_caches",  # Pydra's name
}
"""Submitter options under the names other tools give them."""


def _construct(spec: str, cls: type[Worker], options: dict[str, Any]) -> Worker:
    """``cls(**options)``, after checking each option is one it takes.

    The Submitter passes every keyword it does not know to the worker, so a
    misspelt Submitter option lands here: name it, not the worker's signature.
    Without options nothing is checked: reading a signature can mean parsing
    ``object.__init__``'s text, which no run without options should pay for.
    """
    if not options:
        return cls()
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # no signature to read: let the call decide
        return cls(**options)
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return cls(**options)
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise WorkerError(_unknown_options_msg(spec, cls, unknown, list(params)))
    return cls(**options)


def _unknown_options_msg(
    spec: str, cls: type[Worker], unknown: list[str], known: list[str]
) -> str:
    name = unknown[0]
    hint = ""
    if name in _SUBMITTER_NAMES:
        hint = f"; did you mean Submitter({_SUBMITTER_NAMES[name]}=...)?"
    elif close := difflib.get_close_matches(name, known, n=1):
        hint = f"; did you mean {close[0]!r}?"
    takes = ", ".join(known) or "no options"
    return (
        f"worker {spec!r} ({cls.__name__}) has no option {name!r}{hint} "
        f"It takes: {takes}. Options the Submitter itself takes: cache_dir, "
        "worker, readonly_caches, rerun, store, progress"
    )


def _resolve(spec: str, target: str | type[Worker]) -> type[Worker]:
    if not isinstance(target, str):
        return target
    extra = "dask" if spec == "dask" else ""
    worker: type[Worker] = load_dotted("worker", spec, target, WorkerError, extra)
    return worker
