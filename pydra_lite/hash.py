"""Deterministic digests of Python values and of Python code.

Owns the one registry that turns a value into a 16-byte digest
(:func:`bytes_repr`, a :func:`functools.singledispatch` function extended by
:func:`register_serializer` and by a ``__bytes_repr__(self, cache)`` method),
the digest of a job (:func:`combine_digests`) and the operation hash of a Python
function (:func:`hash_function`). It knows no tasks and no files; ``files.py``
registers the serializer of file sets. ``docs/hashing.md`` fixes the format.

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
* A function's operation hash covers its canonical AST (no docstrings,
  comments, layout or positions; fields at their default left out, so Python
  3.11 to 3.13 agree) and what it reads: the user's own functions and classes,
  transitively; constants by value; library objects as name and version.
"""

from __future__ import annotations

import ast
import builtins
import contextvars
import dataclasses
import datetime
import decimal
import dis
import enum
import functools
import hashlib
import importlib.metadata
import inspect
import linecache
import pathlib
import struct
import sys
import textwrap
import types
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pydra_lite.errors import HashingError

__all__ = [
    "DIGEST_SIZE",
    "FORMAT_VERSION",
    "bytes_repr",
    "combine_digests",
    "hash_function",
    "hash_object",
    "register_serializer",
]

DIGEST_SIZE = 16
#: Bumped by every change to any digest; the default cache directory is keyed by it.
FORMAT_VERSION = 1

Cache = dict[int, int]
Serializer = Callable[[Any, Cache], Iterator[bytes]]

_blake2b = hashlib.blake2b
_NO_BACKREF = sys.maxsize
_LIBRARY_ROOTS = frozenset({"pydra_lite"})  # our own code counts as a library
_HEADS = {n: struct.Struct(f"<{n + 1}Q").pack for n in range(1, 33)}


def _head(chunks: Sequence[bytes]) -> bytes:
    """Chunk count and lengths: what makes a chunk sequence unambiguous."""
    count = len(chunks)
    pack = _HEADS.get(count) or struct.Struct(f"<{count + 1}Q").pack
    return pack(count, *map(len, chunks))


def _qualified_name(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
    return f"{module}.{name}"


def combine_digests(tag: bytes, *parts: bytes) -> bytes:
    """Digest of a tag and an ordered sequence of byte strings.

    Args:
        tag: what is being combined (``b"job"``, ``b"split"``, ...).
        parts: digests or short labels, in a meaningful order.

    Returns:
        The digest of the chunks ``b"combine:" + tag, *parts``.
    """
    chunks = (b"combine:" + tag, *parts)
    preimage = _head(chunks) + b"".join(chunks)
    return _blake2b(preimage, digest_size=DIGEST_SIZE).digest()


# --- the registry -----------------------------------------------------------


def _unhashable_msg(type_: type) -> str:
    return (
        f"cannot hash a value of type {_qualified_name(type_)}: pydra_lite has no "
        "deterministic serializer for it (it never falls back to id() or repr()). "
        f"Either register one with `pydra_lite.register_serializer({type_.__name__})`"
        " on a function `(obj, cache) -> Iterator[bytes]`, or define "
        "`__bytes_repr__(self, cache)` on the class, yielding bytes that identify "
        "the value"
    )


@functools.singledispatch
def bytes_repr(obj: Any, cache: Cache) -> Iterator[bytes]:
    """Yield the preimage chunks of ``obj``, its type tag first.

    This is the registry: extend it with :func:`register_serializer`. Calling it
    on a type that nothing handles raises :class:`HashingError`.
    """
    return _resolve(type(obj))(obj, cache)


def _refuse(obj: Any, cache: Cache) -> Iterator[bytes]:
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
        def serialize(obj: Any, cache: Cache) -> Iterator[bytes]:
            yield tag or b"obj:" + _qualified_name(type(obj)).encode()
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
    obj: Any, *, field: str | None = None, cache: Cache | None = None
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
        return _blake2b(_leaf(leaf, obj), digest_size=DIGEST_SIZE).digest()
    try:
        return _digest(obj, {} if cache is None else cache)
    except HashingError as exc:
        if field is None or exc.field is not None:
            raise
        msg = f"field {field!r}: {exc}"
        raise HashingError(msg, type_=exc.type_, field=field) from None


def _leaf(leaf: tuple[bytes, Callable[[Any], bytes]], obj: Any) -> bytes:
    head, payload = leaf  # head: count, tag length, and (after the length) tag
    data = payload(obj)
    return head[:16] + len(data).to_bytes(8, "little") + head[16:] + data


def _part(obj: Any, cache: Cache) -> bytes:
    """What a child contributes to its container: its preimage or its digest."""
    leaf = _LEAVES.get(type(obj))
    return _digest(obj, cache) if leaf is None else _leaf(leaf, obj)


def _digest(obj: Any, cache: Cache) -> bytes:
    key = id(obj)
    depth = cache.get(key)
    if depth is not None:
        return combine_digests(b"backref", _int_bytes(len(cache) - depth))
    cache[key] = len(cache)
    try:
        chunks = list(_serializer(type(obj))(obj, cache))
    finally:
        del cache[key]
    hasher = _blake2b(_head(chunks), digest_size=DIGEST_SIZE)
    for chunk in chunks:  # big chunks (arrays) are not copied into one buffer
        hasher.update(chunk)
    return hasher.digest()


# --- built-in serializers ---------------------------------------------------


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)


