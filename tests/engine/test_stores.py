"""Result stores: exact round trips, readable files, damaged files as misses."""

from __future__ import annotations

import base64
import json
import math
import os
import pickle
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from fileformats.generic import Directory, File

# Imported here, at collection, so that the stores they register exist before
# the autouse fixture snapshots the registries (get_store would import them lazily).
from pydra_lite import CacheWarning, Submitter, output_dir, python
from pydra_lite.engine.stores import (
    RESULT_FORMAT,
    Store,
    get_store,
    json_store,
    nexus_store,
)
from pydra_lite.errors import InvalidEntryError, StoreError

h5py = pytest.importorskip("h5py")

STORES = ["pickle", "json", "nexus"]
CHECKSUM = "0123456789abcdef" * 4


@attrs.frozen
class Point:
    """A user's own class: stored by pickling in every store."""

    x: int
    y: float


class Report(File):
    """A user's own file type, outside the fileformats namespace (no MIME name)."""

    ext = ".rpt"


self_referencing: list[Any] = [1]
self_referencing.append(self_referencing)

CORPUS: dict[str, Any] = {
    "int": -7,
    "int_zero": 0,
    "int_beyond_int64": 2**70,
    "int_of_3000_digits": 10**3000,
    "float": 1.5,
    "float_negative_zero": -0.0,
    "nan": math.nan,
    "inf": math.inf,
    "minus_inf": -math.inf,
    "true": True,
    "false": False,
    "none": None,
    "str": "héllo ☃",
    "str_empty": "",
    "str_with_nul": "a\x00b",
    "str_lone_surrogate": "bad \udc80 byte",
    "list_of_ints": [1, 2, 3],
    "list_of_floats": [0.5, math.nan, -math.inf],
    "list_of_bools": [True, False],
    "list_of_strs": ["a", "bé", ""],
    "list_mixed": [1, "a", None, 2.5, [True]],
    "list_empty": [],
    "list_of_points": [Point(1, 2.0), Point(3, 4.0)],
    "list_long_mixed": [1, "a"] * 600,
    "nested": {"a": [1, 2.5, "x", None, {"b": [True, {"c": (1, 2)}]}], "d": {}},
    "tuple_of_ints": (1, 2),
    "tuple_mixed": (1, "a", None, (2.5,), [3]),
    "tuple_empty": (),
    "set": {1, 2, 3},
    "frozenset": frozenset({"a", "b"}),
    "bytes": b"\x00\xff",
    "dict_int_keys": {1: "a", 2: "b"},
    "dict_tuple_keys": {(1, 2): 3.5},
    "dict_marker_key": {"__pydra_lite__": "pickle", "data": "not base64"},
    "dict_awkward_keys": {"a/b": 1, "": 2, ".": 3, "x\x00": 4},
    "dict_empty": {},
    "array_int32": np.arange(6, dtype=np.int32).reshape(2, 3),
    "array_float_nan": np.array([0.5, np.nan, np.inf]),
    "array_float32_3d": np.ones((2, 3, 4), dtype=np.float32),
    "array_bool": np.array([True, False]),
    "array_complex": np.array([1 + 2j, -1j]),
    "array_uint8": np.arange(5, dtype=np.uint8),
    "array_big_endian": np.arange(4, dtype=">i4"),
    "array_0d": np.array(3.5),
    "array_empty": np.zeros((0, 3)),
    "array_fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "array_bytes": np.array([b"ab", b"c"]),
    "array_unicode": np.array([["aé", "b"], ["", "ccc"]]),
    "array_unicode_0d": np.array("xyz"),
    "array_object": np.array([1, "a"], dtype=object),
    "array_structured": np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
    "array_datetime": np.array(["2024-01-01"], dtype="datetime64[D]"),
    "numpy_int64": np.int64(3),
    "numpy_float32": np.float32(1.5),
    "numpy_bool": np.bool_(True),
    "numpy_complex64": np.complex64(1 + 2j),
    "numpy_str": np.str_("s"),
    "point": Point(1, 2.5),
}


