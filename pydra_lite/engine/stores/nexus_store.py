"""The ``nexus`` store: a job's outputs as HDF5 with NeXus groups, ``_result.h5``.

Needs h5py (``pip install 'pydra-lite[nexus]'``): importing this module
without it raises ``ImportError``, which ``get_store("nexus")`` reports as a
:class:`~pydra_lite.errors.StoreError` that names the extra to install.

Layout::

    /             NXroot    attrs: creator, file_time, checksum, format, ...
    /results      NXentry   one child per output, in output order
    /results/x    a dataset, or an NXcollection group for a dict or a list

Every child has a ``python_type`` attribute that says how to read it back, so
that a round trip returns objects of exactly the types that went in:

================  =========================================================
``python_type``   stored as
================  =========================================================
bool, int, float  a scalar dataset (bool, int64, float64)
str               a scalar UTF-8 string dataset
None              an empty dataset
numpy.ndarray     a dataset of the array's dtype and shape (bool, numbers,
                  bytes; unicode as UTF-8 bytes with attr ``numpy_dtype``)
numpy.generic     a scalar dataset of the scalar's dtype
list, tuple       a 1-d dataset with attr ``item_type`` when every item is an
                  int, a float, a bool or a str (all of one type); otherwise
                  an NXcollection with children ``0``, ``1``, ...
dict              an NXcollection, one child per key
file              a 1-d string dataset of paths (relative to the entry when
                  inside the cache) with attr ``file_type`` (MIME-like) or
                  ``pickled_file_type``, and attr ``stats``: an int64 array
                  of ``(size, mtime_ns)`` per path, checked when read
pickle            an opaque scalar dataset (``numpy.void``) of cloudpickle bytes
================  =========================================================

What HDF5 cannot name or hold exactly is pickled instead: ints outside int64,
strings with NUL characters, dicts whose keys are not valid HDF5 names, and
containers of more than ``MAX_CHILDREN`` mixed items (a group per item would
make the file slow to write and read). The file is written under a temporary
name and renamed into place, so readers see no file or a complete one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import h5py
import numpy as np

from pydra_lite._version import __version__
from pydra_lite.engine.stores.base import (
    RESULT_FORMAT,
    Store,
    atomic_target,
    check_payload,
)
from pydra_lite.engine.stores.encoding import (
    FileRef,
    is_fileset,
    pickle_value,
    unpickle_value,
)
from pydra_lite.errors import InvalidEntryError, StoreError

MAX_CHILDREN = 1024
"""Largest list, tuple or dict of mixed items stored as a group, not pickled."""

_INT64 = np.iinfo(np.int64)
_NATIVE_KINDS = "biufcS"  # numpy dtype kinds that HDF5 holds exactly


class NexusStore(Store):
    """HDF5 with NeXus groups; values HDF5 cannot hold are pickled into it."""

    name = "nexus"
    filename = "_result.h5"

    def dump(self, path: str, checksum: str, outputs: dict[str, Any]) -> None:
        with (
            atomic_target(path) as tmp,
            h5py.File(tmp, "w", locking=False) as handle,
        ):
            _write_header(handle, checksum)
            results = _group(handle, "results", "NXentry")
            _write_outputs(results, outputs, os.path.dirname(path))

    def load(self, path: str, checksum: str) -> dict[str, Any]:
        with _open(path) as handle:
            fmt, found = _read_header(handle, path)
            check_payload(path, checksum, fmt, found, {})
            try:
                return _read_dict(handle["results"], path)
            except InvalidEntryError as exc:  # an output file missing or changed
                msg = f"{path}: {exc}"
                raise InvalidEntryError(msg) from exc
            except Exception as exc:  # a damaged object: h5py raises many kinds
                raise InvalidEntryError(_unreadable(path, exc)) from exc


def _open(path: str) -> Any:
    """The HDF5 file at ``path``, for reading; FileNotFoundError if there is none."""
    try:
        return h5py.File(path, "r", locking=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # OSError for a truncated or corrupt file
        raise InvalidEntryError(_unreadable(path, exc)) from exc


def _read_header(handle: Any, path: str) -> tuple[Any, Any]:
    """The result format and the checksum the file was written for."""
    try:
        fmt, found = handle.attrs.get("format"), handle.attrs.get("checksum")
    except Exception as exc:
        raise InvalidEntryError(_unreadable(path, exc)) from exc
    return (fmt.item() if isinstance(fmt, np.generic) else fmt), found


def _unreadable(path: str, exc: Exception) -> str:
    return f"{path}: unreadable ({type(exc).__name__}: {exc})"


def _write_header(handle: Any, checksum: str) -> None:
    handle.attrs.update(
        {
            "NX_class": "NXroot",
            "default": "results",
            "creator": f"pydra_lite {__version__}",
            "file_time": datetime.now(UTC).isoformat(),
            "HDF5_Version": h5py.version.hdf5_version,
            "h5py_version": h5py.version.version,
            "checksum": checksum,
            "format": RESULT_FORMAT,
        }
    )


def _write_outputs(results: Any, outputs: dict[str, Any], entry: str) -> None:
    """One child of ``results`` per output; a StoreError names the output."""
    for name, value in outputs.items():
        if not _is_name(name):
            msg = f"output {name!r} cannot be an HDF5 name; rename the output"
            raise StoreError(msg)
        try:
            _write_or_pickle(results, name, value, entry)
        except StoreError as exc:
            msg = f"output {name!r}: {exc}"
            raise StoreError(msg) from exc


# ---------------------------------------------------------------- writing


def _write_or_pickle(group: Any, name: str, value: Any, entry: str) -> None:
    try:
        _write(group, name, value, entry)
    except RecursionError:  # a self-referencing or very deep structure
        if name in group:
            del group[name]
        _write_pickle(group, name, value, entry)


def _write(group: Any, name: str, value: Any, entry: str) -> None:
    writer = _WRITERS.get(type(value))
    if writer is not None:
        writer(group, name, value, entry)
    elif isinstance(value, np.generic) and value.dtype.kind in "biufc":
        _dataset(group, name, value, "numpy.generic")
    elif is_fileset(value):
        _write_file(group, name, value, entry)
    else:
        _write_pickle(group, name, value, entry)


def _write_scalar(group: Any, name: str, value: bool | float, entry: str) -> None:
    _dataset(group, name, value, type(value).__name__)


def _write_int(group: Any, name: str, value: int, entry: str) -> None:
    if _INT64.min <= value <= _INT64.max:
        _dataset(group, name, np.int64(value), "int")
    else:
        _write_pickle(group, name, value, entry)


def _write_str(group: Any, name: str, value: str, entry: str) -> None:
    if _is_text(value):
        _dataset(group, name, value, "str", dtype=h5py.string_dtype())
    else:
        _write_pickle(group, name, value, entry)


def _write_none(group: Any, name: str, value: None, entry: str) -> None:
    _dataset(group, name, h5py.Empty("i1"), "None")


def _write_array(group: Any, name: str, value: np.ndarray, entry: str) -> None:
    kind = value.dtype.kind
    if kind in _NATIVE_KINDS:
        _dataset(group, name, value, "numpy.ndarray")
    elif kind == "U" and (encoded := _utf8(value)) is not None:
        node = _dataset(group, name, encoded, "numpy.ndarray")
        node.attrs["numpy_dtype"] = value.dtype.str
    else:
        _write_pickle(group, name, value, entry)


def _utf8(array: np.ndarray) -> np.ndarray | None:
    """A unicode array as UTF-8 bytes (NUL-padded, as HDF5 keeps them), if it can be."""
    try:
        return np.char.encode(array, "utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return None


def _write_sequence(
    group: Any, name: str, value: list[Any] | tuple[Any, ...], entry: str
) -> None:
    kind = type(value).__name__
    item_type = _uniform_item_type(value)
    if item_type is not None:
        data = np.array(value, dtype=_ITEM_DTYPES[item_type])
        _dataset(group, name, data, kind).attrs["item_type"] = item_type
    elif len(value) <= MAX_CHILDREN:
        collection = _group(group, name, "NXcollection", kind)
        for index, item in enumerate(value):
            _write(collection, str(index), item, entry)
    else:
        _write_pickle(group, name, value, entry)


def _write_dict(group: Any, name: str, value: dict[Any, Any], entry: str) -> None:
    if len(value) <= MAX_CHILDREN and all(_is_name(key) for key in value):
        collection = _group(group, name, "NXcollection", "dict")
        for key, item in value.items():
            _write(collection, key, item, entry)
    else:
        _write_pickle(group, name, value, entry)


def _write_file(group: Any, name: str, value: Any, entry: str) -> None:
    ref = FileRef.from_fileset(value, entry)
    if not all(_is_text(path) for path in ref.paths):
        _write_pickle(group, name, value, entry)
        return
    paths = np.array(ref.paths, dtype=h5py.string_dtype())
    node = _dataset(group, name, paths, "file")
    node.attrs["stats"] = np.array(ref.stats, dtype=np.int64).reshape(-1, 2)
    if isinstance(ref.type_, str):
        node.attrs["file_type"] = ref.type_
    else:
        node.attrs["pickled_file_type"] = np.void(ref.type_)


def _write_pickle(group: Any, name: str, value: Any, entry: str) -> None:
    _dataset(group, name, np.void(pickle_value(value, entry)), "pickle")


def _dataset(group: Any, name: str, data: Any, python_type: str, **options: Any) -> Any:
    node = group.create_dataset(name, data=data, **options)
    node.attrs["python_type"] = python_type
    return node


def _group(parent: Any, name: str, nx_class: str, python_type: str = "dict") -> Any:
    group = parent.create_group(name, track_order=True)
    group.attrs["NX_class"] = nx_class
    group.attrs["python_type"] = python_type
    return group


def _uniform_item_type(items: list[Any] | tuple[Any, ...]) -> str | None:
    """``int``, ``float``, ``bool`` or ``str`` when every item is one of those."""
    types = {type(item) for item in items}
    if len(types) != 1:
        return None
    (kind,) = types
    if kind is int:
        return "int" if _INT64.min <= min(items) and max(items) <= _INT64.max else None
    if kind is str:
        return "str" if all(_is_text(item) for item in items) else None
    return kind.__name__ if kind in (float, bool) else None


def _is_text(text: str) -> bool:
    """Whether HDF5 holds ``text`` exactly (as UTF-8, with no NUL to cut it)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _is_name(key: Any) -> bool:
    """Whether ``key`` can name an HDF5 group member exactly."""
    return (
        type(key) is str and key not in ("", ".") and "/" not in key and _is_text(key)
    )


