"""Workflows: lazy connections, nesting, splits inside graphs, the hash tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydra_lite import (
    ConnectionTypeError,
    StateError,
    Submitter,
    TaskFailedError,
    WorkflowError,
    python,
    workflow,
)
from pydra_lite.compose.workflow import build_workflow

RAN: list[str] = []


@python.define
def Add(a: int, b: int = 1) -> int:
    RAN.append(f"Add{a},{b}")
    return a + b


@python.define
def Mul(a: int, b: int = 2) -> int:
    RAN.append(f"Mul{a}")
    return a * b


@python.define
def Sum(xs: list[int]) -> int:
    RAN.append("Sum")
    return sum(xs)


@python.define
def Label(x: str) -> str:
    return x


@python.define
def FailOn3(a: int) -> int:
    if a == 3:
        raise ValueError("three")
    return a


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()


def run(task, cache_dir: Path, **kw):  # type: ignore[no-untyped-def]
    with Submitter(cache_dir=cache_dir) as sub:
        return sub(task, **kw)


@workflow.define(outputs=["total"])
def Pipeline(xs: list[int]) -> int:
    added = workflow.add(Add(b=10).split(a=xs).combine("a"))
    total = workflow.add(Sum(xs=added.out))
    return total.out


def test_split_combine_then_reduce(cache_dir: Path) -> None:
    result = run(Pipeline(xs=[1, 2, 3]), cache_dir)
    assert result.outputs.total == 36
    assert not result.cached


def test_warm_rerun_executes_nothing_and_keeps_its_directory(cache_dir: Path) -> None:
    first = run(Pipeline(xs=[1, 2, 3]), cache_dir)
    RAN.clear()
    second = run(Pipeline(xs=[1, 2, 3]), cache_dir)
    assert RAN == [] and second.cached
    assert second.output_dir == first.output_dir


def test_inherited_state_without_combine_gives_a_list(cache_dir: Path) -> None:
    @workflow.define
    def Chain(xs: list[int]) -> list[int]:
        added = workflow.add(Add().split(a=xs))
        doubled = workflow.add(Mul(a=added.out))
        return doubled.out

    assert run(Chain(xs=[1, 2, 3]), cache_dir).outputs.out == [4, 6, 8]


def test_combine_by_upstream_node_field(cache_dir: Path) -> None:
    @workflow.define
    def Grid(xs: list[int], ys: list[int]) -> list[list[int]]:
        added = workflow.add(Add().split(["a", "b"], a=xs, b=ys))
        summed = workflow.add(Mul(a=added.out).combine("Add.a"))
        return summed.out

    # Mul inherits (Add.a, Add.b); combining Add.a leaves one list per b.
    out = run(Grid(xs=[1, 2], ys=[10, 20, 30]), cache_dir).outputs.out
    assert out == [[22, 24], [42, 44], [62, 64]]


def test_editing_one_node_reruns_it_and_downstream_only(cache_dir: Path) -> None:
    @workflow.define
    def Three(x: int) -> int:
        a = workflow.add(Add(a=x), name="first")
        b = workflow.add(Add(a=a.out), name="second")
        c = workflow.add(Mul(a=b.out))
        return c.out

    assert run(Three(x=1), cache_dir).outputs.out == 6
    RAN.clear()

    # Same graph but the last node is new: upstream states are reused, not rerun.
    @workflow.define
    def ThreeEdited(x: int) -> int:
        a = workflow.add(Add(a=x), name="first")
        b = workflow.add(Add(a=a.out), name="second")
        c = workflow.add(Mul(a=b.out, b=3))
        return c.out

    assert run(ThreeEdited(x=1), cache_dir).outputs.out == 9
    assert RAN == ["Mul3"]


def test_nested_workflow_is_a_task_like_any_other(cache_dir: Path) -> None:
    @workflow.define
    def Inner(a: int) -> int:
        added = workflow.add(Add(a=a))
        return added.out

    @workflow.define
    def Outer(x: int) -> int:
        first = workflow.add(Mul(a=x))
        inner = workflow.add(Inner(a=first.out))
        last = workflow.add(Mul(a=inner.out), name="last")
        return last.out

    assert run(Outer(x=3), cache_dir).outputs.out == 14


def test_constructor_sees_concrete_values_and_may_loop(cache_dir: Path) -> None:
    @workflow.define
    def Repeat(x: int, times: int) -> int:
        out = x
        for i in range(times):
            out = workflow.add(Add(a=out), name=f"add{i}").out
        return out

    assert run(Repeat(x=0, times=4), cache_dir).outputs.out == 4


def test_workflow_split_at_the_top(cache_dir: Path) -> None:
    result = run(Pipeline().split(xs=[[1], [1, 2]]), cache_dir)
    assert result.outputs.total == [11, 23]


def test_connection_type_is_checked_when_made() -> None:
    @workflow.define
    def Bad(x: int) -> str:
        added = workflow.add(Add(a=x))
        label = workflow.add(Label(x=added.out))
        return label.out

    with pytest.raises(
        ConnectionTypeError, match=r"Add\.out \(int\) to Label\.x \(str\)"
    ):
        build_workflow(Bad(x=1))


def test_duplicate_node_name_says_how_to_fix() -> None:
    @workflow.define
    def Twice(x: int) -> int:
        workflow.add(Add(a=x))
        return workflow.add(Add(a=x)).out

    with pytest.raises(WorkflowError, match="name='Add_2'"):
        build_workflow(Twice(x=1))


def test_splitting_over_a_lazy_output_is_refused_clearly() -> None:
    @workflow.define
    def Lazy(x: int) -> int:
        added = workflow.add(Add(a=x))
        return workflow.add(Add().split(a=added.out)).out

    with pytest.raises(StateError, match="lazy output"):
        build_workflow(Lazy(x=1))


def test_failed_state_skips_dependants_and_siblings_are_cached(cache_dir: Path) -> None:
    @workflow.define
    def Fragile(xs: list[int]) -> list[int]:
        checked = workflow.add(FailOn3().split(a=xs))
        return workflow.add(Mul(a=checked.out)).out

    with Submitter(cache_dir=cache_dir) as sub:
        result = sub(Fragile(xs=[1, 3, 5]), raise_errors=False)
    assert result.errored and len(result.errors) == 1
    assert "three" in result.errors[0]["message"]
    assert [(s.node, s.state, s.upstream) for s in result.skipped] == [
        ("Mul", 1, "FailOn3")
    ]
    assert sorted(RAN) == ["Mul1", "Mul5"]
    with pytest.raises(TaskFailedError, match="three"):
        run(Fragile(xs=[1, 3, 5]), cache_dir)
    RAN.clear()
    fixed = run(Fragile(xs=[1, 4, 5]), cache_dir)
    assert fixed.outputs.out == [2, 8, 10] and RAN == ["Mul4"]