def assert_same(found: Any, expected: Any) -> None:
    """Equal, and of exactly the same types all the way down (nan equals nan)."""
    assert type(found) is type(expected), (found, expected)
    if isinstance(expected, np.ndarray):
        assert (found.dtype, found.shape) == (expected.dtype, expected.shape)
        nan = expected.dtype.kind in "fc"
        assert np.array_equal(found, expected, equal_nan=nan), (found, expected)
    elif isinstance(expected, float | np.floating):
        assert found == expected or (math.isnan(found) and math.isnan(expected))
        assert math.copysign(1, found) == math.copysign(1, expected)
    elif isinstance(expected, list | tuple):
        assert len(found) == len(expected)
        for item, want in zip(found, expected, strict=True):
            assert_same(item, want)
    elif isinstance(expected, dict):
        assert list(found) == list(expected)  # same keys, in the same order
        for key, want in expected.items():
            assert_same(found[key], want)
    else:
        assert found == expected


def round_trip(store_name: str, entry: Path, outputs: dict[str, Any]) -> dict[str, Any]:
    store = get_store(store_name)
    path = str(entry / store.filename)
    store.dump(path, CHECKSUM, outputs)
    return store.load(path, CHECKSUM)


@pytest.fixture
def entry(tmp_path: Path) -> Path:
    """An entry directory inside a cache root."""
    directory = tmp_path / "cache" / f"Task-{CHECKSUM}"
    directory.mkdir(parents=True)
    return directory


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("store_name", STORES)
@pytest.mark.parametrize("key", list(CORPUS))
def test_round_trip_returns_the_same_objects(
    store_name: str, key: str, entry: Path
) -> None:
    outputs = round_trip(store_name, entry, {"out": CORPUS[key]})
    assert list(outputs) == ["out"]
    assert_same(outputs["out"], CORPUS[key])


@pytest.mark.parametrize("store_name", STORES)
def test_round_trip_of_the_whole_corpus_keeps_output_order(
    store_name: str, entry: Path
) -> None:
    outputs = round_trip(store_name, entry, CORPUS)
    assert_same(outputs, CORPUS)


@pytest.mark.parametrize("store_name", STORES)
def test_self_referencing_list_comes_back_referencing_itself(
    store_name: str, entry: Path
) -> None:
    found = round_trip(store_name, entry, {"out": self_referencing})["out"]
    assert type(found) is list and found[0] == 1 and found[1] is found


@pytest.mark.parametrize("store_name", ["json", "nexus"])
def test_unpicklable_output_is_a_store_error_naming_it(
    store_name: str, entry: Path
) -> None:
    store = get_store(store_name)
    with pytest.raises(StoreError, match=r"output 'lock'.*lock"):
        store.dump(str(entry / store.filename), CHECKSUM, {"lock": threading.Lock()})
    assert os.listdir(entry) == []  # neither a result nor a temporary file


@pytest.mark.parametrize("store_name", STORES)
def test_no_temporary_file_is_left_behind(store_name: str, entry: Path) -> None:
    store = get_store(store_name)
    store.dump(str(entry / store.filename), CHECKSUM, {"out": 1})
    store.dump(str(entry / store.filename), CHECKSUM, {"out": 2})  # replaces it
    assert os.listdir(entry) == [store.filename]
    assert store.load(str(entry / store.filename), CHECKSUM) == {"out": 2}


# ---------------------------------------------------------------- files


def make_file(directory: Path, name: str = "out.txt", text: str = "data") -> File:
    path = directory / name
    path.write_text(text)
    return File(path)


@pytest.mark.parametrize("store_name", STORES)
def test_file_inside_the_entry_round_trips(store_name: str, entry: Path) -> None:
    file = make_file(entry)
    found = round_trip(store_name, entry, {"out": file})["out"]
    assert type(found) is File and found.fspath == file.fspath


