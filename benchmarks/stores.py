"""Cost of one result store dump and load, in microseconds, for each store.

    python benchmarks/stores.py [REPEATS]

Writes into a temporary directory and prints one line per store and payload:
the median time of a ``dump`` (atomic publication included) and of a warm
``load`` (the file is in the page cache, as on a rerun).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pydra_lite.engine.stores import get_store

CHECKSUM = "0123456789abcdef" * 4

PAYLOADS: dict[str, dict[str, Any]] = {
    "few scalars": {"out": 42, "ratio": 0.5, "name": "sample-01", "ok": True},
    "10k floats": {"out": [float(i) for i in range(10_000)]},
    "1M-array": {"out": np.arange(1_000_000, dtype=np.float64)},
}


def median_us(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def measure(store_name: str, outputs: dict[str, Any], root: Path, repeats: int) -> str:
    store = get_store(store_name)
    entry = root / store_name
    entry.mkdir(exist_ok=True)
    path = str(entry / store.filename)
    dump = median_us(lambda: store.dump(path, CHECKSUM, outputs), repeats)
    load = median_us(lambda: store.load(path, CHECKSUM), repeats)
    return f"{store_name:>7}  dump {dump:9.1f} µs   load {load:9.1f} µs"


def main(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for label, outputs in PAYLOADS.items():
            print(f"-- {label}")
            for store_name in ("pickle", "json", "nexus"):
                count = repeats if label == "few scalars" else max(repeats // 100, 5)
                print(measure(store_name, outputs, Path(tmp), count))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
