"""The ``json`` store: a job's outputs as readable JSON in ``_result.json``.

The file is one object, ``{"format": 1, "checksum": "<hex>", "outputs": {...}}``,
with one member per output. JSON-native values are written as themselves;
every other value becomes a *marked* object whose ``"__pydra_lite__"`` member
says how to read it back, so that a round trip returns objects of exactly the
types that went in:

===============================================  ==========================================
value                                            written as
===============================================  ==========================================
None, bool, int, str, finite float               itself
list                                             an array of its items
dict with str keys (none of them the marker)     an object of its items
nan, inf, -inf                                   ``{"__pydra_lite__": "float", "value": "nan"}``
tuple                                            ``{..: "tuple", "items": [...]}``
any other dict (non-str keys, the marker key)    ``{..: "dict", "items": [[key, value], ...]}``
a fileformats file set                           ``{..: "file", "type": "generic/file",
                                                 "paths": ["out.txt"]}``
anything else (set, bytes, numpy, objects)       ``{..: "pickle", "data": "<base64 cloudpickle>"}``
===============================================  ==========================================

Items are encoded the same way, recursively. A file's paths are relative to
the entry directory when the file is inside it, so a moved cache still works
(see :mod:`pydra_lite.engine.encoding`); a file set whose class has no
MIME-like name has ``"pickled_type"`` instead of ``"type"``.

Reading uses ``json.loads`` with an ``object_hook``: the C parser builds the
document and calls back only for objects, bottom-up, and only marked objects
cost more than a membership test.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydra_lite.engine.encoding import (
    FileRef,
    is_fileset,
    pickle_value,
    unpickle_value,
)
from pydra_lite.engine.stores import (
    RESULT_FORMAT,
    InvalidEntry,
    Store,
    _checked,
    register_store,
    write_atomic,
)
from pydra_lite.errors import StoreError

MARKER = "__pydra_lite__"
"""The member that marks an object as an encoded value rather than a dict."""

_MAX_INT_BITS = 8192  # about 2500 digits, below int()'s default limit of 4300


class JsonStore(Store):
    """Readable JSON; values JSON cannot hold are marked, pickled if need be."""

    name = "json"
    filename = "_result.json"

    def dump(self, path: Path, checksum: str, outputs: dict[str, Any]) -> None:
        encoded = _encode_outputs(outputs, path.parent)
        write_atomic(path, _document(checksum, encoded))

    def load(self, path: Path, checksum: str) -> dict[str, Any]:
        with open(path, "rb") as stream:
            data = stream.read()
        try:
            document = json.loads(data, object_hook=_decoder(path.parent))
            fmt, found = document["format"], document["checksum"]
            outputs = document["outputs"]
        except Exception as exc:  # whatever a damaged file makes the decoder raise
            msg = f"{path}: unreadable ({type(exc).__name__}: {exc})"
            raise InvalidEntry(msg) from exc
        return _checked(path, checksum, fmt, found, outputs)


def _document(checksum: str, outputs: dict[str, Any]) -> bytes:
    """The file's bytes: strict JSON (no NaN tokens), one line per output."""
    head = b'{"format": %d, "checksum": %s, "outputs": {\n' % (
        RESULT_FORMAT,
        _dumps(checksum),
    )
    lines = [_dumps(name) + b": " + _dumps(value) for name, value in outputs.items()]
    return head + b",\n".join(lines) + b"\n}}\n"


def _dumps(value: Any) -> bytes:
    """Compact JSON by the C encoder, in UTF-8 (lone surrogates escaped)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate is not UTF-8: write \udXXX
        return json.dumps(value, allow_nan=False).encode()


# ---------------------------------------------------------------- encoding


def _encode_outputs(outputs: dict[str, Any], entry: Path) -> dict[str, Any]:
    """The JSON value of each output; a StoreError names the output."""
    encoded = {}
    for name, value in outputs.items():
        try:
            encoded[name] = _encode_or_pickle(value, entry)
        except StoreError as exc:
            msg = f"output {name!r}: {exc}"
            raise StoreError(msg) from exc
    return encoded


def _encode_or_pickle(value: Any, entry: Path) -> Any:
    try:
        return _encode(value, entry)
    except RecursionError:  # a self-referencing or very deep structure
        return _encode_pickle(value, entry)


def _encode(value: Any, entry: Path) -> Any:
    encoder = _ENCODERS.get(type(value))
    if encoder is not None:
        return encoder(value, entry)
    if is_fileset(value):
        return _encode_file(value, entry)
    return _encode_pickle(value, entry)


def _as_is(value: Any, entry: Path) -> Any:
    return value


def _encode_int(value: int, entry: Path) -> Any:
    if value.bit_length() <= _MAX_INT_BITS:
        return value
    return _encode_pickle(value, entry)  # Python refuses to parse > 4300 digits


def _encode_float(value: float, entry: Path) -> Any:
    if math.isfinite(value):
        return value
    return {MARKER: "float", "value": repr(value)}


def _encode_list(value: list[Any], entry: Path) -> list[Any]:
    return [_encode(item, entry) for item in value]


def _encode_tuple(value: tuple[Any, ...], entry: Path) -> dict[str, Any]:
    return {MARKER: "tuple", "items": [_encode(item, entry) for item in value]}


def _encode_dict(value: dict[Any, Any], entry: Path) -> dict[str, Any]:
    if MARKER not in value and all(type(key) is str for key in value):
        return {key: _encode(item, entry) for key, item in value.items()}
    items = [[_encode(key, entry), _encode(item, entry)] for key, item in value.items()]
    return {MARKER: "dict", "items": items}


def _encode_file(value: Any, entry: Path) -> dict[str, Any]:
    ref = FileRef.from_fileset(value, entry)
    if isinstance(ref.type_, str):
        return {MARKER: "file", "type": ref.type_, "paths": list(ref.paths)}
    return {MARKER: "file", "pickled_type": _b64(ref.type_), "paths": list(ref.paths)}


def _encode_pickle(value: Any, entry: Path) -> dict[str, Any]:
    return {MARKER: "pickle", "data": _b64(pickle_value(value))}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_ENCODERS: dict[type, Callable[[Any, Path], Any]] = {
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


def _decoder(entry: Path) -> Callable[[dict[str, Any]], Any]:
    """The ``object_hook`` that decodes marked objects of the entry ``entry``."""

    def hook(obj: dict[str, Any]) -> Any:
        if MARKER not in obj:
            return obj
        return _DECODERS[obj[MARKER]](obj, entry)

    return hook


def _decode_float(obj: dict[str, Any], entry: Path) -> float:
    return float(obj["value"])


def _decode_tuple(obj: dict[str, Any], entry: Path) -> tuple[Any, ...]:
    return tuple(obj["items"])


def _decode_dict(obj: dict[str, Any], entry: Path) -> dict[Any, Any]:
    return {key: item for key, item in obj["items"]}


def _decode_file(obj: dict[str, Any], entry: Path) -> Any:
    type_ = obj["type"] if "type" in obj else base64.b64decode(obj["pickled_type"])
    return FileRef(type_, tuple(obj["paths"])).to_fileset(entry)


def _decode_pickle(obj: dict[str, Any], entry: Path) -> Any:
    return unpickle_value(base64.b64decode(obj["data"]))


_DECODERS: dict[str, Callable[[dict[str, Any], Path], Any]] = {
    "float": _decode_float,
    "tuple": _decode_tuple,
    "dict": _decode_dict,
    "file": _decode_file,
    "pickle": _decode_pickle,
}

register_store(JsonStore.name, JsonStore)
