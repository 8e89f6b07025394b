"""What the ``json`` and ``nexus`` stores share: pickled blobs and file references.

A store that cannot hold a value natively pickles it (cloudpickle) into an
opaque blob, and gets the very same object back (ewoks' rule). Files are the
exception: a pickled ``fileformats`` object would hold absolute paths, which
break as soon as a cache directory is moved or mounted elsewhere. A
:class:`FileRef` holds a file set's class and its paths instead, each path
relative to the entry directory when the file is inside it, so that the entry
still resolves after its directory was moved.

On disk a class is its MIME-like name (``generic/file``, ``medimage/nifti-gz``)
when fileformats can map that name back to the same class, else the class is
pickled (a user's own subclass of ``File``, say).
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path
from typing import Any

import attrs
import cloudpickle
from fileformats.core import FileSet, from_mime, to_mime

from pydra_lite.errors import StoreError


def pickle_value(value: Any) -> bytes:
    """``value`` as cloudpickle bytes; StoreError when it cannot be pickled."""
    try:
        return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        msg = (
            f"cannot store a {type(value).__qualname__} ({_short(value)}): pickling "
            f"failed with {type(exc).__name__}: {exc}. Return a value that "
            "cloudpickle can serialise (or write it to a file in the output directory)"
        )
        raise StoreError(msg) from exc


def unpickle_value(data: bytes) -> Any:
    """The object pickled in ``data``."""
    return pickle.loads(data)


def is_fileset(value: Any) -> bool:
    """Whether ``value`` is a fileformats file set (stored as a FileRef)."""
    return isinstance(value, FileSet)


@attrs.frozen
class FileRef:
    """A file set as stored: its class and its paths.

    Attributes:
        type_: the MIME-like name of the class, or the pickled class.
        paths: one string per path, relative to the entry directory when the
            path is inside it, absolute otherwise.
    """

    type_: str | bytes
    paths: tuple[str, ...]

    @classmethod
    def from_fileset(cls, fileset: FileSet, entry: Path) -> FileRef:
        """The reference to ``fileset`` as seen from the entry directory ``entry``."""
        paths = tuple(sorted(_entry_relative(path, entry) for path in fileset.fspaths))
        return cls(_class_ref(type(fileset)), paths)

    def to_fileset(self, entry: Path) -> FileSet:
        """The file set at the entry's current location (it must exist)."""
        datatype = _class_from_ref(self.type_)
        return datatype(*(entry / path for path in self.paths))  # type: ignore[no-any-return]


def _entry_relative(path: Path, entry: Path) -> str:
    """``path`` relative to ``entry`` when inside it (also through symlinks)."""
    absolute, base = Path(os.path.abspath(path)), Path(os.path.abspath(entry))
    if absolute.is_relative_to(base):
        return absolute.relative_to(base).as_posix()
    resolved, base = absolute.resolve(), base.resolve()
    if resolved.is_relative_to(base):
        return resolved.relative_to(base).as_posix()
    return str(absolute)


def _class_ref(datatype: type[FileSet]) -> str | bytes:
    mime = _mime_of(datatype)
    return mime if mime is not None else pickle_value(datatype)


def _class_from_ref(ref: str | bytes) -> type[FileSet]:
    datatype = _class_of(ref) if isinstance(ref, str) else unpickle_value(ref)
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
def _class_of(mime: str) -> type[FileSet]:
    return from_mime(mime)  # type: ignore[no-any-return]


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:
        return "unrepresentable"
    return text if len(text) <= limit else text[: limit - 3] + "..."
