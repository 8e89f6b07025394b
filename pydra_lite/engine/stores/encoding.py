"""What the ``json`` and ``nexus`` stores share: pickled blobs and file references.

A store that cannot hold a value natively pickles it (cloudpickle) into an
opaque blob, and gets the very same object back (ewoks' rule). Files are the
exception: a pickled ``fileformats`` object would hold absolute paths, which
break as soon as a cache directory is moved or mounted elsewhere. A
:class:`FileRef` holds a file set's class and its paths instead. A path inside
the cache root that holds the entry (the entry directory's parent) is stored
relative to the entry directory: ``out.txt`` for the entry's own files,
``../Other-<checksum>/out.txt`` for a file of another entry (a split node's
gathered outputs, a file passed through a workflow). Any other path is stored
absolute. So an entry still resolves after its cache directory was moved.

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
            path is inside the entry's cache root, absolute otherwise.
    """

    type_: str | bytes
    paths: tuple[str, ...]

    @classmethod
    def from_fileset(cls, fileset: FileSet, entry: str) -> FileRef:
        """The reference to ``fileset`` as seen from the entry directory ``entry``."""
        paths = tuple(sorted(_entry_relative(path, entry) for path in fileset.fspaths))
        return cls(_class_ref(type(fileset)), paths)

    def to_fileset(self, entry: str) -> FileSet:
        """The file set at the entry's current location (it must exist)."""
        datatype = _class_from_ref(self.type_)
        paths = (os.path.normpath(os.path.join(entry, path)) for path in self.paths)
        return datatype(*paths)


def _entry_relative(path: Path, entry: str) -> str:
    """``path`` relative to ``entry`` when inside the entry's cache root."""
    absolute, base = os.path.abspath(path), os.path.abspath(entry)
    if _is_inside(absolute, os.path.dirname(base)):
        return os.path.relpath(absolute, base)
    resolved, base = os.path.realpath(absolute), os.path.realpath(base)
    if _is_inside(resolved, os.path.dirname(base)):
        return os.path.relpath(resolved, base)
    return absolute


def _is_inside(path: str, root: str) -> bool:
    """Whether ``path`` is below ``root`` (never true for the filesystem root)."""
    if os.path.dirname(root) == root:
        return False
    return os.path.commonpath((path, root)) == root


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
def _class_of(mime: str) -> type:
    return from_mime(mime)


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:
        return "unrepresentable"
    return text if len(text) <= limit else text[: limit - 3] + "..."