def _tag(obj: Any, tag: bytes, exact: type) -> bytes:
    """``tag``, qualified by the class name for a subclass of a builtin."""
    cls = type(obj)
    return tag if cls is exact else tag + b":" + _qualified_name(cls).encode()


def _library_identity(module: str, qualname: str) -> bytes:
    """A library object counts as its name and its package's version."""
    name = f"{module}.{qualname}".encode()
    return combine_digests(b"library", name, _package_version(module).encode())


_LEAVES: dict[type, tuple[bytes, Callable[[Any], bytes]]] = {
    int: (b"int", _int_bytes),
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
    range: (b"range", lambda v: [_int_bytes(i) for i in (v.start, v.stop, v.step)]),
    datetime.date: (b"date", lambda v: [v.isoformat().encode()]),
    datetime.datetime: (b"datetime", lambda v: [v.isoformat().encode()]),
    datetime.time: (b"time", lambda v: [v.isoformat().encode()]),
    datetime.timedelta: (
        b"timedelta",
        lambda v: [_int_bytes(i) for i in (v.days, v.seconds, v.microseconds)],
    ),
    # Pure and concrete paths of one flavour compare equal, so they share a tag.
    pathlib.PurePosixPath: (b"path", lambda v: [str(v).encode()]),
    pathlib.PureWindowsPath: (b"windowspath", lambda v: [str(v).encode()]),
    type: (b"type", lambda v: [_qualified_name(v).encode()]),
    types.BuiltinFunctionType: (
        b"builtin",
        lambda v: [_library_identity(v.__module__ or "builtins", v.__qualname__)],
    ),
    types.FunctionType: (b"function", lambda v: [hash_function(v)]),
}


def _register_values(
    cls: type, tag: bytes, parts: Callable[[Any], list[bytes]]
) -> None:
    exact = object if issubclass(cls, pathlib.PurePath) else cls  # Path == PurePath

    def serialize(obj: Any, cache: Cache) -> Iterator[bytes]:
        yield tag if exact is object else _tag(obj, tag, exact)
        yield from parts(obj)

    bytes_repr.register(cls, serialize)


def _register_container(cls: type, tag: bytes, ordered: bool) -> None:
    def serialize(obj: Any, cache: Cache) -> Iterator[bytes]:
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
    cls: (_HEADS[1](2, len(tag)) + tag, payload)
    for cls, (tag, payload) in _LEAVES.items()
}