@pytest.mark.parametrize("store_name", ["json", "nexus"])
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


@pytest.mark.parametrize("store_name", ["json", "nexus"])
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


@pytest.mark.parametrize("store_name", ["json", "nexus"])
def test_file_outside_the_cache_keeps_its_absolute_path(
    store_name: str, entry: Path, tmp_path: Path
) -> None:
    outside = make_file(tmp_path)
    found = round_trip(store_name, entry, {"out": outside})["out"]
    assert type(found) is File and found.fspath == outside.fspath


@pytest.mark.parametrize("store_name", ["json", "nexus"])
def test_deleted_output_file_makes_the_entry_invalid(
    store_name: str, entry: Path
) -> None:
    store = get_store(store_name)
    store.dump(str(entry / store.filename), CHECKSUM, {"out": make_file(entry)})
    (entry / "out.txt").unlink()
    with pytest.raises(InvalidEntryError, match="out.txt"):
        store.load(str(entry / store.filename), CHECKSUM)


# ---------------------------------------------------------------- the files on disk

NATIVE = {
    "int": 3,
    "big_int": 2**70,
    "float": 0.1,
    "bool": True,
    "none": None,
    "str": "héllo",
    "nested": {"a": [1, 2.5, "x", None, {"b": [True, False]}], "c": {}},
}


def test_json_writes_native_values_as_plain_json(entry: Path) -> None:
    path = entry / "_result.json"
    get_store("json").dump(str(path), CHECKSUM, NATIVE)
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)  # a plain parser, no decoding hook
    assert document == {
        "format": RESULT_FORMAT,
        "checksum": CHECKSUM,
        "outputs": NATIVE,
    }
    assert "héllo" in text  # readable UTF-8, not \u escapes
    assert ' "int": 3,' in text.splitlines()  # one line per output


