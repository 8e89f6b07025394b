"""What every store shares: pickled values, and checked file references.

A store that cannot hold a value natively pickles it (cloudpickle) into an
opaque blob, and gets the very same object back (ewoks' rule).

Files are never stored as they are: a pickled ``fileformats`` object would hold
absolute paths, which break as soon as a cache directory is moved or mounted
elsewhere, and a file can be deleted or changed after its result was
published. So every store, whatever its format, records each path of a file
set the same way (:func:`record_paths`):

* a path inside the cache root that holds the entry (the entry directory's
  parent) relative to the entry directory: ``out.txt`` for the entry's own
  files, ``../Other-<checksum>/out.txt`` for a file of another entry (a split
  node's gathered outputs, a file passed through a workflow); any other path
  absolute (an input file passed through, a file the task wrote elsewhere);
* with the size and ``mtime_ns`` it had when the result was published (a
  directory: its mtime only, none for a directory that holds the entry itself,
  which the result file changes).

Reading it back (:func:`checked_paths`) resolves each path against the entry's
*current* directory and costs one ``stat`` per path (no re-hashing): a path
that is missing, of another kind, or whose size or mtime differ raises
:class:`InvalidEntryError` naming the file and what changed, which the cache
turns into a miss with a warning. So a moved cache still resolves its files
inside its entries, and a deleted or modified output file is never a hit.

The ``json`` and ``nexus`` stores write a :class:`FileRef` (the class as its
MIME-like name when fileformats maps that name back to the same class, else
the pickled class; the paths; their stats). Pickled values, in every store
(the ``pickle`` store's whole payload, and the blobs of the others), go
through :func:`pickle_value`, whose pickler reduces each file set, wherever it
is nested, to the same record, and :func:`unpickle_value` checks and resolves
it against the entry being read.
"""

from __future__ import annotations

import contextvars
import copyreg
import functools
import io
import os
import pickle
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import cloudpickle
from fileformats.core import FileSet, from_mime, to_mime

from pydra_lite.errors import InvalidEntryError, StoreError

Stats = tuple[tuple[int, int], ...]
"""``(size, mtime_ns)`` of each path; -1 where it is not checked."""

_UNCHECKED = -1

_READING: contextvars.ContextVar[str] = contextvars.ContextVar("result_file")
"""The result file being unpickled: its directory is the entry files resolve in."""


def pickle_value(value: Any, entry: str) -> bytes:
    """``value`` as cloudpickle bytes, its file sets recorded as seen from ``entry``.

    Raises:
        StoreError: when the value cannot be pickled.
    """
    stream = io.BytesIO()
    try:
        EntryPickler(stream, entry).dump(value)
    except StoreError:
        raise
    except Exception as exc:
        msg = (
            f"cannot store a {type(value).__qualname__} ({_short(value)}): pickling "
            f"failed with {type(exc).__name__}: {exc}. Return a value that "
            "cloudpickle can serialise (or write it to a file in the output directory)"
        )
        raise StoreError(msg) from exc
    return stream.getvalue()


def unpickle_value(data: bytes, result_file: str) -> Any:
    """The object pickled in ``data`` (by :func:`pickle_value`) in ``result_file``.

    Its file sets are resolved in the directory of ``result_file`` and checked.

    Raises:
        InvalidEntryError: when a file set's file is missing or changed.
    """
    token = _READING.set(result_file)
    try:
        return pickle.loads(data)
    finally:
        _READING.reset(token)


class EntryPickler(cloudpickle.Pickler):
    """cloudpickle, with each file set reduced to its checked path record."""

    def __init__(self, stream: io.BytesIO, entry: str) -> None:
        super().__init__(stream, protocol=pickle.HIGHEST_PROTOCOL)
        self._entry = entry

    def reducer_override(self, obj: Any) -> Any:
        # A class is hashable; mypy checks the instances' __hash__ instead.
        if _is_fileset_type(type(obj)):  # type: ignore[arg-type]
            return _reduce_fileset(obj, self._entry)
        return super().reducer_override(obj)


def is_fileset(value: Any) -> bool:
    """Whether ``value`` is a fileformats file set (stored as a FileRef)."""
    return isinstance(value, FileSet)