@bytes_repr.register(dict)
def _dict(obj: dict[Any, Any], cache: Cache) -> Iterator[bytes]:
    yield _tag(obj, b"dict", dict)
    pairs = sorted((_part(k, cache), _part(v, cache)) for k, v in obj.items())
    for key, value in pairs:
        yield key
        yield value


@bytes_repr.register(slice)
def _slice(obj: slice, cache: Cache) -> Iterator[bytes]:
    yield b"slice"
    yield from (_part(part, cache) for part in (obj.start, obj.stop, obj.step))


@bytes_repr.register(enum.Enum)
def _enum(obj: enum.Enum, cache: Cache) -> Iterator[bytes]:
    yield b"enum:" + _qualified_name(type(obj)).encode()
    yield obj.name.encode()


def _dunder(obj: Any, cache: Cache) -> Iterator[bytes]:
    yield b"obj:" + _qualified_name(type(obj)).encode()
    yield from obj.__bytes_repr__(cache)


_UNSET = b"\x00unset"  # an attrs field never set: shorter than any part


def _attrs(obj: Any, cache: Cache) -> Iterator[bytes]:
    yield b"attrs:" + _qualified_name(type(obj)).encode()
    for attribute in type(obj).__attrs_attrs__:
        if attribute.eq:  # the fields that make two instances equal
            yield attribute.name.encode()
            value = getattr(obj, attribute.name, _UNSET)
            yield _UNSET if value is _UNSET else _part(value, cache)


def _dataclass(obj: Any, cache: Cache) -> Iterator[bytes]:
    yield b"dataclass:" + _qualified_name(type(obj)).encode()
    for field in dataclasses.fields(obj):
        if field.compare:
            yield field.name.encode()
            yield _part(getattr(obj, field.name), cache)


def _register_numpy() -> None:
    """Register numpy's types; runs once numpy has been imported by someone."""
    import numpy as np  # noqa: PLC0415 (lazy: numpy is optional and heavy)

    def dtype_text(dtype: Any) -> bytes:
        return (dtype.str if dtype.fields is None else repr(dtype.descr)).encode()

    def ndarray(obj: Any, cache: Cache) -> Iterator[Any]:
        yield _tag(obj, b"ndarray", np.ndarray)
        yield dtype_text(obj.dtype)
        yield repr(obj.shape).encode()
        if obj.dtype.hasobject:  # raw bytes would be pointers
            yield from (_part(item, cache) for item in obj.flat)
        else:  # a view: a big array is not copied
            yield np.ascontiguousarray(obj).reshape(-1).view(np.uint8).data

    def scalar(obj: Any, cache: Cache) -> Iterator[bytes]:
        yield b"numpy:" + dtype_text(obj.dtype)
        yield obj.tobytes()

    bytes_repr.register(np.ndarray, ndarray)
    bytes_repr.register(np.generic, scalar)
    _RESOLVED.clear()


_LAZY["numpy"] = _register_numpy


# --- operation hash of Python code ------------------------------------------


def hash_function(func: Callable[..., Any]) -> bytes:
    """The operation hash of a Python function (memoised per function object).

    It covers the function's canonical source (docstrings, comments and layout
    do not count), the values of its defaults and closure cells, and what it
    reads from its module: the user's own functions and classes (transitively,
    by the same rule), simple constants by value, and library modules and
    callables as their qualified name and package version. Lambdas are
    identified by every lambda that starts on their line.

    Raises:
        HashingError: when the source is unavailable (e.g. typed in a REPL).
    """
    target = _unwrap(func)
    module = getattr(target, "__module__", None) or ""
    is_code = isinstance(target, types.FunctionType | type)
    if not is_code or not _is_user_module(module):
        return _library_identity(module, getattr(target, "__qualname__", "?"))
    walk = _WALK.get()
    if walk is not None:  # met inside a value (``{"f": f}``) during a walk
        return walk.digest(target)[0]
    token = _WALK.set(_CodeWalk())
    try:
        return _WALK.get().digest(target)[0]  # type: ignore[union-attr]
    finally:
        _WALK.reset(token)


