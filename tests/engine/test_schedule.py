"""Scheduling of workflow states: no barriers, split workflows run together.

The ordering tests use a handshake instead of durations: a state waits for a
file that only another state can write. If the scheduler put a barrier between
them, the waiting state would give up after ``PATIENCE`` seconds and the
recorded order would be wrong, so a pass never depends on the machine's speed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pydra_lite import Submitter, python, workflow
from pydra_lite.engine.cache import Cache
from pydra_lite.engine.stores import PickleStore

PATIENCE = 60.0
RAN: list[str] = []


def _log(path: str, line: str) -> None:
    with open(path, "a") as stream:
        stream.write(line + "\n")


@python.define
def WaitFor(a: int, signal: str, log: str) -> int:
    """State ``a == 0`` waits until ``signal`` exists; the others return at once."""
    if a == 0:
        deadline = time.monotonic() + PATIENCE
        while not os.path.exists(signal) and time.monotonic() < deadline:
            time.sleep(0.01)
        _log(log, "waiting state done")
    return a


@python.define
def Signal(a: int, signal: str, log: str) -> int:
    """State ``a == 1`` logs, then writes ``signal``."""
    if a == 1:
        _log(log, "signalling state done")
        Path(signal).touch()
    return a * 10


@python.define
def Add(a: int, b: int = 1) -> int:
    RAN.append(f"Add{a},{b}")
    return a + b


@python.define
def Sum(xs: list[int]) -> int:
    return sum(xs)


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()


def _order(log: Path) -> list[str]:
    return log.read_text().splitlines()


def test_dependant_starts_before_its_slow_upstream_sibling_ends(
    tmp_path: Path,
) -> None:
    """Signal's state 1 needs WaitFor's state 1 only, not the whole split."""

    @workflow.define
    def Fork(signal: str, log: str) -> list[int]:
        up = workflow.add(WaitFor(signal=signal, log=log).split(a=[0, 1]))
        return workflow.add(Signal(a=up.out, signal=signal, log=log)).out

    log, signal = tmp_path / "log", tmp_path / "signal"
    with Submitter(cache_dir=tmp_path / "cache", worker="cf", n_procs=2) as sub:
        result = sub(Fork(signal=str(signal), log=str(log)))
    assert result.outputs.out == [0, 10]
    assert _order(log) == ["signalling state done", "waiting state done"]


@workflow.define
def Handshake(a: int, signal: str, log: str) -> int:
    waited = workflow.add(WaitFor(a=a, signal=signal, log=log))
    return workflow.add(Signal(a=waited.out, signal=signal, log=log)).out


def test_states_of_a_split_workflow_run_together_on_cf(tmp_path: Path) -> None:
    """State 0's graph can only finish once state 1's graph has run."""
    log, signal = tmp_path / "log", tmp_path / "signal"
    task = Handshake(signal=str(signal), log=str(log)).split(a=[0, 1])
    with Submitter(cache_dir=tmp_path / "cache", worker="cf", n_procs=2) as sub:
        result = sub(task)
    assert result.outputs.out == [0, 10]
    assert _order(log) == ["signalling state done", "waiting state done"]
    assert [state.cached for state in result.states] == [False, False]


@workflow.define(outputs=["total", "each"])
def Pipeline(xs: list[int], b: int) -> tuple[int, list[int]]:
    added = workflow.add(Add(b=b).split(a=xs).combine("a"))
    total = workflow.add(Sum(xs=added.out))
    return total.out, added.out


def test_split_workflow_on_cf_gives_what_serial_gives(tmp_path: Path) -> None:
    task = Pipeline().split(["xs", "b"], xs=[[1, 2], [3], [4, 5, 6]], b=[0, 10])
    results = {}
    for worker, options in (("serial", {}), ("cf", {"n_procs": 2})):
        with Submitter(cache_dir=tmp_path / worker, worker=worker, **options) as sub:
            results[worker] = sub(task)
    cf, serial = results["cf"], results["serial"]
    assert cf.outputs.total == serial.outputs.total == [3, 23, 3, 13, 15, 45]
    assert cf.outputs.each == serial.outputs.each
    names = [[s.output_dir.name for s in r.states] for r in (cf, serial)]
    assert names[0] == names[1]


def test_the_same_state_in_two_workflow_states_runs_once(cache_dir: Path) -> None:
    @workflow.define
    def Shared(x: int) -> int:
        common = workflow.add(Add(a=100), name="common")
        return workflow.add(Add(a=common.out, b=x), name="own").out

    with Submitter(cache_dir=cache_dir) as sub:
        result = sub(Shared().split(x=[1, 2, 3]))
    assert result.outputs.out == [102, 103, 104]
    assert RAN.count("Add100,1") == 1


def test_a_failed_state_fails_only_its_own_workflow_state(cache_dir: Path) -> None:
    @python.define
    def FailOn2(a: int) -> int:
        if a == 2:
            raise ValueError("two")
        return a

    @workflow.define
    def Fragile(x: int) -> int:
        return workflow.add(Add(a=workflow.add(FailOn2(a=x)).out)).out

    with Submitter(cache_dir=cache_dir) as sub:
        result = sub(Fragile().split(x=[1, 2, 3]), raise_errors=False)
    assert result.errored and len(result.errors) == 1
    assert [state.errored for state in result.states] == [False, True, False]
    assert result.outputs.out == [2, None, 4]
    assert [s.upstream for s in result.states[1].skipped] == ["FailOn2"]
    assert [s.workflow_state for s in result.skipped] == [1]


@workflow.define
def Chain(x: int) -> int:
    out = x
    for i in range(5):
        out = workflow.add(Add(a=out), name=f"n{i}").out
    return out


def test_rerun_without_the_workflow_entry_loads_only_the_last_node(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checksums chain through the graph, so no upstream result is read."""
    with Submitter(cache_dir=cache_dir) as sub:
        first = sub(Chain(x=0))
    for child in first.output_dir.iterdir():
        child.unlink()
    first.output_dir.rmdir()
    loaded: list[str] = []
    real_load = Cache.load

    def counting_load(self: Cache, task_name: str, checksum: str, known=None):  # type: ignore[no-untyped-def]
        loaded.append(task_name)
        return real_load(self, task_name, checksum, known)

    monkeypatch.setattr(Cache, "load", counting_load)
    RAN.clear()
    with Submitter(cache_dir=cache_dir) as sub:
        second = sub(Chain(x=0))
    assert second.outputs.out == 5 and second.cached and RAN == []
    assert loaded == ["Chain", "Add"]


