"""The persistent memo: digests that stay valid while a signature holds.

Owns :class:`HashMemo` and the process's one instance, used by ``files.py``
(file and directory contents, keyed by path and stat signature) and by
``source.py`` and ``code.py`` (canonical source and bytecode reads of
functions, keyed by their file's signature or their bytecode). Hashing is
pure; the memo only skips work whose inputs are unchanged, so losing it (a
read-only disk, a deleted file) costs time and never a wrong digest.

On-disk state: one SQLite database (several processes read and write it at
once), at ``$PYDRA_LITE_HASH_MEMO`` or
``user_cache_dir("pydra-lite")/hash-memo-v{FORMAT_VERSION}.{MEMO_LAYOUT}.sqlite``.
Its journal is SQLite's default rollback journal, not WAL: WAL does not work
on network file systems (a home directory on a cluster), and every process
opening a WAL database sets up its shared-memory index, a cost every warm run
would pay, while the memo's writes, which make readers wait, are rare and
short. A row maps (kind, key) to a signature and a digest. A dict in each
process sits in front of the database. Nothing modified less than
:data:`SETTLE_SECONDS` before it was hashed is memoised: a write within the
file system's mtime granularity would not change the signature.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from stat import S_ISREG
from typing import Any

import platformdirs

from pydra_lite.errors import CacheWarning
from pydra_lite.hashing.digest import FORMAT_VERSION

__all__ = [
    "MEMO",
    "MEMO_LAYOUT",
    "SETTLE_SECONDS",
    "HashMemo",
    "by_file",
    "file_signature",
    "is_settled",
    "memo_path",
    "reset_memo",
]

#: Files modified this recently are not memoised. 2 s is the coarsest mtime
#: granularity in use (FAT); NFS and SMB clocks may also lag the local clock.
SETTLE_SECONDS = 2.0
#: Bumped when the database's table or journal changes: a new file, not a migration.
MEMO_LAYOUT = 2
_LOCAL_MAX = 1_000_000  # entries kept in a process before its dict is cleared
_signature = struct.Struct("<QqQ").pack  # size, mtime_ns, inode

Row = tuple[str, str, bytes, bytes]  # kind, key, signature, digest


def file_signature(stat: os.stat_result) -> bytes:
    """What must not change for a digest of a file to stay valid."""
    return _signature(stat.st_size, stat.st_mtime_ns, stat.st_ino)


def is_settled(stat: os.stat_result, now_ns: int) -> bool:
    """Whether a file is old enough for its signature to reveal the next write."""
    return now_ns - stat.st_mtime_ns > SETTLE_SECONDS * 1e9


def by_file(kind: str, key: str, path: str, compute: Callable[[], bytes]) -> bytes:
    """``compute()``, a value that depends on the file at ``path`` only,
    memoised under the file's signature.

    Not memoised: a path that is not a regular file (a notebook cell's made-up
    name), a file saved within :data:`SETTLE_SECONDS`, a file that changed
    while ``compute`` ran.
    """
    state = _file_state(path)
    if state is None:
        return compute()
    hit = MEMO.get(kind, key, state[0])
    if hit is not None:
        return hit
    value = compute()
    if state[1] and _file_state(path) == state:
        MEMO.put([(kind, key, state[0], value)])
    return value


def _file_state(path: str) -> tuple[bytes, bool] | None:
    """A regular file's signature and whether it is settled."""
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    if not S_ISREG(stat.st_mode):
        return None
    return file_signature(stat), is_settled(stat, time.time_ns())


def memo_path() -> Path:
    """Where the persistent memo lives: ``$PYDRA_LITE_HASH_MEMO`` or the cache dir."""
    override = os.environ.get("PYDRA_LITE_HASH_MEMO")
    if override:
        return Path(override)
    directory = Path(platformdirs.user_cache_dir("pydra-lite"))
    return directory / f"hash-memo-v{FORMAT_VERSION}.{MEMO_LAYOUT}.sqlite"


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
        """Memoise rows of (kind, key, signature, digest) in one transaction."""
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
        # Fewer syncs than FULL: a power cut at a bad moment may damage the
        # file (never give a wrong digest: signature and digest share a row);
        # the memo then warns, runs in memory, and says to delete the file.
        db.execute("PRAGMA synchronous=NORMAL")
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
            f"the hash memo {self._path or memo_path()} cannot be used ({exc}); "
            "digests are memoised in this process only. Delete the file if it "
            "is damaged, or set PYDRA_LITE_HASH_MEMO to a writable local path"
        )
        warnings.warn(msg, CacheWarning, stacklevel=4)


MEMO = HashMemo()
os.register_at_fork(after_in_child=MEMO.forget_connection)


def reset_memo() -> None:
    """Drop this process's memo state, as a new process would start."""
    MEMO.reset()
