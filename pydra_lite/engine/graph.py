"""Expanding a task into its states: inputs, digests and checksums per state.

A :class:`Node` is a task object seen by the engine. It hashes each input
once (each element of a split list once), then yields one :class:`Job` per
state in state order. A state's checksum is::

    H("job", operation hash, (field, input digest) for each field, sorted)

and the checksum of a split node, which names the entry holding its gathered
outputs, is ``H("split", splitter, combiner, every state checksum)``, so that
changing any value of any state changes it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydra_lite.compose.base import StateArray, Task
from pydra_lite.compose.lazy import LazyField
from pydra_lite.engine.job import Job
from pydra_lite.hash import combine_digests, hash_object


def state_checksum(task_class: type[Task], digests: dict[str, bytes]) -> str:
    """``H("job", operation hash, (field, digest) for every field, sorted)`` in hex."""
    parts: list[bytes] = []
    for field in sorted(digests):
        parts += (field.encode(), digests[field])
    return combine_digests(b"job", task_class._operation_hash(), *parts).hex()


def input_digests(
    values: Mapping[str, Any],
) -> tuple[dict[str, bytes], dict[str, list[bytes]]]:
    """The digest of each concrete input, and of each element of each split one.

    Lazy inputs are left out: their digests come from the hash tree.
    """
    fixed: dict[str, bytes] = {}
    split: dict[str, list[bytes]] = {}
    for field, value in values.items():
        if isinstance(value, StateArray):
            split[field] = [hash_object(item, field=field) for item in value]
        elif not isinstance(value, LazyField):
            fixed[field] = hash_object(value, field=field)
    return fixed, split


class Node:
    """One task object, expanded into the jobs of its states."""

    def __init__(self, task: Task) -> None:
        task._check_mandatory()
        self.task = task
        self.task_class = type(task)
        self.name = self.task_class.__name__
        self.state = task._state()
        self.is_split = task.splitter is not None
        self._op_hash = self.task_class._operation_hash()
        self._values = task._inputs()
        self._fixed_digests, self._split_digests = input_digests(self._values)
        self._split_dims = {
            name: self.state.dim_of(name) for name in task.split_names()
        }

    def checksums(self) -> list[str]:
        """The checksum of every state, in state order."""
        return [self._checksum(self._state_digests(i)) for i in self.state.indices()]

    def jobs(self, checksums: Sequence[str]) -> Iterator[Job]:
        """One job per state, in state order, built lazily to keep memory flat."""
        fixed = {k: v for k, v in self._values.items() if k not in self._split_dims}
        for checksum, index in zip(checksums, self.state.indices(), strict=True):
            inputs = dict(fixed)
            for name, dim in self._split_dims.items():
                inputs[name] = self._values[name][index[dim]]
            yield Job(checksum, inputs, self._state_digests(index))

    def _state_digests(self, index: tuple[int, ...]) -> dict[str, bytes]:
        digests = dict(self._fixed_digests)
        for name, dim in self._split_dims.items():
            digests[name] = self._split_digests[name][index[dim]]
        return digests

    def _checksum(self, digests: dict[str, bytes]) -> str:
        return state_checksum(self.task_class, digests)

    def split_checksum(self, state_checksums: Sequence[str]) -> str:
        """Checksum naming the entry that holds this split node's gathered outputs."""
        shape = repr((self.state.splitter, self.task.combiner)).encode()
        states = [bytes.fromhex(ck) for ck in state_checksums]
        return combine_digests(b"split", self._op_hash, shape, *states).hex()

    def gather(self, per_state: dict[str, list[Any]]) -> dict[str, Any]:
        """Per-field lists in state order, nested as the combiner says."""
        combiner = self.task.combiner
        return {
            key: self.state.nest(values, combiner) if combiner else values
            for key, values in per_state.items()
        }
