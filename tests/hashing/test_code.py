"""Operation hashes of Python functions: what counts and what does not."""

from __future__ import annotations

import functools
import importlib.util
import itertools
import sys
import types
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pydra_lite.compose import python
from pydra_lite.compose.base import operation_hash
from pydra_lite.errors import HashingError
from pydra_lite.hashing import code as code_hash
from pydra_lite.hashing import hash_function

_counter = itertools.count()


def op(load: Callable[..., ModuleType], source: str, name: str = "task") -> bytes:
    return hash_function(getattr(load(source), name))


BASE = """
def task(a, b=1):
    return a + b
"""


def test_comments_docstrings_and_layout_do_not_count(load: Any) -> None:
    reformatted = '''
    # a leading comment
    def task(a,
             b = 1):  # trailing comment
        """A docstring that changes nothing."""

        return (a +
                b)
    '''
    assert op(load, BASE) == op(load, reformatted)


def test_a_body_edit_changes_the_hash(load: Any) -> None:
    assert op(load, BASE) != op(load, BASE.replace("a + b", "a - b"))
    assert op(load, BASE) != op(load, BASE.replace("b=1", "b=2"))


def test_a_called_helper_counts_transitively(load: Any) -> None:
    source = """
    def inner(x):
        return x * 2

    def helper(x):
        return inner(x) + 1

    def task(a):
        return helper(a)
    """
    assert op(load, source) == op(load, source)
    assert op(load, source) != op(load, source.replace("x * 2", "x * 3"))
    assert op(load, source) != op(load, source.replace("+ 1", "+ 2"))


def test_unrelated_code_in_the_module_does_not_count(load: Any) -> None:
    source = """
    UNUSED = 1

    def other():
        return 1

    def task(a):
        return a
    """
    edited = source.replace("UNUSED = 1", "UNUSED = 2").replace("return 1", "return 2")
    assert op(load, source) == op(load, edited)


def test_a_module_constant_counts_by_value(load: Any) -> None:
    source = """
    SCALE = 3
    NAMES = ("a", "b")

    def task(a):
        return a * SCALE, NAMES
    """
    assert op(load, source) != op(load, source.replace("SCALE = 3", "SCALE = 4"))
    assert op(load, source) != op(load, source.replace('"b"', '"c"'))


def test_a_user_module_attribute_counts(load: Any) -> None:
    task = "import helpers_a\ndef task(a):\n    return helpers_a.scale(a)\n"
    load("def scale(x):\n    return x * 2\n", name="helpers_a")
    first = op(load, task)
    load("def scale(x):\n    return x * 20\n", name="helpers_a")
    assert op(load, task) != first


