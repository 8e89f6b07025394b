"""Nodes: fast state checksums equal the reference ones; the split key tracks every value."""

from __future__ import annotations

from typing import Any

import pytest

from pydra_lite import python
from pydra_lite.engine.node import Node, state_checksum


@python.define(outputs=["out"])
def Mix(a: int, b: str = "b", c: float = 1.0, z: int = 0) -> int:
    return a


SPLITS: list[Any] = [
    Mix(b="q").split(a=[1, 2, 3]),
    Mix(c=2.0).split(["a", "b", "z"], a=[1, 2], b=["x", "y", "w"], z=[5, 6]),
    Mix(c=1.5).split(("a", "b"), a=[1, 2], b=["u", "v"]),
    Mix(a=1).split(z=[7, 8]),
    Mix(a=1, b="one state"),
]


@pytest.mark.parametrize("task", SPLITS, ids=["one", "outer", "zip", "last", "none"])
def test_fast_checksums_equal_the_reference_digest(task: Any) -> None:
    node = Node(task)
    reference = [
        state_checksum(node.task_class, node._state_digests(index))
        for index in node.state.indices()
    ]
    assert node.checksums() == reference
    assert [job.checksum for job in node.jobs()] == reference


def test_split_key_is_stable_and_changes_with_any_value() -> None:
    def key(**values: Any) -> str:
        return Node(Mix(b="q").split(**values)).split_checksum()

    base = key(a=[1, 2, 3])
    assert key(a=[1, 2, 3]) == base
    assert key(a=[1, 2, 4]) != base
    assert key(a=[1, 3, 2]) != base
    assert key(a=[1, 2]) != base
    assert Node(Mix(b="r").split(a=[1, 2, 3])).split_checksum() != base


def test_split_key_changes_with_the_splitter_and_combiner() -> None:
    outer = Mix().split(["a", "z"], a=[1, 2], z=[3, 4])
    zipped = Mix().split(("a", "z"), a=[1, 2], z=[3, 4])
    combined = outer.combine("a")
    keys = {Node(t).split_checksum() for t in (outer, zipped, combined)}
    assert len(keys) == 3


def test_jobs_carry_each_states_inputs_and_digests() -> None:
    node = Node(Mix(b="q").split(["a", "z"], a=[1, 2], z=[3, 4]))
    jobs = list(node.jobs())
    assert [(j.inputs["a"], j.inputs["z"]) for j in jobs] == [
        (1, 3),
        (1, 4),
        (2, 3),
        (2, 4),
    ]
    assert all(
        j.inputs["b"] == "q" and set(j.input_digests) >= {"a", "b"} for j in jobs
    )
