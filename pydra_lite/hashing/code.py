"""The operation hash of Python code: what identifies a function or a class.

Owns :func:`hash_function` and the serializers of function values that it
registers in the value registry of ``values.py`` (a function inside a task
input hashes as its code). The package's ``__init__`` imports this module, so
whoever imports :mod:`pydra_lite.hashing` can hash functions.
``docs/hashing.md`` fixes the format.

Algorithm:

* A user function's digest covers its canonical AST (no docstrings, comments,
  layout or positions; fields at their default left out, so Python 3.11 to
  3.13 agree), the values of its defaults and closure cells, and the globals
  its bytecode reads: the user's own functions and classes by the same rule,
  transitively; other values (constants) by their value digest.
* A library object (stdlib, installed package, pydra_lite itself) counts as
  its qualified name and its package's version, never its source.
* A walk keeps the definitions under way on a stack: meeting one again (mutual
  recursion) gives a back-reference to its depth, so cycles terminate and the
  digest does not depend on module names. Self-contained digests are memoised
  per function object, each with its :class:`CodeGuards`: every binding the
  walk read (the globals of each function it entered, ``module.attr`` of the
  user's modules, each function's code, defaults and closure cells) with the
  object found there. A memoised digest is reused only while every guard still
  finds the same object (an identity check, no hashing), so a constant
  reassigned or a helper redefined in a notebook cell is seen in the same
  process; an object changed in place is not.
* The canonical source comes from ``source.py``; the globals a function reads
  come from its bytecode, memoised (``memo.py``) under a digest of the
  bytecode itself, so a warm run in a new process disassembles nothing.
"""

from __future__ import annotations

import builtins
import contextvars
import dis
import functools
import importlib.metadata
import importlib.util
import inspect
import json
import os
import sys
import types
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import blake3

from pydra_lite._version import __version__
from pydra_lite.errors import HashingError
from pydra_lite.hashing.digest import combine_digests, int_bytes, qualified_name
from pydra_lite.hashing.memo import MEMO, by_file
from pydra_lite.hashing.source import source_digest
from pydra_lite.hashing.values import Seen, hash_object, register_serializer

__all__ = ["CodeGuards", "guarded", "hash_function"]

_NO_BACKREF = sys.maxsize
_LIBRARY_ROOTS = frozenset({"pydra_lite"})  # our own code counts as a library
_INSTALL_DIRS = ("site-packages", "dist-packages")  # where installed packages live


def _library_identity(module: str, qualname: str) -> bytes:
    """A library object counts as its name and its package's version."""
    name = f"{module}.{qualname}".encode()
    return combine_digests(b"library", name, _package_version(module).encode())


