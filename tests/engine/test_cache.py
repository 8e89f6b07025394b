"""Cache entries: validity, corruption as a miss, locks that die with their process."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import CacheWarning, Submitter, python
from pydra_lite.engine.cache import (
    CACHE_FORMAT_VERSION,
    Cache,
    CacheSpec,
    default_cache_dir,
)
from pydra_lite.engine.stores import write_atomic

REPO = Path(__file__).resolve().parents[2]

RUNS: list[int] = []


@python.define
def Double(x: int) -> int:
    RUNS.append(x)
    return 2 * x


def run(cache_dir: Path, x: int = 1):  # type: ignore[no-untyped-def]
    with Submitter(cache_dir=cache_dir) as sub:
        return sub(Double(x=x))


@pytest.fixture(autouse=True)
def _reset() -> None:
    RUNS.clear()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: b"",  # emptied by a power loss
        lambda data: b"\x00garbage" + data,  # corrupt
    ],
    ids=["truncated", "empty", "corrupt"],
)
def test_damaged_result_is_a_miss_with_a_warning(cache_dir: Path, damage) -> None:  # type: ignore[no-untyped-def]
    first = run(cache_dir)
    path = first.output_dir / "_result.pkl"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(CacheWarning, match="invalid cache entry"):
        second = run(cache_dir)
    assert RUNS == [1, 1] and not second.cached and second.outputs.out == 2
    assert run(cache_dir).cached  # and the entry is whole again


def test_result_written_for_another_checksum_is_a_miss(cache_dir: Path) -> None:
    one, two = run(cache_dir, 1), run(cache_dir, 2)
    (one.output_dir / "_result.pkl").write_bytes(
        (two.output_dir / "_result.pkl").read_bytes()
    )
    with pytest.warns(CacheWarning, match="written for checksum"):
        again = run(cache_dir, 1)
    assert again.outputs.out == 2 and not again.cached


def test_leftovers_of_a_killed_run_are_cleared_before_rerunning(
    cache_dir: Path,
) -> None:
    first = run(cache_dir)
    (first.output_dir / "_result.pkl").unlink()
    (first.output_dir / "partial.tmp").write_text("half-written")
    second = run(cache_dir)
    assert not second.cached
    assert not (second.output_dir / "partial.tmp").exists()


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    write_atomic(target, b"x" * 100_000)
    assert target.read_bytes() == b"x" * 100_000
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_default_cache_dir_is_keyed_by_format_not_package_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYDRA_LITE_CACHE_DIR")
    path = default_cache_dir()
    assert path.name == f"cache-v{CACHE_FORMAT_VERSION}"
    assert "pydra-lite" in str(path)


HOLD_LOCK = """
import sys, time
from pathlib import Path
from typing import Any
from pydra_lite.engine.cache import Cache, CacheSpec
cache = Cache(CacheSpec(Path(sys.argv[1])))
with cache.lock(sys.argv[2]):
    print("locked", flush=True)
    time.sleep(60)
"""


def _acquire_in_thread(cache: Cache, checksum: str) -> threading.Event:
    acquired = threading.Event()

    def take() -> None:
        with cache.lock(checksum):
            acquired.set()

    threading.Thread(target=take, daemon=True).start()
    return acquired


def test_lock_excludes_another_process_and_dies_with_it(tmp_path: Path) -> None:
    checksum = "ab" * 16
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path), checksum],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(REPO)},
    )
    try:
        assert (
            holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        )
        acquired = _acquire_in_thread(Cache(CacheSpec(tmp_path)), checksum)
        assert not acquired.wait(0.5), "the lock did not exclude another process"
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert acquired.wait(10), "a killed holder left a lock behind"
    finally:
        holder.kill()


def test_lock_excludes_another_thread(tmp_path: Path) -> None:
    cache, checksum = Cache(CacheSpec(tmp_path)), "cd" * 16
    with cache.lock(checksum):
        acquired = _acquire_in_thread(cache, checksum)
        assert not acquired.wait(0.3)
    assert acquired.wait(5)


def test_claim_makes_a_new_directory_to_run_in(tmp_path: Path) -> None:
    cache, checksum = Cache(CacheSpec(tmp_path / "root")), "12" * 16
    claimed = cache.claim("Task", checksum)
    assert claimed == tmp_path / "root" / f"Task-{checksum}"
    assert isinstance(claimed, Path) and not any(claimed.iterdir())


def test_claim_finds_an_entry_finished_since_the_lookup(tmp_path: Path) -> None:
    cache, checksum = Cache(CacheSpec(tmp_path)), "34" * 16
    directory = cache.claim("Task", checksum)
    cache.publish(directory, checksum, {"out": 3}, {"task": "Task"})
    found = cache.claim("Task", checksum)
    assert not isinstance(found, str) and found.outputs == {"out": 3}
    again = cache.claim("Task", checksum, check=False)  # rerun: never a hit
    assert isinstance(again, Path) and list(again.iterdir()) == []
    assert cache.load("Task", checksum) is None  # claimed: no hit until published


def test_claim_empties_what_a_killed_run_left(tmp_path: Path) -> None:
    cache, checksum = Cache(CacheSpec(tmp_path)), "56" * 16
    directory = cache.claim("Task", checksum)
    assert isinstance(directory, Path)
    (directory / "half.txt").write_text("half-written")
    (directory / "_result.pkl.123.tmp").write_bytes(b"\x80")
    assert cache.claim("Task", checksum) == directory
    assert list(directory.iterdir()) == []


def test_entry_names_lists_the_roots_entries_and_gives_up_over_the_limit(
    tmp_path: Path,
) -> None:
    cache = Cache(CacheSpec(tmp_path / "root"))
    assert cache.entry_names(10) == set()  # no root yet
    for checksum in ("a1", "b2"):
        cache.claim("Task", checksum)
    cache.claim("Other", "c3")
    assert cache.entry_names(10) == {"Task-a1", "Task-b2", "Other-c3"}
    assert cache.entry_names(2) is None


def test_load_trusts_a_scan_that_did_not_see_the_entry_unless_roots_are_readonly(
    tmp_path: Path,
) -> None:
    writer = Cache(CacheSpec(tmp_path / "root"))
    writer.publish(writer.claim("Task", "a1"), "a1", {"out": 1}, {})
    assert writer.load("Task", "a1", known=set()) is None  # the scan is believed
    assert writer.load("Task", "a1", known={"Task-a1"}).outputs == {"out": 1}  # type: ignore[union-attr]
    # A read-only root is not scanned: its entries must still be read.
    reader = Cache(CacheSpec(tmp_path / "own", readonly=(tmp_path / "root",)))
    assert reader.load("Task", "a1", known=set()).outputs == {"out": 1}  # type: ignore[union-attr]


@python.define
def Local(x: int) -> Any:
    class Box:  # defined at run time: only cloudpickle can write it
        def __init__(self, value: int) -> None:
            self.value = value

    return Box(x) if x else [x, "plain", 1.5]


@pytest.mark.parametrize("x", [0, 1], ids=["plain-pickle", "cloudpickle"])
def test_pickle_store_round_trips_plain_and_local_values(
    cache_dir: Path, x: int
) -> None:
    with Submitter(cache_dir=cache_dir) as sub:
        assert not sub(Local(x=x)).cached
        second = sub(Local(x=x))
    assert second.cached
    value = second.outputs.out
    assert (value.value == 1) if x else (value == [0, "plain", 1.5])