_CODE_MEMO: weakref.WeakKeyDictionary[Any, tuple[bytes, bool]] = (
    weakref.WeakKeyDictionary()
)
_WALK: contextvars.ContextVar[_CodeWalk | None] = contextvars.ContextVar(
    "pydra_lite_code_walk", default=None
)
_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS"})
_ATTR_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_MISSING = object()


def _unwrap(obj: Any) -> Any:
    """The function under methods, static/class methods and decorators."""
    if isinstance(obj, type) or not callable(obj) and not hasattr(obj, "__func__"):
        return obj
    obj = getattr(obj, "__func__", obj)
    try:
        return inspect.unwrap(obj)
    except ValueError:  # a __wrapped__ cycle: keep the outermost
        return obj


def _is_user_module(name: str) -> bool:
    """Whether a module is the user's own code rather than stdlib or installed."""
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top in _LIBRARY_ROOTS:
        return False
    if name == "__main__":  # a script, a notebook, or pytest's own entry point
        return True
    file = getattr(sys.modules.get(name), "__file__", None)
    if not file:  # __main__ of a notebook, a dynamically made module
        return True
    parts = pathlib.PurePath(file).parts
    return "site-packages" not in parts and "dist-packages" not in parts


@functools.cache
def _package_version(module: str) -> str:
    top = module.partition(".")[0]
    if top == "builtins":  # the language core: tied to no version (docs/hashing.md)
        return ""
    if top in sys.stdlib_module_names:
        return "python{}.{}".format(*sys.version_info[:2])
    try:
        return importlib.metadata.version(top)
    except importlib.metadata.PackageNotFoundError:
        pass
    for dist in _distributions().get(top, []):  # "yaml" is in PyYAML (slow: once)
        return importlib.metadata.version(dist)
    return str(getattr(sys.modules.get(top), "__version__", "unknown"))


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


class _CodeWalk:
    """One traversal of user code; ``under_way`` maps definitions to stack depth.

    ``lowest`` is the shallowest back-reference made so far, including those
    made while hashing a value that holds functions (see :meth:`_reference`).
    """

    def __init__(self) -> None:
        self.under_way: dict[int, int] = {}
        self.lowest = _NO_BACKREF

    def digest(self, obj: Any) -> tuple[bytes, int]:
        """Digest of a user function or class, and the lowest depth it refers back to.

        A digest that refers back to a definition further up the stack depends
        on where the walk started, so only self-contained ones are memoised.
        """
        memo = _CODE_MEMO.get(obj)
        if memo is not None and (memo[1] or not self.under_way):
            return memo[0], _NO_BACKREF
        depth = self.under_way.get(id(obj))
        if depth is not None:  # a cycle: how far up the stack, not which module
            self.lowest = min(self.lowest, depth)
            distance = _int_bytes(len(self.under_way) - depth)
            return combine_digests(b"code-ref", distance), depth
        here = self.under_way[id(obj)] = len(self.under_way)
        try:
            parts, low = self._parts(obj)
        finally:
            del self.under_way[id(obj)]
        digest = combine_digests(b"code", *parts)
        if low >= here:  # reused inside other walks only if it has no cycle
            _CODE_MEMO[obj] = (digest, low == _NO_BACKREF)
        return digest, low

    def _parts(self, obj: Any) -> tuple[list[bytes], int]:
        try:
            parts = [_source_digest(obj)]
            members: list[tuple[str, Any]] = []
        except HashingError:
            if isinstance(obj, types.FunctionType):
                raise
            # A class made at run time (e.g. a task class): its name and methods.
            parts = [b"class:" + _qualified_name(obj).encode()]
            members = [(f"m:{f.__qualname__}", f) for f in _class_functions(obj)]
        low = _NO_BACKREF
        for name, value in members + _references(obj):
            digest, depth = self._reference(value)
            parts += [name.encode(), digest]
            low = min(low, depth)
        return parts, low

    def _reference(self, value: Any) -> tuple[bytes, int]:
        value = _unwrap(value)
        module = getattr(value, "__module__", None) or ""
        if isinstance(value, types.ModuleType):
            if _is_user_module(value.__name__):  # used as a value: all of it counts
                return _source_digest(value), _NO_BACKREF
            return _library_identity(value.__name__, ""), _NO_BACKREF
        if isinstance(value, types.FunctionType | type):
            if _is_user_module(module):
                return self.digest(value)
            return _library_identity(module, value.__qualname__), _NO_BACKREF
        if value is _MISSING:
            return b"undefined", _NO_BACKREF
        outer, self.lowest = self.lowest, _NO_BACKREF
        try:
            return hash_object(value), self.lowest
        except HashingError:
            if callable(value) and module:  # e.g. numpy's function dispatchers
                return _library_identity(module, _qualified_name(value)), _NO_BACKREF
            # Not data we can read (a lock, a logger): its type stands for it.
            return b"opaque:" + _qualified_name(type(value)).encode(), _NO_BACKREF
        finally:
            self.lowest = min(outer, self.lowest)


