"""The signal a compiled coercer raises, and its translation into a user's error.

:class:`TypeMismatch` is internal: it carries what was expected and seen at the
failing position, and the path to that position, built as it propagates out of
nested containers. :func:`input_error` turns it into the :class:`TaskInputError`
the user sees.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from typing import Any

from pydra_lite.errors import TaskInputError
from pydra_lite.typecheck.annotation import type_name

Coercer = Callable[[Any], Any]

_short = reprlib.Repr()  # keyword limits need Python 3.12
_short.maxstring, _short.maxother, _short.maxdict = 120, 200, 10
_short.maxlist = _short.maxtuple = _short.maxset = _short.maxfrozenset = 20
_MAX_REPR = 200


class TypeMismatch(Exception):
    """Raised by a compiled coercer when a value does not fit.

    Args:
        expected: the expected type (an annotation, or its text).
        value: the value at the failing position.
        hint: how to fix it, when there is an obvious way.

    Attributes:
        expected: the expected type at the failing position, as text.
        value: the value at the failing position.
        hint: how to fix it, when there is an obvious way.
        path: positions from the outer value inwards, e.g. ``["item 2 of list"]``.
    """

    def __init__(self, expected: Any, value: Any, hint: str | None = None) -> None:
        # No repr here: unions raise and catch these on their normal path.
        expected = expected if isinstance(expected, str) else type_name(expected)
        super().__init__(expected)
        self.expected: str = expected
        self.value = value
        self.hint = hint
        self.path: list[str] = []

    def __str__(self) -> str:
        where = f"at {', '.join(self.path)}: " if self.path else ""
        return f"{where}expected {self.expected}, got {show_value(self.value)}"


def at(coercer: Coercer, value: Any, where: str, key: Any) -> Any:
    """Coerce ``value``; on a mismatch add ``where.format(short_repr(key))`` to its path.

    The position text is built only on failure: this runs once per item.
    """
    try:
        return coercer(value)
    except TypeMismatch as exc:
        exc.path.insert(0, where.format(short_repr(key)))
        raise


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to about 200 characters, cheap even for huge values."""
    text = _short.repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def show_value(value: Any) -> str:
    """The value and its type, as messages show them: ``'3' (str)``."""
    kind = type(value)
    module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
    return f"{short_repr(value)} ({module}{kind.__qualname__})"


def input_error(
    exc: TypeMismatch, value: Any, annotation: Any, *, task: str, field: str
) -> TaskInputError:
    """The user's error for a mismatch of ``value`` in ``task.field``."""
    expected = type_name(annotation)
    msg = f"{task}.{field}: expected {expected}, got {show_value(value)}"
    if exc.path:
        inner = f"expected {exc.expected}, got {show_value(exc.value)}"
        msg += f"; at {', '.join(exc.path)}: {inner}"
    if exc.hint:
        msg += f"; {exc.hint}"
    return TaskInputError(msg, task=task, field=field, expected=expected, value=value)
