"""Result stores: how a job's outputs are written to and read from its entry.

A store writes one result file per entry and reads it back. The file embeds
the checksum it was written for, and a store's ``load`` raises
:class:`InvalidEntryError` for a file that is truncated, corrupt or names another
checksum, or whose outputs name a file that is missing or changed since the
result was published: the cache turns that into a miss with a warning, never a
wrong hit. Every store records and checks files the same way
(:mod:`~pydra_lite.engine.stores.encoding`): each path relative to the entry
when inside the cache, with its size and mtime, so that a moved cache still
resolves its files inside its entries and a warm lookup costs one ``stat`` per
output file.

Every store writes through :func:`atomic_target` (a temporary file in the same
directory, then ``os.replace``), so a reader sees either no file or a complete
one, whatever moment a writer is killed at.

Stores are found by name in a registry (:func:`register_store` /
:func:`get_store`) that holds a factory or a dotted path, as the worker
registry does: ``pickle`` is built in, ``json`` and ``nexus`` are imported
from their own modules when first named (``nexus`` needs h5py).
"""

from __future__ import annotations

import os
import pickle
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

from pydra_lite.engine.dotted import load_dotted
from pydra_lite.engine.stores.encoding import pickle_value, unpickle_value
from pydra_lite.errors import InvalidEntryError, StoreError

RESULT_FORMAT = 2
"""Version of the layout of the payload inside every store's result file.

2: file sets are recorded with the size and mtime of each path
(:mod:`pydra_lite.engine.stores.encoding`), and checked when read.
"""


class Store(ABC):
    """Writes and reads one job's outputs; subclasses add a file format."""

    name: ClassVar[str]
    filename: ClassVar[str]

    @abstractmethod
    def dump(self, path: str, checksum: str, outputs: dict[str, Any]) -> None:
        """Write ``outputs`` for ``checksum`` to ``path``, atomically."""

    @abstractmethod
    def load(self, path: str, checksum: str) -> dict[str, Any]:
        """Read the outputs in ``path``; raise InvalidEntryError if untrustworthy."""


class PickleStore(Store):
    """cloudpickle: any Python object, the fastest to write and read."""

    name = "pickle"
    filename = "_result.pkl"

    def dump(self, path: str, checksum: str, outputs: dict[str, Any]) -> None:
        payload = (RESULT_FORMAT, checksum, outputs)
        if _all_plain(outputs):  # no file set to record: the fast path
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            try:
                data = pickle_value(payload, os.path.dirname(path))
            except StoreError as exc:
                msg = f"{path}: cannot store the outputs: {exc}"
                raise StoreError(msg) from exc
        write_atomic(path, data)

    def load(self, path: str, checksum: str) -> dict[str, Any]:
        with open(path, "rb") as stream:
            data = stream.read()
        try:
            fmt, found, outputs = unpickle_value(data, path)
        except InvalidEntryError as exc:  # an output file missing or changed
            msg = f"{path}: {exc}"
            raise InvalidEntryError(msg) from exc
        except Exception as exc:
            msg = f"{path}: unreadable ({type(exc).__name__}: {exc})"
            raise InvalidEntryError(msg) from exc
        return check_payload(path, checksum, fmt, found, outputs)


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
    both, and ``pickle.dumps`` skips the cloudpickle Pickler that
    ``cloudpickle.dumps`` sets up afresh for every call. Anything else (a
    class or function defined in ``__main__`` travels by value only through
    cloudpickle) goes through cloudpickle. ``tests/test_stand_ins.py`` checks
    that both write the same bytes for plain outputs.
    """
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return True
    if kind is list or kind is tuple:
        return all(type(item) in _PLAIN_TYPES for item in value)
    return False


def check_payload(
    path: str, checksum: str, fmt: Any, found: Any, outputs: Any
) -> dict[str, Any]:
    """The outputs of a decoded result file, if it is one we can trust."""
    if fmt != RESULT_FORMAT:
        msg = f"{path}: result format {fmt!r}, this version reads {RESULT_FORMAT}"
        raise InvalidEntryError(msg)
    if found != checksum:
        msg = f"{path}: written for checksum {found!r}, not {checksum!r}"
        raise InvalidEntryError(msg)
    if not isinstance(outputs, dict):
        msg = f"{path}: outputs are a {type(outputs).__name__}, not a dict"
        raise InvalidEntryError(msg)
    return outputs


@contextmanager
def atomic_target(path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary path beside ``path`` that becomes ``path`` when the block ends.

    This is the cache's one temp-then-rename primitive: a reader sees either
    no file or a complete one, whatever moment a writer is killed at. The
    temporary name holds the pid so that two writers never share one; if the
    block raises, the temporary file is removed and ``path`` is untouched.
    No fsync: after a power loss a file may be empty, which every store
    detects as invalid.
    """
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):  # never hide why the write failed
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_target`."""
    with atomic_target(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (one call for small files)."""
    written = os.write(fd, data)
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]


_STORES: dict[str, str | Callable[[], Store]] = {
    "pickle": PickleStore,
    "json": "pydra_lite.engine.stores.json_store:JsonStore",
    "nexus": "pydra_lite.engine.stores.nexus_store:NexusStore",
}
"""Stores by name: a factory, or ``"module:Class"`` imported on first use."""


def register_store(name: str, factory: str | Callable[[], Store]) -> None:
    """Make a store available to ``Submitter(store=name)``.

    ``factory`` is a callable returning a :class:`Store` (a Store subclass), or
    its dotted path ``"package.module:StoreClass"``, imported when first named.
    """
    _STORES[name] = factory


def get_store(spec: str | Store) -> Store:
    """The store named ``spec`` (or ``spec`` itself when it is a Store)."""
    if isinstance(spec, Store):
        return spec
    factory = _STORES.get(spec)
    if factory is None:
        known = ", ".join(sorted(_STORES))
        msg = (
            f"unknown result store {spec!r}; known stores: {known}. "
            "Register your own with pydra_lite.register_store(name, factory)"
        )
        raise StoreError(msg)
    return (_import(spec, factory) if isinstance(factory, str) else factory)()


def _import(spec: str, target: str) -> Callable[[], Store]:
    extra = "" if spec in ("json", "pickle") else spec
    factory: Callable[[], Store] = load_dotted(
        "the result store", spec, target, StoreError, extra
    )
    return factory
