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
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import platformdirs

from pydra_lite.engine.stores import InvalidEntry, Store, get_store, write_atomic
from pydra_lite.errors import CacheWarning

CACHE_FORMAT_VERSION = 1
"""Bumped with any change to digests or to the entry layout; keys the default root."""

CACHE_DIR_ENV = "PYDRA_LITE_CACHE_DIR"
PROVENANCE_FILE = "_provenance.json"
ERROR_FILE = "_error.json"


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

    def __init__(self, spec: CacheSpec) -> None:
        self.spec = spec
        self.root = Path(spec.root)
        self.store = get_store(spec.store)
        self._roots = [str(root) for root in (self.root, *spec.readonly)]

    @classmethod
    def from_spec(cls, spec: CacheSpec) -> Cache:
        return cls(spec)

    def entry_dir(self, task_name: str, checksum: str) -> Path:
        return self.root / f"{task_name}-{checksum}"

    def load(self, task_name: str, checksum: str) -> Entry | None:
        """The valid entry for ``checksum`` in any root, or None (a miss)."""
        name = f"{task_name}-{checksum}"
        for root in self._roots:
            # Plain strings: this runs once per state, and pathlib costs more than I/O.
            path = f"{root}/{name}/{self.store.filename}"
            try:
                outputs = self.store.load(path, checksum)
            except FileNotFoundError:
                continue
            except (InvalidEntry, OSError) as exc:
                msg = f"ignoring an invalid cache entry (it will be recomputed): {exc}"
                warnings.warn(msg, CacheWarning, stacklevel=3)
                continue
            return Entry(Path(root, name), outputs)
        return None

    def read_error(self, task_name: str, checksum: str) -> dict[str, Any] | None:
        """The ``_error.json`` record of a failed entry, if there is one."""
        path = self.entry_dir(task_name, checksum) / ERROR_FILE
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def prepare(self, task_name: str, checksum: str) -> Path:
        """Create the entry directory, emptying what a failed run left there.

        Call only while holding :meth:`lock`: the entry is then known invalid
        for this store, so what is in it is stale. Result files of other stores
        are kept, since they are valid entries in their own right.
        """
        directory = f"{self.root}/{task_name}-{checksum}"
        try:
            os.mkdir(directory)
        except FileNotFoundError:
            self.root.mkdir(parents=True, exist_ok=True)
            os.mkdir(directory)
        except FileExistsError:
            _empty_except_results(Path(directory))
        return Path(directory)

    def publish(
        self,
        directory: Path,
        checksum: str,
        outputs: dict[str, Any],
        provenance: dict[str, Any],
    ) -> None:
        """Make the entry valid: provenance first, then the result file, atomically."""
        # Provenance needs no temp-and-rename: the result file, written after
        # it, is what makes the entry valid, and prepare() clears a partial one.
        with open(f"{directory}/{PROVENANCE_FILE}", "wb") as stream:
            stream.write(_to_json(provenance))
        self.store.dump(f"{directory}/{self.store.filename}", checksum, outputs)

    def record_error(self, directory: Path, error: dict[str, Any]) -> None:
        """Write ``_error.json``: readable text, no pickle needed to read it."""
        write_atomic(f"{directory}/{ERROR_FILE}", _to_json(error))

    @contextmanager
    def lock(self, checksum: str) -> Iterator[None]:
        """Hold the lock of ``checksum`` against every thread and process."""
        offset = int(checksum[:15], 16)
        with _THREAD_LOCKS[offset % len(_THREAD_LOCKS)]:
            fd = self._lock_fd()
            fcntl.lockf(fd, fcntl.LOCK_EX, 1, offset)
            try:
                yield
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)

    def _lock_fd(self) -> int:
        key = (os.getpid(), str(self.root))
        fd = _LOCK_FDS.get(key)
        if fd is None:
            with _LOCK_FDS_GUARD:
                fd = _LOCK_FDS.get(key)
                if fd is None:
                    self.root.mkdir(parents=True, exist_ok=True)
                    fd = os.open(self.root / ".locks", os.O_RDWR | os.O_CREAT, 0o666)
                    _LOCK_FDS[key] = fd
        return fd


# Record locks belong to the process and are all released when any descriptor
# of the file is closed, so each process keeps one descriptor per root, open
# until it exits. Keyed by pid as well, so a forked child opens its own.
_LOCK_FDS: dict[tuple[int, str], int] = {}
_LOCK_FDS_GUARD = threading.Lock()
_THREAD_LOCKS = tuple(threading.Lock() for _ in range(256))


def _empty_except_results(directory: Path) -> None:
    for child in directory.iterdir():
        if child.name.startswith("_result.") and not child.name.endswith(".tmp"):
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _to_json(record: dict[str, Any]) -> bytes:
    # No indent: only compact output goes through json's C encoder.
    return json.dumps(record, default=str).encode()
