"""Mistakes refused where they are made (issue 17, case 6), each naming the fix.

A combiner name nothing is split over, a field name the task class cannot
hold, and a value too deeply nested to hash: each fails before anything runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import Submitter
from pydra_lite.compose import python, shell, workflow
from pydra_lite.errors import HashingError, StateError, TaskDefinitionError
from pydra_lite.hashing import hash_object
from pydra_lite.hashing.values import MAX_DEPTH


@python.define
def Add(x: int, y: int = 0) -> int:
    return x + y


def _entries(cache_dir: Path) -> list[Path]:
    if not cache_dir.exists():
        return []
    return [p for p in cache_dir.iterdir() if not p.name.startswith(".")]


# --- combine ------------------------------------------------------------------


def test_combining_an_unknown_name_is_refused_before_anything_runs(
    cache_dir: Path,
) -> None:
    with pytest.raises(
        StateError, match=r"Add\.combine\('zz'\): Add has no input 'zz'"
    ):
        task = Add().split(x=[1, 2]).combine("zz")
        with Submitter(cache_dir=cache_dir) as sub:
            sub(task)
    assert _entries(cache_dir) == []


def test_combining_an_input_the_task_is_not_split_over_is_refused() -> None:
    with pytest.raises(StateError, match=r"Add is not split over 'y'.*split over: 'x'"):
        Add().split(x=[1, 2]).combine("y")


def test_a_combine_before_the_split_is_checked_by_the_split() -> None:
    assert Add().combine("x").split(x=[1, 2]).combiner == ("x",)
    with pytest.raises(StateError, match=r"Add is not split over 'y'"):
        Add().combine("y").split(x=[1, 2])


def test_an_unsplit_task_submitted_with_a_combiner_is_refused_before_it_runs(
    cache_dir: Path,
) -> None:
    with pytest.raises(StateError, match=r"split it first, e\.g\. Add\(\)\.split"):
        with Submitter(cache_dir=cache_dir) as sub:
            sub(Add(x=1).combine("x"))
    assert _entries(cache_dir) == []


def test_a_dotted_combiner_is_left_to_the_workflow_and_works_there(
    cache_dir: Path,
) -> None:
    @workflow.define
    def Sums(xs: list[int]) -> list[int]:
        up = workflow.add(Add().split(x=xs), name="Up")
        return workflow.add(Add(x=up.out).combine("Up.x")).out

    with Submitter(cache_dir=cache_dir) as sub:
        assert sub(Sums(xs=[1, 2])).outputs.out == [1, 2]


def test_a_workflow_node_combining_a_node_that_is_not_split_is_refused(
    cache_dir: Path,
) -> None:
    @workflow.define
    def Wrong(xs: list[int]) -> list[int]:
        up = workflow.add(Add().split(x=xs), name="Up")
        return workflow.add(Add(x=up.out).combine("Nope.x")).out

    with pytest.raises(
        StateError, match=r"workflow Wrong: node 'Add' combines 'Nope\.x'"
    ):
        with Submitter(cache_dir=cache_dir) as sub:
            sub(Wrong(xs=[1, 2]))
    assert _entries(cache_dir) == []


# --- field names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why", "fix"),
    [
        ("self", "it is the name of the instance", "self_"),
        ("splitter", "every python task has a member 'splitter'", "splitter_"),
        ("combine", "every python task has a member 'combine'", "combine_"),
        ("__init__", "it is a dunder name", "init"),
        ("_private", "names starting with '_' are reserved", "private"),
    ],
)
def test_a_python_input_name_the_class_cannot_hold_is_refused_at_define(
    name: str, why: str, fix: str
) -> None:
    namespace: dict[str, Any] = {}
    exec(f"def Bad({name}, y): return y", namespace)
    expected = f"Bad: input field '{name}' cannot be used: {why}"
    with pytest.raises(TaskDefinitionError, match=re.escape(expected)) as info:
        python.define(namespace["Bad"])
    assert f"rename it, e.g. '{fix}'" in str(info.value)


def test_a_python_input_named_class_is_refused_at_define() -> None:
    """``class`` cannot be a parameter, but a class form can declare it."""
    annotations = {"class": int, "y": int}
    function = staticmethod(lambda **inputs: inputs["y"])
    Bad = type("Bad", (), {"__annotations__": annotations, "function": function})
    expected = (
        "Bad: input field 'class' cannot be used: it is a Python keyword; "
        "rename it, e.g. 'class_'"
    )
    with pytest.raises(TaskDefinitionError, match=re.escape(expected)):
        python.define(Bad)


@pytest.mark.parametrize("name", ["class", "self", "__init__", "_fields"])
def test_an_output_name_the_outputs_class_cannot_hold_is_refused(name: str) -> None:
    with pytest.raises(TaskDefinitionError, match=f"output field '{name}'"):
        python.define(lambda x: (x, x), outputs=[name, "other"], name="Two")


def test_a_class_form_input_named_like_a_member_is_refused() -> None:
    with pytest.raises(TaskDefinitionError, match="input field 'split_names'"):

        @python.define
        class Bad:
            split_names: int

            @staticmethod
            def function(split_names: int) -> int:
                return split_names


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("echo <class>", "Echo: input field 'class' cannot be used: it is a Python keyword; rename it, e.g. 'class_'"),
        ("echo <cmdline>", "Echo: input field 'cmdline' cannot be used: every shell task has a member 'cmdline'"),
        ("echo <splitter:int>", "Echo: input field 'splitter' cannot be used"),
    ],
)  # fmt: skip
def test_a_shell_field_name_the_class_cannot_hold_is_refused(
    template: str, message: str
) -> None:
    with pytest.raises(TaskDefinitionError, match=re.escape(message)):
        shell.define(template)


def test_a_workflow_input_named_like_a_member_is_refused() -> None:
    def Flow(combiner: int) -> int:
        return workflow.add(Add(x=combiner)).out

    with pytest.raises(TaskDefinitionError, match="Flow: input field 'combiner'"):
        workflow.define(Flow)


def test_ordinary_names_still_work() -> None:
    @python.define(outputs=["type", "match"])
    def Fine(inputs: int, type_: int, case: int) -> tuple[int, int]:
        return inputs + type_, case

    assert Fine(inputs=1, type_=2, case=3)().type == 3


# --- depth ---------------------------------------------------------------------


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_an_input_nested_100000_deep_is_refused_with_a_hashing_error(
    cache_dir: Path,
) -> None:
    with pytest.raises(HashingError, match=r"field 'x'.*more than 100 deep") as info:
        with Submitter(cache_dir=cache_dir) as sub:
            sub(python.define(lambda x: 1, name="Deep")(x=_nested(100_000)))
    assert info.value.field == "x"
    assert _entries(cache_dir) == []


def test_values_nested_up_to_the_limit_hash_and_beyond_it_are_refused() -> None:
    hash_object(_nested(MAX_DEPTH - 1))
    with pytest.raises(HashingError):
        hash_object(_nested(MAX_DEPTH))
    # A cycle is no depth: it is a back-reference.
    loop: list[Any] = []
    loop.append(loop)
    hash_object(loop)
