"""Shell tasks with the rest of the system: the cf process pool, workflows that
mix them with python tasks (files passed both ways, splits), and their errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import (
    File,
    Submitter,
    TaskFailedError,
    output_dir,
    python,
    shell,
    workflow,
)

WORKERS = [
    pytest.param(("serial", {}), id="serial"),
    pytest.param(("cf", {"n_procs": 2}), id="cf"),
]

Sort = shell.define(
    "sort -n <in_file:generic/file> -o <out|sorted_file:generic/file>", name="Sort"
)
Copy = shell.define(
    "cp <in_file:generic/file> <out|out_file:generic/file>", name="Copy"
)
Echo = shell.define("echo <text:str>", name="Echo")
CatPath = shell.define("cat <path:str>", name="CatPath")
Grep = shell.define("grep <pattern:str> <in_file:generic/file>", name="Grep")
Missing = shell.define("pydra-lite-no-such-tool <in_file:generic/file>")


@python.define
def WriteNumbers(n: int) -> File:
    """Numbers n, n-1, ..., 1, one a line, in a file of the task's directory."""
    path = output_dir() / f"numbers{n}.txt"
    path.write_text("".join(f"{i}\n" for i in range(n, 0, -1)))
    return File(path)


@python.define
def ReadNumbers(in_file: File) -> list[int]:
    return [int(line) for line in Path(in_file).read_text().split()]


@python.define
def CountLines(text: str) -> int:
    return len(text.splitlines())


@workflow.define
def SortAll(ns: list[int]) -> list[list[int]]:
    written = workflow.add(WriteNumbers().split(n=ns))
    ordered = workflow.add(Sort(in_file=written.out))
    read = workflow.add(ReadNumbers(in_file=ordered.sorted_file))
    return read.out


def _run(worker: tuple[str, dict[str, Any]], cache_dir: Path, task: Any, **kw: Any):  # type: ignore[no-untyped-def]
    name, options = worker
    with Submitter(cache_dir=cache_dir, worker=name, **options) as sub:
        return sub(task, **kw)


def _inputs(tmp_path: Path, count: int) -> list[Path]:
    paths = []
    for index in range(count):
        path = tmp_path / "in" / f"f{index}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"line {index}\n" * (index + 1))
        paths.append(path)
    return paths


# --- the cf worker --------------------------------------------------------------


def test_cf_gives_the_same_results_and_directories_as_serial(tmp_path: Path) -> None:
    """Same checksums (directory names), same stdout, same file contents."""
    paths = _inputs(tmp_path, 5)
    results = {
        name: _run(worker, tmp_path / name, Copy().split(in_file=paths))
        for name, worker in (("serial", ("serial", {})), ("cf", ("cf", {"n_procs": 2})))
    }
    serial, cf = results["serial"], results["cf"]
    assert cf.output_dir.name == serial.output_dir.name
    names = [[state.output_dir.name for state in r.states] for r in (serial, cf)]
    assert names[0] == names[1] and len(set(names[0])) == 5
    texts = [[Path(f).read_text() for f in r.outputs.out_file] for r in (serial, cf)]
    assert texts[0] == texts[1] == [p.read_text() for p in paths]
    assert [Path(f).parent for f in cf.outputs.out_file] == [
        state.output_dir for state in cf.states
    ]


def test_cf_stdout_of_a_split_matches_serial(tmp_path: Path) -> None:
    words = [f"word {i}" for i in range(7)]
    serial = _run(("serial", {}), tmp_path / "s", Echo().split(text=words))
    cf = _run(("cf", {"n_procs": 2}), tmp_path / "c", Echo().split(text=words))
    assert cf.outputs.stdout == serial.outputs.stdout == [f"{w}\n" for w in words]
    assert cf.outputs.return_code == [0] * 7


# --- workflows --------------------------------------------------------------------


@pytest.mark.parametrize("worker", WORKERS)
def test_python_file_to_shell_to_python_in_a_split(
    worker: Any, cache_dir: Path
) -> None:
    """A python task's File feeds a shell task whose output File feeds python,
    per state of a split made inside the workflow."""
    result = _run(worker, cache_dir, SortAll(ns=[3, 5, 1]))
    assert result.outputs.out == [[1, 2, 3], [1, 2, 3, 4, 5], [1]]


@pytest.mark.parametrize("worker", WORKERS)
def test_mixed_workflow_reruns_from_the_cache(worker: Any, cache_dir: Path) -> None:
    first = _run(worker, cache_dir, SortAll(ns=[2, 4]))
    second = _run(worker, cache_dir, SortAll(ns=[2, 4]))
    assert second.cached and not first.cached
    assert second.output_dir == first.output_dir
    assert second.outputs.out == first.outputs.out == [[1, 2], [1, 2, 3, 4]]


def test_shell_file_consumed_by_python_then_combined(cache_dir: Path) -> None:
    @workflow.define
    def CountLines(ns: list[int]) -> list[int]:
        written = workflow.add(WriteNumbers().split(n=ns))
        copied = workflow.add(Copy(in_file=written.out))
        read = workflow.add(
            ReadNumbers(in_file=copied.out_file).combine("WriteNumbers.n")
        )
        total = workflow.add(Lengths(lists=read.out))
        return total.out

    assert _run(("serial", {}), cache_dir, CountLines(ns=[2, 3])).outputs.out == [2, 3]


