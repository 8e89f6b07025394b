"""Files and directories as task values: their content digests and the memo.

Owns the re-exported fileformats types (:class:`File`, :class:`Directory`,
:class:`FileSet`), the serializer that makes any fileformats value hashable by
:func:`pydra_lite.hash.hash_object`, :func:`hash_file_contents` and the
persistent :class:`HashMemo`. ``docs/hashing.md`` fixes the format.

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

On-disk state: one SQLite database in WAL mode (several processes read and
write it at once), at ``$PYDRA_LITE_HASH_MEMO`` or
``user_cache_dir("pydra-lite")/hash-memo-v{FORMAT_VERSION}.sqlite``. A row maps
(kind, resolved path) to a signature and a digest. A file's signature is its
(size, mtime_ns, inode); a directory's is a digest of the sorted (relative
path, size, mtime_ns, inode) of every file below it, so a warm directory costs
one walk of ``stat`` calls and one lookup. A dict in each process sits in front
of the database. Nothing modified less than :data:`SETTLE_SECONDS` before it
was hashed is memoised: a write within the file system's mtime granularity
would not change the signature.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePath
from stat import S_ISDIR
from typing import Any

import blake3
import platformdirs
from fileformats.core import FileSet
from fileformats.generic import Directory, File

from pydra_lite.errors import CacheWarning
from pydra_lite.hash import DIGEST_SIZE, FORMAT_VERSION, combine_digests
from pydra_lite.hash import register_serializer as _register_serializer

__all__ = [
    "Directory",
    "File",
    "FileSet",
    "HashMemo",
    "hash_file_contents",
    "memo_path",
    "reset_memo",
]

#: Files modified this recently are not memoised. 2 s is the coarsest mtime
#: granularity in use (FAT); NFS and SMB clocks may also lag the local clock.
SETTLE_SECONDS = 2.0
_MMAP_MIN = 4 << 20  # below this, one read() beats mapping and threading
_LOCAL_MAX = 1_000_000  # entries kept in a process before its dict is cleared
_signature = struct.Struct("<QqQ").pack  # size, mtime_ns, inode
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY

Row = tuple[str, str, bytes, bytes]  # kind, path, signature, digest


def memo_path() -> Path:
    """Where the persistent memo lives: ``$PYDRA_LITE_HASH_MEMO`` or the cache dir."""
    override = os.environ.get("PYDRA_LITE_HASH_MEMO")
    if override:
        return Path(override)
    directory = Path(platformdirs.user_cache_dir("pydra-lite"))
    return directory / f"hash-memo-v{FORMAT_VERSION}.sqlite"


class HashMemo:
    """Digests of files and directories, valid while their signature holds.

    The database is opened on first use in each process (a forked child opens
    its own) and every error it raises degrades the memo to this process's
    dict, with one :class:`CacheWarning`: the memo is an accelerator, never a
    reason to fail.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._local: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._disabled = False
        self._inherited: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self, kind: str, path: str, signature: bytes) -> bytes | None:
        """The digest memoised for ``path`` if its signature is still ``signature``."""
        hit = self._local.get((kind, path))
        if hit is None:
            hit = self._select(kind, path)
            if hit is not None:
                self._local[(kind, path)] = hit
        return hit[1] if hit is not None and hit[0] == signature else None

    def put(self, rows: Iterable[Row]) -> None:
        """Memoise rows of (kind, path, signature, digest) in one transaction."""
        rows = list(rows)
        if not rows:
            return
        if len(self._local) > _LOCAL_MAX:
            self._local.clear()
        for kind, path, signature, digest in rows:
            self._local[(kind, path)] = (signature, digest)
        self._execute(
            "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?)", rows, many=True
        )

    def reset(self) -> None:
        """Forget this process's entries and close the database (reopened lazily)."""
        with self._lock:
            self._local.clear()
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None
            self._disabled = False

    def forget_connection(self) -> None:
        """In a forked child: never use (nor close) the parent's connection."""
        self._lock = threading.Lock()  # the parent may have held it at the fork
        self._drop_inherited()

    def _drop_inherited(self) -> None:
        if self._db is not None and self._pid != os.getpid():
            self._inherited.append(self._db)  # closing it could disturb the parent
            self._db = None

    def _select(self, kind: str, path: str) -> tuple[bytes, bytes] | None:
        rows = self._execute(
            "SELECT signature, digest FROM digests WHERE kind = ? AND path = ?",
            (kind, path),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def _execute(self, sql: str, params: Any, many: bool = False) -> list[Any]:
        with self._lock:
            db = self._connection()
            if db is None:
                return []
            try:
                if many:
                    with db:  # one transaction for the whole batch
                        db.executemany(sql, params)
                    return []
                return db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                self._disable(exc)
                return []

    def _connection(self) -> sqlite3.Connection | None:
        self._drop_inherited()  # also without the at-fork hook (e.g. a C fork)
        if self._db is None and not self._disabled:
            try:
                self._db = self._open(self._path or memo_path())
                self._pid = os.getpid()
            except (sqlite3.Error, OSError) as exc:
                self._disable(exc)
        return self._db

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
        db.execute("PRAGMA synchronous=NORMAL")  # a memo may lose its last rows
        db.execute(
            "CREATE TABLE IF NOT EXISTS digests (kind TEXT, path TEXT, "
            "signature BLOB, digest BLOB, PRIMARY KEY (kind, path)) WITHOUT ROWID"
        )
        db.commit()
        return db

    def _disable(self, exc: BaseException) -> None:
        self._disabled = True
        self._db = None
        msg = (
            f"the file hash memo {self._path or memo_path()} cannot be used ({exc}); "
            "file digests are memoised in this process only. Set "
            "PYDRA_LITE_HASH_MEMO to a writable local path to fix it"
        )
        warnings.warn(msg, CacheWarning, stacklevel=4)


_MEMO = HashMemo()
os.register_at_fork(after_in_child=_MEMO.forget_connection)


def reset_memo() -> None:
    """Drop this process's memo state, as a new process would start."""
    _MEMO.reset()


# --- digests of files and directories ---------------------------------------


def hash_file_contents(path: str | os.PathLike[str]) -> bytes:
    """The 16-byte BLAKE3 digest of a file's bytes, memoised.

    Args:
        path: the file; symlinks are resolved, so the memo key is the target.
    """
    real = os.path.realpath(path)
    digest, rows, _ = _file_digest(real, os.stat(real))
    _MEMO.put(rows)
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
    signature = _signature(stat.st_size, stat.st_mtime_ns, stat.st_ino)
    digest = _MEMO.get("file", path, signature)
    if digest is not None:
        return digest, [], True
    digest = _hash_contents(path, stat.st_size)
    after = os.stat(path)
    settled = _is_settled(after, time.time_ns()) and _same(stat, after)
    return digest, [("file", path, signature, digest)] if settled else [], settled


def _same(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_size, before.st_mtime_ns, before.st_ino) == (
        after.st_size,
        after.st_mtime_ns,
        after.st_ino,
    )


def _is_settled(stat: os.stat_result, now_ns: int) -> bool:
    return now_ns - stat.st_mtime_ns > SETTLE_SECONDS * 1e9


def _walk(root: str) -> list[tuple[str, os.stat_result]]:
    """Every file below ``root`` as (relative posix path, stat), in order.

    Directories are opened by descriptor and entries stat'ed relative to it:
    no path is resolved twice, which makes the walk nearly as cheap as
    ``os.stat`` on a list of the files' paths.
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
    digest = _MEMO.get("dir", root, signature)
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
    _MEMO.put(rows)
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
    _MEMO.put(rows)


_register_serializer(FileSet, _fileset_chunks, tag=b"fileset")
