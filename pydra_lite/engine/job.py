"""Jobs: one task state with concrete inputs and a checksum, and how one runs.

A :class:`JobBatch` carries the states of one task class that a worker runs
together; it is what crosses process boundaries (cloudpickled once per batch,
not once per state). :func:`run_batch` is the one function every worker
calls, in whatever process it runs. For each job it:

1. takes the OS-level lock of the job's checksum (:meth:`Cache.lock`),
2. claims the entry (:meth:`Cache.claim`): finds it valid, since another
   process may have finished it, or makes (or empties) its directory,
3. runs the task in it, checks that no input file was modified, and
   publishes the result atomically; a failure of the task, of its outputs'
   checks or of writing its result records ``_error.json`` instead.

Provenance is encoded once per batch for what all its states share (task,
host, versions) and once per state for the rest.

A python task that returns a file outside its own entry (not one of its
inputs) gets a :class:`CacheWarning` naming the path and ``output_dir()``.
Warnings of a job reach the user from whatever process ran it: emitted where
it ran when that is the submitter's process (the batch's ``origin``), else
carried back in :attr:`Outcome.warnings` for the engine to emit
(:func:`emit_warnings`).

The returned :class:`Outcome` list is in the batch's order.
"""

from __future__ import annotations

import getpass
import json
import math
import os
import platform
import resource
import socket
import sys
import time
import traceback
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import attrs

from pydra_lite._version import __version__
from pydra_lite.compose.base import Task, execute, operation_hash, output_specs
from pydra_lite.compose.python import PythonTask
from pydra_lite.engine.cache import Cache, CacheSpec
from pydra_lite.errors import CacheWarning, InputModifiedError
from pydra_lite.files import FileSet
from pydra_lite.hashing import hash_object
from pydra_lite.typecheck import coerce


@attrs.frozen(slots=True)
class Job:
    """One state of a task: its concrete inputs and the checksum naming its entry."""

    checksum: str
    inputs: Mapping[str, Any]
    input_digests: Mapping[str, bytes]
    upstream: Mapping[str, str] = attrs.Factory(dict)


_PROCESS_TOKEN = uuid.uuid4().hex  # with the pid: a forked child differs too


def process_id() -> str:
    """This process, distinct from every other (forked, or on another host)."""
    return f"{_PROCESS_TOKEN}:{os.getpid()}"


@attrs.frozen(slots=True)
class JobBatch:
    """Jobs of one task class, run together by one worker call.

    ``origin`` is the :func:`process_id` of the process that made the batch
    (the submitter's): a job run there emits its warnings at once, elsewhere
    they come back in its Outcome.
    """

    task_class: type[Task]
    cache: CacheSpec
    jobs: Sequence[Job]
    worker: str = "serial"
    rerun: bool = False
    origin: str = attrs.field(factory=process_id)


@attrs.frozen(slots=True)
class Outcome:
    """What running (or finding) one job gave.

    ``warnings`` holds the texts of the :class:`CacheWarning`\\ s of a job run
    in another process than its batch's origin, for :func:`emit_warnings`.
    """

    checksum: str
    output_dir: Path
    outputs: dict[str, Any] | None
    error: dict[str, Any] | None = None
    runtime: float = 0.0
    cached: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def errored(self) -> bool:
        return self.error is not None


def run_batch(batch: JobBatch) -> list[Outcome]:
    """Run every job of ``batch`` in this process; never raises for a task error."""
    cache = Cache.from_spec(batch.cache)
    # A class is hashable; mypy checks the instances' __hash__ instead.
    shared = _shared_provenance(batch.task_class, batch.worker)  # type: ignore[arg-type]
    local = batch.origin == process_id()
    return [_run_locked(batch, cache, job, shared, local) for job in batch.jobs]


def emit_warnings(outcomes: Iterable[Outcome], stacklevel: int = 2) -> None:
    """Emit the warnings that ``outcomes`` carried back from other processes.

    The dispatcher calls it for every batch it collects (single tasks,
    splits and workflows alike), so that a warning reaches the user whichever
    worker ran the job.
    """
    for outcome in outcomes:
        for text in outcome.warnings:
            warnings.warn(text, CacheWarning, stacklevel=stacklevel + 1)