@functools.lru_cache(maxsize=1024)
def _is_fileset_type(kind: type) -> bool:
    return issubclass(kind, FileSet)


@attrs.frozen
class FileRef:
    """A file set as stored: its class, its paths, and their stats when published.

    Attributes:
        type_: the MIME-like name of the class, or the pickled class.
        paths: one string per path, relative to the entry directory when the
            path is inside the entry's cache root, absolute otherwise.
        stats: ``(size, mtime_ns)`` of each path when it was recorded (see
            :func:`record_paths`).
    """

    type_: str | bytes
    paths: tuple[str, ...]
    stats: Stats

    @classmethod
    def from_fileset(cls, fileset: FileSet, entry: str) -> FileRef:
        """The reference to ``fileset`` as seen from the entry directory ``entry``."""
        return cls(_class_ref(type(fileset)), *record_paths(fileset, entry))

    def to_fileset(self, entry: str) -> FileSet:
        """The file set at the entry's current location, if it is unchanged.

        Raises:
            InvalidEntryError: when a path is missing or changed since recorded.
        """
        datatype = _class_from_ref(self.type_)
        return datatype(*checked_paths(self.paths, self.stats, entry))


def record_paths(fileset: FileSet, entry: str) -> tuple[tuple[str, ...], Stats]:
    """Each path of ``fileset`` as stored from ``entry``, and its stats now.

    Raises:
        StoreError: when a path does not exist.
    """
    base = os.path.abspath(entry)
    records = sorted(
        (_entry_relative(path, base), os.path.abspath(path)) for path in fileset.fspaths
    )
    return tuple(stored for stored, _ in records), tuple(
        _stat_record(path, base) for _, path in records
    )


def _stat_record(path: str, entry: str) -> tuple[int, int]:
    try:
        info = os.stat(path)
    except OSError as exc:
        msg = f"output file {path} cannot be recorded: {exc}"
        raise StoreError(msg) from exc
    if not stat.S_ISDIR(info.st_mode):
        return info.st_size, info.st_mtime_ns
    if _is_inside(entry, path) or entry == path:  # the result file changes it
        return _UNCHECKED, _UNCHECKED
    return _UNCHECKED, info.st_mtime_ns


def checked_paths(paths: tuple[str, ...], stats: Stats, entry: str) -> list[str]:
    """``paths`` resolved against the entry directory ``entry``, each unchanged.

    One ``stat`` per path. A size of -1 stands for a directory.

    Raises:
        InvalidEntryError: naming the first path that is missing or changed.
    """
    if len(paths) != len(stats):
        msg = f"a file reference has {len(paths)} paths but {len(stats)} stats"
        raise InvalidEntryError(msg)
    resolved = []
    for path, (size, mtime) in zip(paths, stats, strict=True):
        full = os.path.normpath(os.path.join(entry, path))
        _check_path(full, size, mtime)
        resolved.append(full)
    return resolved


def _check_path(path: str, size: int, mtime: int) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        msg = f"output file {path} is missing (deleted, or moved out of the cache)"
        raise InvalidEntryError(msg) from None
    except OSError as exc:
        msg = f"output file {path} cannot be checked: {exc}"
        raise InvalidEntryError(msg) from exc
    is_dir = stat.S_ISDIR(info.st_mode)
    if is_dir != (size == _UNCHECKED):
        now, then = ("directory", "file") if is_dir else ("file", "directory")
        msg = f"output file {path} is now a {now}, it was a {then} when published"
        raise InvalidEntryError(msg)
    if size != _UNCHECKED and info.st_size != size:
        msg = (
            f"output file {path} has changed: {info.st_size} bytes, "
            f"{size} when its result was published"
        )
        raise InvalidEntryError(msg)
    if mtime != _UNCHECKED and info.st_mtime_ns != mtime:
        msg = (
            f"output file {path} was modified after its result was published "
            f"(modified {_when(info.st_mtime_ns)}, published at {_when(mtime)})"
        )
        raise InvalidEntryError(msg)


