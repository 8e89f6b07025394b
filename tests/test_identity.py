"""How identity.py finds a function's source: the same AST inspect would give."""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
import textwrap
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import pytest

from pydra_lite import identity
from pydra_lite.errors import HashingError

_counter = itertools.count()

TRICKY = '''
import functools


def plain(a):
    return a + 1


def tag(func):
    return func


@tag
@tag
def decorated(a):
    return a


@functools.wraps(plain)
def wrapper(a):
    return plain(a)


def signature_at_column_zero(
a,
b=2,
):
    return a + b


def one_liner(a): return a * 2


class Holder:
    def method(self):
        text = """
a line at column zero
"""
        return text
# a comment at column zero between methods

    def after_comment(self):
        total = 1 + \\
2
        return total


def ends_with_comment(a):
    b = a
    # trailing, at the body's indentation
    return b
# trailing, at column zero


def outer():
    def inner(x):
        return [
    x,
        ]
    return inner


async def coroutine(a):
    return a
'''


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> ModuleType:
    name = f"identity_mod_{next(_counter)}"
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def _tokens(node: Any) -> list[bytes]:
    out: list[bytes] = []
    identity._canonical(node, out.append)
    return out


def _functions(module: ModuleType) -> list[FunctionType]:
    found = [
        module.plain,
        module.decorated,
        module.wrapper,
        module.signature_at_column_zero,
        module.one_liner,
        module.Holder.method,
        module.Holder.after_comment,
        module.ends_with_comment,
        module.outer,
        module.outer(),
        module.coroutine,
    ]
    assert all(isinstance(f, FunctionType) for f in found)
    return found


def test_the_def_found_by_lines_matches_inspect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every layout in TRICKY gives inspect's AST, or falls back to inspect."""
    module = _load(tmp_path, monkeypatch, TRICKY)
    placed = 0
    for func in _functions(module):
        expected = _tokens(identity._parse_block(inspect.getsource(func), func))
        node = identity._function_node(func)
        if node is not None:
            placed += 1
            assert _tokens(node) == expected, func.__qualname__
        assert _tokens(identity._source_nodes(func)[0]) == expected
    assert (
        placed == len(_functions(module)) - 1
    )  # all but the wrapper  # the fast path is the common one


def test_a_wrapped_function_is_left_to_inspect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _load(tmp_path, monkeypatch, TRICKY)
    assert identity._function_node(module.wrapper) is None


def test_a_class_made_at_run_time_has_no_source_without_inspect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = type("MadeAtRunTime", (), {"__module__": __name__})

    def refuse(obj: Any) -> str:
        msg = f"inspect.getsource was called for {obj!r}"
        raise AssertionError(msg)

    monkeypatch.setattr(inspect, "getsource", refuse)
    with pytest.raises(HashingError, match="source code is not available"):
        identity._source_nodes(made)


class _WithStatement:
    value = 1


def test_a_class_with_a_statement_is_read_by_inspect() -> None:
    assert identity._may_have_class_statement(_WithStatement)
    assert identity._source_nodes(_WithStatement)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("class A:", True),
        ("class \\\n  A(Base):", True),
        ("\nclass\tA_", False),
        ("subclass A", False),
        ("class AB:", False),
        ("classA", False),
        ("", False),
    ],
)
def test_a_class_statement_is_looked_for_by_its_name(text: str, found: bool) -> None:
    assert identity._follows_class(text, "A") is found
