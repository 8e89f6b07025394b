"""The compiler from annotations to coercers, and the coercers of single values.

:func:`make_coercer` memoises one compiled closure per annotation; :func:`coerce`
runs it and turns a :class:`TypeMismatch` into a :class:`TaskInputError`. The
compiler dispatches on the normalised annotation: ``Any`` → identity; a class →
scalar, path, fileformats, enum or ``isinstance``; ``Union`` / ``Literal``; a
container origin → :mod:`.container`; an unknown generic → ``isinstance`` on its
origin. Scalar coercers test the exact type first and fall back to a slow path
that applies the conversion rules and builds the hint.
"""

from __future__ import annotations

import collections.abc as abc
import enum
import functools
import numbers
import operator
import os
import pathlib
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin

from fileformats.core import FileSet

from pydra_lite.typecheck import container
from pydra_lite.typecheck.annotation import NoneType, is_union, normalise, type_name
from pydra_lite.typecheck.mismatch import Coercer, TypeMismatch, input_error


def make_coercer(annotation: Any) -> Coercer:
    """Compile ``annotation`` into a function that coerces a value or raises.

    The function returns the value, converted where the rules allow, or raises
    :class:`TypeMismatch`. Compilation is memoised for hashable annotations.

    Raises:
        TypeError: for an annotation that is not a type (e.g. an unresolved
            forward reference).
    """
    try:
        return _converting(annotation)
    except TypeError:  # unhashable (Literal or Annotated holding a list): no memo
        return _compile(annotation, True)


def coerce(value: Any, annotation: Any, *, task: str, field: str) -> Any:
    """Check ``value`` against ``annotation`` and return it coerced.

    Raises:
        TaskInputError: naming the task, the field, the expected type, the value
            and its type, and how to fix it when that is obvious.
    """
    try:
        return make_coercer(annotation)(value)
    except TypeMismatch as exc:
        error = input_error(exc, value, annotation, task=task, field=field)
        raise error from exc.__cause__


def compiled(annotation: Any, convert: bool) -> Coercer:
    """The memoised coercer of ``annotation`` in the given mode."""
    try:
        hash(annotation)
    except TypeError:
        return _compile(annotation, convert)
    return _converting(annotation) if convert else _strict(annotation)


def _compile(annotation: Any, convert: bool) -> Coercer:
    ann = normalise(annotation)
    if ann is Any:
        return _identity
    origin, args = get_origin(ann), get_args(ann)
    if origin is None:
        return _compile_class(ann, convert)
    if is_union(ann):
        return _union(ann, args, convert)
    if origin is Literal:
        return _literal(ann, args)
    return _compile_generic(origin, args, convert)


@functools.lru_cache(maxsize=4096)
def _converting(annotation: Any) -> Coercer:
    # One-argument caches: the hot path of coerce() is this lookup.
    return _compile(annotation, True)


@functools.lru_cache(maxsize=4096)
def _strict(annotation: Any) -> Coercer:
    return _compile(annotation, False)


def _compile_class(cls: Any, convert: bool) -> Coercer:
    if cls is NoneType:
        return _none
    scalar = _SCALARS.get(cls)
    if scalar is not None:
        return scalar[convert]
    if not isinstance(cls, type):
        msg = f"cannot check values against {cls!r}: it is not a type annotation"
        raise TypeError(msg)
    if cls is tuple:
        return container.bare_tuple(convert, compiled)
    if cls in container.BUILDERS or cls in (type, abc.Callable):
        return _compile_generic(cls, (), convert)  # bare list, dict, Sequence, ...
    if issubclass(cls, FileSet):
        return _fileset(cls, convert)
    if issubclass(cls, pathlib.PurePath):
        return _path(cls, convert)
    if issubclass(cls, enum.Enum):
        return _enum(cls, convert)
    return _instance_of(cls)


def _compile_generic(origin: Any, args: tuple[Any, ...], convert: bool) -> Coercer:
    if origin is tuple:
        return container.fixed_tuple(args, convert, compiled)
    builder = container.BUILDERS.get(origin)
    if builder is not None:
        return builder(origin, args, convert, compiled)
    if origin is type:
        return _type_of(args[0] if args else Any)
    if origin is abc.Callable:
        return _callable
    # A generic we do not know (numpy.ndarray[...], a user's Generic[T]).
    return _instance_of(origin) if isinstance(origin, type) else _identity