_ITEM_DTYPES: dict[str, Any] = {
    "int": np.int64,
    "float": np.float64,
    "bool": np.bool_,
    "str": h5py.string_dtype(),
}

_WRITERS: dict[type, Callable[[Any, str, Any, str], None]] = {
    bool: _write_scalar,
    float: _write_scalar,
    int: _write_int,
    str: _write_str,
    type(None): _write_none,
    np.ndarray: _write_array,
    list: _write_sequence,
    tuple: _write_sequence,
    dict: _write_dict,
}


# ---------------------------------------------------------------- reading
# Readers get the result file's path: its files resolve in its directory.


def _read(node: Any, path: str) -> Any:
    return _READERS[node.attrs["python_type"]](node, path)


def _read_dict(group: Any, path: str) -> dict[str, Any]:
    return {key: _read(child, path) for key, child in group.items()}


def _read_items(node: Any, path: str) -> list[Any]:
    if isinstance(node, h5py.Group):
        return [_read(node[str(index)], path) for index in range(len(node))]
    data = node.asstr()[()] if node.attrs["item_type"] == "str" else node[()]
    return data.tolist()


def _read_array(node: Any, path: str) -> np.ndarray:
    data = np.asarray(node[...])
    if "numpy_dtype" not in node.attrs:
        return data
    return np.char.decode(data, "utf-8").astype(node.attrs["numpy_dtype"])


def _read_file(node: Any, path: str) -> Any:
    if "file_type" in node.attrs:
        type_: str | bytes = node.attrs["file_type"]
    else:
        type_ = node.attrs["pickled_file_type"].tobytes()
    stats = tuple((int(size), int(mtime)) for size, mtime in node.attrs["stats"])
    ref = FileRef(type_, tuple(node.asstr()[()].tolist()), stats)
    return ref.to_fileset(os.path.dirname(path))


_READERS: dict[str, Callable[[Any, str], Any]] = {
    "bool": lambda node, path: bool(node[()]),
    "int": lambda node, path: int(node[()]),
    "float": lambda node, path: float(node[()]),
    "str": lambda node, path: node.asstr()[()],
    "None": lambda node, path: None,
    "numpy.ndarray": _read_array,
    "numpy.generic": lambda node, path: node[()],
    "list": _read_items,
    "tuple": lambda node, path: tuple(_read_items(node, path)),
    "dict": _read_dict,
    "file": _read_file,
    "pickle": lambda node, path: unpickle_value(node[()].tobytes(), path),
}
