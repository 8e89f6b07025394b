"""The slurm worker's benchmark: 200 trivial states on a real SLURM.

Workload: ``Inc().split(a=range(--states))`` with ``worker="slurm"`` in a
fresh cache. Figures: the wall time of the Submitter's whole ``with`` block
and the number of sbatch calls, counted by a logging ``sbatch`` put first on
PATH that execs the real one (and checked against the submission folders
under ``<cache>/.slurm``). Goal: under 60 s and at most 4 sbatch calls.

Needs a running controller (``bash .ci/slurm-start.sh``). Run
``python benchmarks/bench_slurm.py`` (``--help``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pydra_lite import Submitter, python
from pydra_lite.workers.slurm.queue import has_slurm


@python.define
def Inc(a: int) -> int:
    return a + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=200)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument(
        "--array-tasks", type=int, default=32, help="the worker's array_tasks"
    )
    args = parser.parse_args()
    if not has_slurm():
        print("no SLURM answers (sinfo); start one with: bash .ci/slurm-start.sh")
        return 1
    real = shutil.which("sbatch")
    with tempfile.TemporaryDirectory(prefix="bench-slurm-", dir="/tmp") as tmp:
        root = Path(tmp)
        shim_dir, log = root / "shim", root / "sbatch.log"
        shim_dir.mkdir()
        shim = shim_dir / "sbatch"
        shim.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
        shim.chmod(0o755)
        os.environ["PATH"] = f"{shim_dir}{os.pathsep}{os.environ['PATH']}"
        cache = root / "cache"
        start = time.perf_counter()
        with Submitter(
            cache_dir=cache,
            worker="slurm",
            poll_interval=args.poll_interval,
            array_tasks=args.array_tasks,
        ) as sub:
            result = sub(Inc().split(a=list(range(args.states))))
        wall = time.perf_counter() - start
        assert result.outputs.out == [a + 1 for a in range(args.states)]
        calls = len(log.read_text().splitlines()) if log.exists() else 0
        folders = len(os.listdir(cache / ".slurm"))
    print(f"states: {args.states}, array_tasks: {args.array_tasks}")
    print(f"wall time: {wall:.1f} s (goal < 60 s)")
    print(f"sbatch calls: {calls} (submission folders: {folders}; goal <= 4)")
    return 0 if wall < 60 and calls <= 4 else 2


if __name__ == "__main__":
    sys.exit(main())
