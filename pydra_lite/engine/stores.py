"""Result stores: how a job's outputs are written to and read from its entry.

A store writes one result file per entry and reads it back. The file embeds
the checksum it was written for, and a store's ``load`` raises
:class:`InvalidEntry` for a file that is truncated, corrupt or names another
checksum: the cache turns that into a miss with a warning, never a wrong hit.

Every store writes through :func:`write_atomic` (a temporary file in the same
directory, then ``os.replace``), so a reader sees either no file or a complete
one, whatever moment a writer is killed at.

Stores are found by name in a registry (:func:`register_store` /
:func:`get_store`); ``pickle`` is built in, ``json`` and ``nexus`` register
themselves from their own modules.
"""

from __future__ import annotations

import os
import pickle
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import cloudpickle

from pydra_lite.errors import StoreError

RESULT_FORMAT = 1
"""Version of the layout of the payload inside every store's result file."""


class InvalidEntry(Exception):
    """A result file that cannot be trusted: the cache treats it as a miss."""


class Store(ABC):
    """Writes and reads one job's outputs; subclasses add a file format."""

    name: ClassVar[str]
    filename: ClassVar[str]

    @abstractmethod
    def dump(self, path: str, checksum: str, outputs: dict[str, Any]) -> None:
        """Write ``outputs`` for ``checksum`` to ``path``, atomically."""

    @abstractmethod
    def load(self, path: str, checksum: str) -> dict[str, Any]:
        """Read the outputs in ``path``; raise InvalidEntry if untrustworthy."""


class PickleStore(Store):
    """cloudpickle: any Python object, the fastest to write and read."""

    name = "pickle"
    filename = "_result.pkl"

    def dump(self, path: str, checksum: str, outputs: dict[str, Any]) -> None:
        payload = (RESULT_FORMAT, checksum, outputs)
        dumps = pickle.dumps if _all_plain(outputs) else cloudpickle.dumps
        try:
            data = dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            msg = (
                f"{path}: cannot pickle the outputs ({type(exc).__name__}: {exc}); "
                "return values that cloudpickle can serialize"
            )
            raise StoreError(msg) from exc
        write_atomic(path, data)

    def load(self, path: str, checksum: str) -> dict[str, Any]:
        with open(path, "rb") as stream:
            data = stream.read()
        try:
            fmt, found, outputs = pickle.loads(data)
        except Exception as exc:
            msg = f"{path}: unreadable ({type(exc).__name__}: {exc})"
            raise InvalidEntry(msg) from exc
        return _checked(path, checksum, fmt, found, outputs)


_PLAIN_TYPES = frozenset({int, float, str, bytes, bool, type(None), complex})


def _all_plain(outputs: dict[str, Any]) -> bool:
    """Whether plain ``pickle`` writes every output exactly as cloudpickle would."""
    for value in outputs.values():
        if type(value) not in _PLAIN_TYPES and not _is_plain(value):
            return False
    return True


def _is_plain(value: Any) -> bool:
    """Whether plain ``pickle`` writes ``value`` exactly as cloudpickle would.

    Builtin scalars, and lists and tuples of them, are pickled the same by
    both, and ``pickle.dumps`` costs a fraction of a cloudpickle Pickler's
    setup. Anything else (a class or function defined in ``__main__`` travels
    by value only through cloudpickle) goes through cloudpickle.
    """
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return True
    if kind is list or kind is tuple:
        return all(type(item) in _PLAIN_TYPES for item in value)
    return False


def _checked(
    path: str, checksum: str, fmt: Any, found: Any, outputs: Any
) -> dict[str, Any]:
    """The outputs of a decoded result file, if it is one we can trust."""
    if fmt != RESULT_FORMAT:
        msg = f"{path}: result format {fmt!r}, this version reads {RESULT_FORMAT}"
        raise InvalidEntry(msg)
    if found != checksum:
        msg = f"{path}: written for checksum {found!r}, not {checksum!r}"
        raise InvalidEntry(msg)
    if not isinstance(outputs, dict):
        msg = f"{path}: outputs are a {type(outputs).__name__}, not a dict"
        raise InvalidEntry(msg)
    return outputs


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file.

    The temporary name holds the pid so that two writers never share one. No
    fsync: a killed process cannot leave a partial file behind; after a power
    loss a file may be empty, which every store detects as invalid.
    """
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (one call for small files)."""
    written = os.write(fd, data)
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]


_STORES: dict[str, Callable[[], Store]] = {"pickle": PickleStore}


def register_store(name: str, factory: Callable[[], Store]) -> None:
    """Make a store available to ``Submitter(store=name)``."""
    _STORES[name] = factory


def get_store(spec: str | Store) -> Store:
    """The store named ``spec`` (or ``spec`` itself when it is a Store)."""
    if isinstance(spec, Store):
        return spec
    if spec not in _STORES and spec in _LAZY_STORES:
        __import__(_LAZY_STORES[spec])
    try:
        return _STORES[spec]()
    except KeyError:
        known = ", ".join(sorted({*_STORES, *_LAZY_STORES}))
        msg = (
            f"unknown result store {spec!r}; known stores: {known}. "
            "Register your own with pydra_lite.register_store(name, factory)"
        )
        raise StoreError(msg) from None


_LAZY_STORES: dict[str, str] = {
    "json": "pydra_lite.engine.json_store",
    "nexus": "pydra_lite.engine.nexus_store",
}
"""Stores defined in modules of their own, imported on first use by name."""
