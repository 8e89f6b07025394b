"""A workflow flattened into a graph of nodes, each with its states and checksums.

Flattening runs the workflow's constructor, and the constructor of every
nested workflow, so the graph holds only python and shell nodes, named by
their path (``"Inner.add"``), in topological order (a node can only be fed by
nodes added before it).

States: a node's state is the outer product of the kept states of the nodes
feeding it (a dimension shared through two paths counts once) and of its own
split, its dimensions named ``"Node.field"``. Its combiner splits that state
into *kept* dimensions, which a downstream node inherits, and *combined*
ones, whose states a downstream node receives together as one list.

The hash tree: the digest of an input fed by node U's output ``f`` is
``H("lazy", key, f)``, where ``key`` is the checksum of the U state it comes
from (or, when U combines, ``H("group", checksums of the combined states)``).
Checksums are therefore known for the whole graph before anything runs, and
no upstream value is ever hashed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

from pydra_lite.compose.base import Task, input_values, operation_hash, state_of
from pydra_lite.compose.lazy import LazyField, is_lazy
from pydra_lite.compose.workflow import WorkflowTask, build_workflow
from pydra_lite.engine.job import Job
from pydra_lite.engine.node import input_digests, state_checksum
from pydra_lite.errors import WorkflowError
from pydra_lite.hashing import combine_digests
from pydra_lite.state import State

_EMPTY = State.empty()
"""The state of an unsplit node: shared, since states are immutable."""


class GraphNode:
    """One python or shell node of a flattened workflow.

    ``order`` is the node's position in the workflow (topological): the
    scheduler runs states of later nodes first, so that results flow down the
    graph instead of piling up.
    """

    def __init__(
        self, name: str, task: Task, built: Mapping[str, GraphNode], order: int = 0
    ) -> None:
        self.name = name
        self.task = task
        self.task_class = type(task)
        self.order = order
        values = input_values(task)
        self.lazy = {f: v for f, v in values.items() if is_lazy(v)}
        self.upstream = {f: _find(built, name, v) for f, v in self.lazy.items()}
        self.state = self._make_state()
        combiner = [_qualify(name, c) for c in task.combiner]
        self.kept, self.combined = (
            self.state.combine(combiner) if combiner else (self.state, _EMPTY)
        )
        self._values = values
        self._fixed_digests, self._split_digests = input_digests(values)
        if self.state.dims:
            self._positions = {
                f: _positions(self.state, up.kept) for f, up in self.upstream.items()
            }
            own = task.split_names() if task.splitter is not None else ()
            self._own = {f: self.state.dim_of(f"{name}.{f}") for f in own}
            self._single_digests: dict[str, bytes] | None = None
            self.checksums = [self._checksum(i) for i in self.state.indices()]
        else:  # one state, the usual case: its digests are kept for its job
            self._positions, self._own = {}, {}
            self._single_digests = self._input_digests(())
            self.checksums = [state_checksum(self.task_class, self._single_digests)]
        self.groups = self._groups()
        self.out_keys = [self._out_key(group) for group in self.groups]

    def _make_state(self) -> State:
        state = _EMPTY
        for up in self.upstream.values():
            if up.kept.dims:
                state = state.outer(up.kept)
        if self.task.splitter is not None:
            state = state.outer(state_of(self.task).qualified(f"{self.name}."))
        return state

    def upstream_index(self, field: str, index: tuple[int, ...]) -> int:
        """The kept-state index of the upstream node feeding ``field``."""
        up = self.upstream[field]
        if not up.kept.dims:  # the usual case: an unsplit upstream node
            return 0
        return up.kept.flat_index(tuple(index[p] for p in self._positions[field]))

    def _input_digests(self, index: tuple[int, ...]) -> dict[str, bytes]:
        digests = dict(self._fixed_digests)
        for field, dim in self._own.items():
            digests[field] = self._split_digests[field][index[dim]]
        for field, lazy in self.lazy.items():
            key = self.upstream[field].out_keys[self.upstream_index(field, index)]
            digests[field] = combine_digests(b"lazy", key, lazy.field.encode())
        return digests

    def _state_digests(self, index: tuple[int, ...]) -> dict[str, bytes]:
        if self._single_digests is not None:
            return self._single_digests
        return self._input_digests(index)

    def _checksum(self, index: tuple[int, ...]) -> str:
        return state_checksum(self.task_class, self._input_digests(index))

    def _groups(self) -> list[list[int]]:
        if not self.state.dims:
            return [[0]]
        positions = _positions(self.state, self.kept)
        groups: list[list[int]] = [[] for _ in range(self.kept.size)]
        for flat, index in enumerate(self.state.indices()):
            groups[self.kept.flat_index(tuple(index[p] for p in positions))].append(
                flat
            )
        return groups

    def _out_key(self, group: list[int]) -> bytes:
        if not self.combined.dims:
            return bytes.fromhex(self.checksums[group[0]])
        return combine_digests(
            b"group", *(bytes.fromhex(self.checksums[s]) for s in group)
        )

    def dependencies(self, flat: int) -> Iterator[tuple[GraphNode, int]]:
        """The (upstream node, kept index) pairs that state ``flat`` reads."""
        index = self.state.index_of(flat)
        for field in self.lazy:
            yield self.upstream[field], self.upstream_index(field, index)

    def job(self, flat: int, outputs: StateOutputs) -> Job:
        """The job of state ``flat``, its lazy inputs read from ``outputs``."""
        index = self.state.index_of(flat)
        inputs = {}
        for field, value in self._values.items():
            if field in self.lazy:
                up = self.upstream[field]
                inputs[field] = up.value(
                    self.upstream_index(field, index), self.lazy[field].field, outputs
                )
            elif field in self._own:
                inputs[field] = value[index[self._own[field]]]
            else:
                inputs[field] = value
        return Job(self.checksums[flat], inputs, self._state_digests(index))

    def value(self, kept: int, field: str, outputs: StateOutputs) -> Any:
        """This node's output ``field`` at kept state ``kept`` (a list when combined)."""
        states = outputs[self]
        if not self.combined.dims:
            return states[self.groups[kept][0]][field]  # type: ignore[index]
        return [states[s][field] for s in self.groups[kept]]  # type: ignore[index]

    def value_or_none(self, kept: int, field: str, outputs: StateOutputs) -> Any:
        """As :meth:`value`, with None for each state that has no outputs."""
        states = outputs[self]
        if not self.combined.dims:
            found = states[self.groups[kept][0]]
            return None if found is None else found[field]
        return [
            None if s is None else s[field]
            for s in map(states.__getitem__, self.groups[kept])
        ]


