"""The operation hash of Python code: what identifies a function or a class.

Owns :func:`hash_function` and the serializers of function values that it
registers in :mod:`pydra_lite.hash` (a function inside a task input hashes as
its code). It builds on the value registry of ``hash.py``, which re-exports
:func:`hash_function` so that its callers need not know this module.
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
  per function object.
* A function's source is its own lines of its file, cut at the first later
  statement at the ``def``'s indentation that parses; ``inspect`` (which
  tokenizes, and walks a module's whole AST for a class) is the fallback.
"""

from __future__ import annotations

import ast
import builtins
import contextvars
import dis
import functools
import importlib.metadata
import inspect
import linecache
import pathlib
import sys
import textwrap
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from pydra_lite.errors import HashingError

# Siblings on one layer: the digest primitives are shared with hash.py.
from pydra_lite.hash import (
    Cache,
    _int_bytes,
    _qualified_name,
    combine_digests,
    hash_object,
    register_serializer,
)

__all__ = ["hash_function"]

_NO_BACKREF = sys.maxsize
_LIBRARY_ROOTS = frozenset({"pydra_lite"})  # our own code counts as a library


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
                    # attrs attaches its own __ne__ (attr/_make.py): not the user's
                    if _is_user_module(func.__module__):
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
    node = _function_node(obj)
    if node is not None:
        return [node]
    if isinstance(obj, type) and not _may_have_class_statement(obj):
        raise HashingError(_no_source_msg(obj), type_=type(obj))
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError) as exc:
        raise HashingError(_no_source_msg(obj), type_=type(obj)) from exc
    if isinstance(obj, types.ModuleType):
        return [ast.parse(source)]
    return [_parse_block(source, obj)]


def _function_node(obj: Any) -> ast.AST | None:
    """A function's ``def``, parsed from its own lines only (no tokenizing).

    The block runs from ``co_firstlineno`` to the first later line, at the
    ``def``'s indentation or less, that starts a statement. Lines at that
    indentation inside brackets, strings or after a backslash cut the source
    mid-token, so the cut does not parse and the next one is tried. Trailing
    comments are left out; they change neither the AST nor ``dedent``.
    ``None`` means "ask inspect" (a file or a ``def`` this cannot place).
    """
    if not isinstance(obj, types.FunctionType) or hasattr(obj, "__wrapped__"):
        return None  # inspect would read the wrapped function instead
    code = obj.__code__
    linecache.checkcache(code.co_filename)  # as inspect does: the file as it is now
    lines = linecache.getlines(code.co_filename, obj.__globals__)
    first = code.co_firstlineno - 1
    if not 0 <= first < len(lines):
        return None
    head = lines[first]
    indent = len(head) - len(head.lstrip())
    started = False
    for cut in range(first, len(lines) + 1):
        line = lines[cut] if cut < len(lines) else ""
        text = line.strip()
        if not started:
            started = text.startswith(("def ", "def\t", "async "))
            continue
        if cut < len(lines) and (not text or text.startswith("#")):
            continue
        if cut < len(lines) and len(line) - len(line.lstrip()) > indent:
            continue
        node = _try_parse_block(_trimmed(lines[first:cut]))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return node if node.name == code.co_name else None
    return None


def _trimmed(lines: list[str]) -> str:
    """The lines without trailing blank and comment lines."""
    end = len(lines)
    while end and (not lines[end - 1].strip() or lines[end - 1].lstrip()[0] == "#"):
        end -= 1
    return "".join(lines[:end])


def _may_have_class_statement(cls: type) -> bool:
    """Whether ``cls``'s module could hold a ``class`` statement of its name.

    A class made at run time (a task class) has none; inspect would find that
    out by walking the whole module's AST. Only whitespace and backslash line
    joins can come between ``class`` and the name.
    """
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if not file or "__firstlineno__" in vars(cls):  # 3.13 marks class statements
        return True
    linecache.checkcache(file)
    text = "".join(linecache.getlines(file, vars(module)))
    if not text:
        return True
    names = {cls.__name__, cls.__qualname__.rpartition(".")[2]}  # inspect: qualname
    return any(_follows_class(text, name) for name in names)


def _follows_class(text: str, name: str) -> bool:
    """Whether ``name`` appears right after a word ``class`` (no regex: the
    first ``re`` compile of a process costs milliseconds)."""
    at = text.find("class")
    while at != -1:
        start = end = at + len("class")
        while end < len(text) and text[end] in " \t\f\r\n\\":
            end += 1
        if end > start and not _is_name_char(text[at - 1 : at]):
            if text.startswith(name, end):
                if not _is_name_char(text[end + len(name) : end + len(name) + 1]):
                    return True
        at = text.find("class", start)
    return False


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _try_parse_block(source: str) -> ast.AST | None:
    for text in (textwrap.dedent(source), "if 1:\n" + source):
        try:  # the second form parses blocks whose strings defeat dedent
            tree = ast.parse(text).body[0]
        except (SyntaxError, ValueError, IndexError):
            continue
        return tree.body[0] if isinstance(tree, ast.If) else tree
    return None


def _parse_block(source: str, obj: Any) -> ast.AST:
    """Parse a ``def`` or ``class`` cut out of a file, whatever its indentation."""
    tree = _try_parse_block(source)
    if tree is None:
        raise HashingError(_no_source_msg(obj), type_=type(obj))
    return tree


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


# --- function values --------------------------------------------------------


def _function_value(obj: types.FunctionType, cache: Cache) -> Iterator[bytes]:
    yield hash_function(obj)


def _builtin_value(obj: types.BuiltinFunctionType, cache: Cache) -> Iterator[bytes]:
    yield _library_identity(obj.__module__ or "builtins", obj.__qualname__)


register_serializer(types.FunctionType, _function_value, tag=b"function")
register_serializer(types.BuiltinFunctionType, _builtin_value, tag=b"builtin")
