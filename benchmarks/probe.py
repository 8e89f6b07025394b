"""Measuring probes shared by both sides of the benchmarks: standard library only.

Imported by ``lite_side.py`` (run with this repository's python) and by
``pydra_side.py`` (run with the Pydra venv's python), so it imports neither
framework. Run as a script, it measures the bare filesystem cost of a cache
entry::

    python probe.py bare ROOT N

which makes ``N`` directories under ``ROOT`` and writes one small file
atomically in each (a temporary file, then ``os.replace``), and prints the
time as JSON; ``python probe.py parallel N TURNS PROCS`` times ``N`` busy
loops in one process and on a started ``multiprocessing`` pool, the ceiling
any process-pool worker can reach on this machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

USAGE = "usage: python probe.py bare ROOT N | python probe.py parallel N TURNS PROCS"

SMALL_FILE = bytes(range(256))[:120]
"""About the size of a pickled result of a trivial task."""


def peak_rss_kb() -> int:
    """Peak resident set size of this process so far, in KB (Linux units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def disk_usage(root: str | os.PathLike[str]) -> dict[str, int]:
    """Apparent size of every file under ``root`` (os.walk), and ``du -sk``."""
    apparent = files = dirs = 0
    for parent, dirnames, filenames in os.walk(root):
        dirs += len(dirnames)
        for name in filenames:
            apparent += os.lstat(os.path.join(parent, name)).st_size
            files += 1
    du = subprocess.run(
        ["du", "-sk", str(root)], capture_output=True, text=True, check=True
    )
    return {
        "apparent_bytes": apparent,
        "du_kb": int(du.stdout.split()[0]),
        "files": files,
        "dirs": dirs,
    }


def spin_iterations(seconds: float) -> int:
    """How many turns of :func:`spin`'s loop take about ``seconds`` here."""
    turns = 200_000
    while True:
        start = time.perf_counter()
        spin(turns)
        elapsed = time.perf_counter() - start
        if elapsed > 0.2:
            return max(1, round(turns * seconds / elapsed))
        turns *= 2


def spin(turns: int) -> int:
    """The calibration twin of the benchmark's busy-loop task body."""
    total = 0
    for i in range(turns):
        total += i & 7
    return total


def bare_entries(root: Path, n: int) -> float:
    """Seconds to make ``n`` entry-like directories, each with one atomic file."""
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i in range(n):
        directory = f"{root}/Inc-{i:032x}"
        os.mkdir(directory)
        path = f"{directory}/_result.pkl"
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as stream:
            stream.write(SMALL_FILE)
        os.replace(tmp, path)
    return time.perf_counter() - start


def pool_speedup(n: int, turns: int, procs: int) -> dict[str, float]:
    """Seconds for ``n`` spins in this process and on a started pool of ``procs``."""
    start = time.perf_counter()
    for _ in range(n):
        spin(turns)
    serial = time.perf_counter() - start
    context = multiprocessing.get_context("forkserver")
    with context.Pool(procs) as pool:
        pool.map(spin, [1] * procs, chunksize=1)
        start = time.perf_counter()
        pool.map(spin, [turns] * n, chunksize=1)
        parallel = time.perf_counter() - start
    return {"serial_seconds": serial, "pool_seconds": parallel}


def side_args(
    description: str, argv: list[str] | None = None, *, workflow: bool = False
) -> argparse.Namespace:
    """The arguments of a benchmark side: both twins (pydra_lite's and Pydra's)
    of a measurement take the same ones, so they are parsed in one place."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--n", type=int, required=True)
    if workflow:
        parser.add_argument("--shape", default="chain", choices=["chain", "fan"])
    parser.add_argument("--worker", default="serial", choices=["serial", "cf"])
    parser.add_argument("--procs", type=int, default=2)
    if workflow:
        parser.add_argument("--prehash", action="store_true")
    else:
        parser.add_argument("--task", default="inc", choices=["inc", "spin", "mark"])
        parser.add_argument("--turns", type=int, default=0)
        parser.add_argument("--mark", default="")
        parser.add_argument("--warm-pool", action="store_true")
    return parser.parse_args(argv)


def emit(figures: dict[str, Any]) -> None:
    """Print the figures as one JSON line, the last line of the child's output."""
    sys.stdout.write(json.dumps(figures) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[0] == "bare":
        n = int(argv[2])
        seconds = bare_entries(Path(argv[1]), n)
        emit({"seconds": seconds, "n": n, "per_state_ms": 1000 * seconds / n})
    elif len(argv) == 4 and argv[0] == "parallel":
        emit(pool_speedup(*map(int, argv[1:])))
    else:
        sys.exit(USAGE)


if __name__ == "__main__":
    main(sys.argv[1:])
