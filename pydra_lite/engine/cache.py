"""The on-disk cache: entries named by checksum, atomic publication, locks.

Layout of one entry, ``<root>/<TaskName>-<checksum>/``:

* the store's result file (``_result.pkl``, ``_result.json``, ``_result.h5``),
  written last and atomically: its presence, intact and naming its own
  checksum, is what makes the entry valid;
* ``_provenance.json``: what ran, on what, when (written just before);
* ``_error.json`` instead of a result when the task failed: an errored entry is
  recorded but never a hit;
* whatever files the task wrote.

Is an entry in the cache and valid? It is when, in the first root of
``(root, *readonly)`` that has it: the result file exists, decodes completely,
and names the checksum asked for. Anything else is a miss; an unreadable file
is also a :class:`CacheWarning`.

Locks: one OS-level lock per checksum, as a one-byte ``fcntl`` record lock at
an offset derived from the checksum in a single ``<root>/.locks`` file per
process. The kernel releases it when the process dies, so a killed run never
blocks anyone; there is no lock file per entry to create or clean up; and
record locks also work across NFS clients. Record locks do not exclude threads
of one process, so a small table of striped thread locks sits in front.

Claiming an entry to run it (:meth:`Cache.claim`, under the lock): ``mkdir``
the entry directory. When that succeeds the entry did not exist in the root,
so no process can have finished it and there is nothing to load; only when the
directory exists is the result file read, and the directory emptied if that is
not a valid entry (or if the state is rerun). A cold state thus costs one
``mkdir``, the provenance file and the atomic result write.

The rule that makes this safe: once a state is claimed to run, nothing in its
entry is a hit until a new result is published. Emptying an entry therefore
removes every result file first, of every store (``_result.*``, and the
current store's file whatever its name), with ``_error.json``, and only then
the task's files: a process killed at any moment leaves no result beside
files it destroyed. A result written by another store is not kept when a
state runs again (it would sit beside the files of the new run). An errored
entry holds no result either: :meth:`Cache.record_error` removes any before
writing ``_error.json``, and a result is only published into an entry just
claimed, so :meth:`Cache.load` needs no look at ``_error.json`` to never
return an errored entry.

An entry is emptied only when it is a directory of its own: a symlink (or a
file) named like an entry is refused with a :class:`~pydra_lite.errors.CacheEntryError` naming
it, and a symlink inside an entry is unlinked, never followed.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import json
import os
import shutil
import stat
import threading
import warnings
from contextlib import suppress
from pathlib import Path
from typing import Any, NoReturn

import attrs
import platformdirs

from pydra_lite.engine.stores.base import (
    Store,
    get_store,
    write_all,
    write_atomic,
)
from pydra_lite.errors import (
    CacheEntryError,
    CacheError,
    CacheWarning,
    InvalidEntryError,
)

CACHE_FORMAT_VERSION = 3
"""Bumped with any change to digests or to the entry layout; keys the default root."""

CACHE_DIR_ENV = "PYDRA_LITE_CACHE_DIR"
PROVENANCE_FILE = "_provenance.json"
ERROR_FILE = "_error.json"

READONLY_FIX = (
    "give a writable cache_dir and pass this one as readonly_caches=[...] "
    "to read its entries without writing"
)
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_READONLY = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_NOT_A_DIR = frozenset({errno.ENOTDIR, errno.EEXIST})
_UNWRITABLE = _FULL | _READONLY | _NOT_A_DIR
"""What an unusable cache directory raises when written to: full, read-only, a file."""


def default_cache_dir() -> Path:
    """``$PYDRA_LITE_CACHE_DIR``, else a per-user directory keyed by the format."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    base = Path(platformdirs.user_cache_dir("pydra-lite"))
    return base / f"cache-v{CACHE_FORMAT_VERSION}"


@attrs.frozen
class CacheSpec:
    """What a worker needs to open the same cache in another process."""

    root: Path
    readonly: tuple[Path, ...] = ()
    store: str | Store = "pickle"


