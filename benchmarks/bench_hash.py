"""Timings of hashing: big files, memo hits, big directories, small values.

Run ``python benchmarks/bench_hash.py [--size-mib 512] [--files 10000]``. If
``/work/pydra-venv`` holds Pydra 1.0a12, the same file and directory are also
hashed by Pydra's hasher and the ratios are printed. Every figure is the best
of a few runs; the data lives in a temporary directory removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydra_lite.files import Directory, File
from pydra_lite.hashing import combine_digests, hash_object, memo

PYDRA_PYTHON = Path("/work/pydra-venv/bin/python")
OP = b"\x01" * 16

PYDRA_SCRIPT = """
import json, sys, time
from fileformats.generic import Directory, File
from pydra.utils.hash import hash_object
big, tree = sys.argv[1], sys.argv[2]
def timed(func):
    start = time.perf_counter(); func(); return time.perf_counter() - start
big, tree = File(big), Directory(tree)
cold = timed(lambda: hash_object(big))
warm = min(timed(lambda: hash_object(big)) for _ in range(20))
dir_cold = timed(lambda: hash_object(tree))
dir_warm = min(timed(lambda: hash_object(tree)) for _ in range(3))
n = 20000
small = {}
import timeit
for name, value in (("int", 1), ("str", "hello world"), ("float", 1.5),
                    ("dict", {"a": 1, "b": 2.0, "c": "x"})):
    small[name] = min(timeit.repeat(lambda: hash_object(value), number=n, repeat=5)) / n
print(json.dumps({"cold": cold, "warm": warm, "dir_cold": dir_cold,
                  "dir_warm": dir_warm, "small": small}))