def _run_locked(
    batch: JobBatch, cache: Cache, job: Job, shared: bytes, local: bool
) -> Outcome:
    with cache.lock(job.checksum):
        try:
            claimed = cache.claim(
                batch.task_class.__name__, job.checksum, not batch.rerun
            )
        except OSError as exc:  # this entry cannot be run in: this state fails alone
            directory = cache.entry_dir(batch.task_class.__name__, job.checksum)
            return record_failure(
                batch.task_class, cache, job, exc, time.time(), directory
            )
        if isinstance(claimed, Path):
            outcome = _execute(batch, cache, job, claimed, shared)
        else:
            return Outcome(
                job.checksum, claimed.output_dir, claimed.outputs, cached=True
            )
    if outcome.outputs is None or not issubclass(batch.task_class, PythonTask):
        return outcome
    texts = _outside_files(batch.task_class, job, outcome.output_dir, outcome.outputs)
    if not texts:
        return outcome
    if local:
        for text in texts:
            warnings.warn(text, CacheWarning, stacklevel=2)
        return outcome
    return attrs.evolve(outcome, warnings=texts)


def _execute(
    batch: JobBatch, cache: Cache, job: Job, directory: Path, shared: bytes
) -> Outcome:
    task_class = batch.task_class
    start = time.time()
    try:
        before = _file_digests(job.inputs)
        raw = execute(task_class, job.inputs, directory)
        outputs = _checked_outputs(task_class, raw)
        _check_inputs_unchanged(task_class, job, before)
        end = time.time()
        provenance = _provenance(shared, job, start, end)
        # Inside the try: outputs a store cannot write fail this state only.
        cache.publish(directory, job.checksum, outputs, provenance)
    except (Exception, SystemExit) as exc:  # a task's own failure is data, not a crash
        return record_failure(task_class, cache, job, exc, start, directory)
    return Outcome(job.checksum, directory, outputs, None, end - start)


def settle_lost_batch(batch: JobBatch, exc: BaseException) -> list[Outcome]:
    """The outcomes of a batch lost as a whole (its worker's future raised).

    Each state is settled under its lock: a state that published a valid
    entry before the loss keeps it; any other is errored, with ``exc`` (and
    the worker facts in ``exc.details``, when it has them) in its
    ``_error.json``. The engine calls this for every worker, so a process
    killed mid-batch never takes the run with it.
    """
    cache = Cache.from_spec(batch.cache)
    start = time.time()
    details: dict[str, Any] = getattr(exc, "details", None) or {}
    return [_settle(batch, cache, job, exc, start, details) for job in batch.jobs]


def _settle(
    batch: JobBatch,
    cache: Cache,
    job: Job,
    exc: BaseException,
    start: float,
    details: dict[str, Any],
) -> Outcome:
    name = batch.task_class.__name__
    with cache.lock(job.checksum):
        found = cache.load(name, job.checksum)
        if found is not None:
            return Outcome(job.checksum, found.output_dir, found.outputs)
        directory = cache.entry_dir(name, job.checksum)
        with suppress(OSError):  # else the error stays in memory (record_failure)
            directory.mkdir(parents=True, exist_ok=True)
        return record_failure(
            batch.task_class, cache, job, exc, start, directory, **details
        )


def record_failure(
    task_class: type[Task],
    cache: Cache,
    job: Job,
    exc: BaseException,
    start: float,
    directory: Path,
    **extra: Any,
) -> Outcome:
    """Write ``_error.json`` for ``job`` and return its errored Outcome.

    :func:`settle_lost_batch` calls it too, for states a lost batch never ran
    to the end (a process killed, a SLURM job cancelled or timed out), so
    every failure is recorded the same way; ``extra`` adds worker facts (job
    id, scheduler state, log tail).
    """
    error = {**_error_record(task_class, job, exc, start), **extra}
    error["output_dir"] = str(directory)
    try:
        cache.record_error(directory, error)
    except OSError as write_error:  # the state stays errored, in memory only
        error["error_file"] = f"not written: {write_error}"
    return Outcome(job.checksum, directory, None, error, time.time() - start)