def _instance_of(cls: type) -> Coercer:
    try:
        isinstance(None, cls)
    except TypeError:  # a Protocol that is not runtime_checkable: cannot tell
        return _identity
    name = type_name(cls)

    def check(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        raise TypeMismatch(name, value)

    return check


def _identity(value: Any) -> Any:
    return value


def _none(value: Any) -> Any:
    if value is None:
        return None
    raise TypeMismatch(NoneType, value)


def _callable(value: Any) -> Any:
    if callable(value):
        return value
    raise TypeMismatch(abc.Callable, value)


# --- scalars -------------------------------------------------------------------

_BOOL_HINT = (
    "a bool where a number is expected is nearly always a mistake; "
    "pass int(flag) if you mean 0 or 1"
)


def _int_slow(value: Any, convert: bool) -> Any:
    if isinstance(value, bool):
        raise TypeMismatch(int, value, _BOOL_HINT)
    if isinstance(value, int):
        return value
    if convert and isinstance(value, numbers.Integral):
        return operator.index(value)  # numpy integers: exact by construction
    raise TypeMismatch(int, value, _number_hint(value, int))


def _float_slow(value: Any, convert: bool) -> Any:
    if isinstance(value, bool):
        raise TypeMismatch(float, value, _BOOL_HINT)
    if isinstance(value, float) and not convert:
        return value
    if convert and isinstance(value, numbers.Real):
        try:
            return float(value)  # int, numpy scalars, Fraction: widening only
        except OverflowError:
            raise TypeMismatch(float, value, "it is too large for a float") from None
    raise TypeMismatch(float, value, _number_hint(value, float))


def _number_hint(value: Any, kind: type) -> str | None:
    name = kind.__name__
    article = "an" if kind is int else "a"
    if isinstance(value, str | bytes):
        try:
            kind(value)
        except ValueError:
            return None
        return f"pass {article} {name} such as {name}({value!r})"
    if kind is int and isinstance(value, float):
        return f"pass an int such as round({value!r}) (floats are never truncated)"
    return None


def _str_slow(value: Any, convert: bool) -> Any:
    if isinstance(value, str):
        return value
    if convert and isinstance(value, os.PathLike | FileSet):
        path = os.fspath(value)  # type: ignore[arg-type]
        if isinstance(path, str):
            return path
    hint = None
    if isinstance(value, bytes):
        hint = "decode the bytes, e.g. value.decode()"
    elif isinstance(value, numbers.Number):
        hint = f"pass str({value!r}) if text is meant"
    raise TypeMismatch(str, value, hint)


def _bytes_slow(value: Any, convert: bool) -> Any:
    if isinstance(value, bytes):
        return value
    if convert and isinstance(value, bytearray | memoryview):
        return bytes(value)
    hint = "encode the text, e.g. value.encode()" if isinstance(value, str) else None
    raise TypeMismatch(bytes, value, hint)


def _bool_slow(value: Any, convert: bool) -> Any:
    if isinstance(value, bool):
        return value
    kind = type(value)
    if convert and kind.__module__ == "numpy" and kind.__name__ in ("bool_", "bool"):
        return bool(value)
    hint = "pass True or False" if isinstance(value, int | str) else None
    raise TypeMismatch(bool, value, hint)


def _complex_slow(value: Any, convert: bool) -> Any:
    if isinstance(value, bool):
        raise TypeMismatch(complex, value, _BOOL_HINT)
    if isinstance(value, complex) and not convert:
        return value
    if convert and isinstance(value, numbers.Complex):
        return complex(value)
    raise TypeMismatch(complex, value)


def _scalar(kind: type, slow: Callable[[Any, bool], Any]) -> tuple[Coercer, Coercer]:
    """The (strict, converting) coercers of a scalar type, exact type checked first."""

    def strict(value: Any) -> Any:
        if type(value) is kind:
            return value
        return slow(value, False)

    def converting(value: Any) -> Any:
        if type(value) is kind:
            return value
        return slow(value, True)

    return strict, converting


def _float_converting(value: Any) -> Any:
    """The converting float coercer, with int widening on the fast path too."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int and -_FLOAT_INT_LIMIT < value < _FLOAT_INT_LIMIT:
        return float(value)
    return _float_slow(value, True)


_FLOAT_INT_LIMIT = 2**1023

_SCALARS: dict[type, tuple[Coercer, Coercer]] = {
    int: _scalar(int, _int_slow),
    float: (_scalar(float, _float_slow)[0], _float_converting),
    str: _scalar(str, _str_slow),
    bytes: _scalar(bytes, _bytes_slow),
    bool: _scalar(bool, _bool_slow),
    complex: _scalar(complex, _complex_slow),
}


def _enum(cls: type[enum.Enum], convert: bool) -> Coercer:
    name = type_name(cls)
    hint = f"choose one of {', '.join(repr(m.value) for m in cls)}"

    def check(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if convert and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        raise TypeMismatch(name, value, hint)

    return check


def _literal(ann: Any, allowed: tuple[Any, ...]) -> Coercer:
    name = type_name(ann)
    hint = f"choose one of {', '.join(repr(a) for a in allowed)}"

    def check(value: Any) -> Any:
        # Compare types too: Literal[1] must not accept True or 1.0.
        for option in allowed:
            if type(value) is type(option) and value == option:
                return value
        raise TypeMismatch(name, value, hint)

    return check


def _type_of(base: Any) -> Coercer:
    base = normalise(base)
    name = f"type[{type_name(base)}]"
    bases = get_args(base) if is_union(base) else (base,)
    # typing.Any is a class on Python 3.11+, but no class subclasses it.
    classes = tuple(b for b in bases if isinstance(b, type) and b is not Any)
    if base is Any or not classes:
        classes = (object,)

    def check(value: Any) -> Any:
        if isinstance(value, type) and issubclass(value, classes):
            return value
        raise TypeMismatch(name, value)

    return check


# --- paths and files -------------------------------------------------------------


def _path(cls: type[pathlib.PurePath], convert: bool) -> Coercer:
    name = type_name(cls)

    def check(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if convert and isinstance(value, str | os.PathLike | FileSet):
            text = os.fspath(value)  # type: ignore[arg-type]
            if isinstance(text, str) and text:
                return cls(text)
        empty = isinstance(value, str) and not value
        hint = "an empty string is not a path" if empty else None
        raise TypeMismatch(name, value, hint)

    return check


def _fileset(cls: type[FileSet], convert: bool) -> Coercer:
    name = type_name(cls)

    def check(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if not convert:
            raise TypeMismatch(name, value)
        if isinstance(value, FileSet):
            # Another format: valid only if its files also validate as ``cls``.
            return _make_fileset(cls, value.fspaths, value)
        if isinstance(value, str | os.PathLike) and os.fspath(value):
            return _fileset_from_path(cls, value)
        hint = "pass the path of an existing file as a str or pathlib.Path"
        raise TypeMismatch(name, value, hint)

    return check


def _fileset_from_path(cls: type[FileSet], value: Any) -> FileSet:
    path = pathlib.Path(value)
    if not path.exists():
        kind = "directory" if _is_directory_type(cls) else "file"
        where = "" if path.is_absolute() else f" (relative to {os.getcwd()})"
        hint = f"{kind} '{path}' does not exist{where}"
        raise TypeMismatch(cls, value, hint)
    return _make_fileset(cls, path, value)


def _make_fileset(cls: type[FileSet], paths: Any, value: Any) -> FileSet:
    try:
        return cls(paths)
    except (TypeError, ValueError, OSError) as exc:
        # fileformats' FormatMismatchError is a TypeError; its first line says why.
        lines = str(exc).strip().splitlines()
        reason = lines[0][:300] if lines else type(exc).__name__
        hint = f"it is not a valid {type_name(cls)} ({cls.mime_like}): {reason}"
        raise TypeMismatch(cls, value, hint) from exc


def _is_directory_type(cls: type[FileSet]) -> bool:
    return any(base.__name__ == "Directory" for base in cls.__mro__)


# --- unions ----------------------------------------------------------------------


def _union(ann: Any, members: tuple[Any, ...], convert: bool) -> Coercer:
    name = type_name(ann)
    others = [m for m in members if m is not NoneType]
    if len(others) == 1 and len(members) == 2:
        return _optional(compiled(others[0], convert), name)
    strict = [compiled(m, False) for m in members]
    loose = [compiled(m, True) for m in members] if convert else []
    attempts = (*strict, *loose)

    def check(value: Any) -> Any:
        for coercer in attempts:
            try:
                return coercer(value)
            except TypeMismatch:
                continue
        raise TypeMismatch(name, value)

    return check


def _optional(inner: Coercer, name: str) -> Coercer:
    """``T | None``: the mismatch of ``T`` itself, so its path and hint show."""

    def check(value: Any) -> Any:
        if value is None:
            return None
        try:
            return inner(value)
        except TypeMismatch as exc:
            if not exc.path:
                exc.expected = name
            raise

    return check
