"""What a submission returns: :class:`Result`, and the lazy list of state results.

A Result is made once, complete: :meth:`Result.of` is the one place where a
task's output values become its ``Outputs`` object, and
:meth:`Result.from_entry` / :meth:`Result.from_outcome` build it from what
the cache or a worker gave.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import attrs

if TYPE_CHECKING:
    from pydra_lite.engine.cache import Cache, Entry
    from pydra_lite.engine.job import Outcome


@attrs.frozen
class Skipped:
    """A state that did not run because a state it reads (transitively) failed.

    Attributes:
        node: the workflow node of the skipped state (``"Inner.add"`` when nested).
        state: the skipped state's index in that node's state.
        upstream: the node whose failed state caused the skip.
        upstream_state: that failed state's index in its node's state.
        workflow_state: for a split workflow, the index of the workflow state.
    """

    node: str
    state: int
    upstream: str
    upstream_state: int
    workflow_state: int | None = None

    def __str__(self) -> str:
        return (
            f"{self.node} state {self.state} skipped: upstream "
            f"{self.upstream} state {self.upstream_state} failed"
        )


@attrs.frozen
class Result:
    """The outcome of running one task (or one split task, over all its states).

    A failure does not hide what succeeded: the outputs of the states (and
    workflow nodes) that ran are there, each failed or skipped one None.

    Attributes:
        outputs: the task's ``Outputs``; for a split task every field is a list
            in state order, nested as the combiner says, with None at each
            failed state. A workflow's output is None when its node failed or
            was skipped (a list with None at those states, for a split node).
            None only for a single, unsplit task that failed.
        output_dir: the entry directory of this task (of the split node for a
            split task, of the workflow for a workflow): the same path on
            every rerun with the same inputs. A split task or a workflow with
            a failed state publishes no entry: then None, as it is when no
            directory could be made. A failed single task's directory holds
            its ``_error.json``.
        errored: True when this task, or any of its states, failed.
        cached: True when everything came from the cache.
        runtime: seconds the task ran (for a split: the wall time of the run).
        errors: the ``_error.json`` record of each failed state, in state
            order (a workflow's: by node, then state); ``state`` (and, in a
            workflow, ``node``) say which state it was.
        states: for a split task, the Result of each state (loaded on access).
        skipped: the states of a workflow that did not run because an
            upstream state failed (:class:`Skipped`), in node and state order.
    """

    outputs: Any
    output_dir: Path | None
    errored: bool = False
    cached: bool = False
    runtime: float = 0.0
    errors: list[dict[str, Any]] = attrs.Factory(list)
    states: Sequence[Result] | None = None
    skipped: list[Skipped] = attrs.Factory(list)

    @classmethod
    def of(
        cls,
        task_class: type,
        values: Mapping[str, Any] | None,
        output_dir: Path | None,
        **fields: Any,
    ) -> Result:
        """A Result whose outputs are ``task_class.Outputs(**values)`` (None: errored)."""
        outputs = None if values is None else task_class.Outputs(**values)  # type: ignore[attr-defined]
        return cls(outputs, output_dir, **fields)

    @classmethod
    def from_entry(cls, task_class: type, entry: Entry, cached: bool = True) -> Result:
        """The Result of a valid cache entry."""
        return cls.of(task_class, entry.outputs, entry.output_dir, cached=cached)

    @classmethod
    def from_outcome(cls, task_class: type, outcome: Outcome) -> Result:
        """The Result of one state as a worker (or the cache) gave it."""
        directory: Path | None = outcome.output_dir
        if outcome.errored and not outcome.output_dir.is_dir():
            directory = None  # it could not be made: nothing there to see
        return cls.of(
            task_class,
            outcome.outputs,
            directory,
            errored=outcome.errored,
            cached=outcome.cached,
            runtime=0.0 if outcome.cached else outcome.runtime,
            errors=[outcome.error] if outcome.error else [],
        )

    @property
    def error_files(self) -> list[Path]:
        """The ``_error.json`` file of every failed state that has one, in order.

        A record whose file could not be written (its ``error_file`` says
        ``"not written: ..."``) has none; neither has one whose file is gone.
        """
        files = []
        for err in self.errors:
            path = Path(err["output_dir"]) / "_error.json"
            if "error_file" not in err and path.is_file():
                files.append(path)
        return files


class StateResults(Sequence[Result]):
    """The Result of each state of a split task, read from the cache on access.

    Holding checksums rather than results keeps a 100,000-state run small;
    ``cached`` holds one byte per state, 1 where the state came from the cache
    in this run rather than being executed by it (None: every state did).
    """

    def __init__(
        self,
        cache: Cache,
        task_class: type,
        checksums: Sequence[str],
        cached: bytes | bytearray | None = None,
    ) -> None:
        self._cache = cache
        self._task_class = task_class
        self._checksums = checksums
        self._cached = cached

    def __len__(self) -> int:
        return len(self._checksums)

    @overload
    def __getitem__(self, index: int) -> Result: ...
    @overload
    def __getitem__(self, index: slice) -> list[Result]: ...
    def __getitem__(self, index: int | slice) -> Result | list[Result]:
        if isinstance(index, slice):
            return [self._load(i) for i in range(len(self))[index]]
        return self._load(range(len(self))[index])

    def __iter__(self) -> Iterator[Result]:
        return (self._load(i) for i in range(len(self)))

    def _load(self, index: int) -> Result:
        name, checksum = self._task_class.__name__, self._checksums[index]
        entry = self._cache.load(name, checksum)
        if entry is not None:
            cached = self._cached is None or bool(self._cached[index])
            return Result.from_entry(self._task_class, entry, cached)
        directory = self._cache.entry_dir(name, checksum)
        error = self._cache.read_error(name, checksum)
        errors = [{**error, "state": index}] if error else []
        found = directory if directory.is_dir() else None
        return Result(None, found, errored=True, errors=errors)