def _class_functions(cls: type) -> list[types.FunctionType]:
    """Functions written in a class body (not generated by attrs or dataclasses)."""
    found = []
    for member in vars(cls).values():
        for func in (member, *(getattr(member, a, None) for a in ("fget", "func"))):
            func = _unwrap(func)
            if isinstance(func, types.FunctionType):
                name = func.__code__.co_filename  # "<attrs generated init ...>"
                if not name.startswith("<") or name.startswith("<ipython-input"):
                    found.append(func)
    return found


def _references(obj: Any) -> list[tuple[str, Any]]:
    """What a function (or a class's methods) reads: globals, closures, defaults.

    An attribute read on one of the user's modules (``mymod.helper``) counts as
    that attribute, so the rest of the module does not.
    """
    funcs = [obj] if isinstance(obj, types.FunctionType) else _class_functions(obj)
    found: dict[str, Any] = {}
    for func in funcs:
        for name, attrs in _global_names(func.__code__).items():
            found.update(_global_entries(name, attrs, func.__globals__))
        cells = zip(func.__code__.co_freevars, func.__closure__ or (), strict=True)
        for name, cell in cells:
            try:
                found[f"c:{func.__qualname__}:{name}"] = cell.cell_contents
            except ValueError:  # an empty cell: the name is not bound yet
                found[f"c:{func.__qualname__}:{name}"] = _MISSING
        if func.__defaults__ or func.__kwdefaults__:
            found[f"d:{func.__qualname__}"] = (func.__defaults__, func.__kwdefaults__)
    return sorted(found.items())


def _global_entries(
    name: str, attrs: set[str], scope: dict[str, Any]
) -> Iterator[tuple[str, Any]]:
    value = scope.get(name, _MISSING)
    if value is _MISSING and name in vars(builtins):
        yield f"b:{name}", name  # the language core counts by name only
    elif not isinstance(value, types.ModuleType):
        yield f"g:{name}", value
    elif not _is_user_module(value.__name__):
        yield f"g:{name}", value
    else:
        for attr in attrs:
            yield f"g:{name}.{attr}", getattr(value, attr, _MISSING) if attr else value


def _global_names(code: types.CodeType) -> dict[str, set[str]]:
    """Global names read by ``code`` and its nested code, with the attribute read
    right after each use (``""`` when the name is used by itself)."""
    names: dict[str, set[str]] = {}
    todo = [code]
    while todo:
        current = todo.pop()
        todo += [c for c in current.co_consts if isinstance(c, types.CodeType)]
        pending = None
        for instruction in dis.get_instructions(current):
            if pending is not None:
                attr = instruction.opname in _ATTR_OPS
                names[pending].add(instruction.argval if attr else "")
                pending = None
            if instruction.opname in _GLOBAL_OPS:
                pending = instruction.argval
                names.setdefault(pending, set())
        if pending is not None:
            names[pending].add("")
    return names


