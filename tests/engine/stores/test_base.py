"""The store contract, for every store: exact round trips, atomic writes, damaged
files as misses; the registry that finds stores by name.

The ``nexus`` parameters skip where h5py cannot be imported.
"""

from __future__ import annotations

import importlib
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fileformats.generic import File

from pydra_lite import Submitter, python
from pydra_lite.engine.stores import RESULT_FORMAT, get_store
from pydra_lite.errors import InvalidEntryError, StoreError

from .helpers import (
    CHECKSUM,
    ENCODED,
    STORES,
    Point,
    make_file,
    needs_h5py,
    round_trip,
)

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


@pytest.mark.parametrize("store_name", STORES)
def test_no_temporary_file_is_left_behind(store_name: str, entry: Path) -> None:
    store = get_store(store_name)
    store.dump(str(entry / store.filename), CHECKSUM, {"out": 1})
    store.dump(str(entry / store.filename), CHECKSUM, {"out": 2})  # replaces it
    assert os.listdir(entry) == [store.filename]
    assert store.load(str(entry / store.filename), CHECKSUM) == {"out": 2}


@pytest.mark.parametrize("store_name", STORES)
def test_file_inside_the_entry_round_trips(store_name: str, entry: Path) -> None:
    file = make_file(entry)
    found = round_trip(store_name, entry, {"out": file})["out"]
    assert type(found) is File and found.fspath == file.fspath


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


@pytest.mark.parametrize("store_name", STORES)
def test_file_for_another_checksum_is_an_invalid_entry(
    store_name: str, entry: Path
) -> None:
    store = get_store(store_name)
    store.dump(str(entry / store.filename), CHECKSUM, {"out": 1})
    with pytest.raises(InvalidEntryError, match="written for checksum"):
        store.load(str(entry / store.filename), "f" * 64)


@pytest.mark.parametrize("store_name", ENCODED)
def test_file_of_another_result_format_is_an_invalid_entry(
    store_name: str, entry: Path
) -> None:
    store = get_store(store_name)
    path = entry / store.filename
    store.dump(str(path), CHECKSUM, {"out": 1})
    if store_name == "json":
        path.write_text(
            path.read_text().replace(f'"format": {RESULT_FORMAT}', '"format": 99')
        )
    else:
        import h5py  # the nexus parameter skips without it

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
        ("json", "JsonStore", "_result.json"),
        pytest.param("nexus", "NexusStore", "_result.h5", marks=needs_h5py),
    ],
)
def test_stores_are_found_by_name(
    store_name: str, store_class: str, filename: str
) -> None:
    """Each built-in store is found by name, from its module named by a dotted path."""
    store = get_store(store_name)
    module = importlib.import_module(f"pydra_lite.engine.stores.{store_name}_store")
    assert type(store) is getattr(module, store_class)
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


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


@pytest.mark.parametrize("store_name", ENCODED)
def test_submitter_reuses_a_stored_result(store_name: str, tmp_path: Path) -> None:
    with Submitter(cache_dir=tmp_path, store=store_name) as sub:
        first = sub(F(x=1))
    with Submitter(cache_dir=tmp_path, store=store_name) as sub:
        second = sub(F(x=1))
    assert (first.outputs.out, first.cached) == (2, False)
    assert (second.outputs.out, second.cached) == (2, True)
    assert CALLS == [1]
    assert (second.output_dir / get_store(store_name).filename).exists()