def test_a_cold_run_reads_no_node_result_file(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One scan of the root says no node entry exists: no failed read per node."""
    read: list[str] = []
    real_load = PickleStore.load

    def spying_load(self: PickleStore, path: str, checksum: str):  # type: ignore[no-untyped-def]
        read.append(Path(path).parent.name.split("-")[0])
        return real_load(self, path, checksum)

    monkeypatch.setattr(PickleStore, "load", spying_load)
    with Submitter(cache_dir=cache_dir) as sub:
        result = sub(Chain(x=0))
    assert result.outputs.out == 5 and len(RAN) == 5
    assert read == ["Chain"]  # the workflow's own entry only


def test_warm_rerun_needs_no_node_entry_at_all(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir) as sub:
        first = sub(Chain(x=0))
    for entry in cache_dir.glob("Add-*"):
        for child in entry.iterdir():
            child.unlink()
        entry.rmdir()
    RAN.clear()
    with Submitter(cache_dir=cache_dir) as sub:
        second = sub(Chain(x=0))
    assert second.outputs.out == 5 and second.cached and RAN == []
    assert second.output_dir == first.output_dir


def test_a_side_effect_sink_counts_in_the_workflow_checksum(cache_dir: Path) -> None:
    """A node nothing reads and the workflow does not return still reruns."""

    def side(b: int):  # type: ignore[no-untyped-def]
        @workflow.define
        def WithSide(x: int) -> int:
            workflow.add(Add(a=x, b=b), name="side")
            return workflow.add(Add(a=x), name="main").out

        return WithSide

    with Submitter(cache_dir=cache_dir) as sub:
        sub(side(5)(x=1))
        RAN.clear()
        again = sub(side(6)(x=1))
    assert again.outputs.out == 2
    assert RAN == ["Add1,6"]
