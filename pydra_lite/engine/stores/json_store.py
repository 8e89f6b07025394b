"""The ``json`` store: a job's outputs as readable JSON in ``_result.json``.

The file is one strict JSON object (no ``NaN`` tokens), one line per output::

    {"format": 2, "checksum": "<hex>", "outputs": {
     "count": 3,
     "shape": {"__pydra_lite__": "tuple", "items": [2, 3]}
    }}

JSON-native values are written as themselves; every other value becomes a
*marked* object whose ``"__pydra_lite__"`` member says how to read it back, so
that a round trip returns objects of exactly the types that went in:

* None, bool, str, finite float, int (below 4000 digits): themselves;
* list, and dict with str keys (none of them the marker): themselves, with
  their items encoded in turn;
* nan, inf, -inf: ``{"__pydra_lite__": "float", "value": "nan"}``;
* tuple: ``{"__pydra_lite__": "tuple", "items": [...]}``;
* any other dict (non-str keys, or the marker key):
  ``{"__pydra_lite__": "dict", "items": [[key, value], ...]}``;
* a fileformats file set: ``{"__pydra_lite__": "file", "type": "generic/file",
  "paths": ["out.txt"], "stats": [[5, 1767225600123456789]]}``, paths
  relative to the entry directory when inside the cache, each with its size
  and mtime_ns when published, checked when read (see
  :mod:`pydra_lite.engine.stores.encoding`), ``"pickled_type"`` (base64) for a
  class with no MIME-like name;
* anything else (sets, bytes, numpy values, objects, self-referencing lists):
  ``{"__pydra_lite__": "pickle", "data": "<base64 cloudpickle>"}``.

Reading is ``json.loads`` with an ``object_hook``: the C parser builds the
document and calls back for each object, bottom-up; an unmarked object costs a
membership test. Writing walks the values once, and skips the walk for a list
whose items are all finite floats, all ints, all strs or all bools.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Callable
from typing import Any

from pydra_lite.engine.stores.base import (
    RESULT_FORMAT,
    Store,
    check_payload,
    write_atomic,
)
from pydra_lite.engine.stores.encoding import (
    FileRef,
    is_fileset,
    pickle_value,
    unpickle_value,
)
from pydra_lite.errors import InvalidEntryError, StoreError

MARKER = "__pydra_lite__"
"""The member that marks an object as an encoded value rather than a dict."""

_MAX_INT = 10**4000  # larger ints are pickled: int() refuses to parse > 4300 digits


class JsonStore(Store):
    """Readable JSON; values JSON cannot hold are marked, pickled if need be."""

    name = "json"
    filename = "_result.json"

    def dump(self, path: str, checksum: str, outputs: dict[str, Any]) -> None:
        encoded = _encode_outputs(outputs, os.path.dirname(path))
        write_atomic(path, _document(checksum, encoded))

    def load(self, path: str, checksum: str) -> dict[str, Any]:
        with open(path, "rb") as stream:
            data = stream.read()
        try:
            document = json.loads(data, object_hook=_decoder(path))
            fmt, found = document["format"], document["checksum"]
            outputs = document["outputs"]
        except InvalidEntryError as exc:  # an output file missing or changed
            msg = f"{path}: {exc}"
            raise InvalidEntryError(msg) from exc
        except Exception as exc:  # whatever a damaged file makes the decoder raise
            msg = f"{path}: unreadable ({type(exc).__name__}: {exc})"
            raise InvalidEntryError(msg) from exc
        return check_payload(path, checksum, fmt, found, outputs)


def _document(checksum: str, outputs: dict[str, Any]) -> bytes:
    """The file's bytes: strict JSON (no NaN tokens), one line per output."""
    head = b'{"format": %d, "checksum": %s, "outputs": {\n' % (
        RESULT_FORMAT,
        _dumps(checksum),
    )
    lines = [
        b" " + _dumps(name) + b": " + _dumps(value) for name, value in outputs.items()
    ]
    return head + b",\n".join(lines) + b"\n}}\n"


