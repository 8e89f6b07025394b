"""The Submitter with the serial worker: cache hits, misses, errors, read-only caches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pydra_lite import Submitter, TaskFailedError, TaskInputError, output_dir, python
from pydra_lite.compose.base import Task
from pydra_lite.engine.stores import PickleStore
from pydra_lite.errors import StoreError

CALLS: list[int] = []


@python.define
def Add(a: int, b: int = 1) -> int:
    CALLS.append(a)
    return a + b


@python.define
def Fail(x: int) -> int:
    raise ValueError(f"bad x={x}")


@python.define
def WrongOutput(x: int) -> int:
    return "not an int"  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def run(task: Task, cache_dir: Path, **options: object):  # type: ignore[no-untyped-def]
    with Submitter(cache_dir=cache_dir, **options) as sub:  # type: ignore[arg-type]
        return sub(task)


def test_calling_a_task_runs_it_in_the_default_cache(isolated_cache: Path) -> None:
    outputs = Add(a=1)()
    assert outputs.out == 2
    assert any(p.name.startswith("Add-") for p in isolated_cache.iterdir())


def test_second_run_is_a_cache_hit_in_the_same_directory(cache_dir: Path) -> None:
    first = run(Add(a=1), cache_dir)
    second = run(Add(a=1), cache_dir)
    assert CALLS == [1]
    assert (first.cached, second.cached) == (False, True)
    assert first.output_dir == second.output_dir
    assert first.output_dir.parent == cache_dir.absolute()
    assert first.output_dir.name.startswith("Add-")
    assert second.outputs.out == 2


def test_changed_input_runs_again_in_another_directory(cache_dir: Path) -> None:
    first = run(Add(a=1), cache_dir)
    second = run(Add(a=2), cache_dir)
    assert CALLS == [1, 2]
    assert first.output_dir != second.output_dir


def test_entry_holds_provenance(cache_dir: Path) -> None:
    result = run(Add(a=1), cache_dir)
    provenance = json.loads((result.output_dir / "_provenance.json").read_text())
    assert provenance["checksum"] == result.output_dir.name.split("-", 1)[1]
    assert set(provenance["inputs"]) == {"a", "b"}
    for key in ("operation_hash", "host", "user", "worker", "start", "end", "versions"):
        assert key in provenance


def test_failure_is_errored_with_a_readable_error_file(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir) as sub:
        result = sub(Fail(x=3), raise_errors=False)
    assert result.errored and result.outputs is None
    error = json.loads((result.output_dir / "_error.json").read_text())
    assert error["type"] == "ValueError"
    assert "bad x=3" in error["message"]
    assert "raise ValueError" in error["traceback"]
    assert not (result.output_dir / "_result.pkl").exists()


def test_failure_raises_naming_the_error_file(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir) as sub, pytest.raises(TaskFailedError) as info:
        sub(Fail(x=3))
    assert info.value.error_files[0].name == "_error.json"
    assert str(info.value.error_files[0]) in str(info.value)
    assert "bad x=3" in str(info.value)


def test_errored_entry_is_never_a_hit(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir) as sub:
        first = sub(Fail(x=1), raise_errors=False)
        second = sub(Fail(x=1), raise_errors=False)
    assert first.errored and second.errored and not second.cached
    assert first.output_dir == second.output_dir


def test_output_of_the_wrong_type_fails_the_state(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir) as sub:
        result = sub(WrongOutput(x=1), raise_errors=False)
    assert result.errored
    assert "WrongOutput.Outputs" in result.errors[0]["message"]
    assert "out" in result.errors[0]["message"]


def test_rerun_runs_a_cached_task_again(cache_dir: Path) -> None:
    run(Add(a=1), cache_dir)
    again = run(Add(a=1), cache_dir, rerun=True)
    assert CALLS == [1, 1] and not again.cached


def test_readonly_cache_is_searched_and_never_written(tmp_path: Path) -> None:
    shared, own = tmp_path / "shared", tmp_path / "own"
    run(Add(a=1), shared)
    before = sorted(p.name for p in shared.iterdir())
    with Submitter(cache_dir=own, readonly_caches=[shared]) as sub:
        hit = sub(Add(a=1))
        miss = sub(Add(a=5))
    assert CALLS == [1, 5]
    assert hit.cached and hit.output_dir.parent == shared
    assert miss.output_dir.parent == own.absolute()
    assert sorted(p.name for p in shared.iterdir()) == before


def test_wrong_input_type_creates_nothing_in_the_cache(cache_dir: Path) -> None:
    with pytest.raises(TaskInputError):
        run(Add(a="x"), cache_dir)  # type: ignore[arg-type]
    assert not cache_dir.exists()


def test_missing_mandatory_input_creates_nothing_in_the_cache(cache_dir: Path) -> None:
    with pytest.raises(TaskInputError, match="mandatory input 'a'"):
        run(Add(), cache_dir)
    assert not cache_dir.exists()


@python.define
def WriteFile(text: str) -> str:
    path = output_dir() / "note.txt"
    path.write_text(text)
    return str(path)


def test_python_task_writes_into_its_output_dir_without_chdir(cache_dir: Path) -> None:
    cwd = os.getcwd()
    result = run(WriteFile(text="hello"), cache_dir)
    assert os.getcwd() == cwd
    assert Path(result.outputs.out) == result.output_dir / "note.txt"
    assert (result.output_dir / "note.txt").read_text() == "hello"


def test_output_dir_outside_a_task_says_why() -> None:
    with pytest.raises(RuntimeError, match="only available while"):
        output_dir()


class RefusesThree(PickleStore):
    """A store that cannot hold the value 3."""

    def dump(self, path: str, checksum: str, outputs: dict[str, object]) -> None:
        if outputs.get("out") == 3:
            msg = f"{path}: this store cannot hold 3"
            raise StoreError(msg)
        super().dump(path, checksum, outputs)


def test_state_whose_result_cannot_be_written_is_errored_and_siblings_succeed(
    cache_dir: Path,
) -> None:
    task = Add(b=1).split(a=[1, 2, 3])
    with Submitter(cache_dir=cache_dir, store=RefusesThree()) as sub:
        result = sub(task, raise_errors=False)
    assert result.errored and [e["type"] for e in result.errors] == ["StoreError"]
    assert "cannot hold 3" in result.errors[0]["message"]
    assert result.error_files[0].exists()
    assert [s.errored for s in result.states] == [False, True, False]
    assert result.outputs.out == [2, None, 4]
