"""The ``pydra-lite`` command: ``demo`` shows a split run twice, the second from the cache."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pydra_lite.compose import python
from pydra_lite.engine.cache import default_cache_dir
from pydra_lite.engine.submitter import Submitter


@python.define(outputs=["square", "note"])
def Square(x: int, delay: float = 0.0) -> tuple[int, str]:
    """Square a number, slowly, and say so.

    Args:
        x: the number to square.
        delay: seconds to sleep, to make the cache's saving visible.
    """
    time.sleep(delay)
    return x * x, f"computed {x}²"


def demo(cache_dir: Path, worker: str) -> None:
    """Run a 10-state split twice and print what the cache did."""
    task = Square(delay=0.1).split(x=list(range(10)))
    for attempt in ("first", "second"):
        with Submitter(cache_dir=cache_dir, worker=worker) as sub:
            start = time.perf_counter()
            result = sub(task)
            seconds = time.perf_counter() - start
        print(f"{attempt} run: {seconds:.3f} s, cached={result.cached}")
        print(f"  squares    = {result.outputs.square}")
        print(f"  output_dir = {result.output_dir}")
    print(f"The second run read every result from {cache_dir}.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pydra-lite", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_demo = commands.add_parser("demo", help="run a split task twice")
    run_demo.add_argument(
        "--cache-dir", type=Path, help="default: a new temporary directory"
    )
    run_demo.add_argument(
        "--worker", default="serial", help="serial, cf, dask or slurm"
    )
    commands.add_parser("cache-dir", help="print the default cache directory")
    args = parser.parse_args(argv)
    if args.command == "cache-dir":
        print(default_cache_dir())
    elif args.cache_dir is not None:
        demo(args.cache_dir, args.worker)
    else:
        with tempfile.TemporaryDirectory(prefix="pydra-lite-demo-") as tmp:
            demo(Path(tmp) / "cache", args.worker)
    return 0
