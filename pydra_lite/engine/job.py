"""Jobs: one task state with concrete inputs and a checksum, and how one runs.

A :class:`JobBatch` carries the states of one task class that a worker runs
together; it is what crosses process boundaries (cloudpickled once per batch,
not once per state). :func:`run_batch` is the one function every worker
calls, in whatever process it runs. For each job it:

1. takes the OS-level lock of the job's checksum (:meth:`Cache.lock`),
2. looks the checksum up again, since another process may have finished it,
3. empties a stale directory left by a crash, and runs the task in it,
4. checks that no input file was modified, then publishes the result
   atomically, or records ``_error.json`` on failure.

The returned :class:`Outcome` list is in the batch's order.
"""

from __future__ import annotations

import getpass
import os
import platform
import resource
import socket
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import attrs

from pydra_lite._version import __version__
from pydra_lite.compose.base import Task
from pydra_lite.engine.cache import Cache, CacheSpec
from pydra_lite.errors import InputModifiedError
from pydra_lite.files import FileSet
from pydra_lite.hash import hash_object
from pydra_lite.typecheck import coerce


@attrs.frozen(slots=True)
class Job:
    """One state of a task: its concrete inputs and the checksum naming its entry."""

    checksum: str
    inputs: Mapping[str, Any]
    input_digests: Mapping[str, bytes]
    upstream: Mapping[str, str] = attrs.Factory(dict)


@attrs.frozen(slots=True)
class JobBatch:
    """Jobs of one task class, run together by one worker call."""

    task_class: type[Task]
    cache: CacheSpec
    jobs: Sequence[Job]
    worker: str = "serial"
    rerun: bool = False


@attrs.frozen(slots=True)
class Outcome:
    """What running (or finding) one job gave."""

    checksum: str
    output_dir: Path
    outputs: dict[str, Any] | None
    error: dict[str, Any] | None = None
    runtime: float = 0.0
    cached: bool = False

    @property
    def errored(self) -> bool:
        return self.error is not None


def run_batch(batch: JobBatch) -> list[Outcome]:
    """Run every job of ``batch`` in this process; never raises for a task error."""
    cache = Cache.from_spec(batch.cache)
    return [_run_locked(batch, cache, job) for job in batch.jobs]


def _run_locked(batch: JobBatch, cache: Cache, job: Job) -> Outcome:
    task_class = batch.task_class
    name = task_class.__name__
    with cache.lock(job.checksum):
        found = None if batch.rerun else cache.load(name, job.checksum)
        if found is not None:
            return Outcome(job.checksum, found.output_dir, found.outputs, cached=True)
        directory = cache.prepare(name, job.checksum)
        return _execute(batch, cache, job, directory)


def _execute(batch: JobBatch, cache: Cache, job: Job, directory: Path) -> Outcome:
    task_class = batch.task_class
    start = time.time()
    try:
        raw = task_class._execute(job.inputs, directory)
        outputs = _checked_outputs(task_class, raw)
        _check_inputs_unchanged(task_class, job)
    except Exception as exc:  # a task's own failure is data, not a crash
        error = _error_record(task_class, job, exc, start)
        error["output_dir"] = str(directory)
        cache.record_error(directory, error)
        return Outcome(job.checksum, directory, None, error, time.time() - start)
    end = time.time()
    provenance = _provenance(batch, job, start, end)
    cache.publish(directory, job.checksum, outputs, provenance)
    return Outcome(job.checksum, directory, outputs, None, end - start)


def _checked_outputs(task_class: type[Task], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce each output to its declared type (an error names the output)."""
    name = f"{task_class.__name__}.Outputs"
    return {
        spec.name: coerce(raw[spec.name], spec.type, task=name, field=spec.name)
        for spec in task_class._output_specs
    }


def _check_inputs_unchanged(task_class: type[Task], job: Job) -> None:
    """Fail a job whose task modified one of its own input files."""
    for field, value in job.inputs.items():
        if not _holds_files(value):
            continue
        if hash_object(value, field=field) != job.input_digests[field]:
            msg = (
                f"{task_class.__name__}: input {field!r} ({value!r}) was modified "
                "while the task ran; a task must write new files into its output "
                "directory instead of changing its inputs"
            )
            raise InputModifiedError(msg, task=task_class.__name__, field=field)


def _holds_files(value: Any) -> bool:
    if isinstance(value, FileSet):
        return True
    if isinstance(value, list | tuple):
        return any(isinstance(item, FileSet) for item in value)
    return False


def _error_record(
    task_class: type[Task], job: Job, exc: BaseException, start: float
) -> dict[str, Any]:
    return {
        "task": task_class.__name__,
        "checksum": job.checksum,
        "type": type(exc).__qualname__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
        "inputs": {key: _short_repr(val) for key, val in job.inputs.items()},
        "start": _iso(start),
        "end": _iso(time.time()),
        **_host(),
    }


def _short_repr(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _provenance(batch: JobBatch, job: Job, start: float, end: float) -> dict[str, Any]:
    task_class = batch.task_class
    return {
        "task": f"{task_class.__module__}.{task_class.__qualname__}",
        "checksum": job.checksum,
        "operation_hash": task_class._operation_hash().hex(),
        "inputs": {key: val.hex() for key, val in job.input_digests.items()},
        "upstream": dict(job.upstream),
        "worker": batch.worker,
        "start": _iso(start),
        "end": _iso(end),
        "runtime": end - start,
        "peak_memory_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        **_host(),
    }


@cache
def _host() -> dict[str, Any]:
    """Facts about this process's machine, computed once per process."""
    return {
        "host": socket.gethostname(),
        "user": _user(),
        "versions": {
            "python": sys.version.split()[0],
            "pydra_lite": __version__,
            "platform": platform.platform(),
        },
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER variable
        return str(os.getuid())


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()
