"""Issue 16, case 3: the output files of a hit are checked, in every store.

A ``File``/``Directory`` output that is missing, or whose size or mtime no
longer match what was published, makes the state a miss with a
:class:`CacheWarning`, and the rerun recreates it; a moved cache still
resolves its files inside the moved entries. A split's own entry (its gathered
outputs) holds the same files, so a damaged state makes it a miss too, and only
the damaged state reruns. A python task that returns a file outside its own
entry is warned, on every worker, with the path and ``output_dir()``.

On the old code the pickle store stored absolute paths and checked nothing:
every damaged or moved scenario here was a hit (``cached=True``) with a file
missing, truncated or pointing into the old cache directory.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from fileformats.generic import Directory, File

from pydra_lite import CacheWarning, Submitter, output_dir, python

from .stores.helpers import STORES

# The user's program: run it, damage what it wrote, run it again.
SCRIPT = """
import json, sys, warnings
from pydra_lite import File, Submitter, output_dir, python

@python.define
def Write(text: str) -> File:
    path = output_dir() / "out.txt"
    path.write_text(text)
    return File(path)

if __name__ == "__main__":
    cache, store = sys.argv[1], sys.argv[2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Submitter(cache_dir=cache, store=store) as sub:
            result = sub(Write(text="hello"))
    path = result.outputs.out.fspath
    print(json.dumps({
        "cached": result.cached,
        "path": str(path),
        "text": path.read_text() if path.exists() else None,
        "warnings": [(w.category.__name__, str(w.message)) for w in caught],
    }))
"""


@python.define
def Write(text: str) -> File:
    path = output_dir() / "out.txt"
    path.write_text(text)
    return File(path)


@python.define(outputs=["files", "table"])
def Nested(text: str) -> tuple[list[File], dict[str, Any]]:
    """Files inside a list and a dict, and a directory."""
    directory = output_dir() / "sub"
    directory.mkdir()
    (directory / "x.txt").write_text(text)
    files = []
    for name in ("a.txt", "b.txt"):
        (output_dir() / name).write_text(text + name)
        files.append(File(output_dir() / name))
    return files, {"dir": Directory(directory), "n": 2}


def _run(cache: Path, store: str, task: Any, **options: Any) -> tuple[Any, list[str]]:
    """The Result of ``task`` and the CacheWarnings the run gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Submitter(cache_dir=cache, store=store, **options) as sub:
            result = sub(task)
    return result, [str(w.message) for w in caught if w.category is CacheWarning]


@pytest.mark.parametrize("store", STORES)
def test_deleted_output_file_is_a_miss_and_the_rerun_recreates_it(
    store: str, tmp_path: Path, run_script: Any
) -> None:
    """The issue's scenario, as a user runs it: a script, run twice."""
    cache = str(tmp_path / "cache")
    first = json.loads(run_script(SCRIPT, cache, store).stdout)
    assert not first["cached"] and first["text"] == "hello"
    os.unlink(first["path"])

    second = json.loads(run_script(SCRIPT, cache, store).stdout)
    assert not second["cached"]  # old pickle store: True, with the file gone
    assert second["text"] == "hello"
    assert second["warnings"]
    category, message = second["warnings"][0]
    assert category == "CacheWarning"
    assert "out.txt is missing" in message


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("damage", ["truncate", "touch"])
def test_changed_output_file_is_a_miss(store: str, damage: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, _ = _run(cache, store, Write(text="hello"))
    path = first.outputs.out.fspath
    if damage == "truncate":  # the size changes
        path.write_text("he")
        expected = "has changed: 2 bytes, 5 when its result was published"
    else:  # same size, a later mtime
        info = path.stat()
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 3_000_000_000))
        expected = "was modified after its result was published"

    second, warned = _run(cache, store, Write(text="hello"))
    assert not second.cached  # old code: a hit on every store
    assert second.outputs.out.fspath.read_text() == "hello"
    assert any(expected in message and str(path) in message for message in warned)