def hash_function(func: Callable[..., Any]) -> bytes:
    """The operation hash of a Python function (memoised per function object).

    It covers the function's canonical source (docstrings, comments and layout
    do not count), the values of its defaults and closure cells, and what it
    reads from its module: the user's own functions and classes (transitively,
    by the same rule), simple constants by value, and library modules and
    callables as their qualified name and package version. Lambdas are
    identified by every lambda that starts on their line.

    The memo is checked against its guards (:class:`CodeGuards`) on every
    call; inside :func:`guarded`, the guards of the digest are also recorded.

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
    walk = _CodeWalk()
    token = _WALK.set(walk)
    try:
        digest = walk.digest(target)[0]
    finally:
        _WALK.reset(token)
    recording = _RECORDING.get()
    if recording is not None:
        recording.update(walk.guards)
    return digest


def guarded(compute: Callable[[], _T]) -> tuple[_T, CodeGuards]:
    """``compute()`` and the guards of every code digest it used.

    The result stays valid while the guards hold: memoise it with them (the
    operation hash of a task class does) and call :meth:`CodeGuards.hold`
    before each reuse. Guards recorded here count for an enclosing call too.
    """
    recording: _Guards = {}
    token = _RECORDING.set(recording)
    try:
        result = compute()
    finally:
        _RECORDING.reset(token)
    outer = _RECORDING.get()
    if outer is not None:
        outer.update(recording)
    return result, CodeGuards(recording.values())


_T = TypeVar("_T")
# A guard: (namespace, name, expected) for a global name or an attribute of one
# of the user's modules; (function, code, defaults, kwdefaults, cells) for a
# function the walk entered. Keyed by (id of the namespace or function, name
# or None) while it is collected, so that each is checked once.
_Guard = tuple[Any, ...]
_Guards = dict[tuple[int, str | None], _Guard]


class _Ref(weakref.ref[Any]):
    """A guard's weak reference (a user's own ``weakref.ref`` is a plain value)."""

    __slots__ = ()


class CodeGuards:
    """What a memoised code digest read, each with the object it found there.

    ``names``: ``(namespace, name, object)`` for each global name read by a
    function the walk entered and each attribute read on one of the user's
    modules (``namespace.get(name)``; a name that was not bound expects
    "unbound"). ``functions``: ``(function, __code__, __defaults__,
    __kwdefaults__, cell contents)`` for each of those functions, as an
    editor's reload (IPython's ``autoreload``) patches them in place.
    :meth:`hold` compares by identity only: no value is hashed again.

    Functions, and other objects that can be weakly referenced, are held by a
    weak reference: a memo must not keep alive what a notebook rebound (a
    recursive function's guards name the function itself, which would keep
    its ``WeakKeyDictionary`` entry alive for ever).

    Pickled (a task class sent to a worker process), it is empty: a copy in
    another process cannot see this one's bindings, so what it guards is fixed.
    """

    __slots__ = ("functions", "names")

    def __init__(self, guards: Iterable[_Guard] = ()) -> None:
        guards = list(guards)
        self.names = tuple(g for g in guards if type(g[0]) is not _Ref)
        self.functions = tuple(g for g in guards if type(g[0]) is _Ref)

    def __reduce__(self) -> tuple[Any, ...]:
        return (CodeGuards, ())

    def keyed(self) -> Iterator[tuple[tuple[int, str | None], _Guard]]:
        """The guards with their keys, to merge them into a larger set."""
        for guard in self.names:
            yield (id(guard[0]), guard[1]), guard
        for guard in self.functions:
            yield (id(guard[0]()), None), guard

    def hold(self) -> bool:
        """Whether every guard still finds its object (identity, no hashing)."""
        for space, name, expected in self.names:
            found = space.get(name, _MISSING)
            if found is not expected and (
                type(expected) is not _Ref or found is None or expected() is not found
            ):
                return False
        for ref, code, defaults, kwdefaults, cells in self.functions:
            func = ref()
            if (
                func is None
                or func.__code__ is not code
                or func.__defaults__ is not defaults
                or func.__kwdefaults__ is not kwdefaults
                or cells
                and not _cells_hold(func, cells)
            ):
                return False
        return True


def _function_guard(func: types.FunctionType) -> _Guard:
    cells = tuple(_expected(_cell_contents(c)) for c in func.__closure__ or ())
    state = (func.__code__, func.__defaults__, func.__kwdefaults__, cells)
    return (_Ref(func), *state)


def _cells_hold(func: types.FunctionType, cells: tuple[Any, ...]) -> bool:
    found = func.__closure__ or ()
    if len(found) != len(cells):
        return False
    for cell, expected in zip(found, cells, strict=True):
        value = _cell_contents(cell)
        if value is not expected and (
            type(expected) is not _Ref or value is None or expected() is not value
        ):
            return False
    return True


def _cell_contents(cell: types.CellType) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell: the name is not bound yet
        return _MISSING


def _expected(value: Any) -> Any:
    """What a guard keeps of the object it found: a weak reference if it can."""
    try:
        return _Ref(value)
    except TypeError:  # ints, strings, tuples, dicts, lists, _MISSING
        return value


_CODE_MEMO: weakref.WeakKeyDictionary[Any, tuple[bytes, bool]] = (
    weakref.WeakKeyDictionary()
)
_CODE_GUARDS: weakref.WeakKeyDictionary[Any, CodeGuards] = weakref.WeakKeyDictionary()
_WALK: contextvars.ContextVar[_CodeWalk | None] = contextvars.ContextVar(
    "pydra_lite_code_walk", default=None
)
_RECORDING: contextvars.ContextVar[_Guards | None] = contextvars.ContextVar(
    "pydra_lite_code_guards", default=None
)
_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS"})
_ATTR_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_MISSING = object()
_NAMES_KIND = "globals-" + importlib.util.MAGIC_NUMBER.hex()  # the bytecode format
_VERSION_KIND = "version"


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
    return not _is_installed(file)


def _is_installed(file: str) -> bool:
    """Whether ``file`` belongs to an installed package."""
    return any(f"{os.sep}{d}{os.sep}" in file for d in _INSTALL_DIRS)


@functools.cache
def _package_version(module: str) -> str:
    top = module.partition(".")[0]
    if top == "builtins":  # the language core: tied to no version (docs/hashing.md)
        return ""
    if top in sys.stdlib_module_names:
        return "python{}.{}".format(*sys.version_info[:2])
    if top in _LIBRARY_ROOTS:
        return __version__  # also what pydra_lite's metadata says
    file = getattr(sys.modules.get(top), "__file__", None)
    if not file:
        return _installed_version(top)
    key = f"{top}\0{os.path.realpath(file)}"  # installing rewrites the file
    return by_file(
        _VERSION_KIND, key, file, lambda: _installed_version(top).encode()
    ).decode()


def _installed_version(top: str) -> str:
    try:
        return _distribution_version(top)
    except importlib.metadata.PackageNotFoundError:
        pass
    # "yaml" is in PyYAML. Only for such a name: the map of import names reads
    # the file list of every installed distribution (once per process).
    for dist in _distributions().get(top, []):
        return _distribution_version(dist)
    return str(getattr(sys.modules.get(top), "__version__", "unknown"))


def _distribution_version(name: str) -> str:
    """A distribution's version from the headers of its metadata file.

    ``importlib.metadata.version`` parses the whole file (the long description
    too) with the email parser, for each package in each process; the version
    is a header, and the headers end at the first empty line (falling back to
    ``dist.version`` when none names it). ``tests/test_stand_ins.py``
    checks that both give the same version for every installed distribution.
    """
    dist = importlib.metadata.distribution(name)
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.splitlines():
        if not line:  # the end of the headers
            break
        if line.startswith("Version:"):
            return line[len("Version:") :].strip()
    return dist.version


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


class _CodeWalk:
    """One traversal of user code; ``under_way`` maps definitions to stack depth.

    ``lowest`` is the shallowest back-reference made so far, including those
    made while hashing a value that holds functions (see :meth:`_reference`).
    ``guards`` collects what the definition being digested read, and what the
    definitions it reached read (their memoised guards, on a memo hit), keyed
    by (namespace or function id, name) so that each is checked once.
    """

    def __init__(self) -> None:
        self.under_way: dict[int, int] = {}
        self.lowest = _NO_BACKREF
        self.guards: _Guards = {}

    def digest(self, obj: Any) -> tuple[bytes, int]:
        """Digest of a user function or class, and the lowest depth it refers back to.

        A digest that refers back to a definition further up the stack depends
        on where the walk started, so only self-contained ones are memoised,
        with the guards of everything the walk read below them.
        """
        memo = _CODE_MEMO.get(obj)
        if memo is not None and (memo[1] or not self.under_way):
            guards = _CODE_GUARDS.get(obj)
            if guards is not None and guards.hold():
                self.guards.update(guards.keyed())
                return memo[0], _NO_BACKREF
            _CODE_MEMO.pop(obj, None)  # something it read was rebound: redo it
            _CODE_GUARDS.pop(obj, None)
        depth = self.under_way.get(id(obj))
        if depth is not None:  # a cycle: how far up the stack, not which module
            self.lowest = min(self.lowest, depth)
            distance = int_bytes(len(self.under_way) - depth)
            return combine_digests(b"code-ref", distance), depth
        here = self.under_way[id(obj)] = len(self.under_way)
        outer, self.guards = self.guards, {}
        try:
            parts, low = self._parts(obj)
        finally:
            del self.under_way[id(obj)]
            read, self.guards = self.guards, outer
        self.guards.update(read)
        digest = combine_digests(b"code", *parts)
        if low >= here:  # reused inside other walks only if it has no cycle
            _CODE_MEMO[obj] = (digest, low == _NO_BACKREF)
            _CODE_GUARDS[obj] = CodeGuards(read.values())
        return digest, low

    def _parts(self, obj: Any) -> tuple[list[bytes], int]:
        try:
            parts = [source_digest(obj)]
            members: list[tuple[str, Any]] = []
        except HashingError:
            if isinstance(obj, types.FunctionType):
                raise
            # A class made at run time (e.g. a task class): its name and methods.
            parts = [b"class:" + qualified_name(obj).encode()]
            members = [(f"m:{f.__qualname__}", f) for f in _class_functions(obj)]
        low = _NO_BACKREF
        for name, value in members + _references(obj, self.guards):
            digest, depth = self._reference(value)
            parts += [name.encode(), digest]
            low = min(low, depth)
        return parts, low

    def _reference(self, value: Any) -> tuple[bytes, int]:
        value = _unwrap(value)
        module = getattr(value, "__module__", None) or ""
        if isinstance(value, types.ModuleType):
            if _is_user_module(value.__name__):  # used as a value: all of it counts
                return source_digest(value), _NO_BACKREF
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
                return _library_identity(module, qualified_name(value)), _NO_BACKREF
            # Not data we can read (a lock, a logger): its type stands for it.
            return b"opaque:" + qualified_name(type(value)).encode(), _NO_BACKREF
        finally:
            self.lowest = min(outer, self.lowest)


def _class_functions(cls: type) -> list[types.FunctionType]:
    """Functions written in a class body (not generated by attrs or dataclasses)."""
    found = []
    for member in vars(cls).values():
        for func in (member, *(getattr(member, a, None) for a in ("fget", "func"))):
            func = _unwrap(func)
            if isinstance(func, types.FunctionType) and _is_users(func):
                found.append(func)
    return found


def _is_users(func: types.FunctionType) -> bool:
    """Whether the user wrote ``func``: its module is the user's and its code
    is in that module's file.

    attrs compiles methods into made-up files (``<attrs generated init ...>``)
    and attaches closures from its own ``attr/_make.py`` (``__ne__``, and the
    ``__setattr__`` of a class with converters, labelled with the class's
    module): neither counts, or a task class's digest would follow attrs'
    internals from release to release.
    """
    file = func.__code__.co_filename
    if file.startswith("<") and not file.startswith("<ipython-input"):
        return False
    if not _is_user_module(func.__module__):
        return False
    module_file = getattr(sys.modules.get(func.__module__), "__file__", None)
    if module_file:
        return os.path.abspath(file) == os.path.abspath(module_file)
    return not _is_installed(file)  # a notebook's __main__ has no file


def _references(obj: Any, guards: _Guards) -> list[tuple[str, Any]]:
    """What a function (or a class's methods) reads: globals, closures, defaults.

    An attribute read on one of the user's modules (``mymod.helper``) counts as
    that attribute, so the rest of the module does not. Each binding read, and
    each function's code, defaults and cells, is added to ``guards``.
    """
    funcs = [obj] if isinstance(obj, types.FunctionType) else _class_functions(obj)
    found: dict[str, Any] = {}
    for func in funcs:
        guards[id(func), None] = _function_guard(func)
        for name, attrs in _global_names(func.__code__).items():
            found.update(_global_entries(name, attrs, func.__globals__, guards))
        cells = zip(func.__code__.co_freevars, func.__closure__ or (), strict=True)
        for name, cell in cells:
            found[f"c:{func.__qualname__}:{name}"] = _cell_contents(cell)
        if func.__defaults__ or func.__kwdefaults__:
            found[f"d:{func.__qualname__}"] = (func.__defaults__, func.__kwdefaults__)
    return sorted(found.items())


def _global_entries(
    name: str,
    attrs: set[str],
    scope: dict[str, Any],
    guards: _Guards,
) -> Iterator[tuple[str, Any]]:
    value = scope.get(name, _MISSING)
    guards[id(scope), name] = (scope, name, _expected(value))
    if value is _MISSING and name in vars(builtins):
        yield f"b:{name}", name  # the language core counts by name only
    elif not isinstance(value, types.ModuleType):
        yield f"g:{name}", value
    elif not _is_user_module(value.__name__):
        yield f"g:{name}", value
    else:
        space = vars(value)  # the user's module: each attribute read is guarded
        for attr in attrs:
            if attr:
                guards[id(space), attr] = (
                    space,
                    attr,
                    _expected(space.get(attr, _MISSING)),
                )
            yield f"g:{name}.{attr}", getattr(value, attr, _MISSING) if attr else value


def _global_names(code: types.CodeType) -> dict[str, set[str]]:
    """Global names read by ``code`` and its nested code, memoised under a
    digest of the bytecode and the names it indexes (all that the answer
    depends on, for one bytecode format)."""
    key = _bytecode_key(code)
    found = MEMO.get(_NAMES_KIND, key, b"")
    if found is not None:
        return {name: set(attrs) for name, attrs in json.loads(found).items()}
    names = _disassembled_names(code)
    encoded = json.dumps({name: sorted(attrs) for name, attrs in names.items()})
    MEMO.put([(_NAMES_KIND, key, b"", encoded.encode())])
    return names


def _bytecode_key(code: types.CodeType) -> str:
    hasher = blake3.blake3()
    todo = [code]
    while todo:
        current = todo.pop()
        hasher.update(b"%d\0%s\0" % (len(current.co_code), current.co_code))
        hasher.update("\0".join(current.co_names).encode("utf-8", "surrogatepass"))
        nested = [c for c in current.co_consts if isinstance(c, types.CodeType)]
        hasher.update(b"\0%d\0" % len(nested))
        todo += nested
    return hasher.hexdigest()


def _disassembled_names(code: types.CodeType) -> dict[str, set[str]]:
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


# --- function values --------------------------------------------------------


def _function_value(obj: types.FunctionType, cache: Seen) -> Iterator[bytes]:
    yield hash_function(obj)


def _builtin_value(obj: types.BuiltinFunctionType, cache: Seen) -> Iterator[bytes]:
    yield _library_identity(obj.__module__ or "builtins", obj.__qualname__)


register_serializer(types.FunctionType, _function_value, tag=b"function")
register_serializer(types.BuiltinFunctionType, _builtin_value, tag=b"builtin")
