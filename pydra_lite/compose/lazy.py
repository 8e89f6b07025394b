"""Lazy fields: references to the outputs of workflow nodes not yet run.

``workflow.add(task)`` returns a :class:`LazyOutputs`; each of its attributes
is a :class:`LazyField` naming the node and the output, with the type a
downstream input receives: the output's type, or ``list[type]`` when the node
combines its states. Setting a lazy field as a task input checks that type
against the input's annotation at once, naming both ends when they clash.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from pydra_lite.errors import ConnectionTypeError
from pydra_lite.typecheck import is_compatible, type_name


@attrs.frozen
class LazyField:
    """The output ``field`` of workflow node ``node``, as it will be."""

    node: str
    field: str
    type: Any

    def __repr__(self) -> str:
        return f"<lazy {self.node}.{self.field}: {type_name(self.type)}>"


def is_lazy(value: Any) -> bool:
    """Whether ``value`` is a lazy workflow field (known only when its node runs)."""
    return isinstance(value, LazyField)


class LazyOutputs:
    """The outputs of a workflow node, as lazy fields by attribute name."""

    def __init__(self, node: str, types: dict[str, Any]) -> None:
        self._node = node
        self._types = types

    def __getattr__(self, name: str) -> LazyField:
        try:
            return LazyField(self._node, name, self._types[name])
        except KeyError:
            known = ", ".join(self._types)
            msg = f"workflow node {self._node!r} has no output {name!r}; its outputs are: {known}"
            raise AttributeError(msg) from None

    def __dir__(self) -> list[str]:
        return list(self._types)

    def __repr__(self) -> str:
        return f"<outputs of workflow node {self._node!r}: {', '.join(self._types)}>"


def check_connection(lazy: LazyField, task: str, field: str, annotation: Any) -> None:
    """Raise ConnectionTypeError when ``lazy`` cannot feed ``task.field``."""
    try:
        compatible = _is_compatible(lazy.type, annotation)
    except TypeError:  # an unhashable annotation: no memo
        compatible = is_compatible(lazy.type, annotation)
    if compatible:
        return
    msg = (
        f"cannot connect {lazy.node}.{lazy.field} ({type_name(lazy.type)}) to "
        f"{task}.{field} ({type_name(annotation)}); convert it with a task in "
        "between, or fix one of the two annotations"
    )
    raise ConnectionTypeError(
        msg, task=task, field=field, expected=type_name(annotation), value=lazy
    )


@functools.lru_cache(maxsize=1024)
def _is_compatible(source: Any, target: Any) -> bool:
    """:func:`is_compatible`, memoised: a workflow makes the same connection
    (``int`` to ``int``) once per node, and checking it costs more than the rest
    of adding the node."""
    return is_compatible(source, target)