@python.define
def Lengths(lists: list[list[int]]) -> list[int]:
    return [len(item) for item in lists]


def test_shell_output_passed_to_a_python_task_is_the_shell_node_file(
    cache_dir: Path,
) -> None:
    @workflow.define
    def CopyThenRead(n: int) -> list[int]:
        written = workflow.add(WriteNumbers(n=n))
        copied = workflow.add(Copy(in_file=written.out))
        read = workflow.add(ReadNumbers(in_file=copied.out_file))
        return read.out

    result = _run(("serial", {}), cache_dir, CopyThenRead(n=3))
    assert result.outputs.out == [3, 2, 1]
    copies = list(cache_dir.glob("Copy-*/out_file"))
    assert len(copies) == 1 and copies[0].read_text() == "3\n2\n1\n"


# --- errors ------------------------------------------------------------------------


@pytest.mark.parametrize("worker", WORKERS)
def test_missing_executable_fails_the_state_and_names_the_tool(
    worker: Any, cache_dir: Path, tmp_path: Path
) -> None:
    (path,) = _inputs(tmp_path, 1)
    with pytest.raises(TaskFailedError, match="ExecutableNotFoundError") as info:
        _run(worker, cache_dir, Missing(in_file=path))
    record = json.loads(info.value.error_files[0].read_text())
    assert record["type"] == "ExecutableNotFoundError"
    assert "'pydra-lite-no-such-tool' is not on PATH" in record["message"]


@pytest.mark.parametrize("worker", WORKERS)
def test_non_zero_exit_records_command_line_and_stderr(
    worker: Any, cache_dir: Path, tmp_path: Path
) -> None:
    """One state of a split fails: its _error.json holds the command line and
    what the tool wrote on stderr; the other states succeed."""
    paths = _inputs(tmp_path, 3)
    gone = tmp_path / "in" / "gone.txt"
    task = CatPath().split(path=[str(paths[0]), str(gone), str(paths[2])])
    result = _run(worker, cache_dir, task, raise_errors=False)
    assert result.errored and len(result.errors) == 1
    record = json.loads(result.error_files[0].read_text())
    assert record["type"] == "CommandError"
    assert f"command: cat {gone}\n" in record["message"]
    assert f"cat: {gone}: No such file or directory" in record["message"]
    assert "exited with code 1" in record["message"]
    ok = [state for state in result.states if not state.errored]
    assert [s.outputs.stdout for s in ok] == [
        p.read_text() for p in (paths[0], paths[2])
    ]


@pytest.mark.parametrize("worker", WORKERS)
def test_failing_shell_state_skips_its_python_dependant_only(
    worker: Any, cache_dir: Path
) -> None:
    """grep exits 1 when nothing matches: that state's count is skipped, the
    other state's python dependant runs."""

    @workflow.define
    def Matches(n: int, patterns: list[str]) -> int:
        written = workflow.add(WriteNumbers(n=n))
        found = workflow.add(Grep(in_file=written.out).split(pattern=patterns))
        counted = workflow.add(CountLines(text=found.stdout))
        return counted.out

    task = Matches(n=12, patterns=["1", "x"])
    result = _run(worker, cache_dir, task, raise_errors=False)
    assert result.errored and len(result.errors) == 1
    assert result.errors[0]["type"] == "CommandError"
    assert "command: grep x " in result.errors[0]["message"]
    assert [(s.node, s.upstream) for s in result.skipped] == [("CountLines", "Grep")]
    counts = _run(worker, cache_dir, Matches(n=12, patterns=["1"])).outputs.out
    assert counts == [4]  # 1, 10, 11, 12


Truncate = shell.define("truncate -s 0 <in_file:generic/file>", name="Truncate")


def test_a_command_that_empties_its_input_file_fails(
    cache_dir: Path, tmp_path: Path
) -> None:
    (path,) = _inputs(tmp_path, 1)
    result = _run(("serial", {}), cache_dir, Truncate(in_file=path), raise_errors=False)
    assert result.errors[0]["type"] == "InputModifiedError"
    assert "input 'in_file'" in result.errors[0]["message"]


@pytest.mark.parametrize("worker", WORKERS)
def test_a_command_that_empties_an_upstream_file_fails_in_a_workflow(
    worker: Any, cache_dir: Path
) -> None:
    """A file received from a python node is checked by its contents too (its
    digest in the checksum is the upstream key, not the contents)."""

    @workflow.define
    def Spoil(n: int) -> str:
        written = workflow.add(WriteNumbers(n=n))
        spoiled = workflow.add(Truncate(in_file=written.out))
        return spoiled.stdout

    result = _run(worker, cache_dir, Spoil(n=3), raise_errors=False)
    assert [error["type"] for error in result.errors] == ["InputModifiedError"]
    assert result.errors[0]["task"] == "Truncate"
