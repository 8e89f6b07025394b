"""The json store's file: plain, strict, readable JSON; any truncation a miss."""

from __future__ import annotations

import base64
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from pydra_lite.engine.stores import RESULT_FORMAT, get_store
from pydra_lite.errors import InvalidEntryError

from .helpers import CHECKSUM, make_file

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
    written = (entry / "out.txt").stat()
    assert stored["file"] == {
        "__pydra_lite__": "file",
        "type": "generic/file",
        "paths": ["out.txt"],
        "stats": [[written.st_size, written.st_mtime_ns]],
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


def test_json_truncated_anywhere_is_an_invalid_entry(entry: Path) -> None:
    path = entry / "_result.json"
    get_store("json").dump(str(path), CHECKSUM, {"out": [1, {"a": (2,)}], "s": "x"})
    data = path.read_bytes()
    for size in range(len(data) - 1):  # a prefix that lacks at least "}\n"
        path.write_bytes(data[:size])
        with pytest.raises(InvalidEntryError):
            get_store("json").load(str(path), CHECKSUM)