@pytest.mark.parametrize("store", STORES)
def test_moved_cache_is_a_hit_with_files_inside_the_moved_entries(
    store: str, tmp_path: Path
) -> None:
    task = Nested(text="t")
    first, _ = _run(tmp_path / "cache", store, task)
    moved = tmp_path / "moved"
    shutil.move(tmp_path / "cache", moved)

    second, warned = _run(moved, store, task)
    assert second.cached and not warned
    # old pickle store: the old paths, which no longer exist
    entry = second.output_dir
    assert entry.is_relative_to(moved)
    assert [f.fspath for f in second.outputs.files] == [
        entry / "a.txt",
        entry / "b.txt",
    ]
    assert [f.fspath.read_text() for f in second.outputs.files] == ["ta.txt", "tb.txt"]
    assert type(second.outputs.table["dir"]) is Directory
    assert second.outputs.table["dir"].fspath == entry / "sub"


@pytest.mark.parametrize("store", STORES)
def test_nested_output_file_deleted_is_a_miss(store: str, tmp_path: Path) -> None:
    first, _ = _run(tmp_path / "cache", store, Nested(text="t"))
    os.unlink(first.outputs.files[1].fspath)
    second, warned = _run(tmp_path / "cache", store, Nested(text="t"))
    assert not second.cached  # old pickle store: a hit
    assert any("b.txt is missing" in message for message in warned)


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_damaged_state_of_a_split_is_rerun_alone(
    store: str, damage: str, tmp_path: Path
) -> None:
    """The split's own entry holds the states' files: it is not a hit either."""
    task = Write().split(text=["a", "bb", "c"])
    first, _ = _run(tmp_path / "cache", store, task)
    damaged = first.outputs.out[1].fspath
    if damage == "delete":
        damaged.unlink()
    else:
        damaged.write_text("b")

    second, warned = _run(tmp_path / "cache", store, task)
    assert not second.cached  # old pickle store: a hit, json/nexus: truncated hit
    assert [state.cached for state in second.states] == [True, False, True]
    assert [f.fspath.read_text() for f in second.outputs.out] == ["a", "bb", "c"]
    split_file = second.output_dir.name
    assert any(split_file in message for message in warned)  # the split's entry

    third, warned = _run(tmp_path / "cache", store, task)
    assert third.cached and not warned


# ---------------------------------------------------------------- outside the entry

ELSEWHERE_SCRIPT = """
import json, sys, warnings
from pathlib import Path
from pydra_lite import CacheWarning, File, Submitter, python

@python.define
def Elsewhere(target: str) -> File:
    Path(target).write_text("written outside")
    return File(target)

@python.define
def Passthrough(f: File) -> File:
    return f

if __name__ == "__main__":
    cache, worker, target = sys.argv[1], sys.argv[2], sys.argv[3]
    options = {"n_procs": 1} if worker == "cf" else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Submitter(cache_dir=cache, worker=worker, **options) as sub:
            result = sub(Elsewhere(target=target))
            sub(Passthrough(f=File(target)))
    print(json.dumps({
        "output_dir": str(result.output_dir),
        "warnings": [str(w.message) for w in caught if w.category is CacheWarning],
    }))
"""


@pytest.mark.parametrize("worker", ["serial", "cf"])
def test_output_outside_the_entry_is_warned_naming_it_and_output_dir(
    worker: str, tmp_path: Path, run_script: Any
) -> None:
    target = tmp_path / "elsewhere.txt"
    cache = str(tmp_path / "cache")
    ran = run_script(ELSEWHERE_SCRIPT, cache, worker, str(target))
    report = json.loads(ran.stdout)
    # one warning, in the submitter's process, for the task that wrote the file
    # (not for the task that returns the file it was given)
    assert len(report["warnings"]) == 1, report  # old code: none
    (message,) = report["warnings"]
    assert f"output 'out' is {target}" in message
    assert "outside the task's output directory" in message
    assert report["output_dir"] in message
    assert "output_dir() / 'elsewhere.txt'" in message
    assert "CacheWarning" not in ran.stderr  # not printed by a worker process too


def test_output_inside_the_entry_or_given_is_not_warned(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    given = data / "in.txt"
    given.write_text("in")

    @python.define(outputs=["own", "given", "inside_given"])
    def Mixed(f: File, d: Directory) -> tuple[File, File, File]:
        own = output_dir() / "own.txt"
        own.write_text("own")
        return File(own), f, File(d.fspath / "in.txt")

    _, warned = _run(
        tmp_path / "cache", "pickle", Mixed(f=File(given), d=Directory(data))
    )
    assert warned == []
