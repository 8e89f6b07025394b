"""Coercers for containers: lists, tuples, sets, mappings and abstract collections.

Each builder gets the container's origin and type arguments, the mode (converting
or strict) and the compiler for the item types, and returns a closure that checks
every item and records the failing item's position in the mismatch's path.

Rules: ``list[T]`` and ``tuple[...]`` accept any ordered sequence (a list given for
a tuple becomes a tuple, and back) but never a str, bytes or set; ``Sequence[T]``
keeps a list a list and a tuple a tuple; ``set[T]`` accepts any sequence or set;
``dict[K, V]`` and ``Mapping[K, V]`` accept any mapping and return a dict;
``Iterable[T]`` / ``Collection[T]`` accept any non-text iterable, keeping lists,
tuples and sets as they are and reading anything else into a list. In strict mode
nothing is converted and the value itself is returned.
"""

from __future__ import annotations

import collections.abc as abc
from collections.abc import Callable
from typing import Any

from pydra_lite.typecheck.annotation import ITER_TARGETS, generic_name
from pydra_lite.typecheck.mismatch import Coercer, TypeMismatch, at, short_repr

Compiler = Callable[[Any, bool], Coercer]
Builder = Callable[[Any, tuple[Any, ...], bool, Compiler], Coercer]
_TEXT = (str, bytes, bytearray)
_KEPT = (list, tuple, set, frozenset)


def map_items(item: Coercer, values: Any, what: str) -> list[Any]:
    """Coerce every item, adding its position to a mismatch on the way out."""
    if type(values) is not list and type(values) is not tuple:
        values = list(values)  # read an iterator once: the slow path re-reads
    try:
        return [item(value) for value in values]
    except TypeMismatch as exc:
        failure = exc
    # Rare path: find the failing item again, to say where it is.
    for pos, value in enumerate(values):
        try:
            item(value)
        except TypeMismatch as exc:
            exc.path.insert(0, f"item {pos} of {what}")
            raise
    raise failure  # failed only once (an impure item check): no position to add


def is_ordered(value: Any) -> bool:
    """Whether ``value`` is a sequence that is not text."""
    kind = type(value)
    if kind is list or kind is tuple:  # the common case, without ABC checks
        return True
    return isinstance(value, abc.Sequence) and not isinstance(value, _TEXT)


def _hint(value: Any, what: str) -> str | None:
    if isinstance(value, _TEXT):
        kind = type(value).__name__
        return f"a {kind} is not a {what} here; pass [{short_repr(value)}] for one item"
    if isinstance(value, abc.Set):
        return "a set has no order; pass sorted(value) or list(value)"
    if hasattr(value, "tolist"):
        return "pass value.tolist()"
    if isinstance(value, abc.Iterator):
        return "pass list(value)"
    return None


def _item(
    args: tuple[Any, ...], pos: int, convert: bool, compiled: Compiler
) -> Coercer:
    return compiled(args[pos] if len(args) > pos else Any, convert)


def sequence(
    origin: Any, args: tuple[Any, ...], convert: bool, compiled: Compiler
) -> Coercer:
    """``list[T]`` (result a list) or ``Sequence[T]`` (result a list or a tuple)."""
    item = _item(args, 0, convert, compiled)
    name = generic_name(origin, args)
    container = list if origin is list else abc.Sequence
    what = "list" if origin is list else "sequence"
    keep_tuple = origin is not list

    def check(value: Any) -> Any:
        if is_ordered(value) and isinstance(value, container):
            out = map_items(item, value, what)
            if not convert:
                return value
            return tuple(out) if keep_tuple and type(value) is tuple else out
        if convert and is_ordered(value):
            return map_items(item, value, what)
        raise TypeMismatch(name, value, _hint(value, what))

    return check


