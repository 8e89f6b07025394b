"""What the json and nexus stores share: unpicklable outputs named, and file
references that follow a moved cache directory.

The ``nexus`` parameters skip where h5py cannot be imported.
"""

from __future__ import annotations

import os
import shutil
import threading
import warnings
from pathlib import Path

import pytest
from fileformats.generic import Directory, File

from pydra_lite import CacheWarning, Submitter, output_dir, python
from pydra_lite.engine.stores import get_store
from pydra_lite.errors import InvalidEntryError, StoreError

from .helpers import CHECKSUM, ENCODED, Report, make_file, round_trip


@pytest.mark.parametrize("store_name", ENCODED)
def test_unpicklable_output_is_a_store_error_naming_it(
    store_name: str, entry: Path
) -> None:
    store = get_store(store_name)
    with pytest.raises(StoreError, match=r"output 'lock'.*lock"):
        store.dump(str(entry / store.filename), CHECKSUM, {"lock": threading.Lock()})
    assert os.listdir(entry) == []  # neither a result nor a temporary file


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("store_name", ENCODED)
def test_files_follow_a_moved_cache_directory(
    store_name: str, entry: Path, tmp_path: Path
) -> None:
    subdir = entry / "sub"
    subdir.mkdir()
    (subdir / "a.txt").write_text("a")
    outputs = {
        "file": make_file(entry),
        "directory": Directory(subdir),
        "files": [make_file(entry, "x.txt"), make_file(entry, "y.txt")],
        "report": Report(make_file(entry, "r.rpt").fspath),
    }
    store = get_store(store_name)
    store.dump(str(entry / store.filename), CHECKSUM, outputs)
    moved = tmp_path / "moved"
    shutil.move(entry.parent, moved)
    new_entry = moved / entry.name
    found = store.load(str(new_entry / store.filename), CHECKSUM)
    assert type(found["file"]) is File and found["file"].fspath == new_entry / "out.txt"
    assert type(found["directory"]) is Directory
    assert found["directory"].fspath == new_entry / "sub"
    assert [f.fspath for f in found["files"]] == [
        new_entry / "x.txt",
        new_entry / "y.txt",
    ]
    assert type(found["report"]) is Report
    assert found["report"].fspath == new_entry / "r.rpt"


@pytest.mark.parametrize("store_name", ENCODED)
def test_file_of_a_sibling_entry_follows_a_moved_cache(
    store_name: str, entry: Path, tmp_path: Path
) -> None:
    """A split node's gathered outputs live in the entries of its states."""
    sibling = entry.parent / f"Other-{CHECKSUM}"
    sibling.mkdir()
    store = get_store(store_name)
    store.dump(str(entry / store.filename), CHECKSUM, {"out": make_file(sibling)})
    shutil.move(entry.parent, tmp_path / "moved")
    new_entry = tmp_path / "moved" / entry.name
    found = store.load(str(new_entry / store.filename), CHECKSUM)["out"]
    assert found.fspath == tmp_path / "moved" / sibling.name / "out.txt"


@pytest.mark.parametrize("store_name", ENCODED)
def test_file_outside_the_cache_keeps_its_absolute_path(
    store_name: str, entry: Path, tmp_path: Path
) -> None:
    outside = make_file(tmp_path)
    found = round_trip(store_name, entry, {"out": outside})["out"]
    assert type(found) is File and found.fspath == outside.fspath


@pytest.mark.parametrize("store_name", ENCODED)
def test_deleted_output_file_makes_the_entry_invalid(
    store_name: str, entry: Path
) -> None:
    store = get_store(store_name)
    store.dump(str(entry / store.filename), CHECKSUM, {"out": make_file(entry)})
    (entry / "out.txt").unlink()
    with pytest.raises(InvalidEntryError, match="out.txt"):
        store.load(str(entry / store.filename), CHECKSUM)


# ---------------------------------------------------------------- end to end


@python.define
def Write(text: str) -> File:
    path = output_dir() / "out.txt"
    path.write_text(text)
    return File(path)


@pytest.mark.parametrize("store_name", ENCODED)
def test_submitter_finds_files_of_a_moved_cache(
    store_name: str, tmp_path: Path
) -> None:
    with Submitter(cache_dir=tmp_path / "cache", store=store_name) as sub:
        first = sub(Write(text="hello"))
    shutil.move(tmp_path / "cache", tmp_path / "moved")
    with Submitter(cache_dir=tmp_path / "moved", store=store_name) as sub:
        second = sub(Write(text="hello"))
    assert not first.cached and second.cached
    file = second.outputs.out
    assert file.fspath == second.output_dir / "out.txt"
    assert file.fspath.is_relative_to(tmp_path / "moved")
    assert file.fspath.read_text() == "hello"


@pytest.mark.parametrize("store_name", ENCODED)
def test_split_over_files_is_a_clean_hit_after_a_move(
    store_name: str, tmp_path: Path
) -> None:
    task = Write().split(text=["a", "b"])
    with Submitter(cache_dir=tmp_path / "cache", store=store_name) as sub:
        sub(task)
    shutil.move(tmp_path / "cache", tmp_path / "moved")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # no entry may be invalid
        with Submitter(cache_dir=tmp_path / "moved", store=store_name) as sub:
            result = sub(task)
    assert result.cached
    assert [f.fspath.read_text() for f in result.outputs.out] == ["a", "b"]
    assert all(f.fspath.is_relative_to(tmp_path / "moved") for f in result.outputs.out)
