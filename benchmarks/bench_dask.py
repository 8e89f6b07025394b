"""The dask worker's benchmark (issue 8): a 2-process LocalCluster against serial.

Workload: a split of 40 states, each a pure-Python busy loop calibrated to
about 50 ms of CPU here (``--spin-seconds``). Figures, each the median of
``--repeat`` rounds; a round runs serial, dask and the bare pool one after
the other (so all three see the same load), each in a fresh cache:

* serial: the split on the serial worker, in a fresh process
  (``lite_side.py``, as in ``bench_split.py``), not in this one: the
  LocalCluster's scheduler and client threads live here and, idle, still
  take the GIL from the running state some 400 times a second, which made
  serial about 5 % slower here than alone, and flattered dask by as much;
* dask: the same split, in this process, with ``worker="dask"`` given the
  Client of a LocalCluster (``--workers`` processes, one thread each, the
  defaults otherwise: what a user's script starts) that was started before
  the clock, and had ``pydra_lite`` imported on every worker;
* the cluster's start-up (LocalCluster, Client, that import), timed apart;
* after those rounds, ``--repeat`` cold runs where the worker starts and
  closes its own LocalCluster, start-up included;
* the same loops on a bare ``multiprocessing`` pool (``probe.py parallel``,
  in a fresh process): the speedup this machine allows right now. On a
  2-core machine shared with other work it falls well below 2x, and the
  dask figure with it: the load average before and after is printed under
  the table.

The timing window is the Submitter's whole ``with`` block, as in
``bench_split.py``. Run ``python benchmarks/bench_dask.py`` (``--help``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import distributed
from bench_split import HERE, REPO, Row, print_table, ratio_goal, run_child
from lite_side import Spin
from probe import spin, spin_iterations

from pydra_lite import Submitter


def timed_run(cache: Path, task: Any, expected: list[int], **worker: Any) -> float:
    """Seconds for one Submitter block running ``task``; checks its outputs."""
    start = time.perf_counter()
    with Submitter(cache_dir=cache, progress=False, **worker) as sub:
        result = sub(task)
    seconds = time.perf_counter() - start
    if result.outputs.out != expected:
        msg = f"wrong outputs in {cache}: {result.outputs.out[:5]!r}..."
        raise RuntimeError(msg)
    return seconds


def start_cluster(workers: int) -> tuple[distributed.Client, float]:
    """A started LocalCluster's client, pydra_lite imported on every worker."""
    start = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    client.run(importlib.import_module, "pydra_lite.engine.job")
    return client, time.perf_counter() - start


def serial_run(cache: Path, states: int, turns: int) -> float:
    """Seconds of the split on the serial worker, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
    command = [sys.executable, str(HERE / "lite_side.py"), "--cache", str(cache)]
    options = ["--n", str(states), "--task", "spin", "--turns", str(turns)]
    return float(run_child([*command, *options], env)["seconds"])


def pool_ratio(states: int, turns: int, workers: int) -> float:
    """Serial over pool time of the bare loops, in a fresh process."""
    command = [sys.executable, str(HERE / "probe.py"), "parallel"]
    figures = run_child(
        [*command, str(states), str(turns), str(workers)], {**os.environ}
    )
    return float(figures["serial_seconds"] / figures["pool_seconds"])


def measure(args: argparse.Namespace, work: Path) -> list[Row]:
    turns = spin_iterations(args.spin_seconds)
    task = Spin(turns=turns).split(a=list(range(args.states)))
    expected = [spin(turns) + a for a in range(args.states)]
    client, startup = start_cluster(args.workers)
    rounds = []
    with client, client.cluster:
        for i in range(args.repeat):  # interleaved: each round sees the same load
            serial = serial_run(work / f"s{i}", args.states, turns)
            dask = timed_run(
                work / f"d{i}", task, expected, worker="dask", address=client
            )
            rounds.append((serial, dask, pool_ratio(args.states, turns, args.workers)))
    options = {"n_workers": args.workers, "dashboard_address": ":0"}
    own = statistics.median(
        timed_run(work / f"own{i}", task, expected, worker="dask", **options)
        for i in range(args.repeat)
    )
    serial, dask, ceiling = (
        statistics.median(column) for column in zip(*rounds, strict=True)
    )
    # Wall time per state of the serial run (calibrated to --spin-seconds of
    # CPU, but longer when other work shares the cores), not CPU time.
    label = f"{args.states} x {1000 * serial / args.states:.0f} ms serial wall"
    goal = ratio_goal(serial, dask, args.goal, at_least=True)
    return [
        (f"{label}, dask {args.workers} procs", f"{dask:.2f} s", f"serial {serial:.2f} s", *goal),
        ("  LocalCluster start-up (not in the above)", f"{startup:.2f} s", "", "", "", ""),
        ("  bare multiprocessing pool, same loops", "", "the machine's ceiling",
         f"{ceiling:.2f}x", "", ""),
        ("  own LocalCluster, start-up included", f"{own:.2f} s", f"serial {serial:.2f} s",
         f"{serial / own:.2f}x", "", ""),
    ]  # fmt: skip


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=40)
    parser.add_argument("--spin-seconds", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure")
    parser.add_argument("--goal", type=float, default=1.7, help="speedup goal")
    parser.add_argument("--workdir", help="where caches go (default: a temp dir)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="pydra-lite-bench-dask-"))
    before = os.getloadavg()[0]
    try:
        print_table(measure(args, work), pydra=False)
        print(
            f"load average (1 min): {before:.2f} before, {os.getloadavg()[0]:.2f} after"
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