"""


def best(func: Callable[[], Any], repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def settle(path: Path) -> None:
    """Date a file back so the memo accepts it (fresh files are never memoised)."""
    when = time.time() - 60
    os.utime(path, (when, when))


def make_big_file(path: Path, size_mib: int) -> None:
    with open(path, "wb") as stream:
        for _ in range(size_mib):
            stream.write(os.urandom(1 << 20))
    settle(path)
    with open(path, "rb") as stream:  # into the page cache: we time hashing, not disk
        while stream.read(64 << 20):
            pass


def make_tree(root: Path, count: int) -> list[str]:
    paths = []
    for index in range(count):
        path = root / f"d{index // 100:03d}" / f"f{index:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {index}\n")
        settle(path)
        paths.append(str(path))
    return paths


def task_checksum(value: Any) -> bytes:
    """What the engine does for a one-input task: digest the input, combine."""
    return combine_digests(b"job", OP, b"in_file", hash_object(value, field="in_file"))


def bench_big_file(path: Path) -> dict[str, float]:
    """A File object as the engine holds it: built once, hashed per checksum."""
    value = File(path)

    def cold() -> None:
        memo.reset_memo()
        Path(os.environ["PYDRA_LITE_HASH_MEMO"]).unlink(missing_ok=True)
        task_checksum(value)

    timings = {"cold": best(cold, repeat=3)}
    task_checksum(value)
    timings["warm"] = best(lambda: task_checksum(value), repeat=50)
    memo.reset_memo()
    task_checksum(value)  # the first lookup opens the database

    def from_sqlite() -> None:
        memo.MEMO._local.clear()  # another process's digest: found in sqlite
        task_checksum(value)

    def new_process() -> None:
        memo.reset_memo()  # also reopens the database
        task_checksum(value)

    timings["warm_sqlite"] = best(from_sqlite, repeat=20)
    timings["new_process"] = best(new_process, repeat=20)
    timings["construct"] = best(lambda: File(path), repeat=50)
    return timings


def bench_tree(root: Path, paths: list[str]) -> dict[str, float]:
    value = Directory(root)
    memo.reset_memo()
    start = time.perf_counter()
    task_checksum(value)
    timings = {"cold": time.perf_counter() - start}
    timings["warm"] = best(lambda: task_checksum(value))

    def from_sqlite() -> None:
        memo.MEMO._local.clear()
        task_checksum(value)

    timings["sqlite"] = best(from_sqlite)
    timings["stat"] = best(lambda: [os.stat(path) for path in paths])
    return timings


def bench_small() -> dict[str, float]:
    values = {"int": 1, "str": "hello world", "float": 1.5}
    values["dict"] = {"a": 1, "b": 2.0, "c": "x"}  # type: ignore[assignment]
    number = 20000
    timings = {}
    for name, value in values.items():
        runs = timeit.repeat(lambda v=value: hash_object(v), number=number, repeat=5)
        timings[name] = min(runs) / number
    parts = (OP, b"a", OP, b"b", OP)
    runs = timeit.repeat(
        lambda: combine_digests(b"job", *parts), number=number, repeat=5
    )
    timings["combine_digests(2 fields)"] = min(runs) / number
    return timings


def run_pydra(big: Path, root: Path, scratch: Path) -> dict[str, Any] | None:
    if not PYDRA_PYTHON.exists():
        print(
            "\nPydra comparison skipped: create its venv with\n"
            "  python -m venv /work/pydra-venv && "
            "/work/pydra-venv/bin/pip install --pre pydra==1.0a12"
        )
        return None
    env = {**os.environ, "PYDRA_HASH_CACHE": str(scratch / "pydra-hash-cache")}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [str(PYDRA_PYTHON), "-c", PYDRA_SCRIPT, str(big), str(root)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(proc.stdout)


def report(
    big: dict[str, float],
    tree: dict[str, float],
    small: dict[str, float],
    pydra: dict[str, Any] | None,
    size_mib: int,
    count: int,
) -> None:
    def ratio(ours: float, theirs: str, group: dict[str, Any] | None = pydra) -> str:
        return (
            f"   pydra {group[theirs]:9.4f} s  ({group[theirs] / ours:6.1f}x)"
            if group
            else ""
        )

    print(f"\n{size_mib} MiB File, task checksum (in the page cache)")
    print(f"  cold (blake3)          {big['cold']:9.4f} s{ratio(big['cold'], 'cold')}")
    print(
        f"  memoised (in process)  {big['warm'] * 1e3:9.4f} ms{ratio(big['warm'], 'warm')}"
    )
    print(f"  memoised (sqlite)      {big['warm_sqlite'] * 1e3:9.4f} ms")
    print(f"  first in a new process {big['new_process'] * 1e3:9.4f} ms (opens sqlite)")
    print(f"  (building File(path), not timed above: {big['construct'] * 1e3:.3f} ms)")
    print(f"\nDirectory of {count} small files")
    print(
        f"  cold                   {tree['cold']:9.4f} s{ratio(tree['cold'], 'dir_cold')}"
    )
    print(
        f"  memoised (in process)  {tree['warm'] * 1e3:9.2f} ms"
        f"{ratio(tree['warm'], 'dir_warm')}"
    )
    if pydra:
        print(
            "    (pydra keys a directory by its own mtime only: it misses nested edits)"
        )
    print(f"  memoised (sqlite)      {tree['sqlite'] * 1e3:9.2f} ms")
    print(
        f"  os.stat of every file  {tree['stat'] * 1e3:9.2f} ms   "
        f"(memoised / stat = {tree['warm'] / tree['stat']:.2f})"
    )
    print("\nhash_object of small values")
    for name, seconds in small.items():
        theirs = pydra["small"].get(name) if pydra else None
        extra = f"   pydra {theirs * 1e6:7.2f} us" if theirs else ""
        print(f"  {name:26s} {seconds * 1e6:7.2f} us{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-hash-"))
    os.environ["PYDRA_LITE_HASH_MEMO"] = str(scratch / "memo.sqlite")
    try:
        big_path, root = scratch / "big.bin", scratch / "tree"
        make_big_file(big_path, args.size_mib)
        paths = make_tree(root, args.files)
        big, tree, small = (
            bench_big_file(big_path),
            bench_tree(root, paths),
            bench_small(),
        )
        report(
            big,
            tree,
            small,
            run_pydra(big_path, root, scratch),
            args.size_mib,
            args.files,
        )
    finally:
        memo.reset_memo()
        shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
