"""The exception and warning tree of pydra_lite.

Every error subclasses both :class:`PydraLiteError` and the builtin it behaves
like, so ``except TypeError`` keeps working for callers who do not know us, and
carries its context as attributes for callers who do::

    PydraLiteError
    ├── TaskDefinitionError(TypeError)   a task definition that cannot work
    ├── TaskInputError(TypeError)        wrong, unknown or missing task input
    │   └── ConnectionTypeError          a workflow connection of the wrong type
    ├── HashingError(TypeError)          a value with no deterministic digest
    ├── StateError(ValueError)           a splitter or combiner that cannot work
    ├── WorkflowError(ValueError)        a graph that cannot be built
    ├── StoreError(ValueError)           a result store that cannot hold a value
    ├── InvalidEntryError(ValueError)    a result file that cannot be trusted (a miss)
    ├── CacheEntryError(FileExistsError) an entry path that is a symlink or a file
    ├── CacheError(OSError)              the cache directory cannot be used as asked
    ├── TemplateError(ValueError)        a shell template or field that cannot work
    ├── PathTemplateError(ValueError)    an output path template that cannot render
    ├── WorkerError(LookupError)         an unknown or unusable worker, or a lost batch
    │   ├── SlurmError                   a SLURM command failed
    │   └── SlurmJobError                a SLURM job ended before its states did
    ├── ExecutableNotFoundError(FileNotFoundError)  a shell executable not on PATH
    ├── OutputNotFoundError(FileNotFoundError)      a shell output file not written
    ├── CommandError(RuntimeError)       a shell command exited with a non-zero code
    ├── InputModifiedError(RuntimeError) a task changed one of its input files
    └── TaskFailedError(RuntimeError)    one or more task states failed

Every error pickles with its attributes (one ``__reduce__`` on the base):
workers send errors between processes.

    PydraLiteWarning(UserWarning)
    └── CacheWarning                     an unreadable cache entry, treated as a miss
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


class PydraLiteError(Exception):
    """Base of every error raised by pydra_lite."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the message and the attributes, whatever ``__init__`` takes.

        The default rebuilds by calling ``type(self)(*self.args)``, which fails
        for errors whose context is keyword-only.
        """
        return _rebuild, (type(self), self.args, dict(vars(self)))


def _rebuild(
    cls: type[PydraLiteError], args: tuple[Any, ...], attributes: dict[str, Any]
) -> PydraLiteError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(attributes)
    return error


class TaskDefinitionError(PydraLiteError, TypeError):
    """A task definition that cannot work: a bad field, signature or option.

    Raised by ``python.define``, ``shell.define`` and ``workflow.define`` (and by
    a python task whose function returns what its outputs cannot unpack).
    """


class TaskInputError(PydraLiteError, TypeError):
    """A task input is of the wrong type, unknown, or missing.

    Attributes:
        task: name of the task class.
        field: name of the input field (None when the problem is not one field).
        expected: the expected type, as text.
        value: the offending value (``None`` for a missing input).
    """

    def __init__(
        self,
        msg: str,
        *,
        task: str,
        field: str | None = None,
        expected: str | None = None,
        value: Any = None,
    ) -> None:
        super().__init__(msg)
        self.task = task
        self.field = field
        self.expected = expected
        self.value = value


class ConnectionTypeError(TaskInputError):
    """A lazy workflow output connected to an input of an incompatible type."""


class HashingError(PydraLiteError, TypeError):
    """A value cannot be hashed deterministically.

    Attributes:
        type_: the type that has no serializer.
        field: the task field the value came from, when known.
    """

    def __init__(self, msg: str, *, type_: type, field: str | None = None) -> None:
        super().__init__(msg)
        self.type_ = type_
        self.field = field


class StateError(PydraLiteError, ValueError):
    """A splitter or combiner is malformed or does not fit the values given."""


class WorkflowError(PydraLiteError, ValueError):
    """A workflow graph cannot be built (duplicate name, cycle, missing node)."""


class StoreError(PydraLiteError, ValueError):
    """A result store is unknown or cannot hold a value."""


class InvalidEntryError(PydraLiteError, ValueError):
    """A result file that cannot be trusted: truncated, corrupt, or for another checksum.

    A :class:`~pydra_lite.engine.stores.Store`'s ``load`` raises it; the cache
    turns it into a miss with a :class:`CacheWarning`, never a wrong hit.
    """


class CacheEntryError(PydraLiteError, FileExistsError):
    """A cache entry's path is a symlink or a file: never emptied, run in or written through.

    The state it names is errored; nothing the path points to is touched.
    """


class CacheError(PydraLiteError, OSError):
    """The cache directory cannot be used as asked: full, read-only, not a directory.

    The message names the path and the fix; ``errno`` is the underlying one.
    """


class TemplateError(PydraLiteError, ValueError):
    """A command-line template or a shell field definition that cannot work."""


class PathTemplateError(PydraLiteError, ValueError):
    """A path template that cannot be rendered from the task's inputs."""


