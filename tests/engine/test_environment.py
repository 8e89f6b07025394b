"""When the environment fails: a full disk, a read-only or misspelt cache, a file
where the cache directory should be (issue 17, case 5).

Each is a :class:`~pydra_lite.errors.PydraLiteError` naming the path and the
fix, or a :class:`~pydra_lite.errors.CacheWarning` when the run's result still
stands; no temporary file is ever left behind. The tests on a real full or
read-only file system mount a small tmpfs (root only): they skip when mounting
is refused.
"""

from __future__ import annotations

import errno
import os
import subprocess
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pydra_lite import Submitter, TaskFailedError, python
from pydra_lite.engine.cache import Cache, CacheSpec
from pydra_lite.errors import CacheWarning, PydraLiteError

READONLY_FIX = "give a writable cache_dir and pass this one as readonly_caches=[...]"


@python.define
def Add(a: int, b: int = 1) -> int:
    return a + b


def _split() -> Add:
    return Add().split(a=[1, 2, 3])


def _temporary_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.tmp"))


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p): p.lstat().st_mtime_ns for p in root.rglob("*")}


def _cache_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]


def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: filled or remounted read-only by the test."""
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    _mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point))
    try:
        yield mount_point
    finally:  # lazy: this process may keep the cache's lock file open
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(mount_point: Path) -> None:
    fd = os.open(mount_point / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def _first_run_elsewhere(run_script: Callable[..., object], cache: Path) -> None:
    """A full run in another process, whose lock file closes when it exits
    (an open one would keep the tmpfs from being remounted read-only)."""
    code = textwrap.dedent(
        """
        import sys
        from pydra_lite import Submitter, python

        @python.define
        def Add(a: int, b: int = 1) -> int:
            return a + b

        with Submitter(cache_dir=sys.argv[1]) as sub:
            sub(Add().split(a=[1, 2, 3]))
            sub(Add(a=5))
        """
    )
    run_script(code, str(cache))


def _split_entry(cache: Path) -> Path:
    (entry,) = [
        p for p in cache.iterdir() if (p / "_result.pkl").exists() and _is_split(p)
    ]
    return entry


def _is_split(entry: Path) -> bool:
    return '"splitter"' in (entry / "_provenance.json").read_text()


# -- a full disk --------------------------------------------------------------


def test_full_disk_for_the_split_entry_returns_the_result_with_a_warning(
    small_fs: Path,
) -> None:
    cache = small_fs / "cache"
    with Submitter(cache_dir=cache) as sub:
        first = sub(_split())
    split_entry = first.output_dir
    for path in split_entry.iterdir():  # as if it had never been written
        path.unlink()
    _fill(small_fs)
    with (
        warnings.catch_warnings(record=True) as caught,
        Submitter(cache_dir=cache) as sub,
    ):
        warnings.simplefilter("always")
        result = sub(_split())
    assert result.outputs.out == [2, 3, 4]
    assert not result.errored
    (text,) = _cache_warnings(caught)
    assert str(split_entry) in text
    assert "ENOSPC" in text
    assert "the next run reads each state instead of one file" in text
    assert _temporary_files(cache) == []
    assert not (split_entry / "_provenance.json").exists()


def test_a_failed_split_entry_write_leaves_no_file_and_warns(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Submitter(cache_dir=cache_dir) as sub:
        sub(_split())
        split_entry = _split_entry(cache_dir)
        for path in split_entry.iterdir():
            path.unlink()
        real_write = os.write

        def write(fd: int, data: bytes) -> int:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(split_entry)):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = sub(_split())
    assert result.outputs.out == [2, 3, 4]
    (text,) = _cache_warnings(caught)
    assert str(split_entry) in text and "ENOSPC" in text
    assert _temporary_files(cache_dir) == []
    assert not split_entry.exists() or list(split_entry.iterdir()) == []


def test_full_disk_when_a_state_must_run_errors_it_naming_the_cache(
    small_fs: Path,
) -> None:
    cache = small_fs / "cache"
    cache.mkdir()
    _fill(small_fs)
    with Submitter(cache_dir=cache) as sub, pytest.raises(TaskFailedError) as info:
        sub(Add(a=5))
    (message,) = info.value.messages
    assert "CacheError" in message
    assert str(cache) in message and "free some space" in message
    assert _temporary_files(cache) == []


# -- a read-only cache ---------------------------------------------------------


def test_warm_run_on_a_read_only_cache_succeeds_and_writes_nothing(
    small_fs: Path, run_script: Callable[..., object]
) -> None:
    cache = small_fs / "cache"
    _first_run_elsewhere(run_script, cache)
    _split_entry(cache).joinpath("_result.pkl").unlink()  # its states stay cached
    before = _snapshot(cache)
    _mount("-o", "remount,ro", str(small_fs))
    with (
        warnings.catch_warnings(record=True) as caught,
        Submitter(cache_dir=cache) as sub,
    ):
        warnings.simplefilter("always")
        split = sub(_split())
        single = sub(Add(a=5))
    assert split.outputs.out == [2, 3, 4]
    assert single.outputs.out == 6
    assert split.cached and single.cached
    (text,) = _cache_warnings(caught)  # the split entry, not written
    assert "EROFS" in text and str(split.output_dir) in text
    assert _snapshot(cache) == before


def test_fully_warm_run_on_a_read_only_cache_warns_of_nothing(
    small_fs: Path, run_script: Callable[..., object]
) -> None:
    cache = small_fs / "cache"
    _first_run_elsewhere(run_script, cache)
    before = _snapshot(cache)
    _mount("-o", "remount,ro", str(small_fs))
    with (
        warnings.catch_warnings(record=True) as caught,
        Submitter(cache_dir=cache) as sub,
    ):
        warnings.simplefilter("always")
        assert sub(_split()).outputs.out == [2, 3, 4]
    assert _cache_warnings(caught) == []
    assert _snapshot(cache) == before


def test_a_state_to_run_on_a_read_only_cache_names_the_fix(
    small_fs: Path, run_script: Callable[..., object]
) -> None:
    cache = small_fs / "cache"
    _first_run_elsewhere(run_script, cache)
    _mount("-o", "remount,ro", str(small_fs))
    with Submitter(cache_dir=cache) as sub, pytest.raises(OSError) as info:
        sub(Add(a=100))
    assert isinstance(info.value, PydraLiteError)
    assert type(info.value).__name__ == "CacheError"
    assert info.value.errno == errno.EROFS
    assert str(cache) in str(info.value) and READONLY_FIX in str(info.value)


# -- a cache directory that cannot be one -----------------------------------------


@pytest.mark.parametrize("task", [Add(a=5), _split()], ids=["single", "split"])
def test_cache_dir_that_is_a_file_is_a_cache_error_naming_it(
    tmp_path: Path, task: Add
) -> None:
    cache = tmp_path / "cache"
    cache.write_text("not a directory")
    with (
        warnings.catch_warnings(record=True) as caught,
        Submitter(cache_dir=cache) as sub,
        pytest.raises(OSError) as info,
    ):
        warnings.simplefilter("always")
        sub(task)
    assert isinstance(info.value, PydraLiteError)
    assert type(info.value).__name__ == "CacheError"
    assert str(cache) in str(info.value) and "not a directory" in str(info.value)
    assert _cache_warnings(caught) == []  # no "invalid entry" per state
    assert cache.read_text() == "not a directory"


def test_misspelt_readonly_cache_is_a_warning_naming_it_once(
    cache_dir: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "shared-cahce"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Submitter(cache_dir=cache_dir, readonly_caches=[missing]) as sub:
            assert sub(_split()).outputs.out == [2, 3, 4]
    (text,) = _cache_warnings(caught)
    assert str(missing) in text and "readonly_caches" in text


def test_retract_of_an_entry_without_a_result_takes_no_lock(tmp_path: Path) -> None:
    cache = Cache(CacheSpec(tmp_path / "cache"))
    entry = cache.entry_dir("Add", "ab" * 16)
    entry.mkdir(parents=True)
    cache.retract("Add", "ab" * 16)
    assert not (tmp_path / "cache" / ".locks").exists()


@python.define
def Big(a: int) -> str:
    return "y" * 30000 + str(a)


@pytest.mark.parametrize("store", ["pickle", "json"])
def test_states_that_fill_the_disk_leave_no_partial_or_temporary_file(
    small_fs: Path, store: str
) -> None:
    cache = small_fs / "cache"
    with Submitter(cache_dir=cache, store=store) as sub:
        result = sub(Big().split(a=list(range(12))), raise_errors=False)
    assert result.errored
    for error in result.errors:
        assert error["type"] == "CacheError"
        assert str(cache) in error["message"] and "free some space" in error["message"]
    assert _temporary_files(cache) == []
    for provenance in cache.rglob("_provenance.json"):  # only beside a result
        assert list(provenance.parent.glob("_result.*")), provenance


def test_an_invalid_split_entry_on_a_read_only_cache_names_the_fix(
    small_fs: Path, run_script: Callable[..., object]
) -> None:
    cache = small_fs / "cache"
    _first_run_elsewhere(run_script, cache)
    _split_entry(cache).joinpath("_result.pkl").write_bytes(b"truncated")
    _mount("-o", "remount,ro", str(small_fs))
    with (
        warnings.catch_warnings(record=True),
        Submitter(cache_dir=cache) as sub,
        pytest.raises(OSError) as info,
    ):
        warnings.simplefilter("always")  # the invalid entry's own warning
        sub(_split())
    assert type(info.value).__name__ == "CacheError"
    assert info.value.errno == errno.EROFS
    assert str(cache) in str(info.value) and READONLY_FIX in str(info.value)
