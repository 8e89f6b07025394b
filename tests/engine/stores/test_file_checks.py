"""Every store records a file set's paths with their size and mtime, and checks
them when reading: one mechanism (``encoding.record_paths`` /
``checked_paths``) for the native file records of json and nexus and for file
sets inside pickled values (the pickle store's whole payload, the others' blobs).

The ``nexus`` parameters skip where h5py cannot be imported.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import attrs
import pytest
from fileformats.generic import Directory, File

from pydra_lite.engine.stores import get_store
from pydra_lite.engine.stores.encoding import (
    FileRef,
    checked_paths,
    pickle_value,
    record_paths,
    unpickle_value,
)
from pydra_lite.errors import InvalidEntryError

from .helpers import CHECKSUM, STORES, make_file, round_trip


@attrs.frozen
class Holder:
    """A user's object holding a file: pickled by every store."""

    file: File
    label: str


def _dump(store_name: str, entry: Path, outputs: dict) -> str:
    store = get_store(store_name)
    path = str(entry / store.filename)
    store.dump(path, CHECKSUM, outputs)
    return path


def _load(store_name: str, path: str) -> dict:
    return get_store(store_name).load(path, CHECKSUM)


def test_record_holds_relative_paths_with_size_and_mtime(entry: Path) -> None:
    file = make_file(entry, text="12345")
    paths, stats = record_paths(file, str(entry))
    info = (entry / "out.txt").stat()
    assert paths == ("out.txt",)
    assert stats == ((5, info.st_mtime_ns),)
    assert checked_paths(paths, stats, str(entry)) == [str(entry / "out.txt")]


def test_a_directory_is_checked_by_mtime_the_entry_itself_not_at_all(
    entry: Path,
) -> None:
    (entry / "sub").mkdir()
    _, stats = record_paths(Directory(entry / "sub"), str(entry))
    assert stats == ((-1, (entry / "sub").stat().st_mtime_ns),)
    # the entry's own directory changes when its result file is written
    assert record_paths(Directory(entry), str(entry)) == ((".",), ((-1, -1),))


@pytest.mark.parametrize("store_name", STORES)
def test_file_in_a_pickled_object_is_checked_and_follows_a_move(
    store_name: str, entry: Path, tmp_path: Path
) -> None:
    outputs = {"holder": Holder(make_file(entry), "x"), "set": {make_file(entry)}}
    _dump(store_name, entry, outputs)
    shutil.move(entry.parent, tmp_path / "moved")
    new_entry = tmp_path / "moved" / entry.name
    path = str(new_entry / get_store(store_name).filename)
    found = _load(store_name, path)
    assert found["holder"] == Holder(File(new_entry / "out.txt"), "x")
    assert found["set"] == {File(new_entry / "out.txt")}
    (new_entry / "out.txt").write_text("longer data")
    with pytest.raises(InvalidEntryError, match=r"out.txt has changed: 11 bytes, 4"):
        _load(store_name, path)


@pytest.mark.parametrize("store_name", STORES)
def test_file_outside_the_cache_is_absolute_and_checked(
    store_name: str, entry: Path, tmp_path: Path
) -> None:
    outside = make_file(tmp_path)
    path = _dump(store_name, entry, {"out": outside})
    assert _load(store_name, path)["out"].fspath == outside.fspath
    info = outside.fspath.stat()
    os.utime(outside.fspath, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    with pytest.raises(InvalidEntryError, match="was modified after its result"):
        _load(store_name, path)


@pytest.mark.parametrize("store_name", STORES)
def test_file_replaced_by_a_directory_is_invalid(store_name: str, entry: Path) -> None:
    path = _dump(store_name, entry, {"out": make_file(entry)})
    (entry / "out.txt").unlink()
    (entry / "out.txt").mkdir()
    with pytest.raises(InvalidEntryError, match="is now a directory"):
        _load(store_name, path)


@pytest.mark.parametrize("store_name", STORES)
def test_file_added_to_an_output_directory_is_invalid(
    store_name: str, entry: Path
) -> None:
    (entry / "sub").mkdir()
    path = _dump(store_name, entry, {"out": Directory(entry / "sub")})
    info = (entry / "sub").stat()
    (entry / "sub" / "new.txt").write_text("new")
    os.utime(entry / "sub", ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    with pytest.raises(InvalidEntryError, match="sub was modified"):
        _load(store_name, path)


@pytest.mark.parametrize("store_name", STORES)
def test_entry_directory_as_an_output_stays_valid(store_name: str, entry: Path) -> None:
    outputs = {"dir": Directory(entry)}
    assert round_trip(store_name, entry, outputs)["dir"].fspath == entry


def test_file_ref_round_trips_its_stats(entry: Path) -> None:
    ref = FileRef.from_fileset(make_file(entry), str(entry))
    assert ref.paths == ("out.txt",) and len(ref.stats) == 1
    assert ref.to_fileset(str(entry)) == File(entry / "out.txt")


def test_a_stored_file_set_is_read_only_through_its_store(entry: Path) -> None:
    data = pickle_value(make_file(entry), str(entry))
    with pytest.raises(InvalidEntryError, match="through its store"):
        pickle.loads(data)
    found = unpickle_value(data, str(entry / "_result.pkl"))
    assert found == File(entry / "out.txt")