StateOutputs: TypeAlias = Mapping[GraphNode, list[dict[str, Any] | None]]
"""Per node, the outputs of each of its states (None until known)."""


def _find(built: Mapping[str, GraphNode], name: str, lazy: LazyField) -> GraphNode:
    try:
        return built[lazy.node]
    except KeyError:
        msg = f"workflow node {name!r} is fed by {lazy!r}, but no node {lazy.node!r} was added before it"
        raise WorkflowError(msg) from None


def _positions(state: State, part: State) -> list[int]:
    return [state.dim_of(dim.names[0]) for dim in part.dims]


def _qualify(node: str, name: str) -> str:
    """``"a"`` → ``"Node.a"``; ``"Up.a"`` → ``"<prefix>Up.a"`` in a nested workflow."""
    if "." not in name:
        return f"{node}.{name}"
    prefix = node.rsplit(".", 1)[0] + "." if "." in node else ""
    return prefix + name


class WorkflowGraph:
    """A workflow's nodes (flattened, in order) and its outputs."""

    def __init__(self, workflow: WorkflowTask) -> None:
        self.task_class = type(workflow)
        tasks, self.output_refs = _flatten(workflow, "")
        self.nodes: dict[str, GraphNode] = {}
        for order, (name, task) in enumerate(tasks.items()):
            self.nodes[name] = GraphNode(name, task, self.nodes, order)
        self.outputs = {
            out: (self.nodes[ref.node], ref.field)
            for out, ref in self.output_refs.items()
        }
        fed = {up.name for node in self.nodes.values() for up in node.upstream.values()}
        self.sinks = [node for name, node in self.nodes.items() if name not in fed]
        self.checksum = self._checksum(workflow)

    def _checksum(self, workflow: WorkflowTask) -> str:
        """H(op hash, each output's keys, each unreturned sink's keys).

        A sink nothing reads and the workflow does not return (a node run for
        its side effect) counts too, so editing it invalidates the entry.
        """
        parts: list[bytes] = []
        for name, (node, field) in self.outputs.items():
            parts += (name.encode(), field.encode(), *node.out_keys)
        returned = {node.name for node, _ in self.outputs.values()}
        for node in self.sinks:
            if node.name not in returned:
                parts += (b"sink", *node.out_keys)
        op_hash = operation_hash(type(workflow))
        return combine_digests(b"workflow", op_hash, *parts).hex()

    def output_values(
        self, outputs: StateOutputs, partial: bool = False
    ) -> dict[str, Any]:
        """The workflow's outputs: one value, or a list over a split node's kept states.

        ``partial``: a state that failed or was skipped gives None in its place.
        """
        values = {}
        for name, (node, field) in self.outputs.items():
            value = node.value_or_none if partial else node.value
            per_kept = [value(k, field, outputs) for k in range(node.kept.size)]
            values[name] = per_kept if node.kept.dims else per_kept[0]
        return values


def _flatten(
    workflow: WorkflowTask, prefix: str
) -> tuple[dict[str, Task], dict[str, LazyField]]:
    """Nodes of ``workflow`` with nested workflows replaced by their own nodes."""
    graph = build_workflow(workflow, prefix)
    tasks: dict[str, Task] = {}
    aliases: dict[tuple[str, str], LazyField] = {}
    for name, task in graph.nodes.items():
        if aliases:  # outputs of a nested workflow feed this node, maybe
            task = _resolve_aliases(task, aliases)
        if not isinstance(task, WorkflowTask):
            tasks[name] = task
            continue
        if task.splitter is not None:
            msg = (
                f"nested workflow {name!r} is split; split the tasks inside it instead"
            )
            raise WorkflowError(msg)
        inner, inner_outputs = _flatten(task, f"{name}.")
        tasks.update(inner)
        aliases.update({(name, f): lazy for f, lazy in inner_outputs.items()})
    outputs = {k: aliases.get((v.node, v.field), v) for k, v in graph.outputs.items()}
    _check_outputs(workflow, outputs)
    return tasks, outputs


def _resolve_aliases(task: Task, aliases: Mapping[tuple[str, str], LazyField]) -> Task:
    for field, value in input_values(task).items():
        if is_lazy(value) and (value.node, value.field) in aliases:
            setattr(task, field, aliases[value.node, value.field])
    return task


def _check_outputs(workflow: WorkflowTask, outputs: Mapping[str, Any]) -> None:
    for name, value in outputs.items():
        if not is_lazy(value):
            msg = (
                f"workflow {type(workflow).__name__}: output {name!r} must be a node's "
                f"lazy output (e.g. node.out), got {value!r}"
            )
            raise WorkflowError(msg)