def fixed_tuple(args: tuple[Any, ...], convert: bool, compiled: Compiler) -> Coercer:
    """``tuple[A, B]`` (length checked), ``tuple[T, ...]`` or ``tuple[()]``."""
    name = generic_name(tuple, args)
    if len(args) == 2 and args[1] is Ellipsis:
        each = compiled(args[0], convert)
        return _homogeneous_tuple(each, name, convert)
    items = [compiled(a, convert) for a in args]

    def check(value: Any) -> Any:
        if not (isinstance(value, tuple) or (convert and is_ordered(value))):
            raise TypeMismatch(name, value, _hint(value, "tuple"))
        if len(value) != len(items):
            hint = f"it needs {len(items)} items, got {len(value)}"
            raise TypeMismatch(name, value, hint)
        out = tuple(
            at(coercer, item, "item {} of tuple", pos)
            for pos, (coercer, item) in enumerate(zip(items, value, strict=True))
        )
        return out if convert else value

    return check


def _homogeneous_tuple(each: Coercer, name: str, convert: bool) -> Coercer:
    def check(value: Any) -> Any:
        if not (isinstance(value, tuple) or (convert and is_ordered(value))):
            raise TypeMismatch(name, value, _hint(value, "tuple"))
        out = map_items(each, value, "tuple")
        return tuple(out) if convert else value

    return check


def bare_tuple(convert: bool, compiled: Compiler) -> Coercer:
    """A bare ``tuple`` annotation: any tuple, or any sequence when converting."""
    return _homogeneous_tuple(compiled(Any, convert), "tuple", convert)


def set_of(
    origin: Any, args: tuple[Any, ...], convert: bool, compiled: Compiler
) -> Coercer:
    """``set[T]``, ``frozenset[T]``, ``AbstractSet[T]``: any set or sequence."""
    item = _item(args, 0, convert, compiled)
    name = generic_name(origin, args)

    def check(value: Any) -> Any:
        convertible = convert and (is_ordered(value) or isinstance(value, abc.Set))
        if not (isinstance(value, origin) or convertible):
            raise TypeMismatch(name, value, _hint(value, "set"))
        out = [at(item, member, "item {} of set", member) for member in value]
        if not convert:
            return value
        frozen = origin is frozenset or (origin is not set and type(value) is frozenset)
        return frozenset(out) if frozen else set(out)

    return check


def mapping(
    origin: Any, args: tuple[Any, ...], convert: bool, compiled: Compiler
) -> Coercer:
    """``dict[K, V]`` or ``Mapping[K, V]``: any mapping, a dict when converting."""
    key = _item(args, 0, convert, compiled)
    val = _item(args, 1, convert, compiled)
    name = generic_name(origin, args)
    accepted = abc.Mapping if convert else origin

    def check(value: Any) -> Any:
        if not isinstance(value, accepted):
            raise TypeMismatch(name, value)
        out = {}
        for k, v in value.items():
            out[at(key, k, "key {} of dict", k)] = at(val, v, "value of key {}", k)
        return out if convert else value

    return check


def iterable(
    origin: Any, args: tuple[Any, ...], convert: bool, compiled: Compiler
) -> Coercer:
    """``Iterable[T]`` / ``Collection[T]``: any non-text iterable, its type kept."""
    item = _item(args, 0, convert, compiled)
    name = generic_name(origin, args)
    accepted = abc.Iterable if convert else _KEPT

    def check(value: Any) -> Any:
        if isinstance(value, _TEXT) or not isinstance(value, accepted):
            raise TypeMismatch(name, value, _hint(value, "collection"))
        out = map_items(item, value, "collection")
        if not convert:
            return value
        kind = type(value)
        return kind(out) if kind in _KEPT else out  # type: ignore[call-arg]

    return check


BUILDERS: dict[Any, Builder] = {
    list: sequence,
    abc.Sequence: sequence,
    abc.MutableSequence: sequence,
    **dict.fromkeys((set, frozenset, abc.Set, abc.MutableSet), set_of),
    **dict.fromkeys((dict, abc.Mapping, abc.MutableMapping), mapping),
    **dict.fromkeys(ITER_TARGETS, iterable),
}
"""The builder of each container origin (``tuple`` is built by :func:`fixed_tuple`)."""
