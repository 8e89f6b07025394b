"""Expanding a task into its states: inputs, digests and checksums per state.

A :class:`Node` is a task object seen by the engine. It hashes each input
once (each element of a split list once), then yields one :class:`Job` per
state in state order, computing each state's checksum only when the state is
reached, so the first states can run before the last checksum is known. A
state's checksum is::

    H("job", operation hash, (field, input digest) for each field, sorted)

computed by a :class:`StateHasher` from a BLAKE2b state already fed every
part that all states share. The checksum of a split node, which names the
entry holding its gathered outputs, is::

    H("split", operation hash, splitter and combiner,
      (field, digest) for each fixed field, sorted,
      (field, H("elements", digest of each element)) for each split field, sorted)

which fixes every state's checksum (and so changes with any value of any
state) while costing one pass over the element digests, not one per state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pydra_lite.compose.base import (
    StateArray,
    Task,
    check_mandatory,
    input_values,
    operation_hash,
    state_of,
)
from pydra_lite.compose.lazy import is_lazy
from pydra_lite.engine.job import Job, holds_files
from pydra_lite.hashing import DIGEST_SIZE, combine_digests, combine_hasher, hash_object

DIGEST_PAD = b"\0" * DIGEST_SIZE
"""Stands for a varying field's digest when sizing the preimage: all digests are this long."""


def state_checksum(task_class: type[Task], digests: dict[str, bytes]) -> str:
    """``H("job", operation hash, (field, digest) for every field, sorted)`` in hex."""
    parts: list[bytes] = []
    for field in sorted(digests):
        parts += (field.encode(), digests[field])
    return combine_digests(b"job", operation_hash(task_class), *parts).hex()


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
        elif not is_lazy(value):
            fixed[field] = hash_object(value, field=field)
    return fixed, split


class StateHasher:
    """:func:`state_checksum` for many states that differ only in some fields.

    Everything before the first varying field is hashed once; each state then
    costs a ``copy()`` and one ``update()`` of its own digests. Gives exactly
    :func:`state_checksum`'s digests (a test pins that).
    """

    def __init__(
        self, op_hash: bytes, fixed: Mapping[str, bytes], varying: Sequence[str]
    ) -> None:
        fields = sorted([*fixed, *varying])
        lengths = [len(op_hash)]
        # The constant bytes around the varying digests: segments[0] before
        # the first one (hashed once), segments[i] right after the i-th.
        segments = [op_hash]
        for field in fields:
            lengths += (len(field.encode()), len(fixed.get(field, DIGEST_PAD)))
            segments[-1] += field.encode()
            if field in fixed:
                segments[-1] += fixed[field]
            else:
                segments.append(b"")
        self.varying = sorted(varying)
        self._prefix = combine_hasher(b"job", lengths)
        self._prefix.update(segments[0])
        self._tails = segments[1:]

    def checksum(self, digests: Sequence[bytes]) -> str:
        """The checksum of a state whose varying fields have ``digests`` (sorted)."""
        hasher = self._prefix.copy()
        hasher.update(
            b"".join(d + tail for d, tail in zip(digests, self._tails, strict=True))
        )
        return hasher.hexdigest()

    def checksums_of(self, digests: Sequence[bytes]) -> Iterator[str]:
        """Checksums of states with one varying field, one per digest: the fast path."""
        copy, (tail,) = self._prefix.copy, self._tails
        for digest in digests:
            hasher = copy()
            hasher.update(digest + tail)
            yield hasher.hexdigest()


class Node:
    """One task object, expanded into the jobs of its states."""

    def __init__(self, task: Task) -> None:
        check_mandatory(task)
        self.task = task
        self.task_class = type(task)
        self.name = self.task_class.__name__
        self.state = state_of(task)
        self.is_split = task.splitter is not None
        self._op_hash = operation_hash(self.task_class)
        self._values = input_values(task)
        self._fixed_digests, self._split_digests = input_digests(self._values)
        self._split_dims = {
            name: self.state.dim_of(name) for name in task.split_names()
        }
        self._hasher = StateHasher(
            self._op_hash, self._fixed_digests, list(self._split_dims)
        )

    def checksums(self) -> list[str]:
        """The checksum of every state, in state order."""
        return list(self.iter_checksums())

    def iter_checksums(self) -> Iterator[str]:
        """The checksum of each state, in state order, computed as it is reached."""
        varying = self._hasher.varying
        if len(varying) == 1:  # one split field: its digests are in state order
            return self._hasher.checksums_of(self._split_digests[varying[0]])
        return self._iter_checksums_general()

    def _iter_checksums_general(self) -> Iterator[str]:
        fields = self._hasher.varying
        dims = [(self._split_dims[f], self._split_digests[f]) for f in fields]
        checksum = self._hasher.checksum
        for index in self.state.indices():
            yield checksum([digests[index[dim]] for dim, digests in dims])

    def jobs(self, checksums: Iterable[str] | None = None) -> Iterator[Job]:
        """One job per state, in state order, built lazily to keep memory flat.

        Without ``checksums``, each state's checksum is computed as it is reached.
        """
        fixed = {k: v for k, v in self._values.items() if k not in self._split_dims}
        split = [
            (name, dim, self._values[name], self._split_digests[name])
            for name, dim in self._split_dims.items()
        ]
        if checksums is None:
            checksums = self.iter_checksums()
        for checksum, index in zip(checksums, self.state.indices(), strict=True):
            inputs, digests = dict(fixed), dict(self._fixed_digests)
            for name, dim, values, element_digests in split:
                inputs[name] = values[index[dim]]
                digests[name] = element_digests[index[dim]]
            yield Job(checksum, inputs, digests)

    def _state_digests(self, index: tuple[int, ...]) -> dict[str, bytes]:
        digests = dict(self._fixed_digests)
        for name, dim in self._split_dims.items():
            digests[name] = self._split_digests[name][index[dim]]
        return digests

    def split_checksum(self) -> str:
        """Checksum naming the entry that holds this split node's gathered outputs."""
        shape = repr((self.state.splitter, self.task.combiner)).encode()
        parts: list[bytes] = []
        for field in sorted(self._fixed_digests):
            parts += (field.encode(), self._fixed_digests[field])
        for field in sorted(self._split_digests):
            elements = combine_digests(b"elements", *self._split_digests[field])
            parts += (field.encode(), elements)
        return combine_digests(b"split", self._op_hash, shape, *parts).hex()

    def splits_files(self) -> bool:
        """Whether a split field holds file sets, whose names its digests ignore.

        Two such states may have one checksum yet name different files.
        """
        return any(
            holds_files(item)
            for name in self._split_dims
            for item in self._values[name]
        )

    def gather(self, per_state: dict[str, list[Any]]) -> dict[str, Any]:
        """Per-field lists in state order, nested as the combiner says."""
        combiner = self.task.combiner
        return {
            key: self.state.nest(values, combiner) if combiner else values
            for key, values in per_state.items()
        }