def _checked_outputs(task_class: type[Task], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce each output to its declared type (an error names the output)."""
    name = f"{task_class.__name__}.Outputs"
    return {
        spec.name: coerce(raw[spec.name], spec.type, task=name, field=spec.name)
        for spec in output_specs(task_class)
    }


def _file_digests(inputs: Mapping[str, Any]) -> dict[str, bytes]:
    """Contents digests of the inputs holding files, taken before the task runs.

    Not ``job.input_digests``: a workflow input's digest there is its upstream
    key, not the contents of the file it receives.
    """
    return {f: hash_object(v, field=f) for f, v in inputs.items() if holds_files(v)}


def _check_inputs_unchanged(
    task_class: type[Task], job: Job, before: Mapping[str, bytes]
) -> None:
    """Fail a job whose task modified one of its own input files."""
    for field, digest in before.items():
        value = job.inputs[field]
        if hash_object(value, field=field) != digest:
            msg = (
                f"{task_class.__name__}: input {field!r} ({value!r}) was modified "
                "while the task ran; a task must write new files into its output "
                "directory instead of changing its inputs"
            )
            raise InputModifiedError(msg, task=task_class.__name__, field=field)


def _outside_files(
    task_class: type[Task], job: Job, directory: Path, outputs: Mapping[str, Any]
) -> tuple[str, ...]:
    """A warning for each output path outside the entry that no input gave.

    A file passed in as a file set (or one inside a directory passed in) may
    be returned as it is; any other file outside the entry is one the cache
    cannot vouch for (a path given as a string included: where the task
    writes, other states and runs may write too).
    """
    entry = os.path.abspath(directory)
    given: list[str] | None = None
    texts = []
    for name, value in outputs.items():
        for fileset in _filesets_in(value):
            for fspath in sorted(map(str, fileset.fspaths)):
                path = os.path.abspath(fspath)
                if _within(path, entry):
                    continue
                if given is None:
                    given = list(_given_paths(job.inputs))
                if any(_within(path, root) for root in given):
                    continue
                texts.append(_outside_text(task_class, name, path, entry))
    return tuple(texts)


def _outside_text(task_class: type[Task], name: str, path: str, entry: str) -> str:
    return (
        f"{task_class.__name__}: output {name!r} is {path}, outside the task's "
        f"output directory {entry}. The cache can vouch only for files inside a "
        "task's entry: another state or run may overwrite or delete this one, and "
        "its cached result is then a miss and the task reruns. Write output files "
        f"into output_dir() (e.g. output_dir() / {os.path.basename(path)!r})."
    )


def _within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it (resolving links if need be)."""
    if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
        return True
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _given_paths(inputs: Mapping[str, Any]) -> Iterator[str]:
    """The paths of the file sets among the inputs."""
    for value in inputs.values():
        for fileset in _filesets_in(value):
            yield from (os.path.abspath(path) for path in fileset.fspaths)


_SCALARS = frozenset({int, float, str, bytes, bool, type(None), complex})
_CONTAINERS = (list, tuple, set, frozenset)
_MAX_DEPTH = 8


def _filesets_in(value: Any, depth: int = 0) -> Iterator[FileSet]:
    """The file sets in ``value``, within lists, tuples, sets and dicts.

    A scalar, or a container of scalars only, costs a type check or a pass at
    C speed. Nesting deeper than a few levels (a self-referencing list, say)
    is not followed.
    """
    if type(value) in _SCALARS:  # most outputs
        return
    if isinstance(value, FileSet):
        yield value
    elif isinstance(value, dict):
        if depth < _MAX_DEPTH:
            for item in value.values():
                yield from _filesets_in(item, depth + 1)
    elif isinstance(value, _CONTAINERS):
        if depth < _MAX_DEPTH and not _SCALARS.issuperset(map(type, value)):
            for item in value:
                yield from _filesets_in(item, depth + 1)


def holds_files(value: Any) -> bool:
    """Whether ``value`` is a file set, or a list or tuple holding one."""
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
        "message": _exit_message(exc) if isinstance(exc, SystemExit) else str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
        "inputs": {key: _short_repr(val) for key, val in job.inputs.items()},
        "start": _iso(start),
        "end": _iso(time.time()),
        **_host(),
    }


def _exit_message(exc: SystemExit) -> str:
    """What a task's ``sys.exit()`` means, as the process would have exited."""
    code = exc.code
    status = 0 if code is None else int(code) if isinstance(code, int) else 1
    given = "" if code is None else repr(code)
    return (
        f"the task called sys.exit({given}) (argparse's parser.error() does this); "
        f"exit code {status}"
    )


