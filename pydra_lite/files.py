"""Files and directories as task values: their content digests and the memo.

Owns the re-exported fileformats types (:class:`File`, :class:`Directory`,
:class:`FileSet`), the serializer that makes any fileformats value hashable by
:func:`pydra_lite.hashing.hash_object` and :func:`hash_file_contents`. Digests
are memoised in the persistent memo of ``hashing/memo.py``.
``docs/hashing.md`` fixes the format.

Algorithm:

* A file's digest is BLAKE3 of its bytes, truncated to 16 bytes; a file of
  4 MiB or more is memory-mapped and hashed on every core.
* A file set hashes as the tag ``fileset`` and, for each of its paths sorted by
  key, the key, ``file`` or ``dir``, and the digest. The key is the path
  relative to the set's common parent, less the common prefix of the names
  when all paths are siblings: a single file has the key ``""`` and
  ``sub-01.nii`` + ``sub-01.json`` have ``nii`` and ``json``, so moving or
  renaming a set keeps its digest. The fileformats class does not count: the
  same bytes given as ``File`` or as ``NiftiGz`` hash the same.
* A directory hashes as the relative path and digest of every file below it,
  in a depth-first walk with each directory's names sorted (symlinks followed,
  empty directories not counted).

Memo (``hashing/memo.py``): a row maps (kind, resolved path) to a signature and a
digest. A file's signature is its (size, mtime_ns, inode); a directory's is a
digest of the sorted (relative path, size, mtime_ns, inode) of every file below
it, so a warm directory costs one walk of ``stat`` calls and one lookup.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import PurePath
from stat import S_ISDIR

import blake3
from fileformats.core import FileSet
from fileformats.generic import Directory, File

from pydra_lite.hashing import DIGEST_SIZE, combine_digests, register_serializer
from pydra_lite.hashing.memo import MEMO, Row, file_signature, is_settled

__all__ = ["Directory", "File", "FileSet", "hash_file_contents"]

_MMAP_MIN = 4 << 20  # below this, one read() beats mapping and threading
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY


# --- digests of files and directories ---------------------------------------


def hash_file_contents(path: str | os.PathLike[str]) -> bytes:
    """The 16-byte BLAKE3 digest of a file's bytes, memoised.

    Args:
        path: the file; symlinks are resolved, so the memo key is the target.
    """
    real = os.path.realpath(path)
    digest, rows, _ = _file_digest(real, os.stat(real))
    MEMO.put(rows)
    return digest


def _hash_contents(path: str, size: int) -> bytes:
    """Read a file and hash it; the one place that reads file contents."""
    if size >= _MMAP_MIN:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        return hasher.update_mmap(path).digest(DIGEST_SIZE)
    with open(path, "rb") as stream:
        return blake3.blake3(stream.read()).digest(DIGEST_SIZE)


def _file_digest(path: str, stat: os.stat_result) -> tuple[bytes, list[Row], bool]:
    """A file's digest, the memo rows to write, and whether it may be memoised.

    A digest may be memoised when it came from the memo, or when the file was
    settled and unchanged from ``stat`` to the end of the read.
    """
    signature = file_signature(stat)
    digest = MEMO.get("file", path, signature)
    if digest is not None:
        return digest, [], True
    digest = _hash_contents(path, stat.st_size)
    after = os.stat(path)
    settled = is_settled(after, time.time_ns()) and _same(stat, after)
    return digest, [("file", path, signature, digest)] if settled else [], settled


def _same(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_size, before.st_mtime_ns, before.st_ino) == (
        after.st_size,
        after.st_mtime_ns,
        after.st_ino,
    )


def _walk(root: str) -> list[tuple[str, os.stat_result]]:
    """Every file below ``root`` as (relative posix path, stat), in order.

    Directories are opened by descriptor and entries stat'ed relative to it,
    so no path is resolved twice: each ``stat`` looks up one name in a
    directory already open.
    """
    found: list[tuple[str, os.stat_result]] = []
    ancestors: set[tuple[int, int]] = set()

    def visit(fd: int, prefix: str) -> None:
        here = os.fstat(fd)
        if (here.st_dev, here.st_ino) in ancestors:  # a symlink loop
            return
        ancestors.add((here.st_dev, here.st_ino))
        with os.scandir(fd) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        for entry in entries:
            if entry.is_dir():
                inner = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                try:
                    visit(inner, prefix + entry.name + "/")
                finally:
                    os.close(inner)
            else:
                found.append((prefix + entry.name, entry.stat()))
        ancestors.discard((here.st_dev, here.st_ino))

    top = os.open(root, _DIR_FLAGS)
    try:
        visit(top, "")
    finally:
        os.close(top)
    return found


def _directory_digest(root: str) -> bytes:
    """Digest of a directory: one walk, then one memo lookup when nothing changed."""
    files = _walk(root)
    listing = "".join(
        [f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n" for rel, st in files]
    )
    signature = blake3.blake3(_encode(listing)).digest(DIGEST_SIZE)
    digest = MEMO.get("dir", root, signature)
    if digest is not None:
        return digest
    parts: list[bytes] = []
    rows: list[Row] = []
    settled = True
    for relative, stat in files:
        file_digest, file_rows, file_settled = _file_digest(f"{root}/{relative}", stat)
        parts += [_encode(relative), file_digest]
        rows += file_rows
        settled = settled and file_settled
    digest = combine_digests(b"directory", *parts)
    if settled:
        rows.append(("dir", root, signature, digest))
    MEMO.put(rows)
    return digest


def _encode(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")  # undecodable names survive


# --- the serializer of file sets --------------------------------------------


def _member_keys(paths: list[str]) -> list[str]:
    """Location-free names of a file set's paths (see the module docstring)."""
    if len(paths) == 1:
        return [""]
    parent = os.path.commonpath([os.path.dirname(path) for path in paths])
    keys = [PurePath(os.path.relpath(path, parent)).as_posix() for path in paths]
    if all("/" not in key for key in keys):
        stem = len(os.path.commonprefix(keys))
        keys = [key[stem:] for key in keys]
    return keys


def _fileset_chunks(fileset: FileSet, cache: dict[int, int]) -> Iterator[bytes]:
    paths = [os.path.abspath(path) for path in fileset.fspaths]
    rows: list[Row] = []
    for key, path in sorted(zip(_member_keys(paths), paths, strict=True)):
        real = os.path.realpath(path)
        stat = os.stat(real)
        yield _encode(key)
        if S_ISDIR(stat.st_mode):
            yield b"dir"
            yield _directory_digest(real)
        else:
            digest, file_rows, _ = _file_digest(real, stat)
            rows += file_rows
            yield b"file"
            yield digest
    MEMO.put(rows)


register_serializer(FileSet, _fileset_chunks, tag=b"fileset")
