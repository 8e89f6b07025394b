"""The ``Outputs`` class of a task: plain attrs fields, made on first use.

Owns :class:`TaskOutputs`, the base of every ``Outputs`` class, and
:func:`make_outputs_class`. Outputs are checked and coerced by the engine when
a state ends, not here.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from pydra_lite.compose.base import OutputSpec


class LazyOutputsClass:
    """A task class's ``Outputs``, made on first use and then stored in its place.

    Most task classes of a warm run never build an ``Outputs`` (only the
    results a run returns are loaded), and attrs compiles the methods of
    each class it makes: made at class creation, that cost would be paid at
    import for every task of a module.
    """

    def __init__(self, task_name: str, outputs: tuple[OutputSpec, ...]) -> None:
        self._task_name = task_name
        self._outputs = outputs

    def __get__(self, instance: object, owner: type) -> type:
        made = make_outputs_class(self._task_name, self._outputs)
        for cls in owner.__mro__:  # the class whose namespace holds this descriptor
            if cls.__dict__.get("Outputs") is self:
                cls.Outputs = made  # type: ignore[attr-defined]
        return made


class TaskOutputs:
    """Base of every ``Outputs`` class: equality, order and repr as attrs writes them.

    Written once here rather than compiled by attrs for each class: compiling
    them was most of the cost of making an ``Outputs`` class, which a warm
    workflow run pays for the one class whose outputs it returns. A test
    holds them equal to what attrs gives a class with ``eq=True, order=True``.
    """

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]  # mutable, as attrs' eq=True makes it

    def _fields(self) -> tuple[attrs.Attribute, ...]:
        return attrs.fields(type(self))  # type: ignore[arg-type]  # each subclass is attrs'

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in self._fields())

    def _compare(self, other: object, compare: Callable[[Any, Any], bool]) -> Any:
        if type(other) is not type(self):
            return NotImplemented
        return compare(self._values(), other._values())

    def __eq__(self, other: object) -> bool:
        return self._compare(other, operator.eq)

    # Ordered as attrs orders a class with eq=True: field values as a tuple.
    def __lt__(self, other: object) -> bool:
        return self._compare(other, operator.lt)

    def __le__(self, other: object) -> bool:
        return self._compare(other, operator.le)

    def __gt__(self, other: object) -> bool:
        return self._compare(other, operator.gt)

    def __ge__(self, other: object) -> bool:
        return self._compare(other, operator.ge)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self._fields())
        return f"{type(self).__qualname__}({shown})"


def make_outputs_class(task_name: str, outputs: Sequence[OutputSpec]) -> type:
    """The attrs class of a task's outputs: plain fields, checked by the engine."""
    fields = {
        spec.name: attrs.field(type=spec.type, metadata={"help": spec.help})
        for spec in outputs
    }
    cls = attrs.make_class(
        "Outputs",
        fields,
        bases=(TaskOutputs,),
        kw_only=True,
        slots=True,
        eq=False,
        repr=False,
    )
    cls.__qualname__ = f"{task_name}.Outputs"
    return cls
