"""Deterministic digests of Python values.

Owns the one registry that turns a value into a 16-byte digest
(:func:`bytes_repr`, a :func:`functools.singledispatch` function extended by
:func:`register_serializer` and by a ``__bytes_repr__(self, cache)`` method).
It stands on the primitives of ``digest.py`` and knows no tasks, no files and
no code: ``files.py`` registers the serializer of file sets, and ``code.py``
the serializers of functions (the package's ``__init__`` imports it after this
module). ``docs/hashing.md`` fixes the format.

Algorithm:

* A serializer yields the chunks of a value's preimage, a type tag first
  (``b"int"``, ``b"list"``, ``b"obj:module.Qualname"``). The digest is
  BLAKE2b-128 of the chunk count and every chunk's length (u64 little-endian),
  then the chunks: no two chunk sequences share a preimage.
* A container yields one part per child: the child's digest, or for an exact
  ``int``/``float``/``str``/``bytes``/``bool``/``None``/``...`` its preimage
  (at least 26 bytes, so never mistaken for a 16-byte digest), which saves a
  hash call per scalar. Dicts and sets sort their parts: order never counts.
* A container met again while it is being hashed (a cycle) becomes a
  back-reference to its depth on the stack; ``id()`` only detects cycles.
* A value nested deeper than :data:`MAX_DEPTH` containers is refused with a
  :class:`HashingError` (the cycle stack's size is the depth: free to read),
  before Python's own recursion limit would end the program's stack.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import pathlib
import struct
import sys
from collections.abc import Callable, Iterator
from typing import Any

from pydra_lite.errors import HashingError
from pydra_lite.hashing.digest import (
    DIGEST_SIZE,
    blake2b,
    combine_digests,
    head,
    int_bytes,
    qualified_name,
)

__all__ = ["Seen", "Serializer", "bytes_repr", "hash_object", "register_serializer"]

MAX_DEPTH = 100
"""How deep containers may nest in a hashed value (a list in a list ...)."""

Seen = dict[int, int]
"""Ids of the containers on the hashing stack, to their depth (cycle detection)."""
Serializer = Callable[[Any, Seen], Iterator[bytes]]


# --- the registry -----------------------------------------------------------


def _unhashable_msg(type_: type, reason: str | None = None) -> str:
    reason = reason or (
        "pydra_lite has no deterministic serializer for it (it never falls back "
        "to id() or repr())"
    )
    return (
        f"cannot hash a value of type {qualified_name(type_)}: {reason}. Either "
        f"register a serializer with `pydra_lite.register_serializer({type_.__name__})`"
        " on a function `(obj, cache) -> Iterator[bytes]`, or define "
        "`__bytes_repr__(self, cache)` on the class, yielding bytes that identify "
        "the value"
    )


@functools.singledispatch
def bytes_repr(obj: Any, cache: Seen) -> Iterator[bytes]:
    """Yield the preimage chunks of ``obj``, its type tag first.

    This is the registry: extend it with :func:`register_serializer`. Calling it
    on a type that nothing handles raises :class:`HashingError`.
    """
    return _resolve(type(obj))(obj, cache)


def _refuse(obj: Any, cache: Seen) -> Iterator[bytes]:
    raise HashingError(_unhashable_msg(type(obj)), type_=type(obj))


def register_serializer(
    cls: type, func: Serializer | None = None, *, tag: bytes | None = None
) -> Any:
    """Teach the hasher a type; usable as ``@register_serializer(MyType)``.

    Args:
        cls: the type (its subclasses too, unless they have their own).
        func: ``func(obj, cache)`` yielding bytes that identify ``obj``; for a
            nested value yield ``hash_object(value, cache=cache)``.
        tag: the type tag put before the chunks; by default ``b"obj:"`` and the
            qualified name of the object's class.

    Returns:
        ``func`` (or a decorator that registers and returns it).
    """

    def register(func: Serializer) -> Serializer:
        def serialize(obj: Any, cache: Seen) -> Iterator[bytes]:
            yield tag or b"obj:" + qualified_name(type(obj)).encode()
            yield from func(obj, cache)

        serialize.__wrapped__ = func  # type: ignore[attr-defined]
        bytes_repr.register(cls, serialize)
        _RESOLVED.clear()
        return func

    return register if func is None else register(func)


_RESOLVED: dict[type, Serializer] = {}
_LAZY: dict[str, Callable[[], None]] = {}  # module name → registers its types


def _serializer(cls: type) -> Serializer:
    impl = _RESOLVED.get(cls)
    if impl is None:
        for name in [name for name in _LAZY if name in sys.modules]:
            _LAZY.pop(name)()
        impl = _RESOLVED[cls] = _resolve(cls)
    return impl


def _resolve(cls: type) -> Serializer:
    """The most derived registration or ``__bytes_repr__`` along the MRO.

    On one class a registration beats ``__bytes_repr__`` (so ours replaces
    fileformats' own); an enum is never hashed as its mixin type (``int``).
    """
    registry = bytes_repr.registry
    is_enum = issubclass(cls, enum.Enum)
    for klass in cls.__mro__[:-1]:
        if is_enum and not issubclass(klass, enum.Enum):
            break
        if klass in registry:
            return registry[klass]
        if "__bytes_repr__" in vars(klass):
            return _dunder
    if is_enum:
        return _enum
    if hasattr(cls, "__attrs_attrs__"):
        return _attrs
    if dataclasses.is_dataclass(cls):
        return _dataclass
    impl = bytes_repr.dispatch(cls)  # classes registered through an ABC
    return _refuse if impl is bytes_repr.dispatch(object) else impl


# --- hashing ----------------------------------------------------------------


def hash_object(
    obj: Any, *, field: str | None = None, cache: Seen | None = None
) -> bytes:
    """The 16-byte digest of any value the registry knows.

    Args:
        obj: the value.
        field: the task field it came from, named in a :class:`HashingError`.
        cache: the cycle-tracking dict a serializer receives; pass it on when
            hashing a nested value from inside a serializer.

    Raises:
        HashingError: when some part of ``obj`` has no serializer.
    """
    leaf = _LEAVES.get(type(obj))
    if leaf is not None:  # the fast path: no dispatch, no cycle tracking
        return blake2b(_leaf(leaf, obj), digest_size=DIGEST_SIZE).digest()
    try:
        return _digest(obj, {} if cache is None else cache)
    except HashingError as exc:
        if field is None or exc.field is not None:
            raise
        msg = f"field {field!r}: {exc}"
        raise HashingError(msg, type_=exc.type_, field=field) from None
    except RecursionError:  # deep below a serializer that dropped the cache
        reason = "it is nested deeper than Python's recursion limit allows"
        msg = _too_deep_msg(type(obj), reason)
        if field is not None:
            msg = f"field {field!r}: {msg}"
        raise HashingError(msg, type_=type(obj), field=field) from None


def _too_deep_msg(type_: type, reason: str) -> str:
    return (
        f"cannot hash a value of type {qualified_name(type_)}: {reason} "
        f"(pydra_lite hashes containers nested at most {MAX_DEPTH} deep). "
        "Flatten it (e.g. a list of rows), or save it to a file and pass the File"
    )


def _leaf(leaf: tuple[bytes, Callable[[Any], bytes]], obj: Any) -> bytes:
    head, payload = leaf  # head: count, tag length, and (after the length) tag
    data = payload(obj)
    return head[:16] + len(data).to_bytes(8, "little") + head[16:] + data


def _part(obj: Any, cache: Seen) -> bytes:
    """What a child contributes to its container: its preimage or its digest."""
    leaf = _LEAVES.get(type(obj))
    return _digest(obj, cache) if leaf is None else _leaf(leaf, obj)


def _digest(obj: Any, cache: Seen) -> bytes:
    key = id(obj)
    depth = cache.get(key)
    if depth is not None:
        return combine_digests(b"backref", int_bytes(len(cache) - depth))
    level = cache[key] = len(cache)
    if level >= MAX_DEPTH:
        del cache[key]
        reason = f"it nests containers more than {MAX_DEPTH} deep"
        raise HashingError(_too_deep_msg(type(obj), reason), type_=type(obj))
    try:
        chunks = list(_serializer(type(obj))(obj, cache))
    finally:
        del cache[key]
    hasher = blake2b(head(chunks), digest_size=DIGEST_SIZE)
    for chunk in chunks:  # big chunks (arrays) are not copied into one buffer
        hasher.update(chunk)
    return hasher.digest()


# --- built-in serializers ---------------------------------------------------


def _tag(obj: Any, tag: bytes, exact: type) -> bytes:
    """``tag``, qualified by the class name for a subclass of a builtin."""
    cls = type(obj)
    return tag if cls is exact else tag + b":" + qualified_name(cls).encode()


_LEAVES: dict[type, tuple[bytes, Callable[[Any], bytes]]] = {
    int: (b"int", int_bytes),
    bool: (b"bool", lambda v: b"\x01" if v else b"\x00"),
    float: (b"float", struct.Struct("<d").pack),
    str: (b"str", lambda v: v.encode("utf-8", "surrogatepass")),
    bytes: (b"bytes", bytes),
    type(None): (b"none", lambda v: b""),
    type(...): (b"ellipsis", lambda v: b""),
}
_VALUES: dict[type, tuple[bytes, Callable[[Any], list[bytes]]]] = {
    bytearray: (b"bytearray", lambda v: [bytes(v)]),
    complex: (b"complex", lambda v: [struct.pack("<dd", v.real, v.imag)]),
    decimal.Decimal: (b"decimal", lambda v: [str(v).encode()]),
    range: (b"range", lambda v: [int_bytes(i) for i in (v.start, v.stop, v.step)]),
    datetime.date: (b"date", lambda v: [v.isoformat().encode()]),
    datetime.datetime: (b"datetime", lambda v: [v.isoformat().encode()]),
    datetime.time: (b"time", lambda v: [v.isoformat().encode()]),
    datetime.timedelta: (
        b"timedelta",
        lambda v: [int_bytes(i) for i in (v.days, v.seconds, v.microseconds)],
    ),
    # Pure and concrete paths of one flavour compare equal, so they share a tag.
    pathlib.PurePosixPath: (b"path", lambda v: [str(v).encode()]),
    pathlib.PureWindowsPath: (b"windowspath", lambda v: [str(v).encode()]),
    type: (b"type", lambda v: [qualified_name(v).encode()]),
}


def _register_values(
    cls: type, tag: bytes, parts: Callable[[Any], list[bytes]]
) -> None:
    exact = object if issubclass(cls, pathlib.PurePath) else cls  # Path == PurePath

    def serialize(obj: Any, cache: Seen) -> Iterator[bytes]:
        yield tag if exact is object else _tag(obj, tag, exact)
        yield from parts(obj)

    bytes_repr.register(cls, serialize)


def _register_container(cls: type, tag: bytes, ordered: bool) -> None:
    def serialize(obj: Any, cache: Seen) -> Iterator[bytes]:
        yield _tag(obj, tag, cls)
        parts = (_part(item, cache) for item in obj)
        yield from parts if ordered else sorted(parts)

    bytes_repr.register(cls, serialize)


for _cls, (_name, _payload) in _LEAVES.items():  # their subclasses (not IntEnum)
    _register_values(_cls, _name, lambda v, p=_payload: [p(v)])  # type: ignore[misc]
for _cls, (_name, _parts) in _VALUES.items():
    _register_values(_cls, _name, _parts)
for _cls, _name in ((list, b"list"), (tuple, b"tuple")):
    _register_container(_cls, _name, ordered=True)
for _cls, _name in ((set, b"set"), (frozenset, b"frozenset")):
    _register_container(_cls, _name, ordered=False)
# The fast path keeps each leaf's fixed preimage prefix: count 2, tag length, tag.
_LEAVES = {
    cls: (struct.pack("<2Q", 2, len(tag)) + tag, payload)
    for cls, (tag, payload) in _LEAVES.items()
}


@bytes_repr.register(dict)
def _dict(obj: dict[Any, Any], cache: Seen) -> Iterator[bytes]:
    yield _tag(obj, b"dict", dict)
    pairs = sorted((_part(k, cache), _part(v, cache)) for k, v in obj.items())
    for key, value in pairs:
        yield key
        yield value


@bytes_repr.register(slice)
def _slice(obj: slice, cache: Seen) -> Iterator[bytes]:
    yield b"slice"
    yield from (_part(part, cache) for part in (obj.start, obj.stop, obj.step))


@bytes_repr.register(enum.Enum)
def _enum(obj: enum.Enum, cache: Seen) -> Iterator[bytes]:
    yield b"enum:" + qualified_name(type(obj)).encode()
    yield obj.name.encode()


def _dunder(obj: Any, cache: Seen) -> Iterator[bytes]:
    yield b"obj:" + qualified_name(type(obj)).encode()
    yield from obj.__bytes_repr__(cache)


_UNSET = b"\x00unset"  # an attrs field never set: shorter than any part


def _attrs(obj: Any, cache: Seen) -> Iterator[bytes]:
    yield b"attrs:" + qualified_name(type(obj)).encode()
    for attribute in type(obj).__attrs_attrs__:
        if attribute.eq:  # the fields that make two instances equal
            yield attribute.name.encode()
            value = getattr(obj, attribute.name, _UNSET)
            yield _UNSET if value is _UNSET else _part(value, cache)


def _dataclass(obj: Any, cache: Seen) -> Iterator[bytes]:
    yield b"dataclass:" + qualified_name(type(obj)).encode()
    for field in dataclasses.fields(obj):
        if field.compare:
            yield field.name.encode()
            yield _part(getattr(obj, field.name), cache)


@functools.lru_cache(maxsize=256)
def _has_padding(dtype: Any) -> bool:
    """Whether some byte of a structured dtype lies in no field, at any depth."""
    if dtype.subdtype is not None:
        return _has_padding(dtype.subdtype[0])
    if dtype.names is None:
        return False
    covered = 0
    fields = sorted(
        (dtype.fields[name][:2] for name in dtype.names), key=lambda f: f[1]
    )
    for sub, offset in fields:
        if offset > covered or _has_padding(sub):
            return True
        covered = max(covered, offset + sub.itemsize)
    return covered < dtype.itemsize


def _subclass_error(cls: type) -> HashingError:
    reason = (
        "it is a numpy.ndarray subclass that pydra_lite does not know, and hashing "
        "its data alone could miss what makes two of them differ (as a masked "
        "array's mask), so it refuses to guess; pass `numpy.asarray(value)` if the "
        "subclass holds nothing but its data"
    )
    return HashingError(_unhashable_msg(cls, reason), type_=cls)


def _dtype_text(dtype: Any) -> bytes:
    return (dtype.str if dtype.fields is None else repr(dtype.descr)).encode()


def _register_numpy() -> None:
    """Register numpy's types; runs once numpy has been imported by someone."""
    import numpy as np  # noqa: PLC0415 (lazy: numpy is optional and heavy)

    # The ndarray subclasses hashed as their data, by exact type: a memmap as a
    # plain array (its content is what counts, not the file behind it); a
    # matrix and a recarray hold nothing but their data, and their class, which
    # changes what operators and indexing do, is in a fixed tag (numpy 2 moved
    # recarray's module). Masked arrays: `_register_numpy_ma`. Any other
    # subclass may carry state its data does not show: refused.
    tags = {
        np.ndarray: b"ndarray",
        np.memmap: b"ndarray",
        np.matrix: b"ndarray:numpy.matrix",
        np.recarray: b"ndarray:numpy.rec.recarray",
    }

    def array_data(arr: Any, cache: Seen) -> Iterator[Any]:
        """The chunks of a plain ndarray's elements, in C order.

        Dtype and shape, hashed before these chunks, fix how many there are.
        """
        dtype = arr.dtype
        if dtype.names is not None and (dtype.hasobject or _has_padding(dtype)):
            for name in dtype.names:  # field by field: padding bytes never count
                yield from array_data(arr[name], cache)
        elif dtype.hasobject:  # raw bytes would be pointers
            yield from (_part(item, cache) for item in arr.flat)
        else:  # a view: a big contiguous array is not copied
            yield np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data

    def ndarray(obj: Any, cache: Seen) -> Iterator[Any]:
        tag = tags.get(type(obj))
        if tag is None:
            raise _subclass_error(type(obj))
        yield tag
        yield _dtype_text(obj.dtype)
        yield repr(obj.shape).encode()
        yield from array_data(obj.view(np.ndarray), cache)

    def scalar(obj: Any, cache: Seen) -> Iterator[Any]:
        yield b"numpy:" + _dtype_text(obj.dtype)
        dtype = obj.dtype
        if dtype.names is not None and (dtype.hasobject or _has_padding(dtype)):
            yield from array_data(np.asarray(obj), cache)  # a record, as a 0-d array
        else:
            yield obj.tobytes()

    bytes_repr.register(np.ndarray, ndarray)
    bytes_repr.register(np.generic, scalar)
    _RESOLVED.clear()


def _register_numpy_ma() -> None:
    """Register masked arrays; runs once ``numpy.ma`` has been imported."""
    import numpy as np  # noqa: PLC0415 (lazy: numpy is optional and heavy)
    from numpy import ma  # noqa: PLC0415

    def masked(obj: Any, cache: Seen) -> Iterator[bytes]:
        # Data (masked values too, with its base class), mask (no mask at all
        # differs from an all-False one: `.mask` differs) and fill value (what
        # `filled()` puts under the mask). The hard-mask flag does not count:
        # it only changes assignments, and pickling drops it.
        if type(obj) is not ma.MaskedArray:
            raise _subclass_error(type(obj))
        yield b"masked_array"
        yield _part(obj.data, cache)
        mask = ma.getmask(obj)
        yield b"nomask" if mask is ma.nomask else _part(mask, cache)
        yield _part(np.asarray(obj.fill_value, dtype=obj.dtype), cache)

    def masked_constant(obj: Any, cache: Seen) -> Iterator[bytes]:
        yield b"masked_constant"  # numpy.ma.masked, a singleton

    bytes_repr.register(ma.MaskedArray, masked)
    bytes_repr.register(type(ma.masked), masked_constant)
    _RESOLVED.clear()


_LAZY["numpy"] = _register_numpy
_LAZY["numpy.ma"] = _register_numpy_ma