def _dumps(value: Any) -> bytes:
    """Compact JSON by the C encoder, in UTF-8 (lone surrogates escaped)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate is not UTF-8: write \udXXX
        return json.dumps(value, allow_nan=False).encode()


# ---------------------------------------------------------------- encoding


def _encode_outputs(outputs: dict[str, Any], entry: str) -> dict[str, Any]:
    """The JSON value of each output; a StoreError names the output."""
    encoded = {}
    for name, value in outputs.items():
        try:
            encoded[name] = _encode_or_pickle(value, entry)
        except StoreError as exc:
            msg = f"output {name!r}: {exc}"
            raise StoreError(msg) from exc
    return encoded


def _encode_or_pickle(value: Any, entry: str) -> Any:
    try:
        return _encode(value, entry)
    except RecursionError:  # a self-referencing or very deep structure
        return _encode_pickle(value, entry)


def _encode(value: Any, entry: str) -> Any:
    encoder = _ENCODERS.get(type(value))
    if encoder is not None:
        return encoder(value, entry)
    if is_fileset(value):
        return _encode_file(value, entry)
    return _encode_pickle(value, entry)


def _as_is(value: Any, entry: str) -> Any:
    return value


def _encode_int(value: int, entry: str) -> Any:
    if -_MAX_INT < value < _MAX_INT:
        return value
    return _encode_pickle(value, entry)


def _encode_float(value: float, entry: str) -> Any:
    if math.isfinite(value):
        return value
    return {MARKER: "float", "value": repr(value)}


def _encode_list(value: list[Any], entry: str) -> list[Any]:
    if _is_plain(value):
        return value
    return [_encode(item, entry) for item in value]


def _is_plain(items: list[Any]) -> bool:
    """Whether the items are all of one JSON scalar type and need no encoding.

    A fast path for long lists of numbers or strings: the checks run in C.
    """
    kinds = set(map(type, items))
    if len(kinds) != 1:
        return False
    (kind,) = kinds
    if kind is str or kind is bool:
        return True
    if kind is float:
        return all(map(math.isfinite, items))
    if kind is int:
        return -_MAX_INT < min(items) and max(items) < _MAX_INT
    return False


def _encode_tuple(value: tuple[Any, ...], entry: str) -> dict[str, Any]:
    return {MARKER: "tuple", "items": [_encode(item, entry) for item in value]}


def _encode_dict(value: dict[Any, Any], entry: str) -> dict[str, Any]:
    if MARKER not in value and all(type(key) is str for key in value):
        return {key: _encode(item, entry) for key, item in value.items()}
    items = [[_encode(key, entry), _encode(item, entry)] for key, item in value.items()]
    return {MARKER: "dict", "items": items}


def _encode_file(value: Any, entry: str) -> dict[str, Any]:
    ref = FileRef.from_fileset(value, entry)
    paths, stats = list(ref.paths), [list(pair) for pair in ref.stats]
    if isinstance(ref.type_, str):
        return {MARKER: "file", "type": ref.type_, "paths": paths, "stats": stats}
    type_ = _b64(ref.type_)
    return {MARKER: "file", "pickled_type": type_, "paths": paths, "stats": stats}


def _encode_pickle(value: Any, entry: str) -> dict[str, Any]:
    return {MARKER: "pickle", "data": _b64(pickle_value(value, entry))}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_ENCODERS: dict[type, Callable[[Any, str], Any]] = {
    str: _as_is,
    int: _encode_int,
    bool: _as_is,
    type(None): _as_is,
    float: _encode_float,
    list: _encode_list,
    tuple: _encode_tuple,
    dict: _encode_dict,
}


# ---------------------------------------------------------------- decoding


def _decoder(path: str) -> Callable[[dict[str, Any]], Any]:
    """The ``object_hook`` that decodes marked objects of the result file ``path``.

    The decoders get the file's path: files resolve in its directory.
    """

    def hook(obj: dict[str, Any]) -> Any:
        if MARKER not in obj:
            return obj
        return _DECODERS[obj[MARKER]](obj, path)

    return hook


def _decode_float(obj: dict[str, Any], path: str) -> float:
    return float(obj["value"])


def _decode_tuple(obj: dict[str, Any], path: str) -> tuple[Any, ...]:
    return tuple(obj["items"])


def _decode_dict(obj: dict[str, Any], path: str) -> dict[Any, Any]:
    return {key: item for key, item in obj["items"]}


def _decode_file(obj: dict[str, Any], path: str) -> Any:
    type_ = obj["type"] if "type" in obj else base64.b64decode(obj["pickled_type"])
    stats = tuple((size, mtime) for size, mtime in obj["stats"])
    ref = FileRef(type_, tuple(obj["paths"]), stats)
    return ref.to_fileset(os.path.dirname(path))


def _decode_pickle(obj: dict[str, Any], path: str) -> Any:
    return unpickle_value(base64.b64decode(obj["data"]), path)


_DECODERS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "float": _decode_float,
    "tuple": _decode_tuple,
    "dict": _decode_dict,
    "file": _decode_file,
    "pickle": _decode_pickle,
}
