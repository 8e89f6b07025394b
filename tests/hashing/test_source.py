"""How source.py finds a function's source: the same AST inspect would give."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import FunctionType, ModuleType
from typing import Any

import pytest

from pydra_lite.errors import HashingError
from pydra_lite.hashing import source

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


def _tokens(node: Any) -> list[bytes]:
    out: list[bytes] = []
    source._canonical(node, out.append)
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
    load: Callable[..., ModuleType],
) -> None:
    """Every layout in TRICKY gives inspect's AST, or falls back to inspect."""
    module = load(TRICKY)
    placed = 0
    for func in _functions(module):
        expected = _tokens(source._parse_block(inspect.getsource(func), func))
        node = source._function_node(func)
        if node is not None:
            placed += 1
            assert _tokens(node) == expected, func.__qualname__
        assert _tokens(source._source_nodes(func)[0]) == expected
    assert (
        placed == len(_functions(module)) - 1
    )  # all but the wrapper  # the fast path is the common one


def test_a_wrapped_function_is_left_to_inspect(load: Callable[..., ModuleType]) -> None:
    module = load(TRICKY)
    assert source._function_node(module.wrapper) is None


def test_a_class_made_at_run_time_has_no_source_without_inspect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = type("MadeAtRunTime", (), {"__module__": __name__})

    def refuse(obj: Any) -> str:
        msg = f"inspect.getsource was called for {obj!r}"
        raise AssertionError(msg)

    monkeypatch.setattr(inspect, "getsource", refuse)
    with pytest.raises(HashingError, match="source code is not available"):
        source._source_nodes(made)


class _WithStatement:
    value = 1


def test_a_class_with_a_statement_is_read_by_inspect() -> None:
    assert source._may_have_class_statement(_WithStatement)
    assert source._source_nodes(_WithStatement)


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
    assert source._follows_class(text, "A") is found


CLASSES = '''
import functools


def tag(*args, **kwargs):
    return lambda cls: cls


class Plain:
    x = 1


@tag(
    "spread over",
    lines=True,
)
class Decorated(Plain):
    def method(self):
        return 1

    class Nested:
        """Only a docstring."""


def factory():
    class Local:
        y = 2

    return Local


class Plain:  # redefined: inspect (3.11, 3.12) reads the first statement
    x = 2
'''


def test_a_class_statement_found_in_the_module_matches_inspect(
    load: Callable[..., ModuleType],
) -> None:
    module = load(CLASSES)
    classes = [module.Plain, module.Decorated, module.Decorated.Nested]
    for cls in [*classes, module.factory()]:
        expected = _tokens(source._parse_block(inspect.getsource(cls), cls))
        node = source._class_node(cls)
        assert node is not None, cls.__qualname__
        assert _tokens(node) == expected, cls.__qualname__
        assert _tokens(source._source_nodes(cls)[0]) == expected


def test_a_class_statement_is_found_without_tokenizing(
    load: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(CLASSES)

    def refuse(obj: Any) -> str:
        msg = f"inspect.getsource was called for {obj!r}"
        raise AssertionError(msg)

    monkeypatch.setattr(inspect, "getsource", refuse)
    assert source.source_digest(module.Decorated)
