"""Annotations as data: normalising them for the checks and naming them for people.

:func:`normalise` maps every annotation that accepts anything to ``Any`` and
unwraps the transparent ones (``Annotated``, ``NewType``, bare ``typing.List``);
:func:`type_name` renders an annotation the way people write it.
"""

from __future__ import annotations

import collections.abc as abc
import inspect
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

NoneType = type(None)
ANY_MARKERS: tuple[Any, ...] = (Any, object, None, inspect.Parameter.empty)
UNIONS = (Union, types.UnionType)
ITER_TARGETS = (abc.Iterable, abc.Collection, abc.Container, abc.Reversible)

# Bare typing aliases (typing.List, ...) have an origin but no args, like tuple[()].
_BARE_ALIASES = tuple(
    (getattr(typing, name), get_origin(getattr(typing, name)))
    for name in (
        "List", "Tuple", "Dict", "Set", "FrozenSet", "Type", "Callable",
        "Sequence", "MutableSequence", "Mapping", "MutableMapping", "AbstractSet",
        "MutableSet", "Iterable", "Collection", "Container", "Reversible",
    )
)  # fmt: skip


def normalise(annotation: Any) -> Any:
    """Map annotations that accept anything to ``Any``; unwrap the transparent ones.

    Raises:
        TypeError: for an unresolved forward reference (a string annotation).
    """
    ann = strip_annotated(annotation)
    while hasattr(ann, "__supertype__"):  # typing.NewType
        ann = ann.__supertype__
    for alias, origin in _BARE_ALIASES:
        if ann is alias:
            return origin
    if any(ann is marker for marker in ANY_MARKERS) or isinstance(ann, TypeVar):
        return Any
    if isinstance(ann, str | typing.ForwardRef):
        msg = (
            f"unresolved forward reference {type_name(ann)!r}; resolve annotations "
            f"with typing.get_type_hints() before checking values against them"
        )
        raise TypeError(msg)
    return ann


def strip_annotated(annotation: Any) -> Any:
    """The annotation inside any ``Annotated[...]`` wrappers."""
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def is_union(annotation: Any) -> bool:
    """Whether ``annotation`` is ``Union[...]``, ``Optional[...]`` or ``A | B``."""
    return get_origin(annotation) in UNIONS


def type_name(annotation: Any) -> str:
    """Render an annotation as people write it: ``list[int]``, ``int | None``.

    Classes are named by their qualified name (``File``, ``Nifti``, ``Path``).
    """
    ann = strip_annotated(annotation)
    for alias, origin in _BARE_ALIASES:
        if ann is alias:
            ann = origin
    if ann is object:
        return "object"
    if any(ann is marker for marker in ANY_MARKERS):
        return "Any"
    if ann is NoneType:
        return "None"
    if isinstance(ann, TypeVar):
        return ann.__name__
    if isinstance(ann, typing.ForwardRef):
        return ann.__forward_arg__
    origin, args = get_origin(ann), get_args(ann)
    if origin in UNIONS:
        return " | ".join(type_name(a) for a in args)
    if origin is Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is not None:
        return generic_name(origin, args)
    return ann.__qualname__ if isinstance(ann, type) else str(ann)


def generic_name(origin: Any, args: tuple[Any, ...]) -> str:
    """Render ``origin[args]``, e.g. ``tuple[int, ...]`` or ``Callable[[int], str]``."""
    base = type_name(origin)
    if origin is tuple and not args:
        return "tuple[()]"
    if not args:
        return base
    if origin is abc.Callable and isinstance(args[0], list):
        params = ", ".join(type_name(a) for a in args[0])
        return f"{base}[[{params}], {type_name(args[-1])}]"
    inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
    return f"{base}[{inner}]"