def test_library_calls_count_as_name_and_version(
    load: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = "import json\ndef task(a):\n    return json.dumps(a)\n"
    before = op(load, source)
    monkeypatch.setattr(code_hash, "_package_version", lambda module: "python9.9")
    assert op(load, source) != before


def test_mutual_recursion_terminates_and_does_not_depend_on_order(load: Any) -> None:
    source = """
    def ping(n):
        return pong(n - 1) if n else 0

    def pong(n):
        return ping(n - 1) if n else 1
    """
    one, two = load(source), load(source)
    ping_first = hash_function(one.ping), hash_function(one.pong)
    pong_first = hash_function(two.pong), hash_function(two.ping)
    assert ping_first == pong_first[::-1]
    assert ping_first[0] != ping_first[1]


def test_functions_held_in_module_values_terminate(load: Any) -> None:
    """A dispatch table holding the functions that read it is a cycle too."""
    source = """
    def double(x):
        return DISPATCH["triple"](x) * 2

    def triple(x):
        return x * 3

    DISPATCH = {"double": double, "triple": triple}

    def task(name, x):
        return DISPATCH[name](x)
    """
    assert op(load, source) == op(load, source)
    assert op(load, source) != op(load, source.replace("x * 3", "x * 4"))


def test_closures_count_by_the_values_they_hold(load: Any) -> None:
    module = load(
        """
        def make(k):
            def add(x):
                return x + k
            return add
        """
    )
    assert hash_function(module.make(1)) == hash_function(module.make(1))
    assert hash_function(module.make(1)) != hash_function(module.make(2))


def test_lambdas_hash_by_their_own_source(load: Any) -> None:
    module = load(
        """
        inc = lambda x: x + 1
        dec = lambda x: x - 1
        pair = (lambda x: x * 2, lambda x: x * 3)
        call = dict(
            key=lambda x: x ** 2,
        )
        """
    )
    assert hash_function(module.inc) != hash_function(module.dec)
    # Lambdas sharing a line count as all the lambdas of that line (documented).
    assert hash_function(module.pair[0]) == hash_function(module.pair[1])
    assert hash_function(module.call["key"]) != hash_function(module.inc)


def test_decorated_functions_are_unwrapped(load: Any) -> None:
    source = """
    import functools

    def logged(func):
        @functools.wraps(func)
        def wrapper(*args):
            return func(*args)
        return wrapper

    @logged
    def task(a):
        return a + 1
    """
    module = load(source)
    assert hash_function(module.task) == hash_function(module.task.__wrapped__)
    assert op(load, source) != op(load, source.replace("a + 1", "a + 2"))


def test_classes_used_by_a_function_count(load: Any) -> None:
    source = """
    class Model:
        factor = 2

        def predict(self, x):
            return x * self.factor

    def task(a):
        return Model().predict(a)
    """
    assert op(load, source) != op(load, source.replace("factor = 2", "factor = 3"))


TASK_REFERENCE = """
from pydra_lite import python, workflow

@python.define
def Add(a: int, b: int = 1) -> int:
    return a + b

@workflow.define
def Twice(x: int) -> int:
    return workflow.add(Add(a=workflow.add(Add(a=x)).out)).out
"""


def test_a_task_class_counts_by_its_users_code_not_by_attrs_methods(
    load: Any,
) -> None:
    """attrs gives a task class methods from its own files (``__setattr__``
    with converters, labelled with the user's module): only the user's count."""
    module = load(TASK_REFERENCE, name="task_reference")
    assert [f.__name__ for f in code_hash._class_functions(module.Add)] == ["Add"]
    digest = operation_hash(module.Twice)
    same = load(TASK_REFERENCE, name="task_reference")
    assert operation_hash(same.Twice) == digest
    changed = TASK_REFERENCE.replace("b: int = 1", "b: int = 2")
    edited = load(changed, name="task_reference")
    assert operation_hash(edited.Twice) != digest  # the default is the user's code


ADD_TASK = """
from pydra_lite import python

@python.define
def Add(a: int) -> int:
    return a + 1
"""


def test_a_notebooks_task_class_counts_its_cells_code_not_attrs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A notebook's ``__main__`` has no file: code in an installed package
    (attrs' ``__setattr__``) is still not the user's, a cell's code is."""
    cell = types.ModuleType("notebook_like")
    monkeypatch.setitem(sys.modules, "notebook_like", cell)
    exec(compile(ADD_TASK, "/tmp/ipykernel_1/cell.py", "exec"), cell.__dict__)
    assert [f.__name__ for f in code_hash._class_functions(cell.Add)] == ["Add"]


def test_a_main_module_run_from_an_installed_package_is_still_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m mypkg.pipeline`` with mypkg installed: ``__main__``'s own
    functions count, whatever directory its file is in."""
    path = tmp_path / "site-packages" / "mypkg" / "pipeline.py"
    path.parent.mkdir(parents=True)
    path.write_text(ADD_TASK)
    spec = importlib.util.spec_from_file_location("__main__", path)
    assert spec is not None and spec.loader is not None
    main = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "__main__", main)
    spec.loader.exec_module(main)
    assert [f.__name__ for f in code_hash._class_functions(main.Add)] == ["Add"]


def test_memoised_per_function_object(load: Any) -> None:
    module = load(BASE)
    digest = hash_function(module.task)
    assert code_hash._CODE_MEMO[module.task] == (digest, True)
    assert hash_function(module.task) is digest


def test_a_function_without_source_asks_for_a_version() -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec("def typed_in_a_repl(x):\n    return x\n", namespace)  # no file, no linecache
    with pytest.raises(HashingError) as info:
        hash_function(namespace["typed_in_a_repl"])
    assert "version=" in str(info.value)
    assert "typed_in_a_repl" in str(info.value)


def test_version_replaces_the_source() -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec("def no_source(x: int) -> int:\n    return x\n", namespace)
    one = python.define(namespace["no_source"], version="1")
    two = python.define(namespace["no_source"], version="2")
    assert operation_hash(one) != operation_hash(two)


def test_library_functions_hash_by_name_and_version() -> None:
    import json

    assert hash_function(json.dumps) == hash_function(json.dumps)
    assert hash_function(json.dumps) != hash_function(json.loads)
    assert hash_function(functools.reduce) != hash_function(json.dumps)