def _when(mtime_ns: int) -> str:
    seconds, nanoseconds = divmod(mtime_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{moment}.{nanoseconds:09d} UTC"


# ---------------------------------------------------------------- pickling


def _reduce_fileset(fileset: FileSet, entry: str) -> tuple[Any, ...]:
    """How :class:`EntryPickler` writes a file set: its record instead of its paths.

    A file set whose own reduction is the usual ``__newobj__`` with a state
    dict comes back as that object (metadata and all) with its paths resolved
    and checked, without fileformats' validation, as a plain unpickle would; any
    other through its class, as the json store does.
    """
    paths, stats = record_paths(fileset, entry)
    reduced = fileset.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    state = reduced[2] if len(reduced) > 2 else None  # noqa: PLR2004 (the reduce tuple)
    if (
        reduced[0] is copyreg.__newobj__  # type: ignore[attr-defined]
        and reduced[1] == (type(fileset),)
        and len(reduced) == 5  # noqa: PLR2004 (no state setter of its own)
        and reduced[3] is None
        and reduced[4] is None
        and isinstance(state, dict)
        and "fspaths" in state
    ):
        rest = {key: value for key, value in state.items() if key != "fspaths"}
        kind = type(fileset)
        return _new_fileset, (kind,), (paths, stats, rest), None, None, _restore
    return _rebuild_fileset, (type(fileset), paths, stats)


def _new_fileset(kind: type[FileSet]) -> FileSet:
    return kind.__new__(kind)


def _restore(fileset: FileSet, state: tuple[tuple[str, ...], Stats, dict]) -> None:
    paths, stats, rest = state
    resolved = checked_paths(paths, stats, _reading_entry())
    fileset.__dict__.update(rest)
    fileset.__dict__["fspaths"] = frozenset(Path(path) for path in resolved)


def _rebuild_fileset(
    kind: type[FileSet], paths: tuple[str, ...], stats: Stats
) -> FileSet:
    return kind(*checked_paths(paths, stats, _reading_entry()))


def _reading_entry() -> str:
    try:
        return os.path.dirname(_READING.get())
    except LookupError:
        msg = "a stored file set is read through its store (unpickle_value)"
        raise InvalidEntryError(msg) from None


# ---------------------------------------------------------------- paths and classes


def _entry_relative(path: Path | str, base: str) -> str:
    """``path`` relative to the entry ``base`` when inside the entry's cache root."""
    absolute = os.path.abspath(path)
    if _is_inside(absolute, os.path.dirname(base)):
        return os.path.relpath(absolute, base)
    resolved, real_base = os.path.realpath(absolute), os.path.realpath(base)
    if _is_inside(resolved, os.path.dirname(real_base)):
        return os.path.relpath(resolved, real_base)
    return absolute


def _is_inside(path: str, root: str) -> bool:
    """Whether ``path`` is below ``root`` (never true for the filesystem root)."""
    if os.path.dirname(root) == root:
        return False
    return os.path.commonpath((path, root)) == root


def _class_ref(datatype: type[FileSet]) -> str | bytes:
    mime = _mime_of(datatype)
    return mime if mime is not None else _pickle_class(datatype)


def _pickle_class(datatype: type[FileSet]) -> bytes:
    try:
        return cloudpickle.dumps(datatype, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        msg = f"cannot store the file class {datatype!r}: {type(exc).__name__}: {exc}"
        raise StoreError(msg) from exc


def _class_from_ref(ref: str | bytes) -> type[FileSet]:
    datatype = _class_of(ref) if isinstance(ref, str) else pickle.loads(ref)
    if not (isinstance(datatype, type) and issubclass(datatype, FileSet)):
        msg = f"stored file class {ref!r} is a {datatype!r}, not a FileSet class"
        raise TypeError(msg)
    return datatype


@functools.lru_cache(maxsize=256)
def _mime_of(datatype: type[FileSet]) -> str | None:
    """The MIME-like name that fileformats maps back to ``datatype``, if any."""
    try:
        mime = to_mime(datatype, official=False)
        return mime if from_mime(mime) is datatype else None
    except Exception:  # not in the fileformats namespace: pickle the class instead
        return None


@functools.lru_cache(maxsize=256)
def _class_of(mime: str) -> type:
    return from_mime(mime)


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:
        return "unrepresentable"
    return text if len(text) <= limit else text[: limit - 3] + "..."