def test_json_marks_what_it_cannot_hold_and_stays_strict(entry: Path) -> None:
    path = entry / "_result.json"
    outputs = {
        "nan": math.nan,
        "tuple": (1, 2),
        "int_keys": {1: "a"},
        "array": np.arange(3),
        "file": make_file(entry),
    }
    get_store("json").dump(str(path), CHECKSUM, outputs)

    def reject(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    stored = json.loads(path.read_bytes(), parse_constant=reject)["outputs"]
    assert stored["nan"] == {"__pydra_lite__": "float", "value": "nan"}
    assert stored["tuple"] == {"__pydra_lite__": "tuple", "items": [1, 2]}
    assert stored["int_keys"] == {"__pydra_lite__": "dict", "items": [[1, "a"]]}
    assert stored["array"]["__pydra_lite__"] == "pickle"
    array = pickle.loads(base64.b64decode(stored["array"]["data"]))
    assert array.tolist() == [0, 1, 2]
    assert stored["file"] == {
        "__pydra_lite__": "file",
        "type": "generic/file",
        "paths": ["out.txt"],
    }


def test_json_stores_paths_relative_to_the_entry(entry: Path, tmp_path: Path) -> None:
    sibling = entry.parent / "Other-1234"
    sibling.mkdir()
    outputs = {
        "own": make_file(entry),
        "sibling": make_file(sibling),
        "outside": make_file(tmp_path),
    }
    path = entry / "_result.json"
    get_store("json").dump(str(path), CHECKSUM, outputs)
    stored = json.loads(path.read_bytes())["outputs"]
    assert stored["own"]["paths"] == ["out.txt"]
    assert stored["sibling"]["paths"] == ["../Other-1234/out.txt"]
    assert stored["outside"]["paths"] == [str(tmp_path / "out.txt")]


def test_json_escapes_a_user_dict_that_looks_marked(entry: Path) -> None:
    value = {"__pydra_lite__": "pickle", "data": "x"}
    path = entry / "_result.json"
    get_store("json").dump(str(path), CHECKSUM, {"out": value})
    stored = json.loads(path.read_bytes())["outputs"]["out"]
    assert stored["__pydra_lite__"] == "dict"
    assert get_store("json").load(str(path), CHECKSUM) == {"out": value}


def test_nexus_writes_real_datasets_in_nexus_groups(entry: Path) -> None:
    outputs = {
        "count": 3,
        "ratio": 0.5,
        "name": "héllo",
        "image": np.arange(6, dtype=np.int32).reshape(2, 3),
        "scalar": np.float32(2.5),
        "xs": [0.5, 1.5, 2.5],
        "params": {"alpha": 1, "beta": [1, "b"]},
        "point": Point(1, 2.0),
        "file": make_file(entry),
    }
    path = entry / "_result.h5"
    get_store("nexus").dump(str(path), CHECKSUM, outputs)
    with h5py.File(path, "r") as handle:
        assert handle.attrs["NX_class"] == "NXroot"
        assert handle.attrs["checksum"] == CHECKSUM
        assert handle.attrs["format"] == RESULT_FORMAT
        assert handle.attrs["creator"].startswith("pydra_lite")
        results = handle["results"]
        assert results.attrs["NX_class"] == "NXentry"
        assert list(results) == list(outputs)  # in output order
        assert_dataset(results["count"], "int64", (), "int")
        assert_dataset(results["ratio"], "float64", (), "float")
        assert results["name"].asstr()[()] == "héllo"
        assert_dataset(results["image"], "int32", (2, 3), "numpy.ndarray")
        assert results["image"][1, 2] == 5
        assert_dataset(results["scalar"], "float32", (), "numpy.generic")
        assert_dataset(results["xs"], "float64", (3,), "list")
        params = results["params"]
        assert isinstance(params, h5py.Group)
        assert params.attrs["NX_class"] == "NXcollection"
        assert_dataset(params["alpha"], "int64", (), "int")
        assert params["beta"].attrs["NX_class"] == "NXcollection"
        assert results["point"].dtype.kind == "V"  # opaque cloudpickle bytes
        assert results["point"].attrs["python_type"] == "pickle"
        assert results["file"].asstr()[()].tolist() == ["out.txt"]
        assert results["file"].attrs["file_type"] == "generic/file"


def assert_dataset(
    node: Any, dtype: str, shape: tuple[int, ...], python_type: str
) -> None:
    assert isinstance(node, h5py.Dataset)
    assert (str(node.dtype), node.shape) == (dtype, shape)
    assert node.attrs["python_type"] == python_type


# ---------------------------------------------------------------- damaged files


def truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def drop_last_byte(data: bytes) -> bytes:
    """The last byte that matters: a trailing newline does not."""
    return data.rstrip(b"\n")[:-1]


DAMAGES = {
    "truncated": truncate,
    "one_byte_short": drop_last_byte,
    "empty": lambda data: b"",
    "garbage_prefix": lambda data: b"\x00garbage" + data,
    "garbage": lambda data: bytes(range(256)) * 4,
}


@pytest.mark.parametrize("store_name", STORES)
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_file_is_an_invalid_entry(
    store_name: str, damage: str, entry: Path
) -> None:
    store = get_store(store_name)
    path = entry / store.filename
    store.dump(str(path), CHECKSUM, {"out": [1, 2.5], "point": Point(1, 2.0)})
    path.write_bytes(DAMAGES[damage](path.read_bytes()))
    with pytest.raises(InvalidEntryError, match="unreadable"):
        store.load(str(path), CHECKSUM)


def test_json_truncated_anywhere_is_an_invalid_entry(entry: Path) -> None:
    path = entry / "_result.json"
    get_store("json").dump(str(path), CHECKSUM, {"out": [1, {"a": (2,)}], "s": "x"})
    data = path.read_bytes()
    for size in range(len(data) - 1):  # a prefix that lacks at least "}\n"
        path.write_bytes(data[:size])
        with pytest.raises(InvalidEntryError):
            get_store("json").load(str(path), CHECKSUM)


@pytest.mark.parametrize("store_name", STORES)
def test_file_for_another_checksum_is_an_invalid_entry(
    store_name: str, entry: Path
) -> None:
    store = get_store(store_name)
    store.dump(str(entry / store.filename), CHECKSUM, {"out": 1})
    with pytest.raises(InvalidEntryError, match="written for checksum"):
        store.load(str(entry / store.filename), "f" * 64)


@pytest.mark.parametrize("store_name", ["json", "nexus"])
def test_file_of_another_result_format_is_an_invalid_entry(
    store_name: str, entry: Path
) -> None:
    store = get_store(store_name)
    path = entry / store.filename
    store.dump(str(path), CHECKSUM, {"out": 1})
    if store_name == "json":
        path.write_text(path.read_text().replace('"format": 1', '"format": 99'))
    else:
        with h5py.File(path, "a") as handle:
            handle.attrs["format"] = 99
    with pytest.raises(InvalidEntryError, match="result format 99"):
        store.load(str(path), CHECKSUM)


@pytest.mark.parametrize("store_name", STORES)
def test_missing_file_is_file_not_found(store_name: str, entry: Path) -> None:
    """The cache reads FileNotFoundError as 'no entry here', not as damage."""
    store = get_store(store_name)
    with pytest.raises(FileNotFoundError):
        store.load(str(entry / store.filename), CHECKSUM)


# ---------------------------------------------------------------- the registry


@pytest.mark.parametrize(
    ("store_name", "store_class", "filename"),
    [
        ("json", json_store.JsonStore, "_result.json"),
        ("nexus", nexus_store.NexusStore, "_result.h5"),
    ],
)
def test_stores_are_found_by_name(
    store_name: str, store_class: type[Store], filename: str
) -> None:
    store = get_store(store_name)
    assert type(store) is store_class
    assert (store.name, store.filename) == (store_name, filename)


def test_unknown_store_is_a_store_error_listing_the_known_ones() -> None:
    with pytest.raises(StoreError, match="'yaml'.*known stores: json, nexus, pickle"):
        get_store("yaml")


def test_nexus_without_h5py_says_how_to_install_it(run_script: Any) -> None:
    proc = run_script(
        "import sys\n"
        "sys.modules['h5py'] = None  # as if h5py were not installed\n"
        "from pydra_lite import StoreError, get_store\n"
        "try:\n"
        "    get_store('nexus')\n"
        "except StoreError as exc:\n"
        "    print('StoreError:', exc)\n"
    )
    assert "StoreError:" in proc.stdout
    assert "pip install 'pydra-lite[nexus]'" in proc.stdout


# ---------------------------------------------------------------- end to end

CALLS: list[int] = []


@python.define
def F(x: int) -> int:
    CALLS.append(x)
    return x + 1


@python.define
def Write(text: str) -> File:
    path = output_dir() / "out.txt"
    path.write_text(text)
    return File(path)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


@pytest.mark.parametrize("store_name", ["json", "nexus"])
def test_submitter_reuses_a_stored_result(store_name: str, tmp_path: Path) -> None:
    with Submitter(cache_dir=tmp_path, store=store_name) as sub:
        first = sub(F(x=1))
    with Submitter(cache_dir=tmp_path, store=store_name) as sub:
        second = sub(F(x=1))
    assert (first.outputs.out, first.cached) == (2, False)
    assert (second.outputs.out, second.cached) == (2, True)
    assert CALLS == [1]
    assert (second.output_dir / get_store(store_name).filename).exists()


@pytest.mark.parametrize("store_name", ["json", "nexus"])
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


@pytest.mark.parametrize("store_name", ["json", "nexus"])
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