@attrs.frozen(slots=True)
class Entry:
    """A valid cache entry: its directory and its outputs."""

    output_dir: Path
    outputs: dict[str, Any]


class Cache:
    """Reads, writes and locks the entries of one cache root."""

    def __init__(self, spec: CacheSpec, *, check_readonly: bool = True) -> None:
        """Open the cache of ``spec``; nothing is written until a lock is taken.

        With ``check_readonly`` (the Submitter's construction), a read-only
        root that is not a directory is a :class:`CacheWarning` naming it: it
        is searched all the same, and found empty.
        """
        self.spec = spec
        self.root = Path(spec.root)
        self.store = get_store(spec.store)
        self._root_paths = [Path(root) for root in (self.root, *spec.readonly)]
        self._roots = [str(root) for root in self._root_paths]
        self._root = self._roots[0]
        self._fd_owner: tuple[int, int] | None = None  # (pid, descriptor)
        if check_readonly:
            for root in self._root_paths[1:]:
                if not root.is_dir():
                    msg = (
                        f"read-only cache {root} does not exist (or is not a "
                        "directory): no entry is found in it. Check the path "
                        "given in readonly_caches=[...]"
                    )
                    warnings.warn(msg, CacheWarning, stacklevel=3)

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def from_spec(spec: CacheSpec) -> Cache:
        """This process's Cache of ``spec``, made once: every batch of a run
        opens the same one, and a workflow runs a batch per node."""
        return Cache(spec, check_readonly=False)

    def entry_dir(self, task_name: str, checksum: str) -> Path:
        return self.root / f"{task_name}-{checksum}"

    def load(
        self, task_name: str, checksum: str, known: set[str] | None = None
    ) -> Entry | None:
        """The valid entry for ``checksum`` in any root, or None (a miss).

        ``known``, from :meth:`entry_names`, spares the read of an entry the
        scan did not see (the scan lists the root only, not read-only roots).
        A miss is safe even if another process has since made the entry:
        whoever runs the state claims it under its lock and finds it then.
        """
        name = f"{task_name}-{checksum}"
        if known is not None and name not in known and not self.spec.readonly:
            return None
        for root, root_path in zip(self._roots, self._root_paths, strict=True):
            # Plain strings: this runs once per state, and pathlib costs more than I/O.
            path = f"{root}/{name}/{self.store.filename}"
            try:
                outputs = self.store.load(path, checksum)
            except FileNotFoundError:
                continue
            except (InvalidEntryError, OSError) as exc:
                if isinstance(exc, NotADirectoryError) and not os.path.isdir(root):
                    continue  # a root that is a file: a CacheError when written
                msg = f"ignoring an invalid cache entry (it will be recomputed): {exc}"
                warnings.warn(msg, CacheWarning, stacklevel=3)
                continue
            return Entry(root_path / name, outputs)
        return None

    def read_error(self, task_name: str, checksum: str) -> dict[str, Any] | None:
        """The ``_error.json`` record of a failed entry, if there is one."""
        path = self.entry_dir(task_name, checksum) / ERROR_FILE
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def prepare(self, task_name: str, checksum: str) -> Path:
        """Create the entry directory, or empty it, to publish a new result in.

        Call only while holding :meth:`lock`. Everything in an existing entry
        is removed, result files (of every store) and ``_error.json`` first:
        see the module docstring.

        Raises:
            CacheEntryError: the entry's path is a symlink or a file, which is
                never emptied (its target is left untouched).
        """
        directory = f"{self._root}/{task_name}-{checksum}"
        if not self._make_dir(directory):
            _empty_entry(directory, self.store.filename)
        return Path(directory)

    def claim(self, task_name: str, checksum: str, check: bool = True) -> Entry | Path:
        """The valid entry for ``checksum``, or its directory, prepared to run in.

        Call only while holding :meth:`lock`. With ``check``, a valid entry in
        any root is returned instead of a directory (another process may have
        finished the job since it was looked up). A directory returned is
        empty: its result files of every store and its ``_error.json`` were
        removed before anything else (a result of another store is not kept),
        so from now on nothing in it is a hit until a new result is published.

        Raises:
            CacheEntryError: the entry's path is a symlink or a file, which is
                never emptied nor run in (its target is left untouched).
        """
        name = f"{task_name}-{checksum}"
        if check and len(self._roots) > 1:
            found = self.load(task_name, checksum)
            if found is not None:
                return found
            check = False  # no valid entry in any root
        # Joined as text, and a Path made once from it: cheaper than Path(str).
        if self._make_dir(f"{self._root}/{name}"):
            return self.root / name  # new: nothing to load, nothing to clear
        found = self.load(task_name, checksum) if check else None
        if found is not None:
            return found
        _empty_entry(f"{self._root}/{name}", self.store.filename)
        return self.root / name

    def retract(self, task_name: str, checksum: str) -> None:
        """Empty an aggregate entry (a split's or a workflow's) before its states run.

        Its states are about to run again (a rerun, or some state missing):
        whatever they leave behind, a failure or a kill, the aggregate entry
        must not stay a hit over them. Nothing is done (no lock taken, nothing
        written: a read-only root works) when it holds no result file.

        Raises:
            CacheError: a result file must be removed, and the root is read-only.
        """
        directory = f"{self._root}/{task_name}-{checksum}"
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return
        except OSError:
            fd = -1  # a symlink or a file: refused under the lock, by name
        if fd >= 0:
            try:
                names = os.listdir(fd)
            finally:
                os.close(fd)
            if not any(_is_result(name, self.store.filename) for name in names):
                return  # not a hit: nothing to retract
        with self.lock(checksum):
            _empty_entry(directory, self.store.filename)

    def _make_dir(self, directory: str) -> bool:
        """``mkdir``, making the root if needed; False when it already exists.

        Raises:
            CacheError: the root is full, read-only or not a directory.
        """
        try:
            try:
                os.mkdir(directory)
            except FileNotFoundError:  # the first entry of a new root
                self._make_root()
                os.mkdir(directory)
        except FileExistsError:
            return False
        except OSError as exc:
            self.raise_unusable(exc, directory, "make a cache entry")
        return True

    def _make_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.raise_unusable(exc, self._root, "make the cache directory")

    def raise_unusable(self, exc: OSError, path: str, doing: str) -> NoReturn:
        """Raise :meth:`unusable` of ``exc``, chained to it (or ``exc`` itself)."""
        error = self.unusable(exc, path, doing)
        if error is exc:
            raise exc
        raise error from exc

    def unusable(self, exc: OSError, path: str, doing: str) -> OSError:
        """The :class:`CacheError` for ``exc``, met while trying ``doing`` at ``path``.

        It names the path, why the root cannot be used and the fix; ``exc``
        itself when it is no fault of the cache directory (or already one).
        """
        code = exc.errno
        if isinstance(exc, CacheError) or code not in _UNWRITABLE:
            return exc
        root = self._root
        if code in _NOT_A_DIR:
            if os.path.isdir(root) and code == errno.EEXIST:
                return exc  # an entry in the way: not the root's fault
            code = errno.ENOTDIR  # EEXIST when the root itself is a file
            why = f"the cache directory {root} (or a parent) is not a directory"
            fix = "remove that file, or give another cache_dir"
        elif code in _FULL:
            why = f"no space left for the cache directory {root}"
            fix = "free some space, or give a cache_dir on another disk"
        else:
            kind = "read-only" if code == errno.EROFS else "not writable"
            why = f"the cache directory {root} is {kind}"
            fix = READONLY_FIX
        msg = f"{path}: cannot {doing} ({os.strerror(code)}): {why}; {fix}"
        return CacheError(code, msg)

    def entry_names(self, limit: int) -> set[str] | None:
        """The names (``Task-checksum``) of the root's entries, from one scan.

        One ``scandir`` beats a failed ``open`` per state when a run is mostly
        new. None when the root holds more than ``limit`` entries (the caller
        then looks each state up), so the scan never costs more than the states.
        """
        found: set[str] = set()
        try:
            with os.scandir(self._root) as scan:
                for count, item in enumerate(scan):
                    if count >= limit:
                        return None
                    found.add(item.name)
        except FileNotFoundError:
            pass  # no root yet: nothing is cached
        except OSError:
            return None  # unreadable: look each state up instead
        return found

    def publish(
        self,
        directory: str | Path,
        checksum: str,
        outputs: dict[str, Any],
        provenance: dict[str, Any] | bytes,
    ) -> None:
        """Make the entry valid: provenance first, then the result file, atomically.

        ``provenance`` is a record, or one already encoded as JSON.

        Raises:
            StoreError: when the outputs cannot be written; the entry then
                stays invalid.
            CacheError: the root is full or read-only; nothing is left written
                (no provenance, no temporary file).
        """
        if not isinstance(provenance, bytes):
            provenance = _to_json(provenance)
        # Provenance needs no temp-and-rename: the result file, written after
        # it, is what makes the entry valid, and claim() clears a partial one.
        path = f"{directory}/{PROVENANCE_FILE}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                write_all(fd, provenance)
            finally:
                os.close(fd)
            self.store.dump(f"{directory}/{self.store.filename}", checksum, outputs)
        except OSError as exc:  # the store removed its own temporary file
            with suppress(OSError):
                os.unlink(path)
            self.raise_unusable(exc, str(directory), "write a result")

    def publish_entry(
        self,
        task_name: str,
        checksum: str,
        outputs: dict[str, Any],
        provenance: dict[str, Any],
    ) -> Path:
        """Publish an aggregate entry (a split's or a workflow's) under its lock.

        Its states are in the cache already; this entry gathers their outputs
        so that a warm rerun reads one file. Returns its directory.

        A root that is full, read-only or not a directory is a
        :class:`CacheWarning`, not an error: the states succeeded and are
        cached, so the run's result stands; nothing is left in the entry.
        """
        directory = self.entry_dir(task_name, checksum)
        try:
            with self.lock(checksum):
                self.prepare(task_name, checksum)
                try:
                    self.publish(directory, checksum, outputs, provenance)
                except OSError:
                    with suppress(OSError):  # publish left it empty
                        os.rmdir(directory)
                    raise
        except OSError as exc:
            cause = exc.__cause__ if isinstance(exc, CacheError) else exc
            original = cause if isinstance(cause, OSError) else exc
            error = self.unusable(original, str(directory), "write this entry")
            if not isinstance(error, CacheError):
                raise
            code = errno.errorcode.get(error.errno or 0, str(error.errno))
            msg = (
                f"[{code}] {error.strerror}. The states all succeeded and are "
                "cached, and the result is returned; the next run reads each "
                "state instead of one file."
            )
            warnings.warn(msg, CacheWarning, stacklevel=3)
        return directory

    def record_error(self, directory: Path, error: dict[str, Any]) -> None:
        """Write ``_error.json``: readable text, no pickle needed to read it.

        Call only while holding :meth:`lock`. Any result file in the entry (of
        any store) is removed first, so an errored entry is never a hit.

        Raises:
            CacheEntryError: ``directory`` is a symlink or a file; nothing is
                written through it.
        """
        fd = _open_entry(str(directory))
        try:
            for name in os.listdir(fd):
                if _is_result(name, self.store.filename):
                    _remove(name, fd)
        finally:
            os.close(fd)
        write_atomic(f"{directory}/{ERROR_FILE}", _to_json(error))

    def lock(self, checksum: str) -> _Lock:
        """Hold the lock of ``checksum`` against every thread and process.

        Use it as a context manager: ``with cache.lock(checksum): ...``.
        """
        return _Lock(self._lock_fd(), checksum)

    def _lock_fd(self) -> int:
        owner = self._fd_owner
        pid = os.getpid()
        if owner is not None and owner[0] == pid:
            return owner[1]
        fd = self._open_lock_file(pid)
        self._fd_owner = (pid, fd)
        return fd

    def _open_lock_file(self, pid: int) -> int:
        key = (pid, self._root)
        fd = _LOCK_FDS.get(key)
        if fd is None:
            with _LOCK_FDS_GUARD:
                fd = _LOCK_FDS.get(key)
                if fd is None:
                    self._make_root()
                    path = f"{self._root}/.locks"
                    try:
                        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
                    except OSError as exc:
                        self.raise_unusable(exc, path, "open the lock file")
                    _LOCK_FDS[key] = fd
        return fd


