"""Output paths stay inside the task's entry: rendered templates, given names,
split states and workflow connections are checked before any command runs.

Each escaping scenario runs real commands (``install -D``, ``touch``, ``cp``)
and first asserts that no file appeared outside the cache entries: on code
without the check, that assertion names the file the command wrote there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import File, Submitter, python, shell, workflow
from pydra_lite.compose.shell import PathTemplateError, TemplateError

# ``env SUBJECT=...`` passes the name to the tool, as a real wrapper would; the
# output file is named after it. ``install -D`` makes the leading directories.
Stamp = shell.define(
    "env SUBJECT=<name:str> install -D <in_file:generic/file> "
    "<out|dest:generic/file${name}>",
    name="Stamp",
)
Copy = shell.define(
    "cp <in_file:generic/file> <out|out_file:generic/file>", name="CopyNamed"
)
CopyAfter = shell.define(
    "cp <in_file:generic/file> <out|out_file:generic/file${in_file}>",
    name="CopyAfter",
)
TouchMade = shell.define(
    "env SUBJECT=<name:str> touch made",
    outputs={"made": shell.out(path_template="{name}")},
    name="TouchMade",
)

WORKERS = [
    pytest.param(("serial", {}), id="serial"),
    pytest.param(("cf", {"n_procs": 2}), id="cf"),
]


def _run(cache_dir: Path, task: Any, worker: str = "serial", **kw: Any) -> Any:
    options = {"n_procs": 2} if worker == "cf" else {}
    with Submitter(cache_dir=cache_dir, worker=worker, **options) as sub:
        return sub(task, **kw)


def _attempt(action: Callable[[], Any]) -> Exception | None:
    """The exception ``action`` raised, or None."""
    try:
        action()
    except Exception as exc:  # compared by the test
        return exc
    return None


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def _outside_entries(root: Path, cache_dir: Path, before: set[Path]) -> list[str]:
    """Files new under ``root`` that are not inside a cache entry."""

    def in_entry(path: Path) -> bool:  # or the cache's lock file
        if not path.is_relative_to(cache_dir):
            return False
        parts = path.relative_to(cache_dir).parts
        return len(parts) > 1 or parts[0] == ".locks"

    new = _files(root) - before
    return sorted(
        str(p.relative_to(root))
        for p in new
        if not in_entry(p) and not p.name.startswith("hash-memo")
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "scan.txt"
    path.parent.mkdir()
    path.write_text("data\n")
    return path


# --- a template rendered from an input -----------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        pytest.param("../../x", "has a '..' component", id="climbs-out"),
        pytest.param("{tmp}/abs", "is an absolute path", id="absolute"),
        pytest.param("a/../../b", "has a '..' component", id="dotdot-in-the-middle"),
    ],
)
def test_template_from_a_name_that_escapes_is_refused_before_running(
    tmp_path: Path, cache_dir: Path, source: Path, name: str, problem: str
) -> None:
    name = name.format(tmp=tmp_path)
    before = _files(tmp_path)
    error = _attempt(lambda: _run(cache_dir, Stamp(in_file=source, name=name)))
    assert _outside_entries(tmp_path, cache_dir, before) == []
    assert isinstance(error, PathTemplateError), error
    message = str(error)
    assert message.startswith(f"Stamp: output 'dest' would be written at {name!r}")
    assert problem in message
    assert f"the path template '{{name}}' with the input name={name!r}" in message
    assert "pass a file name, not a path" in message
    assert not cache_dir.exists()  # refused when built: no entry, nothing cached


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param(".", id="the-directory-itself"),
        pytest.param("a\nb", id="newline"),
        pytest.param("a\x00b", id="nul"),
    ],
)
def test_template_rendering_to_no_usable_file_name_is_refused(
    source: Path, name: str
) -> None:
    with pytest.raises(PathTemplateError, match="output 'dest' would be written at"):
        Stamp(in_file=source, name=name)


def test_a_name_changed_after_building_is_refused_by_cmdline_and_submit(
    tmp_path: Path, cache_dir: Path, source: Path
) -> None:
    task = Stamp(in_file=source, name="fine")
    task.name = "../../late"
    before = _files(tmp_path)
    error = _attempt(lambda: _run(cache_dir, task))
    assert _outside_entries(tmp_path, cache_dir, before) == []
    assert isinstance(error, PathTemplateError), error
    with pytest.raises(PathTemplateError, match="'../../late'"):
        _ = task.cmdline


def test_a_given_output_name_is_refused_when_the_task_is_built(source: Path) -> None:
    with pytest.raises(PathTemplateError, match=r"the input out_file='\.\./up\.txt'"):
        Copy(in_file=source, out_file="../up.txt")


def test_an_output_the_tool_writes_at_a_template_from_an_input(
    tmp_path: Path, cache_dir: Path
) -> None:
    """``shell.out(path_template=...)``: not on the command line, checked alike,
    so that no path outside the entry is read back and cached."""
    outside = tmp_path / "elsewhere"
    outside.write_text("not the task's\n")
    before = _files(tmp_path)
    error = _attempt(lambda: _run(cache_dir, TouchMade(name="../../elsewhere")))
    assert _outside_entries(tmp_path, cache_dir, before) == []
    assert isinstance(error, PathTemplateError), error
    assert "output 'made'" in str(error)
    assert not cache_dir.exists()


# --- a template rendered from a file input's name -------------------------------


def test_a_file_name_whose_stem_is_dotdot_is_refused(
    tmp_path: Path, cache_dir: Path
) -> None:
    """``...txt`` has the stem ``..``: ``{in_file}`` would name the parent."""
    odd = tmp_path / "in" / "...txt"
    odd.parent.mkdir()
    odd.write_text("data\n")
    before = _files(tmp_path)
    error = _attempt(lambda: _run(cache_dir, CopyAfter(in_file=odd)))
    assert _outside_entries(tmp_path, cache_dir, before) == []
    assert isinstance(error, PathTemplateError), error
    assert "the path template '{in_file}' with the input in_file=" in str(error)


def test_a_file_name_template_still_names_the_output_in_the_entry(
    cache_dir: Path, source: Path
) -> None:
    result = _run(cache_dir, CopyAfter(in_file=source))
    assert Path(result.outputs.out_file) == result.output_dir / "scan"
    assert Path(result.outputs.out_file).read_text() == "data\n"


def test_valid_names_still_work_including_a_subdirectory(
    tmp_path: Path, cache_dir: Path, source: Path
) -> None:
    before = _files(tmp_path)
    task = Stamp(in_file=source).split(name=["plain.txt", "sub/dir/x.txt", "./y"])
    result = _run(cache_dir, task)
    assert _outside_entries(tmp_path, cache_dir, before) == []
    paths = [Path(f) for f in result.outputs.dest]
    dirs = [state.output_dir for state in result.states]
    assert paths == [dirs[0] / "plain.txt", dirs[1] / "sub/dir/x.txt", dirs[2] / "y"]
    assert all(path.read_text() == "data\n" for path in paths)


# --- splits -------------------------------------------------------------------------


def test_one_bad_state_refuses_the_whole_split_when_it_is_made(
    tmp_path: Path, cache_dir: Path, source: Path
) -> None:
    before = _files(tmp_path)
    names = ["ok", "../../two", "fine"]
    error = _attempt(lambda: _run(cache_dir, Stamp(in_file=source).split(name=names)))
    assert _outside_entries(tmp_path, cache_dir, before) == []
    assert isinstance(error, PathTemplateError), error
    assert "'../../two'" in str(error)
    assert not cache_dir.exists()  # no state ran, not even the good ones


def test_a_split_over_given_output_names_is_refused_when_it_is_made(
    source: Path,
) -> None:
    with pytest.raises(PathTemplateError, match="'/tmp/b.txt', which is an absolute"):
        Copy(in_file=source).split(out_file=["a.txt", "/tmp/b.txt"])


# --- workflows ---------------------------------------------------------------------


@python.define
def Subject(name: str) -> str:
    return name


@workflow.define
def StampSubjects(in_file: File, names: list[str]) -> list[File]:
    subject = workflow.add(Subject().split(name=names))
    stamped = workflow.add(Stamp(in_file=in_file, name=subject.out))
    return stamped.dest


@pytest.mark.parametrize("worker", WORKERS)
def test_a_lazy_name_fails_its_state_only_and_nothing_is_cached(
    worker: Any, tmp_path: Path, cache_dir: Path, source: Path
) -> None:
    """The name is known when the upstream state ran: the shell state is
    refused before its process starts, its siblings run."""
    (kind, _), names = worker, ["ok", "../../two", "fine"]
    before = _files(tmp_path)
    task = StampSubjects(in_file=source, names=names)
    result = _run(cache_dir, task, kind, raise_errors=False)
    assert _outside_entries(tmp_path, cache_dir, before) == []
    assert result.errored and [e["type"] for e in result.errors] == [
        "PathTemplateError"
    ]
    record = json.loads(result.error_files[0].read_text())
    assert record["task"] == "Stamp"
    assert "output 'dest' would be written at '../../two'" in record["message"]
    assert "with the input name='../../two'" in record["message"]
    errored = Path(record["output_dir"])
    assert sorted(p.name for p in errored.iterdir()) == ["_error.json"]
    stamped = sorted(p.name for p in cache_dir.glob("Stamp-*/*") if p.name[0] != "_")
    assert stamped == ["fine", "ok"]
    again = _run(cache_dir, task, kind, raise_errors=False)  # an error is no hit
    assert [e["type"] for e in again.errors] == ["PathTemplateError"]


def test_a_concrete_bad_name_in_a_workflow_is_refused_when_it_is_built(
    tmp_path: Path, cache_dir: Path, source: Path
) -> None:
    @workflow.define
    def StampOne(in_file: File, name: str) -> File:
        stamped = workflow.add(Stamp(in_file=in_file, name=name))
        return stamped.dest

    before = _files(tmp_path)
    task = StampOne(in_file=source, name="../../one")
    error = _attempt(lambda: _run(cache_dir, task))
    assert _outside_entries(tmp_path, cache_dir, before) == []
    assert isinstance(error, PathTemplateError), error
    assert not cache_dir.exists()


# --- templates that escape whatever the inputs ------------------------------------


@pytest.mark.parametrize("template", ["/tmp/log.txt", "../{name}", "/var/{name}"])
def test_a_template_that_always_escapes_is_refused_when_defined(
    template: str,
) -> None:
    with pytest.raises(PathTemplateError, match="whatever the inputs"):
        shell.define(
            "env SUBJECT=<name:str> touch made",
            outputs={"log": shell.out(path_template=template)},
        )


def test_a_callable_path_template_is_refused_when_defined() -> None:
    with pytest.raises(TemplateError, match="must be a str.format string"):
        shell.define(
            "cp <in_file:generic/file> <out|out_file:generic/file>",
            outputs={"out_file": shell.outarg(path_template=lambda name: name)},
        )
