"""The canonical source of Python code: the AST digest of a function or class.

Owns :func:`source_digest`, the first part of an operation hash (the rest,
what the code reads, is ``code.py``'s walk). ``docs/hashing.md`` fixes
the format.

Algorithm:

* The canonical AST drops docstrings, comments, layout and positions, and
  fields at their default, so Python 3.11 to 3.13 agree.
* A function's source is its own lines of its file, cut at the first later
  statement at the ``def``'s indentation that parses; a class's is its
  ``class`` statement found by qualified name in its module's AST, as
  ``inspect`` finds it, without ``inspect``'s tokenizing (on Python 3.11 its
  first use in a process compiles the tokenizer's regular expressions, which
  every warm run would pay for). ``inspect`` is the fallback.
* A digest is memoised (``memo.py``) under its file's path and signature and
  the code's place in it (line, qualified name): a warm run in a new process
  reads and parses no source at all. A file changed less than
  ``SETTLE_SECONDS`` ago is not memoised, as for file contents.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import os
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

from pydra_lite.errors import HashingError
from pydra_lite.hashing.digest import combine_digests, qualified_name
from pydra_lite.hashing.memo import by_file

__all__ = ["source_digest"]

_DOC_HOLDERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_MEMO_KIND = "ast-py{}.{}".format(*sys.version_info[:2])
_NO_SOURCE = b"no-source"  # memoised too: a task class made at run time has none


def source_digest(obj: Any) -> bytes:
    """Digest of the canonical AST of a function, lambda, class or module.

    Raises:
        HashingError: when the source is unavailable (typed in a REPL, or a
            class made at run time, which has no ``class`` statement).
    """
    place = _memo_place(obj)
    if place is None:
        return _computed_digest(obj)
    file, where = place
    key = f"{os.path.abspath(file)}\0{where}"
    digest = by_file(_MEMO_KIND, key, file, lambda: _or_none(obj))
    if digest == _NO_SOURCE:
        raise HashingError(_no_source_msg(obj), type_=type(obj))
    return digest


def _or_none(obj: Any) -> bytes:
    try:
        return _computed_digest(obj)
    except HashingError:
        return _NO_SOURCE


def _memo_place(obj: Any) -> tuple[str, str] | None:
    """The file that holds ``obj``'s source and where in it, if memoisable.

    The file as the code names it, which is what ``linecache`` reads and so
    what the memo's signature must ``stat`` (following symlinks, and ``..``
    after them, as the reader does); only the memo's key is made absolute.
    Not ``realpath``: that costs an ``lstat`` per path component every call.
    """
    if isinstance(obj, types.FunctionType):
        if hasattr(obj, "__wrapped__"):
            return None  # inspect reads the wrapped function's file instead
        code = obj.__code__
        where = f"def:{code.co_firstlineno}:{obj.__qualname__}"
        return code.co_filename, where
    module = sys.modules.get(obj.__module__) if isinstance(obj, type) else obj
    file = getattr(module, "__file__", None)
    if not file or not isinstance(obj, type | types.ModuleType):
        return None
    if isinstance(obj, type):
        first = vars(obj).get("__firstlineno__", "")
        return file, f"class:{first}:{obj.__qualname__}"
    return file, "module"


def _computed_digest(obj: Any) -> bytes:
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
    if isinstance(obj, type):
        if not _may_have_class_statement(obj):
            raise HashingError(_no_source_msg(obj), type_=type(obj))
        node = _class_node(obj)
        if node is not None:
            return [node]
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


def _class_node(cls: type) -> ast.ClassDef | None:
    """A ``class`` statement found in its module's AST as inspect finds it.

    The first, depth first, with ``cls``'s qualified name (a function's scope
    adds ``<locals>``); on Python 3.13+ the one that starts (first decorator
    included) on ``cls.__firstlineno__``. ``None`` means "ask inspect".
    """
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    first = vars(cls).get("__firstlineno__")
    if not file or first is None and sys.version_info >= (3, 13):
        return None
    linecache.checkcache(file)
    try:
        tree = ast.parse("".join(linecache.getlines(file, vars(module))))
    except (SyntaxError, ValueError):
        return None
    for node, qualname in _class_statements(tree, []):
        start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        if start == first or first is None and qualname == cls.__qualname__:
            return node
    return None


def _class_statements(
    node: ast.AST, scope: list[str]
) -> Iterator[tuple[ast.ClassDef, str]]:
    """Every class statement below ``node`` with its qualified name, in order."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            yield child, ".".join([*scope, child.name])
            yield from _class_statements(child, [*scope, child.name])
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _class_statements(child, [*scope, child.name, "<locals>"])
        else:
            yield from _class_statements(child, scope)


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
    """Whether ``name`` appears right after a word ``class``.

    No regex: a warm run would compile the pattern afresh in its new process.
    ``tests/test_stand_ins.py`` checks that this answers as the regex would.
    """
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
        f"cannot compute the operation hash of {qualified_name(obj)}: its source "
        "code is not available (was it typed into an interactive interpreter?). "
        'Give the task an explicit code version instead: python.define(version="1")'
    )