# Record locks belong to the process and are all released when any descriptor
# of the file is closed, so each process keeps one descriptor per root, open
# until it exits. Keyed by pid as well, so a forked child opens its own.
_LOCK_FDS: dict[tuple[int, str], int] = {}
_LOCK_FDS_GUARD = threading.Lock()
_THREAD_LOCKS = tuple(threading.Lock() for _ in range(256))


class _Lock:
    """The lock of one checksum: a thread lock, then a byte-range record lock.

    A plain class rather than a generator context manager: it is taken once per
    state, and a generator's setup would be most of the cost of taking it.
    """

    __slots__ = ("_fd", "_offset", "_thread_lock")

    def __init__(self, fd: int, checksum: str) -> None:
        self._fd = fd
        self._offset = int(checksum[:15], 16)
        self._thread_lock = _THREAD_LOCKS[self._offset % len(_THREAD_LOCKS)]

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, self._offset)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, self._offset)
        finally:
            self._thread_lock.release()


def _empty_entry(directory: str, result_name: str) -> None:
    """Empty an entry directory: result and error files first, then the rest.

    Never follows a symlink: the entry is opened with ``O_NOFOLLOW`` (a
    symlink or file in its place is refused), and everything in it is removed
    relative to that descriptor, a symlink by unlinking the link itself.
    """
    fd = _open_entry(directory)
    try:
        names = os.listdir(fd)
        # Results before anything else: a kill between the two loops leaves
        # files of the old run without a result beside them (a miss).
        for name in names:
            if _is_result(name, result_name) or name == ERROR_FILE:
                _remove(name, fd)
        for name in names:
            if not (_is_result(name, result_name) or name == ERROR_FILE):
                _remove(name, fd)
    finally:
        os.close(fd)


def _open_entry(directory: str) -> int:
    """A descriptor of the entry directory, refusing a symlink or a file."""
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        kind = "a symlink" if os.path.islink(directory) else "not a directory"
        msg = (
            f"{directory}: a cache entry's path is {kind}; pydra_lite never empties "
            "or runs in it (nor in what it points to). Remove it to run the state."
        )
        raise CacheEntryError(errno.EEXIST, msg) from None


def _is_result(name: str, result_name: str) -> bool:
    """A result file of any store, or a temporary one being written."""
    return name.startswith("_result.") or name.startswith(result_name)


def _remove(name: str, dir_fd: int) -> None:
    """Remove ``name`` in the directory ``dir_fd``, never following a symlink."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError:  # EISDIR (Linux) or EPERM (macOS) for a directory
        if not stat.S_ISDIR(os.lstat(name, dir_fd=dir_fd).st_mode):
            raise
        # rmtree relative to dir_fd opens each level with O_NOFOLLOW.
        shutil.rmtree(name, dir_fd=dir_fd)


def _to_json(record: dict[str, Any]) -> bytes:
    # No indent: only compact output goes through json's C encoder.
    return json.dumps(record, default=str).encode()
