"""Issue 16, case 7: states equal by content share one entry, and the run says so.

Files are hashed by their contents, not their names (the seed's rename
example), so two states of a split given files with equal contents have one
checksum and the second gets the first's result: a task that reads the file's
name returns the first name twice. That stays the contract; the run warns once
(a :class:`PydraLiteWarning`), naming the task, the states that collapsed and
their files, and how to make the name count. On the old code: no warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import File, PydraLiteWarning, Submitter, python


@python.define
def Name(f: File) -> str:
    return f.fspath.name


@python.define
def NameGiven(f: File, name: str) -> str:
    return name


@python.define
def Add(a: int) -> int:
    return a + 1


def _files(directory: Path, contents: dict[str, str]) -> list[File]:
    directory.mkdir()
    for name, text in contents.items():
        (directory / name).write_text(text)
    return [File(directory / name) for name in contents]


def _run(cache: Path, task: Any, **options: Any) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Submitter(cache_dir=cache, **options) as sub:
            result = sub(task)
    texts = [str(w.message) for w in caught if w.category is PydraLiteWarning]
    return result, texts


@pytest.mark.parametrize("worker", ["serial", "cf"])
def test_states_equal_by_content_warn_once_naming_them(
    worker: str, tmp_path: Path
) -> None:
    files = _files(
        tmp_path / "data", {"a.txt": "same", "b.txt": "same", "c.txt": "other"}
    )
    options = {"n_procs": 1} if worker == "cf" else {}
    task = Name().split(f=files)

    result, texts = _run(tmp_path / "cache", task, worker=worker, **options)
    assert result.outputs.out == ["a.txt", "a.txt", "c.txt"]  # the contract
    assert len(texts) == 1  # old code: no warning
    (text,) = texts
    assert text.startswith("Name: 1 state(s) of the split share the cache entry")
    assert f"state 1 (f={files[1].fspath}) reuses state 0 (f={files[0].fspath})" in text
    assert "hashed by their contents, not their names" in text
    assert ".split(('f', 'name'), f=files, name=[Path(f).name for f in files])" in text

    # a warm rerun reads the split's own entry, and says it again, once
    again, texts = _run(tmp_path / "cache", task)
    assert again.cached and len(texts) == 1


def test_many_collapsed_states_are_counted_and_the_first_named(
    tmp_path: Path,
) -> None:
    files = _files(tmp_path / "data", {f"{i}.txt": "same" for i in range(6)})
    _, texts = _run(tmp_path / "cache", Name().split(f=files))
    (text,) = texts
    assert text.startswith("Name: 5 state(s)")
    assert "state 3 (" in text and "state 4 (" not in text
    assert "and 2 more" in text


def test_the_suggested_fix_gives_each_state_its_name(tmp_path: Path) -> None:
    files = _files(tmp_path / "data", {"a.txt": "same", "b.txt": "same"})
    names = [Path(f).name for f in files]
    task = NameGiven().split(("f", "name"), f=files, name=names)
    result, texts = _run(tmp_path / "cache", task)
    assert result.outputs.out == ["a.txt", "b.txt"]
    assert texts == []


def test_equal_values_are_no_collapse_to_warn_about(tmp_path: Path) -> None:
    result, texts = _run(tmp_path / "cache", Add().split(a=[1, 1, 2]))
    assert result.outputs.out == [2, 2, 3]
    assert texts == []
    files = _files(tmp_path / "data", {"a.txt": "same"})
    _, texts = _run(tmp_path / "cache", Name().split(f=[files[0], files[0]]))
    assert texts == []  # the same file twice: nothing differs
