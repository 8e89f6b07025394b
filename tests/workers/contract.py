"""The contract every worker passes: subclass WorkerContract and give ``worker``.

Each concrete worker's test module does::

    class TestMyWorker(WorkerContract):
        @pytest.fixture
        def worker(self):
            return "myworker", {"option": 1}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import Submitter, TaskFailedError, python, workflow


@python.define
def Inc(a: int) -> int:
    return a + 1


@python.define(outputs=["total", "product"])
def Pair(a: int, b: int) -> tuple[int, int]:
    return a + b, a * b


@python.define
def FailOdd(a: int) -> int:
    if a % 2:
        raise ValueError(f"odd {a}")
    return a


@python.define
def LockOnOne(a: int) -> Any:
    """Returns a lock, which no store can write, for ``a == 1``."""
    import threading

    return threading.Lock() if a == 1 else a


@python.define
def Pid(a: int) -> int:
    import os

    return os.getpid()


@python.define
def DieOnMarker(a: int, marker: str) -> int:
    """SIGKILLs the process it runs in for ``a == 1`` while ``marker`` exists."""
    import os
    import signal

    if a == 1 and os.path.exists(marker):
        os.kill(os.getpid(), signal.SIGKILL)
    return a


@python.define
def Add(a: int, b: int = 1) -> int:
    return a + b


@python.define
def Total(xs: list[int]) -> int:
    return sum(xs)


@workflow.define(outputs=["total", "added"])
def SplitCombine(xs: list[int]) -> tuple[int, list[int]]:
    added = workflow.add(Add(b=10).split(a=xs).combine("a"))
    total = workflow.add(Total(xs=added.out))
    return total.out, added.out


def entry_names(cache_dir: Path) -> list[str]:
    """The cache entries, without the bookkeeping (``.locks``, ``.slurm``)."""
    return sorted(name for name in os.listdir(cache_dir) if not name.startswith("."))


class WorkerContract:
    """Behaviour shared by every worker; results must equal the serial worker's."""

    @pytest.fixture
    def worker(self) -> tuple[Any, dict[str, Any]]:
        raise NotImplementedError

    def submit(
        self, worker: tuple[Any, dict[str, Any]], cache_dir: Path, task: Any, **kw: Any
    ):  # type: ignore[no-untyped-def]
        name, options = worker
        with Submitter(cache_dir=cache_dir, worker=name, **options) as sub:
            return sub(task, **kw)

    def dying(self, worker: tuple[Any, dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
        """The worker to run :class:`DieOnMarker` on (serial simulates the death)."""
        return worker

    def test_state_that_kills_its_process_is_errored_and_the_run_returns(
        self, worker, cache_dir: Path, tmp_path: Path
    ) -> None:  # type: ignore[no-untyped-def]
        """A lost batch is the engine's to settle: the killer is errored with its
        ``_error.json``, every other state is right or errored (never lost), the
        Submitter returns, and a rerun runs only what did not finish."""
        marker = tmp_path / "die"
        marker.touch()
        task = DieOnMarker(marker=str(marker)).split(a=list(range(6)))
        result = self.submit(self.dying(worker), cache_dir, task, raise_errors=False)
        assert result.errored and result.states[1].errored
        for a, state in enumerate(result.states):
            if state.errored:
                assert (state.output_dir / "_error.json").exists()
            else:
                assert state.outputs.out == a
        done_before = [not state.errored for state in result.states]
        marker.unlink()
        again = self.submit(worker, cache_dir, task)
        assert again.outputs.out == list(range(6))
        assert [state.cached for state in again.states] == done_before

    def test_single_task(self, worker, cache_dir: Path) -> None:  # type: ignore[no-untyped-def]
        result = self.submit(worker, cache_dir, Inc(a=1))
        assert result.outputs.out == 2 and not result.cached

    def test_split_matches_serial_in_order_and_directories(
        self, worker, tmp_path: Path
    ) -> None:  # type: ignore[no-untyped-def]
        task = Pair().split(["a", "b"], a=list(range(7)), b=[10, 20, 30])
        here = self.submit(worker, tmp_path / "w", task)
        serial = self.submit(("serial", {}), tmp_path / "s", task)
        assert here.outputs.total == serial.outputs.total
        assert here.outputs.product == serial.outputs.product
        assert here.output_dir.name == serial.output_dir.name
        assert [r.output_dir.name for r in here.states] == [
            r.output_dir.name for r in serial.states
        ]

    def test_second_run_is_cached(self, worker, cache_dir: Path) -> None:  # type: ignore[no-untyped-def]
        task = Inc().split(a=list(range(20)))
        first = self.submit(worker, cache_dir, task)
        second = self.submit(worker, cache_dir, task)
        assert second.cached and not first.cached
        assert second.outputs.out == list(range(1, 21))

    def test_failed_states_are_errored_and_siblings_cached(
        self, worker, cache_dir: Path
    ) -> None:  # type: ignore[no-untyped-def]
        task = FailOdd().split(a=list(range(6)))
        result = self.submit(worker, cache_dir, task, raise_errors=False)
        assert result.errored and len(result.errors) == 3
        assert sorted(e["message"] for e in result.errors) == [
            "odd 1",
            "odd 3",
            "odd 5",
        ]
        assert all(Path(f).exists() for f in result.error_files)
        siblings = result.states[0::2]
        assert [(r.errored, r.outputs.out) for r in siblings] == [
            (False, 0),
            (False, 2),
            (False, 4),
        ]
        again = self.submit(worker, cache_dir, task, raise_errors=False)
        assert [r.cached for r in again.states] == [True, False] * 3
        with pytest.raises(TaskFailedError, match="3 state"):
            self.submit(worker, cache_dir, task)

    def test_states_are_cached_only_when_found_in_the_cache(
        self, worker, cache_dir: Path
    ) -> None:  # type: ignore[no-untyped-def]
        """``states[i].cached``: True only for the states this run did not execute."""
        self.submit(worker, cache_dir, Inc().split(a=[0, 2]))
        result = self.submit(worker, cache_dir, Inc().split(a=[0, 1, 2, 3]))
        assert [r.cached for r in result.states] == [True, False, True, False]
        assert not result.cached
        assert result.outputs.out == [1, 2, 3, 4]

    def test_state_whose_outputs_cannot_be_stored_is_errored_alone(
        self, worker, cache_dir: Path
    ) -> None:  # type: ignore[no-untyped-def]
        task = LockOnOne().split(a=[0, 1, 2])
        result = self.submit(worker, cache_dir, task, raise_errors=False)
        assert result.errored and len(result.errors) == 1
        assert result.errors[0]["type"] == "StoreError"
        assert result.error_files[0].exists()
        assert [r.errored for r in result.states] == [False, True, False]
        assert [result.states[i].outputs.out for i in (0, 2)] == [0, 2]

    def test_workflow_with_split_and_combine_matches_serial(
        self, worker, tmp_path: Path
    ) -> None:  # type: ignore[no-untyped-def]
        task = SplitCombine(xs=[1, 2, 3, 4, 5])
        here = self.submit(worker, tmp_path / "w", task)
        serial = self.submit(("serial", {}), tmp_path / "s", task)
        assert here.outputs.total == serial.outputs.total == 65
        assert here.outputs.added == serial.outputs.added == [11, 12, 13, 14, 15]
        assert here.output_dir.name == serial.output_dir.name
        assert entry_names(tmp_path / "w") == entry_names(tmp_path / "s")
