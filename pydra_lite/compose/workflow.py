"""Workflows: a constructor function that adds tasks and wires their outputs.

``workflow.define`` makes a task class from a constructor function, exactly as
``python.define`` does from a function: inputs from its signature, outputs
from ``outputs=`` or one ``out``. Building the workflow calls the constructor
with the workflow's concrete input values, so it may branch and loop on them;
an input fed by an outer workflow's node arrives as a :class:`LazyField`.
Inside, ``workflow.add(task, name=None)`` records a node and returns its
outputs as lazy fields; the constructor returns lazy fields (or a tuple of
them, one per output) naming the workflow's outputs.

A node is copied when added, and can only be fed by nodes added before it, so
a cycle cannot be built.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from pydra_lite.compose.base import Task, input_values, make_task_class, output_specs
from pydra_lite.compose.lazy import LazyOutputs
from pydra_lite.compose.signature import (
    inputs_from_signature,
    output_specs_from,
    parse_docstring_args,
    unpack_returned,
)
from pydra_lite.errors import StateError, WorkflowError
from pydra_lite.hashing import hash_function


@attrs.frozen
class BuiltWorkflow:
    """What a workflow's constructor built: its nodes in order and its outputs."""

    nodes: Mapping[str, Task]
    outputs: Mapping[str, Any]


class _Builder:
    def __init__(self, workflow: str, prefix: str) -> None:
        self.workflow = workflow
        self.prefix = prefix
        self.nodes: dict[str, Task] = {}


_BUILDER: contextvars.ContextVar[_Builder] = contextvars.ContextVar("workflow_builder")


def add(task: Task, name: str | None = None) -> LazyOutputs:
    """Add ``task`` as a node of the workflow being built; return its lazy outputs."""
    try:
        builder = _BUILDER.get()
    except LookupError:
        msg = "workflow.add() can only be called inside a workflow.define constructor"
        raise WorkflowError(msg) from None
    name = builder.prefix + (name or type(task).__name__)
    if name in builder.nodes:
        msg = (
            f"workflow {builder.workflow}: a node named {name!r} exists already; "
            f"give this one another name: workflow.add(task, name='{name}_2')"
        )
        raise WorkflowError(msg)
    _check_combiner(builder, name, task)
    node = _copy(task)
    builder.nodes[name] = node
    return LazyOutputs(name, _downstream_types(node))


def _check_combiner(builder: _Builder, name: str, task: Task) -> None:
    """Refuse a combiner name that names no split field this node can see.

    A plain name is the node's own field (``Task.combine`` checked it against
    the task's split fields): an unsplit node cannot combine it. A dotted
    ``"Up.field"`` must name a node added before (or one inside a nested
    workflow node) that is split over ``field``; whether it is upstream of
    this node is checked when the graph is built, before anything runs.
    """
    own = task.split_names() if task.splitter is not None else ()
    for combined in task.combiner:
        node, _, field = combined.rpartition(".")
        if not node and combined in own:
            continue
        if node:
            up = builder.nodes.get(builder.prefix + node)
            if up is None and builder.prefix + node.split(".")[0] in builder.nodes:
                continue  # a node inside a nested workflow node
            if up is not None and (
                isinstance(up, WorkflowTask)
                or (up.splitter is not None and field in up.split_names())
            ):
                continue
        where = (
            f"{name!r} is not split over {combined!r}"
            if not node
            else f"no node {node!r} split over {field!r} was added before {name!r}"
        )
        msg = (
            f"workflow {builder.workflow}: node {name!r} combines {combined!r}, but "
            f"{where}; combine this node's own split field by its name or an "
            "upstream node's as 'Node.field' (nodes added so far: "
            f"{', '.join(builder.nodes) or 'none'})"
        )
        raise StateError(msg)


def _copy(task: Task) -> Task:
    """A shallow copy, as ``copy.copy`` makes it but without its generic protocol.

    Task fields, splitter and combiner all live in the instance ``__dict__``.
    """
    node = object.__new__(type(task))
    node.__dict__.update(task.__dict__)
    return node


def _downstream_types(task: Task) -> dict[str, Any]:
    """Output types as a downstream input sees them (a list when combined)."""
    combined = bool(task.combiner)
    return {
        spec.name: list[spec.type] if combined else spec.type  # type: ignore[name-defined]
        for spec in output_specs(task)
    }


class WorkflowTask(Task):
    """Base of the task classes made by :func:`define`."""

    _kind = "workflow"
    _constructor: Callable[..., Any]

    @classmethod
    def _compute_operation_hash(cls) -> bytes:
        return hash_function(cls._constructor)


def build_workflow(workflow: WorkflowTask, prefix: str = "") -> BuiltWorkflow:
    """Run a workflow's constructor on its inputs; node names get ``prefix``."""
    cls = type(workflow)
    builder = _Builder(cls.__name__, prefix)
    token = _BUILDER.set(builder)
    try:
        returned = cls._constructor(**input_values(workflow))
    finally:
        _BUILDER.reset(token)
    return BuiltWorkflow(builder.nodes, _outputs_from(cls, returned))


def _outputs_from(cls: type[WorkflowTask], returned: Any) -> dict[str, Any]:
    names = [spec.name for spec in output_specs(cls)]
    outputs = unpack_returned(names, returned)
    if outputs is None:
        msg = (
            f"workflow {cls.__name__} declares outputs {names}; its "
            f"constructor must return {len(names)} lazy field(s), got {returned!r}"
        )
        raise WorkflowError(msg)
    return outputs


def define(
    wrapped: Callable[..., Any] | None = None,
    /,
    *,
    outputs: Sequence[str] | Mapping[str, Any] | None = None,
    name: str | None = None,
) -> Any:
    """Make a workflow task class from a constructor function.

    Args:
        wrapped: the constructor; it calls :func:`add` and returns lazy fields.
        outputs: output names (a tuple return is unpacked), or names to types.
        name: the class name; defaults to the constructor's name.
    """

    def decorate(func: Callable[..., Any]) -> type[Task]:
        helps = parse_docstring_args(func.__doc__ or "")
        return make_task_class(
            name or func.__name__,
            WorkflowTask,
            inputs_from_signature(func, helps),
            output_specs_from(func, outputs),
            {"_constructor": staticmethod(func)},
            doc=func.__doc__ or "",
            module=func.__module__,
        )

    return decorate if wrapped is None else decorate(wrapped)
