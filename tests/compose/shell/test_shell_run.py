"""Running shell tasks for real: outputs, errors, caching, serial and cf workers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fileformats.generic import File

from pydra_lite import Submitter, TaskFailedError
from pydra_lite.compose import shell

Echo = shell.define("echo <text:str> -n<no_newline>", name="Echo")
Copy = shell.define(
    "cp <in_file:generic/file> <out|out_file:generic/file>", name="Copy"
)
Pwd = shell.define("pwd", name="Pwd")
Cat = shell.define("cat <path:str>", name="Cat")


def _count_lines(stdout: str) -> int:
    return len(stdout.splitlines())


def _size(out_file: File, output_dir: Path) -> int:
    assert Path(out_file).parent == output_dir
    return Path(out_file).stat().st_size


Lines = shell.define("cat <in_file:generic/file>", outputs={"lines": _count_lines})
SizedCopy = shell.define(
    "cp <in_file:generic/file> <out|out_file:generic/file>",
    outputs={"size": _size},
    name="SizedCopy",
)

WORKERS = [
    pytest.param(("serial", {}), id="serial"),
    pytest.param(("cf", {"n_procs": 2}), id="cf"),
]


def _run(
    worker: tuple[str, dict[str, Any]], cache_dir: Path, task: Any, **kw: Any
) -> Any:
    name, options = worker
    with Submitter(cache_dir=cache_dir, worker=name, **options) as sub:
        return sub(task, **kw)


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "in put.txt"
    path.write_text("one\ntwo\nthree\n")
    return path


@pytest.mark.parametrize("worker", WORKERS)
def test_stdout_stderr_and_return_code(worker: Any, cache_dir: Path) -> None:
    result = _run(worker, cache_dir, Echo(text="hello world"))
    assert result.outputs.stdout == "hello world\n"
    assert result.outputs.stderr == ""
    assert result.outputs.return_code == 0


@pytest.mark.parametrize("worker", WORKERS)
def test_output_file_is_written_in_the_output_directory(
    worker: Any, cache_dir: Path, text_file: Path
) -> None:
    result = _run(worker, cache_dir, Copy(in_file=text_file))
    out_file = result.outputs.out_file
    assert isinstance(out_file, File)
    assert Path(out_file) == result.output_dir / "out_file"
    assert Path(out_file).read_text() == text_file.read_text()


@pytest.mark.parametrize("worker", WORKERS)
def test_split_over_inputs_and_rerun_from_cache(
    worker: Any, cache_dir: Path, tmp_path: Path
) -> None:
    files = []
    for index in range(4):
        path = tmp_path / f"f{index}.txt"
        path.write_text("x\n" * (index + 1))
        files.append(path)
    task = Lines().split(in_file=files)
    first = _run(worker, cache_dir, task)
    assert first.outputs.lines == [1, 2, 3, 4]
    again = _run(worker, cache_dir, Lines().split(in_file=files))
    assert again.output_dir == first.output_dir
    assert all(state.cached for state in again.states)


def test_command_runs_in_its_output_directory_without_chdir(cache_dir: Path) -> None:
    before = os.getcwd()
    result = _run(("serial", {}), cache_dir, Pwd())
    assert Path(result.outputs.stdout.strip()) == result.output_dir
    assert os.getcwd() == before


def test_callable_output_gets_files_and_output_dir(
    cache_dir: Path, text_file: Path
) -> None:
    result = _run(("serial", {}), cache_dir, SizedCopy(in_file=text_file))
    assert result.outputs.size == len(text_file.read_bytes())


@pytest.mark.parametrize("worker", WORKERS)
def test_non_zero_exit_is_an_error_with_command_and_stderr(
    worker: Any, cache_dir: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no such file"
    result = _run(worker, cache_dir, Cat(path=str(missing)), raise_errors=False)
    assert result.errored
    error = json.loads(result.error_files[0].read_text())
    assert error["type"] == "CommandError"
    assert f"command: cat '{missing}'" in error["message"]
    assert "No such file or directory" in error["message"]
    assert "exited with code 1" in error["message"]


def test_failed_command_raises_task_failed_by_default(cache_dir: Path) -> None:
    Fail = shell.define("false", name="Fail")
    with pytest.raises(
        TaskFailedError, match="Fail: CommandError: Fail: command exited"
    ):
        _run(("serial", {}), cache_dir, Fail())


def test_failed_state_is_not_a_cache_hit(cache_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "later.txt"
    first = _run(("serial", {}), cache_dir, Cat(path=str(target)), raise_errors=False)
    assert first.errored
    target.write_text("now here\n")
    second = _run(("serial", {}), cache_dir, Cat(path=str(target)))
    assert second.outputs.stdout == "now here\n"


def test_missing_executable_says_which_and_path(cache_dir: Path) -> None:
    Missing = shell.define("pydra-lite-no-such-tool <a:int>", name="Missing")
    result = _run(("serial", {}), cache_dir, Missing(a=1), raise_errors=False)
    message = result.errors[0]["message"]
    assert "executable 'pydra-lite-no-such-tool' is not on PATH" in message
    assert result.errors[0]["type"] == "ExecutableNotFoundError"


def test_missing_output_file_is_named(cache_dir: Path) -> None:
    NoOutput = shell.define("true <out|result:generic/file>", name="NoOutput")
    result = _run(("serial", {}), cache_dir, NoOutput(), raise_errors=False)
    message = result.errors[0]["message"]
    assert "output 'result' was not written: expected 'result'" in message
    assert result.errors[0]["type"] == "OutputNotFoundError"


def test_fixed_name_output_written_by_the_tool(
    cache_dir: Path, text_file: Path
) -> None:
    Touch = shell.define(
        "touch made.txt",
        outputs={"made": shell.out(path_template="made.txt")},
        name="Touch",
    )
    result = _run(("serial", {}), cache_dir, Touch())
    assert Path(result.outputs.made) == result.output_dir / "made.txt"


def test_wrong_output_format_is_reported(cache_dir: Path, text_file: Path) -> None:
    Fake = shell.define("cp <in_file:file> <out|image:medimage/nifti-gz>", name="Fake")
    result = _run(
        ("serial", {}), cache_dir, Fake(in_file=text_file), raise_errors=False
    )
    assert "output 'image'" in result.errors[0]["message"]
    assert "is not a valid NiftiGz" in result.errors[0]["message"]


def _state_dirs(result: Any) -> list[Path]:
    return [state.output_dir for state in result.states]


def test_changing_one_value_reruns_only_that_state(cache_dir: Path) -> None:
    task = Echo().split(text=["a", "b", "c"])
    first = _run(("serial", {}), cache_dir, task)
    stamps = [(d / "_provenance.json").stat().st_mtime_ns for d in _state_dirs(first)]
    task.text[1] = "B"
    second = _run(("serial", {}), cache_dir, task)
    assert second.outputs.stdout == ["a\n", "B\n", "c\n"]
    before, after = _state_dirs(first), _state_dirs(second)
    assert [b == a for b, a in zip(before, after, strict=True)] == [True, False, True]
    assert (before[0] / "_provenance.json").stat().st_mtime_ns == stamps[0]
    assert (before[2] / "_provenance.json").stat().st_mtime_ns == stamps[2]
    assert second.output_dir != first.output_dir


def test_split_task_defined_in_a_function_runs_on_cf(cache_dir: Path) -> None:
    Wc = shell.define("wc -c <in_file:generic/file>", name="WcLocal")
    files = []
    for index in range(3):
        path = cache_dir.parent / f"w{index}.txt"
        path.write_text("y" * index)
        files.append(path)
    result = _run(("cf", {"n_procs": 2}), cache_dir, Wc().split(in_file=files))
    counts = [int(out.split()[0]) for out in result.outputs.stdout]
    assert counts == [0, 1, 2]