# --- canonical source -------------------------------------------------------

_DOC_HOLDERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _source_digest(obj: Any) -> bytes:
    """Digest of the canonical AST of a function, lambda, class or module."""
    tokens: list[bytes] = []
    for node in _source_nodes(obj):
        _canonical(node, tokens.append)
    return combine_digests(b"ast", *tokens)


def _canonical(node: Any, emit: Callable[[bytes], None]) -> None:
    """Emit a version-independent token stream for an AST.

    Node type names and field names, no positions; a field that is None or an
    empty list is left out, as newer Pythons add such fields (``type_params``)
    and ``ast.dump`` changes how it shows them. Docstrings are dropped.
    """
    if isinstance(node, ast.AST):
        emit(b"(" + type(node).__name__.encode())
        for name in node._fields:
            value = getattr(node, name, None)
            if name == "body" and isinstance(node, _DOC_HOLDERS):
                value = _without_docstring(node.body)
            elif isinstance(node, ast.JoinedStr):
                value = _fstring_values(node.values)
            if value is None or (isinstance(value, list) and not value):
                continue
            emit(b"." + name.encode())
            _canonical(value, emit)
        emit(b")")
    elif isinstance(node, list):
        emit(b"[")
        for item in node:
            _canonical(item, emit)
        emit(b"]")
    else:  # a constant: str, bytes, int, float, complex, bool, None, Ellipsis
        emit(b"=" + type(node).__name__.encode() + b":" + repr(node).encode())


def _fstring_values(values: list[ast.expr]) -> list[ast.expr]:
    """F-string parts with adjacent text merged and empty text dropped (3.12.0-1
    add an empty ``Constant`` to some format specs)."""
    merged: list[ast.expr] = []
    for value in values:
        last = merged[-1] if merged else None
        if not isinstance(value, ast.Constant):
            merged.append(value)
        elif isinstance(last, ast.Constant):
            merged[-1] = ast.Constant(str(last.value) + str(value.value))
        elif value.value:
            merged.append(value)
    return merged


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str):
            return body[1:]
    return body


def _source_nodes(obj: Any) -> list[ast.AST]:
    if getattr(obj, "__name__", None) == "<lambda>":
        nodes = _lambda_nodes(obj)
        if nodes:
            return list(nodes)
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError) as exc:
        raise HashingError(_no_source_msg(obj), type_=type(obj)) from exc
    if isinstance(obj, types.ModuleType):
        return [ast.parse(source)]
    return [_parse_block(source, obj)]


def _parse_block(source: str, obj: Any) -> ast.AST:
    """Parse a ``def`` or ``class`` cut out of a file, whatever its indentation."""
    for text in (textwrap.dedent(source), "if 1:\n" + source):
        try:  # the second form parses blocks whose strings defeat dedent
            tree = ast.parse(text).body[0]
        except SyntaxError:
            continue
        return tree.body[0] if isinstance(tree, ast.If) else tree
    raise HashingError(_no_source_msg(obj), type_=type(obj))


def _lambda_nodes(func: types.FunctionType) -> list[ast.Lambda]:
    """Every lambda that starts on ``func``'s line, from its whole file's AST."""
    code = func.__code__
    lines = linecache.getlines(code.co_filename, func.__globals__)
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        return []
    found = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Lambda) and node.lineno == code.co_firstlineno
    ]
    return sorted(found, key=lambda node: node.col_offset)


def _no_source_msg(obj: Any) -> str:
    return (
        f"cannot compute the operation hash of {_qualified_name(obj)}: its source "
        "code is not available (was it typed into an interactive interpreter?). "
        'Give the task an explicit code version instead: python.define(version="1")'
    )
