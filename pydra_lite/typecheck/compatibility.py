"""Static compatibility of a connection: may a value of one type fill another's field?

Used when a workflow wires an upstream output (its annotation) into a downstream
input before anything runs. The answer is False only when no value of the source
type could pass :func:`~pydra_lite.typecheck.coerce` for the target; anything that
can only be decided on the value (a ``File`` that may or may not be a NIfTI, an
``int | None`` that may be None) is left to the run-time check.

Algorithm: ``Any`` on either side is compatible; a union source is compatible when
any member is, a union target when any member accepts the source; literals compare
values (or their types); containers are classified as map / set / seq / iter /
type and compared by kind, then item by item (fixed-length tuples pairwise); two
plain classes are compatible when one subclasses the other, with the numeric and
path conversions of the coercion rules as exceptions.
"""

from __future__ import annotations

import collections.abc as abc
import numbers
import os
import pathlib
from typing import Any, Literal, get_args, get_origin

from fileformats.core import FileSet

from pydra_lite.typecheck.annotation import ITER_TARGETS, is_union, normalise

_Side = tuple[str, type, tuple[Any, ...]]  # (kind, origin, args)
_NUMBERS = ((int, numbers.Integral), (float, numbers.Real), (complex, numbers.Complex))


def is_compatible(source: Any, target: Any) -> bool:
    """Whether a value typed ``source`` may be accepted by a field typed ``target``.

    Compatible when one is a subclass of the other (so a ``File`` output into a
    ``Nifti`` input is compatible: whether the file is a NIfTI is checked at run
    time), except where the coercion rules differ: ``int`` into ``float`` yes,
    ``float`` into ``int`` no, ``bool`` into a number no, ``str`` / ``Path`` /
    fileformats paths convert into each other, ``str`` into a collection no.
    """
    s, t = normalise(source), normalise(target)
    if s is Any or t is Any:
        return True
    if is_union(s):
        return any(is_compatible(m, t) for m in get_args(s))
    if is_union(t):
        return any(is_compatible(s, m) for m in get_args(t))
    if get_origin(s) is Literal or get_origin(t) is Literal:
        return _literals_compatible(s, t)
    s_origin, t_origin = get_origin(s) or s, get_origin(t) or t
    if not (isinstance(s_origin, type) and isinstance(t_origin, type)):
        return True  # not a class: cannot tell statically
    s_kind, t_kind = _kind(s_origin), _kind(t_origin)
    if s_kind and t_kind:
        return _containers_compatible(
            (s_kind, s_origin, get_args(s)), (t_kind, t_origin, get_args(t))
        )
    if t_kind and issubclass(s_origin, str | bytes):
        return False
    return _classes_compatible(s_origin, t_origin)


def _literals_compatible(s: Any, t: Any) -> bool:
    s_values = get_args(s) if get_origin(s) is Literal else None
    t_values = get_args(t) if get_origin(t) is Literal else None
    if s_values is not None and t_values is not None:
        return any(type(a) is type(b) and a == b for a in s_values for b in t_values)
    if s_values is not None:
        return any(is_compatible(type(a), t) for a in s_values)
    return any(is_compatible(s, type(b)) for b in t_values or ())


def _kind(cls: type) -> str | None:
    if issubclass(cls, str | bytes | bytearray):
        return None
    if cls is type:
        return "type"
    for kind, base in (("map", abc.Mapping), ("set", abc.Set), ("seq", abc.Sequence)):
        if issubclass(cls, base):
            return kind
    return "iter" if cls in ITER_TARGETS else None


def _containers_compatible(source: _Side, target: _Side) -> bool:
    s_kind, t_kind = source[0], target[0]
    s_args, t_args = source[2], target[2]
    if "type" in (s_kind, t_kind):
        return s_kind == t_kind and is_compatible(_arg(s_args, 0), _arg(t_args, 0))
    if t_kind == "iter":  # any collection is an iterable (of a mapping's keys)
        return _items_compatible(_item_types(source), _arg(t_args, 0))
    if "map" in (s_kind, t_kind):
        return s_kind == t_kind and all(
            is_compatible(_arg(s_args, i), _arg(t_args, i)) for i in (0, 1)
        )
    if s_kind == "set" and t_kind == "seq":
        return False  # a set is refused for an ordered field
    return _items_compatible(_item_types(source), _item_types(target))


def _arg(args: tuple[Any, ...], pos: int) -> Any:
    return args[pos] if len(args) > pos else Any


def _item_types(side: _Side) -> Any:
    """A tuple of item types for a fixed-length tuple, else the one item type."""
    _, origin, args = side
    homogeneous = len(args) == 2 and args[1] is Ellipsis
    if issubclass(origin, tuple) and args and not homogeneous:
        return args
    return _arg(args, 0)


def _items_compatible(s_items: Any, t_items: Any) -> bool:
    s_fixed, t_fixed = isinstance(s_items, tuple), isinstance(t_items, tuple)
    if s_fixed and t_fixed:
        same_length = len(s_items) == len(t_items)
        return same_length and all(map(is_compatible, s_items, t_items))
    if s_fixed:
        return all(is_compatible(s, t_items) for s in s_items)
    if t_fixed:
        return all(is_compatible(s_items, t) for t in t_items)
    return is_compatible(s_items, t_items)


def _classes_compatible(s: type, t: type) -> bool:
    if s is t:
        return True
    if bool in (s, t):  # bool subclasses int, but is refused for numbers
        return issubclass(s, bool) and issubclass(bool, t) and t not in (int, float)
    for number, abstract in _NUMBERS:
        if t is number:
            return issubclass(s, abstract) and not issubclass(s, bool)
    if _is_pathlike(s) and (t is str or issubclass(t, pathlib.PurePath)):
        return True
    if issubclass(t, FileSet) and issubclass(s, str | pathlib.PurePath):
        return True
    try:
        return issubclass(s, t) or issubclass(t, s)
    except TypeError:  # a Protocol that is not runtime_checkable: cannot tell
        return True


def _is_pathlike(cls: type) -> bool:
    return issubclass(cls, str | os.PathLike | FileSet)