class WorkerError(PydraLiteError, LookupError):
    """A worker name or object cannot be resolved to a usable worker."""


class SlurmError(WorkerError):
    """A SLURM command failed (sbatch refused a job, squeue cannot reach the controller).

    Attributes:
        command: the command line that failed.
        stderr: what it printed on stderr.
    """

    def __init__(self, msg: str, *, command: Sequence[str], stderr: str) -> None:
        super().__init__(msg)
        self.command = list(command)
        self.stderr = stderr


class SlurmJobError(WorkerError):
    """A SLURM job ended (cancelled, timed out, failed) before its states finished.

    The engine records it in the ``_error.json`` of every state the job left
    unfinished, with ``details`` beside the error.

    Attributes:
        job_id: the array element, ``<array job id>_<index>``.
        state: SLURM's state for it (``CANCELLED``, ``TIMEOUT``, ``FAILED``, ...).
        reason: SLURM's reason, as squeue prints it.
        details: what the error records add (``{"slurm": {...}}``: log tail, ...).
    """

    def __init__(
        self,
        msg: str,
        *,
        job_id: str,
        state: str,
        reason: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(msg)
        self.job_id = job_id
        self.state = state
        self.reason = reason
        self.details = details or {}


class ExecutableNotFoundError(PydraLiteError, FileNotFoundError):
    """The executable of a shell task is not on PATH."""


class OutputNotFoundError(PydraLiteError, FileNotFoundError):
    """A shell command exited cleanly but did not write a declared output file."""


class CommandError(PydraLiteError, RuntimeError):
    """A shell command exited with a non-zero code.

    Attributes:
        task: name of the task class.
        cmdline: the command line, quoted as a shell would need it.
        return_code: the exit code.
        stderr: what the command wrote on its standard error.
    """

    def __init__(
        self, msg: str, *, task: str, cmdline: str, return_code: int, stderr: str
    ) -> None:
        super().__init__(msg)
        self.task = task
        self.cmdline = cmdline
        self.return_code = return_code
        self.stderr = stderr


class InputModifiedError(PydraLiteError, RuntimeError):
    """A task modified one of its own input files while it ran.

    Attributes:
        task: name of the task class.
        field: the input field whose contents changed.
    """

    def __init__(self, msg: str, *, task: str, field: str) -> None:
        super().__init__(msg)
        self.task = task
        self.field = field


class TaskFailedError(PydraLiteError, RuntimeError):
    """One or more task states failed.

    The message has a line for each of the first :attr:`SHOWN` failures, in
    state order, naming the state's inputs and where its ``_error.json`` is
    (or that it could not be written), then ``and N more``. The first
    failure's original exception and traceback, as the worker formatted it
    (real file names and source lines), is the ``__cause__``.

    Attributes:
        task: name of the task (or workflow) that was submitted.
        error_files: the ``_error.json`` file of every failed state whose
            file was written, in state order.
        messages: a one-line summary of each failure, in state order.
    """

    SHOWN = 10
    """How many failures the message lists (it counts them all)."""

    def __init__(
        self, task: str, error_files: Sequence[Path], messages: Sequence[str]
    ) -> None:
        self.task = task
        self.error_files = list(error_files)
        self.messages = list(messages)
        lines = [f"{task}: {len(self.messages)} state(s) failed:"]
        lines += [f"  {msg}" for msg in self.messages[: self.SHOWN]]
        if len(self.messages) > self.SHOWN:
            more = len(self.messages) - self.SHOWN
            lines.append(f"  and {more} more (every one is in .messages)")
        super().__init__("\n".join(lines))


class PydraLiteWarning(UserWarning):
    """Base of every warning issued by pydra_lite."""


class CacheWarning(PydraLiteWarning):
    """A cache entry was unreadable or invalid and was treated as a miss."""