def _short_repr(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@lru_cache(maxsize=256)
def _shared_provenance(task_class: type[Task], worker: str) -> bytes:
    """The provenance fields every state of a batch shares, as JSON members.

    Made once per task class and worker: a workflow runs a batch per node.
    """
    shared = {
        "task": f"{task_class.__module__}.{task_class.__qualname__}",
        "operation_hash": operation_hash(task_class).hex(),
        "worker": worker,
        **_host(),
    }
    return json.dumps(shared, default=str).encode()[1:-1]


def _provenance(shared: bytes, job: Job, start: float, end: float) -> bytes:
    """One state's ``_provenance.json``: its own fields, then the shared ones.

    Formatted by hand, so that no dict is built and encoded per state: every
    value is a hex string, a number or a timestamp, which need no escaping;
    field names are JSON-quoted by ``json.dumps``, once per name; only a
    workflow state's upstream map goes through ``json.dumps`` whole.
    ``tests/test_provenance_equivalence.py`` checks that the bytes parse to
    the dict ``json.dumps`` would have written.
    """
    inputs = ", ".join(
        f'{_json_key(key)}: "{digest.hex()}"'
        for key, digest in job.input_digests.items()
    )
    upstream = json.dumps(dict(job.upstream)) if job.upstream else "{}"
    # The running process's high-water mark since it started, named for what
    # it is: on a worker that runs many states it is the largest of them (and
    # of anything the process did before), an upper bound of this state's own
    # peak. ru_maxrss only rises, so the state's own peak is not measurable
    # from it: its rise over the state shows only a new high.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    own = (
        f'{{"checksum": "{job.checksum}", "inputs": {{{inputs}}}, '
        f'"upstream": {upstream}, "start": "{_iso(start)}", "end": "{_iso(end)}", '
        f'"runtime": {end - start!r}, "process_peak_memory_kb": {peak}, '
    )
    return own.encode() + shared + b"}"


@cache
def _json_key(name: str) -> str:
    return json.dumps(name)


@cache
def _host() -> dict[str, Any]:
    """Facts about this process's machine, computed once per process."""
    return {
        "host": socket.gethostname(),
        "user": _user(),
        "versions": {
            "python": sys.version.split()[0],
            "pydra_lite": __version__,
            "platform": _platform(),
        },
    }


def _platform() -> str:
    """``platform.platform()``'s text, without its ``uname -p`` subprocess.

    On Linux with glibc the same text, as long as ``uname -p`` says the
    machine, ``unknown`` or nothing, which ``platform.platform()`` leaves out
    (any other processor name it puts after the machine), and the release
    holds none of the characters it replaces (spaces, ``/\\:;"()``; a Linux
    release has none). Without glibc the libc part is left out
    (``platform.platform()`` scans the Python executable for it). Elsewhere
    ``system-release-machine``, which ``platform.platform()`` words its own
    way (a macOS version, say). ``tests/engine/test_job.py`` pins this.
    """
    uname = platform.uname()  # its processor field, a subprocess, is left unread
    text = f"{uname.system}-{uname.release}-{uname.machine}"
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):  # not glibc, or not POSIX
        libc = None
    return f"{text}-with-{libc.replace(' ', '')}" if libc else text


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER variable
        return str(os.getuid())


def _iso(timestamp: float) -> str:
    """ISO 8601 in UTC with microseconds, e.g. ``2026-01-02T03:04:05.123456+00:00``.

    The text of ``datetime.fromtimestamp(timestamp, UTC).isoformat(
    timespec="microseconds")`` for the years 1000 to 9999, by its rounding
    (``math.modf``, then the nearest microsecond, half to even), with
    ``datetime`` asked only once per second. ``tests/engine/test_job.py``
    checks the equivalence.
    """
    fraction, whole = math.modf(timestamp)
    second, micro = int(whole), round(fraction * 1e6)
    if micro >= 1_000_000:  # rounded up into the next second
        second, micro = second + 1, micro - 1_000_000
    elif micro < 0:  # before the epoch: the fraction counts down
        second, micro = second - 1, micro + 1_000_000
    return f"{_iso_second(second)}.{micro:06d}+00:00"


@lru_cache(maxsize=8)
def _iso_second(second: int) -> str:
    """The date and time part: the same for every state ending in one second."""
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
